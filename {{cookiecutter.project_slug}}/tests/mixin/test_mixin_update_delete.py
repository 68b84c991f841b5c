"""`update` and `delete`: passed session, the object's own session, the bound one."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_object_session

from app.core.database import Database
from app.core.errors import NotFoundError
from app.core.orm.mixins import InvalidQueryError
from tests.mixin.models import SampleUser
from tests.mixin.support import MakeUser, emails_in_database


async def stored_points(db: Database, user_id: int) -> int:
    async with db.sessionmaker() as fresh:
        return (await SampleUser.get(user_id, session=fresh)).points


async def test_update_with_a_passed_session_only_flushes(
    db: Database, session: AsyncSession, make_user: MakeUser
) -> None:
    user = await make_user(points=1)
    session.expunge(user)

    async with db.sessionmaker() as other:
        returned = await user.update(points=2, session=other)
        assert returned is user
        assert async_object_session(user) is other
        assert await stored_points(db, user.id) == 1
        await other.commit()

    assert await stored_points(db, user.id) == 2


async def test_update_uses_the_session_the_object_is_attached_to(
    db: Database, session: AsyncSession, make_user: MakeUser
) -> None:
    user = await make_user(points=1)

    await user.update(points=2)

    assert async_object_session(user) is session
    assert await stored_points(db, user.id) == 1
    await session.commit()
    assert await stored_points(db, user.id) == 2


async def test_update_of_a_detached_object_uses_the_bound_session(
    db: Database, session: AsyncSession, make_user: MakeUser
) -> None:
    user = await make_user(points=1)
    session.expunge(user)

    await user.update(points=7, commit=True)

    assert await stored_points(db, user.id) == 7


async def test_update_moves_updated_at_and_keeps_created_at(make_user: MakeUser) -> None:
    user = await make_user()
    created_at, updated_at = user.created_at, user.updated_at

    await user.update(name="Renamed", commit=True)

    assert user.created_at == created_at
    assert user.updated_at > updated_at
    reloaded = await SampleUser.get(user.id)
    assert reloaded.updated_at == user.updated_at


async def test_update_rejects_an_unknown_column_and_changes_nothing(
    make_user: MakeUser,
) -> None:
    user = await make_user(name="Before")

    with pytest.raises(InvalidQueryError, match="SampleUser has no column 'nmae'") as caught:
        await user.update(name="After", nmae="After")

    assert user.name == "Before"
    assert "name" in caught.value.detail["valid"]


async def test_delete_with_a_passed_session_only_flushes(
    db: Database, session: AsyncSession, make_user: MakeUser
) -> None:
    kept, removed = await make_user(), await make_user()
    session.expunge(removed)

    async with db.sessionmaker() as other:
        await removed.delete(session=other)
        assert await emails_in_database(db) == {kept.email, removed.email}
        await other.commit()

    assert await emails_in_database(db) == {kept.email}


async def test_delete_uses_the_session_the_object_is_attached_to(
    db: Database, session: AsyncSession, make_user: MakeUser
) -> None:
    kept, removed = await make_user(), await make_user()

    await removed.delete(commit=True)

    assert await emails_in_database(db) == {kept.email}
    with pytest.raises(NotFoundError):
        await SampleUser.get(removed.id, session=session)


async def test_delete_of_a_loaded_object_with_the_bound_session(
    db: Database, make_user: MakeUser
) -> None:
    kept, removed = await make_user(), await make_user()
    loaded = await SampleUser.get(removed.id)

    await loaded.delete(commit=True)

    assert await emails_in_database(db) == {kept.email}
    assert await SampleUser.filter_by(id=removed.id).exists() is False
