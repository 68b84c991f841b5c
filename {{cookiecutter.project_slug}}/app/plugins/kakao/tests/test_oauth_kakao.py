"""Signing in with Kakao, against the local Kakao fake: what the user ends up with."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.main import create_app
from app.plugins.kakao.tests.fake_kakao import FakeKakao
from tests.fakes.flow import me_after_sign_in, sign_in, stored_rows
from tests.support import assert_error

# Each test starts with the fake reset, and its settings in place for apps a test builds.
pytestmark = pytest.mark.usefixtures("fake_kakao")


@pytest.fixture
def app(shared_app: FastAPI) -> FastAPI:
    """The module's tests share one app pointed at the fake (`app_environment`), each test
    on an empty database."""
    return shared_app


@pytest.mark.parametrize("transport", ["jwt", "cookie"])
async def test_sign_in_creates_a_user_with_the_kakao_profile(
    client: httpx.AsyncClient, transport: str
) -> None:
    response = await me_after_sign_in(client, "kakao", transport)

    assert response.status_code == 200, response.text
    user = response.json()
    assert user["email"] == "gildong@kakao.com"
    assert user["is_verified"] is True
    assert (user["name"], user["nickname"]) == ("홍길동", "길동이")
    # Asked for with secure_resource, so the image URL is https.
    assert user["profile_image_url"] == "https://k.kakaocdn.net/dn/bXyZ/img_640x640.jpg"
    assert user["gender"] == "male"
    assert (user["birthyear"], user["birthday"]) == (1992, "09-14")
    assert user["phone_number"] == "+821012345678"
    assert user["social_accounts"] == [
        {"provider": "kakao", "account_id": "3141592653", "account_email": "gildong@kakao.com"}
    ]


async def test_cookie_sign_in_lands_on_the_sign_in_page_signed_in(
    client: httpx.AsyncClient,
) -> None:
    response = await sign_in(client, "kakao", "cookie")

    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert "홍길동" in page.text
    assert "gildong@kakao.com" in page.text


async def test_withheld_consent_leaves_fields_empty_until_a_later_sign_in_grants_them(
    client: httpx.AsyncClient, fake_kakao: FakeKakao
) -> None:
    fake_kakao.withheld = {
        "profile_image",
        "name",
        "gender",
        "birthday",
        "birthyear",
        "phone_number",
    }
    first = (await me_after_sign_in(client, "kakao")).json()

    assert (first["nickname"], first["email"]) == ("길동이", "gildong@kakao.com")
    assert (first["name"], first["profile_image_url"], first["gender"]) == (None, None, None)
    assert (first["birthyear"], first["birthday"], first["phone_number"]) == (None, None, None)

    fake_kakao.withheld = set()
    second = (await me_after_sign_in(client, "kakao")).json()

    assert second["id"] == first["id"]
    assert (second["name"], second["gender"]) == ("홍길동", "male")
    assert (second["birthyear"], second["birthday"]) == (1992, "09-14")
    assert second["phone_number"] == "+821012345678"
    assert second["profile_image_url"] == "https://k.kakaocdn.net/dn/bXyZ/img_640x640.jpg"


async def test_without_consent_to_the_email_there_is_no_account(
    client: httpx.AsyncClient, app: FastAPI, fake_kakao: FakeKakao
) -> None:
    fake_kakao.withheld = {"account_email"}

    response = await sign_in(client, "kakao")

    assert_error(response, 400, "OAUTH_NOT_AVAILABLE_EMAIL")
    assert await stored_rows(app) == (0, 0)


async def test_unverified_kakao_email_makes_an_unverified_user(
    client: httpx.AsyncClient, fake_kakao: FakeKakao
) -> None:
    fake_kakao.user = replace(fake_kakao.user, is_email_verified=False)

    user = (await me_after_sign_in(client, "kakao")).json()

    assert user["email"] == "gildong@kakao.com"
    assert user["is_verified"] is False


async def test_kakao_stand_in_picture_and_lunar_birthday_are_left_out(
    client: httpx.AsyncClient, fake_kakao: FakeKakao
) -> None:
    fake_kakao.user = replace(fake_kakao.user, profile_image_url=None, birthday_type="LUNAR")

    user = (await me_after_sign_in(client, "kakao")).json()

    assert user["profile_image_url"] is None
    assert (user["birthyear"], user["birthday"]) == (1992, None)


async def test_without_a_client_secret_none_is_sent(
    client: httpx.AsyncClient, fake_kakao: FakeKakao
) -> None:
    await me_after_sign_in(client, "kakao")

    [form] = fake_kakao.calls.token_forms
    assert form["client_id"] == "fake-rest-api-key"
    assert "client_secret" not in form
    assert form["redirect_uri"] == "http://127.0.0.1:8000/api/v1/auth/kakao/jwt/callback"


async def test_app_with_client_secret_switched_on(
    fake_kakao: FakeKakao,
    monkeypatch: pytest.MonkeyPatch,
    make_settings: Callable[..., Settings],
    serve: Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]],
) -> None:
    fake_kakao.client_secret = "kakao-client-secret"
    fake_kakao.client_secret_required = True
    monkeypatch.setenv("KAKAO_CLIENT_SECRET", "kakao-client-secret")

    async with serve(create_app(make_settings())) as client:
        response = await me_after_sign_in(client, "kakao")

    assert response.status_code == 200, response.text
    [form] = fake_kakao.calls.token_forms
    assert form["client_secret"] == "kakao-client-secret"
