"""What the KakaoTalk tests stand on: a real database (TEST_DATABASE_URL's lane, or SQLite in
a temp folder) and the local Kakao of the Kakao plugin's tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from app.core.database import Database
from app.plugins.kakao.tests.fake_kakao import FakeKakao, serving_fake_kakao
from tests.support import empty_tables, reset_database


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


@pytest.fixture(scope="module")
def kakao_server() -> Iterator[FakeKakao]:
    with serving_fake_kakao() as fake:
        yield fake


@pytest.fixture
def kakao(kakao_server: FakeKakao) -> FakeKakao:
    """Kakao (sign-in's token endpoint and the memo API), reset for the test."""
    kakao_server.reset()
    return kakao_server
