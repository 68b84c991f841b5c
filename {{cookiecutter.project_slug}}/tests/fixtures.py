"""The fixtures every test folder shares (`tests/` and each plugin's `tests/`), registered
as a pytest plugin by both folders' conftest.py: settings for a throwaway database, the
app, and an HTTP client.

The database lane comes from TEST_DATABASE_URL (SQLite in a temp folder when unset), so
the same tests run on SQLite, MariaDB and PostgreSQL. The helpers these fixtures use, and
that tests import, are in `tests/support.py`.

One app per module: a module whose tests need no settings of their own per test uses
`shared_app` (started for each test on an empty database) or `lean_app` (started once),
both built once from the module's `app_settings`, `app_plugins` and `app_environment`,
which the module overrides when it needs other settings, extra plugins or a plugin set up:

    @pytest.fixture(scope="module")
    def app_plugins(module_mailbox: Mailbox) -> list[object]:
        return [module_mailbox]


    @pytest.fixture
    def app(shared_app: FastAPI) -> FastAPI:
        return shared_app
"""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import PluginSettings, Settings
from app.core.plugins import BUILTIN_PLUGINS_PACKAGE, builtin_plugin_names
from app.main import create_app
from tests.support import (
    Mailbox,
    ServeApp,
    ServiceLog,
    SettingsFactory,
    build_app,
    build_test_settings,
    client_of,
    closed_port,
    reset_database,
    started,
)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    path: Path = tmp_path_factory.mktemp("db") / "test.db"
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return build_test_settings(database_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with started(create_app(settings)) as application:
        yield application


@pytest.fixture(scope="module")
def app_settings() -> dict[str, Any]:
    """The settings the module's app differs in from the test settings: a module overrides it."""
    return {}


@pytest.fixture(scope="module")
def app_plugins() -> list[object]:
    """Plugin objects the module's app registers beside the built-in ones: a module
    overrides it (a `Mailbox`, stand-in providers, a notifier)."""
    return []


@pytest.fixture(scope="module")
def app_environment() -> dict[str, str]:
    """Environment variables set while the module's app is made: a module overrides it to
    point a plugin, whose settings are read from the environment then, at a local fake."""
    return {}


@pytest.fixture(scope="module")
def module_app(
    database_url: str,
    app_settings: dict[str, Any],
    app_plugins: list[object],
    app_environment: dict[str, str],
) -> Iterator[FastAPI]:
    """One app for a whole module: building an app and resolving its routes costs more
    than most tests do."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        for key, value in app_environment.items():
            monkeypatch.setenv(key, value)
        yield build_app(build_test_settings(database_url, **app_settings), *app_plugins)


@pytest.fixture
async def shared_app(module_app: FastAPI) -> AsyncIterator[FastAPI]:
    """The module's app, started for one test on an empty database."""
    async with started(module_app) as application:
        yield application


@pytest.fixture(scope="module")
async def lean_app(module_app: FastAPI) -> AsyncIterator[FastAPI]:
    """The module's app, started once for the whole module, leaving the (empty) tables in
    place when done.

    For modules whose tests write no rows: starting the app and emptying every table for
    each test is what makes a suite slow, on servers most of all.
    """
    async with module_app.router.lifespan_context(module_app):
        yield module_app
    await module_app.state.runtime.database.dispose()


@pytest.fixture(scope="module")
def module_mailbox() -> Mailbox:
    """The mailbox of the module's app (register it through `app_plugins`)."""
    return Mailbox()


@pytest.fixture
def mailbox(module_mailbox: Mailbox) -> Mailbox:
    """The module's mailbox, emptied: each test sees only its own mails."""
    module_mailbox.sent.clear()
    return module_mailbox


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
    async with client_of(app) as client:
        yield client


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"


@pytest.fixture
def make_settings(database_url: str) -> SettingsFactory:
    """Settings like the `settings` fixture's, with some values changed (no `.env` read)."""

    def build(**overrides: Any) -> Settings:
        return build_test_settings(database_url, **overrides)

    return build


@pytest.fixture
async def lean_client(lean_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(lean_app) as client:
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
            async with (
                application.router.lifespan_context(application),
                client_of(application) as client,
            ):
                yield client
        finally:
            if drop_tables:
                await reset_database(application.state.runtime.database)
            else:
                await application.state.runtime.database.dispose()

    return run


@pytest.fixture(name="closed_port")
def closed_port_fixture() -> int:
    return closed_port()


@pytest.fixture
def service_log() -> ServiceLog:
    return ServiceLog()
