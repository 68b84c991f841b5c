"""`create` and `get`: with a passed session (flush only) and with the bound one."""

from __future__ import annotations

from typing import assert_type

import pytest
from faker import Faker
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import Database
from app.core.errors import AppError, NotFoundError
from app.core.orm.mixins import InvalidQueryError, MultipleResultsError
from tests.mixin.models import SampleNote, SampleUser
from tests.mixin.support import MakeUser, emails_in_database, sample_user_values


async def test_create_with_a_passed_session_only_flushes(
    db: Database, session: AsyncSession, fake: Faker
) -> None:
    user = await SampleUser.create(session=session, **sample_user_values(fake))

    assert user.id is not None
    assert user in session
    assert await emails_in_database(db) == set()
    await session.commit()
    assert await emails_in_database(db) == {user.email}


async def test_create_without_a_session_commits_when_asked(db: Database, fake: Faker) -> None:
    user = await SampleUser.create(commit=True, **sample_user_values(fake))

    assert_type(user, SampleUser)
    assert await emails_in_database(db) == {user.email}


async def test_create_without_commit_waits_for_the_next_commit_of_the_task(
    db: Database, fake: Faker
) -> None:
    pending = await SampleUser.create(**sample_user_values(fake))
    assert pending.id is not None
    assert await emails_in_database(db) == set()

    committed = await SampleUser.create(commit=True, **sample_user_values(fake))

    assert await emails_in_database(db) == {pending.email, committed.email}


async def test_create_returns_the_values_and_the_column_defaults(
    session: AsyncSession, fake: Faker
) -> None:
    values = sample_user_values(fake)
    del values["points"], values["nickname"]

    user = await SampleUser.create(session=session, **values)

    assert user.email == values["email"]
    assert user.phone_number == values["phone_number"]
    assert user.points == 0
    assert user.nickname is None


async def test_create_accepts_relationships(
    db: Database, session: AsyncSession, make_user: MakeUser
) -> None:
    author = await make_user()

    note = await SampleNote.create(session=session, author=author, title="hello", commit=True)

    assert note.author_id == author.id
    async with db.sessionmaker() as fresh:
        stored = await SampleNote.get(note.id, session=fresh)
        assert (stored.author_id, stored.title) == (author.id, "hello")


async def test_create_rejects_an_unknown_column_and_names_the_valid_ones(
    session: AsyncSession, fake: Faker
) -> None:
    values = sample_user_values(fake)
    values["emial"] = values.pop("email")

    with pytest.raises(InvalidQueryError) as caught:
        await SampleUser.create(session=session, **values)

    error = caught.value
    assert isinstance(error, AppError)
    assert (error.code, error.status_code) == ("INVALID_QUERY", 400)
    assert "SampleUser" in error.message
    assert "'emial'" in error.message
    assert "Did you mean 'email'?" in error.message
    assert error.detail["column"] == "emial"
    assert {"email", "name", "created_at", "notes"} <= set(error.detail["valid"])
    assert list(session.new) == []


async def test_a_failed_commit_rolls_back_and_leaves_the_session_usable(
    db: Database, fake: Faker, make_user: MakeUser
) -> None:
    taken = await make_user()

    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await SampleUser.create(commit=True, **sample_user_values(fake, email=taken.email))
    created = await SampleUser.create(commit=True, **sample_user_values(fake))

    assert await emails_in_database(db) == {taken.email, created.email}


async def test_get_by_id(session: AsyncSession, make_user: MakeUser) -> None:
    user = await make_user()
    session.expunge_all()

    found = await SampleUser.get(user.id, session=session)

    assert (found.id, found.email) == (user.id, user.email)


async def test_get_by_id_without_a_session(make_user: MakeUser) -> None:
    user = await make_user()

    found = await SampleUser.get(user.id)

    assert found.email == user.email


async def test_get_by_several_ids_keeps_the_given_order(make_user: MakeUser) -> None:
    first, second, third = [await make_user() for _ in range(3)]

    found = await SampleUser.get([third.id, first.id, third.id, second.id])
    assert_type(found, list[SampleUser])

    assert [user.id for user in found] == [third.id, first.id, third.id, second.id]
    assert await SampleUser.get([]) == []


async def test_get_by_unique_keyword(make_user: MakeUser) -> None:
    await make_user()
    user = await make_user()

    found = await SampleUser.get(email=user.email)
    assert_type(found, SampleUser)

    assert found.id == user.id


async def test_get_by_id_and_keywords_must_match_both(make_user: MakeUser) -> None:
    user = await make_user(points=5)

    assert (await SampleUser.get(user.id, points=5)).id == user.id
    with pytest.raises(NotFoundError):
        await SampleUser.get(user.id, points=6)


async def test_get_missing_id_is_a_not_found_error(make_user: MakeUser) -> None:
    user = await make_user()

    with pytest.raises(NotFoundError) as caught:
        await SampleUser.get(user.id + 1000)

    assert caught.value.status_code == 404
    assert caught.value.code == "NOT_FOUND"
    assert "SampleUser not found" in caught.value.message
    assert str(user.id + 1000) in caught.value.message


async def test_get_several_ids_names_the_missing_ones(make_user: MakeUser) -> None:
    user = await make_user()

    with pytest.raises(NotFoundError) as caught:
        await SampleUser.get([user.id, user.id + 1000, user.id + 2000])

    assert caught.value.detail["missing"] == [user.id + 1000, user.id + 2000]


async def test_get_by_keyword_with_no_match_is_a_not_found_error(make_user: MakeUser) -> None:
    await make_user()

    with pytest.raises(NotFoundError, match=r"nobody@example\.com"):
        await SampleUser.get(email="nobody@example.com")


async def test_get_by_keyword_matching_several_rows_is_an_error(make_user: MakeUser) -> None:
    await make_user(gender="other")
    await make_user(gender="other")

    with pytest.raises(MultipleResultsError) as caught:
        await SampleUser.get(gender="other")

    assert caught.value.status_code == 409
    assert caught.value.code == "MULTIPLE_RESULTS"
    assert "More than one SampleUser" in caught.value.message


async def test_get_without_id_or_keywords_is_refused() -> None:
    with pytest.raises(InvalidQueryError, match="needs an id"):
        await SampleUser.get()


async def test_get_with_an_unknown_keyword_is_refused(make_user: MakeUser) -> None:
    await make_user()

    with pytest.raises(InvalidQueryError, match="no column 'mail'"):
        await SampleUser.get(mail="a@example.com")


async def test_repr_shows_loaded_values_and_never_queries(
    session: AsyncSession, make_user: MakeUser
) -> None:
    user = await make_user()

    assert repr(user) == f"<SampleUser id={user.id}, email={user.email!r}>"
    session.expire(user)
    assert repr(user) == "<SampleUser id=None, email=None>"
