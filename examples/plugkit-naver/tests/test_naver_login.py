"""Signing in with Naver on a service that only had this package installed beside it.

The service is built by its own `create_app`, which finds the plugin through the entry
point group `<project_slug>.plugins`; the provider is the fake Naver on 127.0.0.1.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from app import PROJECT_SLUG
from app.accounts.models import OAuthAccount, User
from app.core.plugins import builtin_plugin_names
from fake_naver import Failure, FakeNaver, press
from fastapi import FastAPI
from sqlalchemy import func, select

AUTH = "/api/v1/auth"
ME = "/api/v1/users/me"


async def sign_in(
    client: httpx.AsyncClient, transport: str = "jwt", button: str = "agree"
) -> httpx.Response:
    """authorize → Naver's page (a button pressed) → the callback; the service's answer."""
    authorize = await client.get(f"{AUTH}/naver/{transport}/authorize")
    assert authorize.status_code == 200, authorize.text
    back = httpx.URL(await press(authorize.json()["authorization_url"], button))
    return await client.get(back.raw_path.decode())


async def me_after_sign_in(client: httpx.AsyncClient, transport: str = "jwt") -> dict[str, Any]:
    response = await sign_in(client, transport)
    headers = {}
    if transport == "jwt":
        assert response.status_code == 200, response.text
        assert response.json()["token_type"] == "bearer"
        headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    else:
        # The cookie backend signs the browser in and sends it to the sign-in page.
        assert response.status_code == 303, response.text
    me = await client.get(ME, headers=headers)
    assert me.status_code == 200, me.text
    user: dict[str, Any] = me.json()
    return user


async def stored_rows(app: FastAPI) -> tuple[int, int]:
    """How many users and linked provider accounts the service's database holds."""
    async with app.state.runtime.database.sessionmaker() as session:
        users = await session.scalar(select(func.count()).select_from(User))
        links = await session.scalar(select(func.count()).select_from(OAuthAccount))
    return users or 0, links or 0


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The service's error shape, with this status and code."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "detail", "request_id"}
    assert body["code"] == code
    assert body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def test_the_package_declares_itself_to_this_service() -> None:
    # A service baked with another slug reads another group: change the pyproject line.
    group = f"{PROJECT_SLUG}.plugins"
    found = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=group)}
    assert found.get("naver") == "plugkit_naver.plugin", f"no 'naver' entry point in {group}"
    assert "naver" not in builtin_plugin_names()


@pytest.mark.usefixtures("fake_naver")
async def test_installing_the_package_adds_naver_sign_in(
    service: FastAPI, client: httpx.AsyncClient
) -> None:
    assert "naver" in service.state.runtime.plugins.plugin_names
    paths = (await client.get("/openapi.json")).json()["paths"]
    for transport in ("jwt", "cookie"):
        for step in ("authorize", "callback"):
            assert f"{AUTH}/naver/{transport}/{step}" in paths
    page = await client.get("/")
    assert 'data-provider="naver"' in page.text
    assert "Sign in with Naver" in page.text


@pytest.mark.parametrize("transport", ["jwt", "cookie"])
async def test_naver_sign_in_creates_a_user_with_the_naver_profile(
    fake_naver: FakeNaver, client: httpx.AsyncClient, transport: str
) -> None:
    user = await me_after_sign_in(client, transport)

    assert user["email"] == "gildong@naver.com"
    assert user["is_verified"] is True
    assert (user["name"], user["nickname"]) == ("홍길동", "길동이")
    assert user["profile_image_url"] == "https://phinf.pstatic.net/contact/20240502_1/gildong.jpg"
    assert user["gender"] == "male"
    assert (user["birthyear"], user["birthday"]) == (1992, "09-14")
    assert user["phone_number"] == "+821012345678"
    assert user["social_accounts"] == [
        {
            "provider": "naver",
            "account_id": fake_naver.member.id,
            "account_email": "gildong@naver.com",
        }
    ]


async def test_the_login_goes_to_naver_and_comes_back_with_code_and_state(
    fake_naver: FakeNaver, client: httpx.AsyncClient
) -> None:
    authorize = await client.get(f"{AUTH}/naver/jwt/authorize")
    url = urlsplit(authorize.json()["authorization_url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{fake_naver.base_url}/oauth2.0/authorize"
    state = parse_qs(url.query)["state"][0]

    back = urlsplit(await press(authorize.json()["authorization_url"]))

    assert back.path == f"{AUTH}/naver/jwt/callback"
    assert parse_qs(back.query)["state"] == [state]
    assert parse_qs(back.query)["code"]


async def test_items_not_shared_stay_empty_until_a_later_sign_in_shares_them(
    fake_naver: FakeNaver, client: httpx.AsyncClient
) -> None:
    fake_naver.withheld = {"name", "profile_image", "gender", "birthday", "birthyear", "mobile"}
    first = await me_after_sign_in(client)

    assert (first["nickname"], first["email"]) == ("길동이", "gildong@naver.com")
    assert (first["name"], first["profile_image_url"], first["gender"]) == (None, None, None)
    assert (first["birthyear"], first["birthday"], first["phone_number"]) == (None, None, None)

    fake_naver.withheld = set()
    second = await me_after_sign_in(client)

    assert second["id"] == first["id"]
    assert (second["name"], second["gender"]) == ("홍길동", "male")
    assert (second["birthyear"], second["birthday"]) == (1992, "09-14")
    assert second["phone_number"] == "+821012345678"


async def test_a_contact_address_outside_naver_makes_an_unverified_user(
    fake_naver: FakeNaver, client: httpx.AsyncClient
) -> None:
    fake_naver.member = replace(fake_naver.member, email="gildong@example.com")

    user = await me_after_sign_in(client)

    assert user["email"] == "gildong@example.com"
    assert user["is_verified"] is False


@pytest.mark.parametrize(
    ("step", "failure"),
    [
        ("token", 500),
        ("token", "refused"),
        ("profile", 500),
        ("profile", "refused"),
        ("profile", "malformed"),
        ("profile", "timeout"),
    ],
)
async def test_a_naver_failure_is_a_502_and_creates_no_user(
    fake_naver: FakeNaver,
    service: FastAPI,
    client: httpx.AsyncClient,
    step: str,
    failure: Failure,
) -> None:
    if step == "token":
        fake_naver.token_failure = failure
    else:
        fake_naver.profile_failure = failure

    response = await sign_in(client)

    body = assert_error(response, 502, "PROVIDER_ERROR")
    assert body["detail"]["provider"] == "naver"
    assert body["detail"]["step"] == step
    assert await stored_rows(service) == (0, 0)


async def test_cancelling_at_naver_is_a_400_and_creates_no_user(
    fake_naver: FakeNaver, service: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await sign_in(client, button="cancel")

    body = assert_error(response, 400, "OAUTH_AUTHORIZATION_FAILED")
    assert body["detail"]["error"] == "access_denied"
    assert await stored_rows(service) == (0, 0)
    assert fake_naver.calls.token == 0


async def test_without_credentials_naver_is_shown_but_answers_503(
    unconfigured_naver: None, client: httpx.AsyncClient
) -> None:
    response = await client.get(f"{AUTH}/naver/jwt/authorize")

    assert_error(response, 503, "PROVIDER_NOT_CONFIGURED")
    page = await client.get("/")
    assert "Naver sign-in: not set up" in page.text
