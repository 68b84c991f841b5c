"""Fixtures for the CRUD mixin tests: a bound database with the sample tables, a session,
seeded fakes, and a recorder of the SQL statements sent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from faker import Faker
from sqlalchemy import delete, event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_scoped_session

from app.core.database import Database
from app.core.orm.base import Base
from tests.mixin.models import SampleModel, SampleUser
from tests.mixin.support import MakeUser, RecordSql, StatementLog, sample_user_values
from tests.providers import UserProvider


@pytest.fixture(scope="session")
async def sample_database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(SampleModel.metadata.drop_all)
        await connection.run_sync(SampleModel.metadata.create_all)
    yield database
    async with database.engine.begin() as connection:
        await connection.run_sync(SampleModel.metadata.drop_all)
    await database.dispose()


async def close_scoped_sessions(scoped: async_scoped_session[Any]) -> None:
    """Close the sessions of every task, not only the current one.

    pytest-asyncio runs fixtures and the test in different tasks, so `remove()` here
    would only reach the fixture's own session.
    """
    sessions = list(scoped.registry.registry.values())
    scoped.registry.registry.clear()
    for session in sessions:
        await session.close()


@pytest.fixture(autouse=True)
async def db(sample_database: Database) -> AsyncIterator[Database]:
    """The sample database, bound to the models, emptied after each test."""
    previous = Base.scoped_session
    sample_database.bind_models()
    yield sample_database
    await close_scoped_sessions(sample_database.scoped_session)
    Base.scoped_session = previous
    async with sample_database.engine.begin() as connection:
        for table in reversed(SampleModel.metadata.sorted_tables):
            await connection.execute(delete(table))


@pytest.fixture
async def session(db: Database) -> AsyncIterator[AsyncSession]:
    async with db.sessionmaker() as session:
        yield session


@pytest.fixture
def fake() -> Faker:
    faker = Faker()
    faker.add_provider(UserProvider)
    faker.seed_instance(20240601)
    return faker


@pytest.fixture
def make_user(fake: Faker, session: AsyncSession) -> MakeUser:
    """`await make_user(points=3)`: a committed sample user (through the passed session)."""

    async def make(**overrides: Any) -> SampleUser:
        user = await SampleUser.create(session=session, **sample_user_values(fake, **overrides))
        await session.commit()
        return user

    return make


@pytest.fixture
def sql_log(db: Database) -> RecordSql:
    """`with sql_log() as log:` records every statement sent to the database."""

    @contextmanager
    def record() -> Iterator[StatementLog]:
        log = StatementLog()

        def on_execute(
            conn: Connection, cursor: Any, statement: str, params: Any, context: Any, many: bool
        ) -> None:
            log.statements.append(statement.strip())

        engine = db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", on_execute)
        try:
            yield log
        finally:
            event.remove(engine, "before_cursor_execute", on_execute)

    return record
