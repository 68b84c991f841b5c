"""CORS: a browser front end on a listed origin may call the API; no other origin may read it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from app.core.config import InsecureSettingsError, Settings
from app.main import create_app
from tests.support import (
    AUTH,
    ME,
    PASSWORD,
    PRODUCTION,
    TEST_SECRET_KEY,
    ServeApp,
    SettingsFactory,
    register,
)

FRONT_END = "https://app.example.com"
OTHER_SITE = "https://evil.example.net"
ALLOW_ORIGIN = "access-control-allow-origin"
ALLOW_CREDENTIALS = "access-control-allow-credentials"


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type, authorization",
    }


async def test_a_listed_origin_gets_the_cors_headers(
    make_settings: SettingsFactory, serve_lean: ServeApp
) -> None:
    async with serve_lean(create_app(make_settings(cors_origins=[FRONT_END]))) as client:
        answer = await client.options(f"{AUTH}/jwt/login", headers=preflight(FRONT_END))
        simple = await client.get("/health", headers={"Origin": FRONT_END})

    assert answer.status_code == 200
    assert answer.headers[ALLOW_ORIGIN] == FRONT_END
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert "authorization" in answer.headers["access-control-allow-headers"].lower()
    assert ALLOW_CREDENTIALS not in answer.headers  # off unless asked for
    assert simple.status_code == 200
    assert simple.headers[ALLOW_ORIGIN] == FRONT_END
    # The front end can read the request id of what it called (to quote it in a report).
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    assert ALLOW_CREDENTIALS not in simple.headers


async def test_an_unlisted_origin_gets_no_cors_headers(
    make_settings: SettingsFactory, serve_lean: ServeApp
) -> None:
    async with serve_lean(create_app(make_settings(cors_origins=[FRONT_END]))) as client:
        answer = await client.options(f"{AUTH}/jwt/login", headers=preflight(OTHER_SITE))
        simple = await client.get("/health", headers={"Origin": OTHER_SITE})
        # Same host, other scheme or port: another origin.
        plain_http = await client.get("/health", headers={"Origin": "http://app.example.com"})

    assert answer.status_code == 400
    assert ALLOW_ORIGIN not in answer.headers
    for response in (simple, plain_http):
        assert response.status_code == 200
        assert ALLOW_ORIGIN not in response.headers
        assert ALLOW_CREDENTIALS not in response.headers


async def test_without_cors_origins_no_origin_gets_cors_headers(
    make_settings: SettingsFactory, serve_lean: ServeApp
) -> None:
    async with serve_lean(create_app(make_settings())) as client:
        answer = await client.options(f"{AUTH}/jwt/login", headers=preflight(FRONT_END))
        simple = await client.get("/health", headers={"Origin": FRONT_END})

    assert answer.status_code == 405  # no CORS layer: the preflight is a plain OPTIONS
    assert ALLOW_ORIGIN not in answer.headers
    assert ALLOW_ORIGIN not in simple.headers


async def test_with_credentials_a_front_end_uses_the_sign_in_cookie(
    make_settings: SettingsFactory, serve: ServeApp
) -> None:
    """The cookie is SameSite=lax: a front end on another origin of the same site (here
    app.example.com calling the API) sends it along when CORS allows credentials."""
    settings = make_settings(cors_origins=[FRONT_END], cors_allow_credentials=True)
    async with serve(create_app(settings)) as client:
        answer = await client.options(ME, headers=preflight(FRONT_END, "GET"))
        await register(client, "front@example.com")
        login = await client.post(
            f"{AUTH}/cookie/login",
            data={"username": "front@example.com", "password": PASSWORD},
            headers={"Origin": FRONT_END},
        )
        me = await client.get(ME, headers={"Origin": FRONT_END})
        elsewhere = await client.get(ME, headers={"Origin": OTHER_SITE})

    assert answer.headers[ALLOW_ORIGIN] == FRONT_END
    assert answer.headers[ALLOW_CREDENTIALS] == "true"
    assert login.status_code == 204, login.text
    assert "samesite=lax" in login.headers["set-cookie"].lower()
    assert login.headers[ALLOW_CREDENTIALS] == "true"
    assert me.status_code == 200, me.text
    assert me.json()["email"] == "front@example.com"
    assert me.headers[ALLOW_ORIGIN] == FRONT_END
    assert me.headers[ALLOW_CREDENTIALS] == "true"
    # Another site's page cannot read the answer: without Access-Control-Allow-Origin
    # naming it, the browser withholds the body.
    assert ALLOW_ORIGIN not in elsewhere.headers


def test_cors_origins_are_read_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", f" {FRONT_END} , http://localhost:5173 ")
    monkeypatch.setenv("CORS_ALLOW_CREDENTIALS", "true")
    settings = Settings(_env_file=None)
    assert settings.cors_origins == [FRONT_END, "http://localhost:5173"]
    assert settings.cors_allow_credentials is True


@pytest.mark.parametrize(
    "origin", ["https://app.example.com/", "https://app.example.com/path", "app.example.com"]
)
def test_an_origin_with_a_path_or_no_scheme_is_refused(origin: str) -> None:
    # A browser's Origin never has a path: such an entry would silently match nothing.
    with pytest.raises(ValidationError, match="CORS_ORIGINS"):
        Settings(_env_file=None, cors_origins=origin)


PRODUCTION_SETUP: dict[str, Any] = {
    **PRODUCTION,
    "secret_key": TEST_SECRET_KEY,
    "database_url": "postgresql+asyncpg://app:pw@db.internal:5432/app",
}


def test_production_refuses_any_origin_with_credentials() -> None:
    with pytest.raises(InsecureSettingsError, match="CORS_ORIGINS=\\* with CORS_ALLOW_CREDENTIALS"):
        Settings(_env_file=None, cors_origins="*", cors_allow_credentials=True, **PRODUCTION_SETUP)


def test_production_accepts_any_origin_without_credentials_or_listed_origins_with() -> None:
    public = Settings(_env_file=None, cors_origins="*", **PRODUCTION_SETUP)
    assert public.cors_origins == ["*"]
    listed = Settings(
        _env_file=None, cors_origins=FRONT_END, cors_allow_credentials=True, **PRODUCTION_SETUP
    )
    assert listed.cors_allow_credentials is True


async def test_any_origin_without_credentials_gets_a_wildcard(
    make_settings: SettingsFactory, serve_lean: ServeApp
) -> None:
    async with serve_lean(create_app(make_settings(cors_origins=["*"]))) as client:
        simple = await client.get("/health", headers={"Origin": OTHER_SITE})
    assert simple.headers[ALLOW_ORIGIN] == "*"
    assert ALLOW_CREDENTIALS not in simple.headers
