"""Signing in with Google, against the local Google fake: what the user ends up with."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from fastapi import FastAPI

from app.plugins.google.tests.fake_google import (
    BIRTHDAY_SCOPE,
    GENDER_SCOPE,
    PHONE_SCOPE,
    FakeGoogle,
)
from tests.fakes.base import Failure
from tests.fakes.flow import authorize, callback, consent, me_after_sign_in, sign_in, stored_rows
from tests.support import ME, assert_error, bearer_of

# Each test starts with the fake reset, and its settings in place for apps a test builds.
pytestmark = pytest.mark.usefixtures("fake_google")


@pytest.fixture
def app(shared_app: FastAPI) -> FastAPI:
    """The module's tests share one app pointed at the fake (`app_environment`), each test
    on an empty database."""
    return shared_app


@pytest.mark.parametrize("transport", ["jwt", "cookie"])
async def test_sign_in_creates_a_user_with_the_people_api_profile(
    client: httpx.AsyncClient, fake_google: FakeGoogle, transport: str
) -> None:
    response = await me_after_sign_in(client, "google", transport)

    assert response.status_code == 200, response.text
    user = response.json()
    assert user["email"] == "jane.doe@gmail.com"
    assert user["is_verified"] is True
    assert user["name"] == "Jane Doe"
    assert user["profile_image_url"] == "https://lh3.googleusercontent.com/a/ACg8ocJaneDoe=s100"
    assert user["gender"] == "female"
    assert (user["birthyear"], user["birthday"]) == (1990, "03-14")
    assert user["phone_number"] == "+821012345678"
    assert user["social_accounts"] == [
        {
            "provider": "google",
            "account_id": "110248495921238986420",
            "account_email": "jane.doe@gmail.com",
        }
    ]


async def test_cookie_sign_in_lands_on_the_sign_in_page_signed_in(
    client: httpx.AsyncClient,
) -> None:
    response = await sign_in(client, "google", "cookie")

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    page = await client.get("/")
    assert "Jane Doe" in page.text
    assert "jane.doe@gmail.com" in page.text


async def test_signing_in_again_finds_the_same_user(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    first = (await me_after_sign_in(client, "google")).json()
    second = (await me_after_sign_in(client, "google")).json()

    assert second["id"] == first["id"]
    assert len(second["social_accounts"]) == 1
    assert await stored_rows(app) == (1, 1)


async def test_withheld_consent_leaves_fields_empty_until_a_later_sign_in_grants_them(
    client: httpx.AsyncClient, fake_google: FakeGoogle
) -> None:
    fake_google.withheld = {BIRTHDAY_SCOPE, GENDER_SCOPE, PHONE_SCOPE}
    first = (await me_after_sign_in(client, "google")).json()

    assert first["name"] == "Jane Doe"
    assert first["email"] == "jane.doe@gmail.com"
    assert (first["birthyear"], first["birthday"]) == (None, None)
    assert (first["gender"], first["phone_number"]) == (None, None)

    fake_google.withheld = set()
    second = (await me_after_sign_in(client, "google")).json()

    assert second["id"] == first["id"]
    assert (second["birthyear"], second["birthday"]) == (1990, "03-14")
    assert (second["gender"], second["phone_number"]) == ("female", "+821012345678")


async def test_birthday_without_a_year(client: httpx.AsyncClient, fake_google: FakeGoogle) -> None:
    fake_google.user = replace(fake_google.user, birth_year=None)

    user = (await me_after_sign_in(client, "google")).json()

    assert (user["birthyear"], user["birthday"]) == (None, "03-14")


async def test_letter_avatar_and_unparsed_phone(
    client: httpx.AsyncClient, fake_google: FakeGoogle
) -> None:
    # No photo of their own, and a phone number Google could not read as international.
    fake_google.user = replace(
        fake_google.user, photo_url=None, phone_value="+1 650-253-0000", phone_canonical=None
    )

    user = (await me_after_sign_in(client, "google")).json()

    assert user["profile_image_url"] is None
    assert user["phone_number"] == "+16502530000"


async def test_profile_is_asked_once_per_sign_in(
    client: httpx.AsyncClient, fake_google: FakeGoogle
) -> None:
    await me_after_sign_in(client, "google")

    assert (fake_google.calls.token, fake_google.calls.profile) == (1, 1)


async def test_the_service_sends_its_credentials_and_the_registered_redirect_uri(
    client: httpx.AsyncClient, fake_google: FakeGoogle
) -> None:
    authorization_url = await authorize(client, "google", "jwt")
    redirect = await consent(authorization_url)
    response = await callback(client, redirect)
    bearer_of(response)

    [form] = fake_google.calls.token_forms
    assert form["client_id"] == fake_google.client_id
    assert form["client_secret"] == fake_google.client_secret
    assert form["redirect_uri"] == "http://127.0.0.1:8000/api/v1/auth/google/jwt/callback"
    assert redirect.startswith(form["redirect_uri"] + "?")


async def test_unverified_google_email_makes_an_unverified_user(
    client: httpx.AsyncClient, fake_google: FakeGoogle
) -> None:
    fake_google.user = replace(fake_google.user, email_verified=False)

    response = await me_after_sign_in(client, "google")

    assert response.json()["is_verified"] is False


async def test_bearer_token_of_the_callback_is_what_me_accepts(client: httpx.AsyncClient) -> None:
    response = await sign_in(client, "google", "jwt")

    assert (await client.get(ME)).status_code == 401
    assert (await client.get(ME, headers=bearer_of(response))).status_code == 200


async def test_wrong_client_secret_is_a_provider_error(
    client: httpx.AsyncClient, app: FastAPI, fake_google: FakeGoogle
) -> None:
    fake_google.client_secret = "GOCSPX-rotated"

    response = await sign_in(client, "google")

    assert_error(response, 502, "PROVIDER_ERROR")
    assert await stored_rows(app) == (0, 0)


@pytest.mark.parametrize(
    ("step", "failure"),
    [
        ("token", 400),
        ("token", 503),
        ("token", "malformed"),
        ("profile", 403),
        ("profile", 500),
        ("profile", "malformed"),
        ("profile", "timeout"),
    ],
)
async def test_google_failing_or_hanging_is_a_clean_502_and_creates_no_user(
    client: httpx.AsyncClient, app: FastAPI, fake_google: FakeGoogle, step: str, failure: Failure
) -> None:
    # Google's own error bodies, and GOOGLE_TIMEOUT_SECONDS (2.5 s) against a 5 s hang.
    if step == "token":
        fake_google.token_failure = failure
    else:
        fake_google.profile_failure = failure

    response = await sign_in(client, "google")

    body = assert_error(response, 502, "PROVIDER_ERROR")
    assert (body["detail"]["provider"], body["detail"]["step"]) == ("google", step)
    assert await stored_rows(app) == (0, 0)
