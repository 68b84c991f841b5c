"""Alembic runs migrations through the service's own async engine and models."""

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

import app.tables  # noqa: F401 - registers every table on Base.metadata
from app.core.config import get_settings
from app.core.database import Database
from app.core.orm.base import Base

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    # `alembic -x database_url=...` wins (the tests use it); else the service's setting.
    return context.get_x_argument(as_dictionary=True).get(
        "database_url", get_settings().database_url
    )


def configure(connection: Connection | None = None, url: str | None = None) -> None:
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=True,
        literal_binds=url is not None,
    )


def run_migrations_offline() -> None:
    configure(url=database_url())
    with context.begin_transaction():
        context.run_migrations()


def run_sync_migrations(connection: Connection) -> None:
    configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    database = Database(database_url())
    try:
        async with database.engine.connect() as connection:
            await connection.run_sync(run_sync_migrations)
    finally:
        await database.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
