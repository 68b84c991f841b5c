"""The migrations build exactly the schema the models describe, and undo cleanly.

Run the way an operator runs them (`alembic upgrade head` as a command), on this run's
database lane: SQLite, and MariaDB or PostgreSQL when TEST_DATABASE_URL names one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Connection, make_url

import app.models  # noqa: F401 - every table on Base.metadata
from app.core.database import Database
from app.models.base import Base

PROJECT_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture
def empty_database_url(database_url: str, tmp_path: Path) -> str:
    if make_url(database_url).get_backend_name() == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
    return database_url


def alembic(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"database_url={url}", *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _drop_everything(connection: Connection) -> None:
    existing = MetaData()
    existing.reflect(connection)
    existing.drop_all(connection)


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def table_names(url: str, *, drop_first: bool = False) -> set[str]:
    database = Database(url)
    try:
        async with database.engine.begin() as connection:
            if drop_first:
                await connection.run_sync(_drop_everything)
            return await connection.run_sync(_table_names)
    finally:
        await database.dispose()


async def test_upgrade_builds_the_models_schema_and_downgrade_removes_it(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    assert await table_names(url, drop_first=True) == set()

    upgraded = alembic(url, "upgrade", "head")
    assert upgraded.returncode == 0, upgraded.stderr
    assert await table_names(url) == set(Base.metadata.tables) | {"alembic_version"}

    # Nothing left for autogenerate to write: the migrations match the models.
    checked = alembic(url, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "No new upgrade operations detected" in checked.stdout + checked.stderr

    downgraded = alembic(url, "downgrade", "base")
    assert downgraded.returncode == 0, downgraded.stderr
    assert await table_names(url, drop_first=False) == {"alembic_version"}

    await table_names(url, drop_first=True)
