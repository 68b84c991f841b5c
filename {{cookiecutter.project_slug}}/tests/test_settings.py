"""Settings: read from `.env` and the environment, refused when unsafe for production."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, Table, inspect
from sqlalchemy.engine import Connection

from app.core.config import (
    DEFAULT_SECRET_KEY,
    ENV_FILE,
    PROJECT_DIR,
    Environment,
    InsecureSettingsError,
    Settings,
)
from app.core.database import Database, to_async_url
from app.core.orm.base import Base
from app.main import create_app
from tests.support import PRODUCTION, ServeApp, SettingsFactory

LONG_SECRET = "s3cr3t-" + "x" * 40


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets reaches Settings, whatever the shell running the tests exports."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def write_env_file(folder: Path, text: str) -> Path:
    env_file = folder / ".env"
    env_file.write_text(text)
    return env_file


def test_the_projects_env_file_is_the_one_read() -> None:
    assert ENV_FILE == PROJECT_DIR / ".env"
    assert (PROJECT_DIR / "pyproject.toml").is_file()
    assert Settings.model_config["env_file"] == ENV_FILE


def test_env_file_values_are_read(tmp_path: Path) -> None:
    env_file = write_env_file(
        tmp_path,
        "ENVIRONMENT=production\n"
        f"SECRET_KEY={LONG_SECRET}\n"
        f"API_KEY_ENCRYPTION_KEY={LONG_SECRET}-api\n"
        "PUBLIC_BASE_URL=https://service.example\n"
        "DATABASE_URL=postgres://app:pw@db.internal:5432/app\n"
        "LOG_JSON=false\n"
        "SLOW_QUERY_MS=50\n"
        "DISABLED_PLUGINS=console, pager\n",
    )
    settings = Settings(_env_file=env_file)
    assert settings.environment is Environment.PRODUCTION
    assert settings.secret_key == LONG_SECRET
    assert settings.database_url == "postgres://app:pw@db.internal:5432/app"
    assert settings.logs_as_json is False
    assert settings.slow_query_ms == 50
    assert settings.disabled_plugins == ["console", "pager"]


def test_the_environment_wins_over_the_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = write_env_file(tmp_path, "LOG_LEVEL=DEBUG\nSLOW_QUERY_MS=50\n")
    monkeypatch.setenv("SLOW_QUERY_MS", "900")
    settings = Settings(_env_file=env_file)
    assert settings.log_level == "DEBUG"
    assert settings.slow_query_ms == 900


def test_empty_values_in_the_env_file_mean_the_defaults(tmp_path: Path) -> None:
    env_file = write_env_file(tmp_path, "DATABASE_URL=\nLOG_JSON=\nDISABLED_PLUGINS=\n")
    settings = Settings(_env_file=env_file)
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.log_json is None
    assert settings.disabled_plugins == []


def test_the_shipped_env_example_loads_as_a_development_setup() -> None:
    settings = Settings(_env_file=PROJECT_DIR / ".env.example")
    assert settings.environment is Environment.DEVELOPMENT
    assert settings.should_create_tables
    assert not settings.logs_as_json


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [("a, b", ["a", "b"]), ("google,kakao", ["google", "kakao"]), (" solo ", ["solo"])],
)
def test_disabled_plugins_is_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch, raw: str, parsed: list[str]
) -> None:
    monkeypatch.setenv("DISABLED_PLUGINS", raw)
    assert Settings(_env_file=None).disabled_plugins == parsed


@pytest.mark.parametrize(
    "secret_key",
    [DEFAULT_SECRET_KEY, "short-but-not-default", "x" * 31],
    ids=["default", "short", "31-chars"],
)
def test_production_refuses_a_default_or_short_secret_key(
    monkeypatch: pytest.MonkeyPatch, secret_key: str
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("API_KEY_ENCRYPTION_KEY", PRODUCTION["api_key_encryption_key"])
    monkeypatch.setenv("SECRET_KEY", secret_key)
    with pytest.raises(InsecureSettingsError, match="SECRET_KEY"):
        Settings(_env_file=None)


def test_development_accepts_the_default_secret_key() -> None:
    settings = Settings(_env_file=None)
    assert settings.environment is Environment.DEVELOPMENT
    assert settings.secret_key == DEFAULT_SECRET_KEY


async def test_production_starts_with_a_long_secret_key(
    make_settings: SettingsFactory, serve_lean: ServeApp
) -> None:
    settings = make_settings(**PRODUCTION, secret_key="y" * 32)
    async with serve_lean(create_app(settings)) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("mysql://app:pw@db:3306/app", "mysql+aiomysql://app:pw@db:3306/app"),
        ("mariadb://app:pw@db/app", "mysql+aiomysql://app:pw@db/app"),
        ("postgres://app:pw@db:5432/app", "postgresql+asyncpg://app:pw@db:5432/app"),
        ("postgresql://app:pw@db/app", "postgresql+asyncpg://app:pw@db/app"),
        ("sqlite:///./service.db", "sqlite+aiosqlite:///./service.db"),
        ("mysql+asyncmy://app:pw@db/app", "mysql+asyncmy://app:pw@db/app"),
        ("postgresql+psycopg://app:pw@db/app", "postgresql+psycopg://app:pw@db/app"),
        ("sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
    ],
)
def test_database_urls_get_the_async_driver(given: str, expected: str) -> None:
    assert to_async_url(given).render_as_string(hide_password=False) == expected


@pytest.fixture
def probe_table() -> Iterator[Table]:
    """A table in the models' metadata for the length of one test."""
    table = Table("startup_probe", Base.metadata, Column("id", Integer, primary_key=True))
    yield table
    Base.metadata.remove(table)


def table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


@pytest.mark.parametrize(
    ("environment", "create_tables_on_startup", "created"),
    [
        ("development", None, True),
        ("test", None, True),
        ("production", None, False),
        ("production", True, True),
        ("development", False, False),
    ],
)
async def test_tables_are_created_at_startup_except_in_production(
    make_settings: SettingsFactory,
    serve_lean: ServeApp,
    tmp_path: Path,
    probe_table: Table,
    environment: str,
    create_tables_on_startup: bool | None,
    created: bool,
) -> None:
    settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'startup.db'}",
        **(PRODUCTION if environment == "production" else {"environment": environment}),
        create_tables_on_startup=create_tables_on_startup,
    )
    application = create_app(settings)
    async with serve_lean(application) as client:
        assert (await client.get("/health")).status_code == 200
        database: Database = application.state.runtime.database
        async with database.engine.connect() as connection:
            existing = await connection.run_sync(table_names)
    if created:
        assert set(Base.metadata.tables) <= existing
    else:
        assert probe_table.name not in existing
        assert existing == set()
