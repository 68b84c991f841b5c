"""One person, two providers: linking by a provider-verified email, and refusing otherwise."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from fastapi import FastAPI

from tests.fakes.flow import ME, assert_error, bearer, me_after_sign_in, sign_in, stored_rows
from tests.fakes.google import FakeGoogle
from tests.fakes.kakao import FakeKakao

# Each test starts with the fakes reset, and their settings in place for apps a test builds.
pytestmark = pytest.mark.usefixtures("fake_google", "fake_kakao")


@pytest.fixture
def app(providers_app: FastAPI) -> FastAPI:
    """The module's tests share one app, each on an empty database (tests/fakes/fixtures.py)."""
    return providers_app


SHARED_EMAIL = "jane.doe@gmail.com"


async def test_same_verified_email_at_google_then_kakao_is_one_user_with_two_accounts(
    client: httpx.AsyncClient, app: FastAPI, fake_kakao: FakeKakao
) -> None:
    fake_kakao.user = replace(fake_kakao.user, email=SHARED_EMAIL)

    by_google = (await me_after_sign_in(client, "google")).json()
    by_kakao = (await me_after_sign_in(client, "kakao")).json()

    assert by_kakao["id"] == by_google["id"]
    assert await stored_rows(app) == (1, 2)
    accounts = {account["provider"]: account for account in by_kakao["social_accounts"]}
    assert accounts["google"]["account_id"] == "110248495921238986420"
    assert accounts["kakao"]["account_id"] == "3141592653"
    assert accounts["kakao"]["account_email"] == SHARED_EMAIL
    # Kakao fills what Google left empty and leaves what Google gave alone.
    assert by_kakao["nickname"] == "길동이"
    assert by_kakao["name"] == "Jane Doe"
    assert by_kakao["gender"] == "female"


async def test_either_provider_signs_in_to_the_linked_user_afterwards(
    client: httpx.AsyncClient, app: FastAPI, fake_kakao: FakeKakao
) -> None:
    fake_kakao.user = replace(fake_kakao.user, email=SHARED_EMAIL)
    first = (await me_after_sign_in(client, "kakao")).json()
    await me_after_sign_in(client, "google")

    again = [(await me_after_sign_in(client, name)).json()["id"] for name in ("google", "kakao")]

    assert again == [first["id"], first["id"]]
    assert await stored_rows(app) == (1, 2)


async def test_unverified_kakao_email_does_not_link_to_the_google_user(
    client: httpx.AsyncClient, app: FastAPI, fake_kakao: FakeKakao
) -> None:
    # Someone holding a Kakao account with Jane's address, never proven, must not get in.
    fake_kakao.user = replace(fake_kakao.user, email=SHARED_EMAIL, is_email_verified=False)
    by_google = (await me_after_sign_in(client, "google")).json()

    response = await sign_in(client, "kakao")

    assert_error(response, 400, "OAUTH_USER_ALREADY_EXISTS")
    assert "set-cookie" not in response.headers
    assert await stored_rows(app) == (1, 1)
    after = (await me_after_sign_in(client, "google")).json()
    assert after["id"] == by_google["id"]
    assert [account["provider"] for account in after["social_accounts"]] == ["google"]


async def test_unverified_google_email_does_not_link_to_the_kakao_user(
    client: httpx.AsyncClient, app: FastAPI, fake_google: FakeGoogle, fake_kakao: FakeKakao
) -> None:
    fake_kakao.user = replace(fake_kakao.user, email=SHARED_EMAIL)
    fake_google.user = replace(fake_google.user, email_verified=False)
    await me_after_sign_in(client, "kakao")

    response = await sign_in(client, "google")

    assert_error(response, 400, "OAUTH_USER_ALREADY_EXISTS")
    assert await stored_rows(app) == (1, 1)


async def test_different_emails_stay_different_users(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    by_google = await sign_in(client, "google")
    by_kakao = await sign_in(client, "kakao")

    google_user = (await client.get(ME, headers=bearer(by_google))).json()
    kakao_user = (await client.get(ME, headers=bearer(by_kakao))).json()

    assert google_user["id"] != kakao_user["id"]
    assert await stored_rows(app) == (2, 2)


async def test_verified_email_links_to_a_password_account_of_the_same_address(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    registered = await client.post(
        "/api/v1/auth/register",
        json={"email": SHARED_EMAIL, "password": "a long enough passphrase 42"},
    )
    assert registered.status_code == 201, registered.text

    user = (await me_after_sign_in(client, "google")).json()

    assert user["id"] == registered.json()["id"]
    assert user["is_verified"] is True
    assert await stored_rows(app) == (1, 1)
