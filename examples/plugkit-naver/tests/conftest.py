"""Fixtures: the fake Naver on 127.0.0.1, and the service with this package installed.

The service is the one whose environment runs these tests: its `app` package is
importable, and it finds this plugin through the entry point, as in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from app.core.config import Settings
from app.main import create_app
from fake_naver import FakeNaver, serve
from fastapi import FastAPI

from plugkit_naver.settings import NaverSettings


@pytest.fixture(scope="session")
def naver_server() -> Iterator[FakeNaver]:
    fake = FakeNaver()
    with serve(fake.app(), on_stop=fake.close) as url:
        fake.base_url = url
        yield fake


@pytest.fixture
def fake_naver(naver_server: FakeNaver, monkeypatch: pytest.MonkeyPatch) -> FakeNaver:
    """The fake, reset, with the plugin's settings pointing at it (not at a `.env`)."""
    naver_server.reset()
    monkeypatch.setitem(NaverSettings.model_config, "env_file", None)
    for key, value in naver_server.env(naver_server.base_url).items():
        monkeypatch.setenv(key, value)
    return naver_server


@pytest.fixture
def unconfigured_naver(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin with no credentials, whatever a `.env` or the environment hold."""
    monkeypatch.setitem(NaverSettings.model_config, "env_file", None)
    for key in ("NAVER_CLIENT_ID", "NAVER_CLIENT_SECRET"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The service's settings for a test: its own SQLite file, no `.env`, cheap hashing."""
    return Settings(
        _env_file=None,
        environment="test",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'service.db'}",
        secret_key="naver-plugin-test-secret-key-0123456789abcdef",
        password_hash_time_cost=1,
        password_hash_memory_kib=64,
    )


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[FastAPI]:
    """The service as `create_app` builds it: plugins found by itself, none registered here."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app
    await app.state.runtime.database.dispose()


@pytest.fixture
async def client(service: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service, client=("203.0.113.10", 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
