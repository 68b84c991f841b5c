"""Shared fixtures: settings for a throwaway database, the app, and an HTTP client.

The database lane comes from TEST_DATABASE_URL (SQLite in a temp folder when unset), so
the same tests run on SQLite, MariaDB and PostgreSQL.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, inspect
from sqlalchemy.engine import Connection

from app import PROJECT_SLUG
from app.core.config import PluginSettings, Settings
from app.core.database import Database
from app.core.orm.base import Base
from app.core.plugins import BUILTIN_PLUGINS_PACKAGE, builtin_plugin_names
from app.main import create_app

pytest_plugins = ["tests.fakes.fixtures"]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    path: Path = tmp_path_factory.mktemp("db") / "test.db"
    return f"sqlite+aiosqlite:///{path}"


def build_test_settings(default_database_url: str, **overrides: Any) -> Settings:
    """Settings for a test: the lane's database unless overridden, no `.env`, cheap hashing."""
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": default_database_url,
        "secret_key": TEST_SECRET_KEY,
        # Argon2 at its production cost takes a quarter second per hash; tests hash a lot.
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 64,
        # Tests sign in and register far more often than people do; tests/test_rate_limits.py
        # switches the limits on.
        "rate_limits_enabled": False,
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return build_test_settings(database_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with started(create_app(settings)) as application:
        yield application


@pytest.fixture(scope="module")
def module_app(database_url: str) -> FastAPI:
    """One app on the test settings for a whole module, started per test by `shared_app`."""
    return create_app(build_test_settings(database_url))


@pytest.fixture
async def shared_app(module_app: FastAPI) -> AsyncIterator[FastAPI]:
    """The module's app, started for one test on an empty database.

    A module whose tests need no settings of their own makes this its `app`: building an
    app and resolving its routes costs more than most tests do.
    """
    async with started(module_app) as application:
        yield application


@asynccontextmanager
async def started(application: FastAPI) -> AsyncIterator[FastAPI]:
    """The app running (startup to shutdown), then its rows deleted for the next test."""
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        await reset_database(application.state.database)


async def reset_database(database: Database) -> None:
    """Empty every table and close the connections, for the next test."""
    await empty_tables(database)
    await database.dispose()


async def empty_tables(database: Database) -> None:
    """Delete every row; the tables stay.

    Far cheaper than dropping and creating every table around each test, on database
    servers most of all.
    """
    async with database.engine.begin() as connection:
        await connection.run_sync(_delete_all_rows)


def _delete_all_rows(connection: Connection) -> None:
    existing = set(inspect(connection).get_table_names())
    for table in reversed(Base.metadata.sorted_tables):
        if table.name in existing:
            connection.execute(delete(table))


@pytest.fixture(autouse=True, scope="session")
def plugin_settings_ignore_dotenv() -> None:
    """Plugin settings skip the project's `.env` in tests, as core settings do.

    Real credentials a developer keeps there must not change what the tests see (tests
    that need a plugin configured set its environment variables).
    """
    for name in builtin_plugin_names():
        importlib.import_module(f"{BUILTIN_PLUGINS_PACKAGE}.{name}.plugin")
    pending: list[type[PluginSettings]] = [PluginSettings]
    while pending:
        settings_class = pending.pop()
        settings_class.model_config["env_file"] = None
        pending.extend(settings_class.__subclasses__())


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"


TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"
TEST_CLIENT_ADDRESS = "203.0.113.10"
# Production refuses to start without a long secret of its own for API keys and an https
# address; pass as `make_settings(**PRODUCTION)` (the test settings name the database).
PRODUCTION: dict[str, Any] = {
    "environment": "production",
    "api_key_encryption_key": "test-api-key-encryption-key-0123456789abcdef",
    "public_base_url": "https://service.example",
}

SettingsFactory = Callable[..., Settings]
ServeApp = Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def make_settings(database_url: str) -> SettingsFactory:
    """Settings like the `settings` fixture's, with some values changed (no `.env` read)."""

    def build(**overrides: Any) -> Settings:
        return build_test_settings(database_url, **overrides)

    return build


@pytest.fixture(scope="module")
async def lean_app(database_url: str) -> AsyncIterator[FastAPI]:
    """One app for a whole test module, leaving the (empty) tables in place when done.

    For modules whose tests write no rows: building the app and creating and dropping
    every table for each test is what makes a suite slow, on servers most of all.
    """
    application = create_app(build_test_settings(database_url))
    async with application.router.lifespan_context(application):
        yield application
    await application.state.database.dispose()


@pytest.fixture
async def lean_client(lean_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=lean_app, client=(TEST_CLIENT_ADDRESS, 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def serve() -> ServeApp:
    """Run an app built in the test: startup, an HTTP client, shutdown, a clean database."""
    return _server(drop_tables=True)


@pytest.fixture
def serve_lean() -> ServeApp:
    """`serve`, leaving the (empty) tables for the next test like `lean_app` does."""
    return _server(drop_tables=False)


def _server(*, drop_tables: bool) -> ServeApp:
    @asynccontextmanager
    async def run(application: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
        try:
            async with application.router.lifespan_context(application):
                transport = httpx.ASGITransport(
                    app=application, client=(TEST_CLIENT_ADDRESS, 51000)
                )
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://testserver"
                ) as client:
                    yield client
        finally:
            if drop_tables:
                await reset_database(application.state.database)
            else:
                await application.state.database.dispose()

    return run


class ServiceLog:
    """What the service's own log handler writes, as whoever reads the logs sees it."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def attach(self) -> None:
        """Call after `create_app()`, which installs the handler this reads from."""
        for handler in logging.getLogger(PROJECT_SLUG).handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(self.stream)

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


@pytest.fixture
def service_log() -> ServiceLog:
    return ServiceLog()
