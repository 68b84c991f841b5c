"""Production refuses shortcuts that are fine on a laptop, and answers carry security headers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.core.config import InsecureSettingsError, Settings
from app.main import create_app
from tests.support import PRODUCTION, TEST_SECRET_KEY, ServeApp, SettingsFactory

POSTGRES_URL = "postgresql+asyncpg://app:pw@db.internal:5432/app"
# What a production deployment sets; each test below spoils one value.
DEPLOYED: dict[str, Any] = {
    **PRODUCTION,
    "secret_key": TEST_SECRET_KEY,
    "database_url": POSTGRES_URL,
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test passes reaches Settings, whatever the shell running the tests exports."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def production(**changes: Any) -> Settings:
    values = {**DEPLOYED, **changes}
    return Settings(_env_file=None, **{key: v for key, v in values.items() if v is not None})


def test_a_complete_production_setup_is_accepted() -> None:
    settings = production()
    assert settings.is_production
    assert settings.database_url == POSTGRES_URL


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"api_key_encryption_key": TEST_SECRET_KEY}, "API_KEY_ENCRYPTION_KEY equals SECRET_KEY"),
        (
            {"api_key_encryption_key": f"{'n' * 40},{TEST_SECRET_KEY}"},
            "API_KEY_ENCRYPTION_KEY equals SECRET_KEY",
        ),
        ({"database_echo": True}, "DATABASE_ECHO"),
        ({"public_base_url": "http://service.example"}, "PUBLIC_BASE_URL"),
        ({"public_base_url": "http://203.0.113.7:8000"}, "PUBLIC_BASE_URL"),
        ({"database_url": None}, "DATABASE_URL is not set"),
    ],
    ids=[
        "encryption-key-is-secret-key",
        "rotated-key-is-secret-key",
        "echo",
        "http",
        "http-address",
        "no-db",
    ],
)
def test_production_refuses_to_start_with(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(InsecureSettingsError, match=named):
        production(**changes)


@pytest.mark.parametrize(
    "local_url", ["http://127.0.0.1:8000", "http://localhost:8080", "http://[::1]:8000"]
)
def test_production_on_this_machine_only_may_use_plain_http(local_url: str) -> None:
    # `docker compose up` on a laptop: the links and cookies never leave the machine.
    assert production(public_base_url=local_url).public_base_url == local_url


def test_production_refuses_a_missing_database_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in DEPLOYED.items():
        if name != "database_url":
            monkeypatch.setenv(name.upper(), str(value))
    with pytest.raises(InsecureSettingsError, match="DATABASE_URL"):
        Settings(_env_file=None)
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///./service.db")
    assert Settings(_env_file=None).database_url.startswith("sqlite")


def test_development_keeps_its_shortcuts() -> None:
    settings = Settings(_env_file=None, database_echo=True, api_key_encryption_key=TEST_SECRET_KEY)
    assert settings.public_base_url.startswith("http://")
    assert settings.database_url.startswith("sqlite")


async def answers(serve_lean: ServeApp, settings: Settings) -> list[httpx.Response]:
    async with serve_lean(create_app(settings)) as client:
        return [
            await client.get("/health"),
            await client.get("/api/v1/users/me"),
            await client.get("/no/such/page"),
            await client.post("/api/v1/notifications", content=b"{}"),
        ]


async def test_https_deployments_answer_with_hsts_and_nosniff(
    make_settings: SettingsFactory, serve_lean: ServeApp
) -> None:
    settings = make_settings(**PRODUCTION)
    for response in await answers(serve_lean, settings):
        assert response.headers["X-Content-Type-Options"] == "nosniff", response.url
        hsts = response.headers["Strict-Transport-Security"]
        assert "max-age=31536000" in hsts, response.url


async def test_plain_http_development_sends_nosniff_but_no_hsts(
    make_settings: SettingsFactory, serve_lean: ServeApp
) -> None:
    # HSTS over plain http would be ignored by browsers, and would pin a laptop's
    # 127.0.0.1 to https if it ever were not.
    for response in await answers(serve_lean, make_settings()):
        assert response.headers["X-Content-Type-Options"] == "nosniff", response.url
        assert "Strict-Transport-Security" not in response.headers, response.url
