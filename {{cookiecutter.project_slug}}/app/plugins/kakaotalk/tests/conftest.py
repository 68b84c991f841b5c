"""A real database for the KakaoTalk tests: TEST_DATABASE_URL's lane, or SQLite in a temp folder."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.core.database import Database
from tests.conftest import empty_tables, reset_database


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp_path / 'talk.db'}"


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await db.create_all()
    # Start clean even if an earlier run on this server was cut short.
    await empty_tables(db)
    try:
        yield db
    finally:
        await reset_database(db)
