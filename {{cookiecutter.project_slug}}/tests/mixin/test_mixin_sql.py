"""What the mixin sends to the database: no extra SELECT for generated values, and
timestamps that read back as aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from faker import Faker
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import Database
from tests.mixin.models import SampleUser
from tests.mixin.support import RecordSql, sample_user_values


async def test_reading_id_and_timestamps_after_create_sends_no_select(
    session: AsyncSession, fake: Faker, sql_log: RecordSql
) -> None:
    await session.connection()  # the connection is ready before recording starts

    with sql_log() as log:
        user = await SampleUser.create(session=session, **sample_user_values(fake))
        assert log.verbs() == ["INSERT"]
        log.clear()
        generated = (user.id, user.created_at, user.updated_at, user.points)

    assert log.statements == []
    assert all(value is not None for value in generated)


async def test_reading_after_create_and_commit_sends_no_select(
    fake: Faker, sql_log: RecordSql
) -> None:
    with sql_log() as log:
        user = await SampleUser.create(commit=True, **sample_user_values(fake))
        assert log.verbs() == ["INSERT"]
        log.clear()
        generated = (user.id, user.created_at, user.updated_at)

    assert log.statements == []
    assert all(value is not None for value in generated)


async def test_reading_updated_at_after_update_sends_no_select(
    session: AsyncSession, fake: Faker, sql_log: RecordSql
) -> None:
    user = await SampleUser.create(session=session, **sample_user_values(fake))
    before = user.updated_at

    with sql_log() as log:
        await user.update(points=user.points + 1, commit=True)
        assert log.verbs() == ["UPDATE"]
        log.clear()
        after = user.updated_at

    assert log.statements == []
    assert after > before


def assert_aware_utc(value: datetime) -> None:
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)


async def test_timestamps_are_aware_utc_and_read_back_unchanged(db: Database, fake: Faker) -> None:
    started = datetime.now(UTC)
    user = await SampleUser.create(commit=True, **sample_user_values(fake))

    assert_aware_utc(user.created_at)
    assert_aware_utc(user.updated_at)
    assert started <= user.created_at <= user.updated_at <= datetime.now(UTC)
    async with db.sessionmaker() as fresh:
        stored = await SampleUser.get(user.id, session=fresh)
        assert_aware_utc(stored.created_at)
        assert (stored.created_at, stored.updated_at) == (user.created_at, user.updated_at)

    await user.update(name="Renamed", commit=True)

    async with db.sessionmaker() as fresh:
        stored = await SampleUser.get(user.id, session=fresh)
        assert_aware_utc(stored.updated_at)
        assert stored.created_at == user.created_at
        assert stored.updated_at == user.updated_at > user.created_at
