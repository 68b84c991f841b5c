"""One person, two providers: linking by a provider-verified email, and refusing otherwise.

Against the two provider-neutral fakes, alpha and beta (tests/fakes/fixtures.py).
"""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from fastapi import FastAPI

from tests.fakes.flow import me_after_sign_in, sign_in, stored_rows
from tests.fakes.oauth_server import FakeOAuthServer
from tests.support import ME, assert_error, bearer_of

# Each test starts with the fakes reset.
pytestmark = pytest.mark.usefixtures("fake_alpha", "fake_beta")


@pytest.fixture(scope="module")
def app_plugins(fake_provider_plugins: list[object]) -> list[object]:
    return fake_provider_plugins


@pytest.fixture
def app(shared_app: FastAPI) -> FastAPI:
    """The module's tests share one app, each on an empty database."""
    return shared_app


SHARED_EMAIL = "jane.doe@example.com"  # alpha's verified address


async def test_same_verified_email_at_two_providers_is_one_user_with_two_accounts(
    client: httpx.AsyncClient, app: FastAPI, fake_beta: FakeOAuthServer
) -> None:
    fake_beta.user = replace(fake_beta.user, email=SHARED_EMAIL)

    by_alpha = (await me_after_sign_in(client, "alpha")).json()
    by_beta = (await me_after_sign_in(client, "beta")).json()

    assert by_beta["id"] == by_alpha["id"]
    assert await stored_rows(app) == (1, 2)
    accounts = {account["provider"]: account for account in by_beta["social_accounts"]}
    assert accounts["alpha"]["account_id"] == "248289761001"
    assert accounts["beta"]["account_id"] == "7340012"
    assert accounts["beta"]["account_email"] == SHARED_EMAIL
    # Beta fills what alpha left empty and leaves what alpha gave alone.
    assert by_beta["nickname"] == "gildong"
    assert by_beta["name"] == "Jane Doe"
    assert by_beta["gender"] == "female"


async def test_either_provider_signs_in_to_the_linked_user_afterwards(
    client: httpx.AsyncClient, app: FastAPI, fake_beta: FakeOAuthServer
) -> None:
    fake_beta.user = replace(fake_beta.user, email=SHARED_EMAIL)
    first = (await me_after_sign_in(client, "beta")).json()
    await me_after_sign_in(client, "alpha")

    again = [(await me_after_sign_in(client, name)).json()["id"] for name in ("alpha", "beta")]

    assert again == [first["id"], first["id"]]
    assert await stored_rows(app) == (1, 2)


async def test_an_unverified_email_at_the_second_provider_does_not_link_to_the_first_user(
    client: httpx.AsyncClient, app: FastAPI, fake_beta: FakeOAuthServer
) -> None:
    # Someone holding a beta account with Jane's address, never proven, must not get in.
    fake_beta.user = replace(fake_beta.user, email=SHARED_EMAIL, email_verified=False)
    by_alpha = (await me_after_sign_in(client, "alpha")).json()

    response = await sign_in(client, "beta")

    assert_error(response, 400, "OAUTH_USER_ALREADY_EXISTS")
    assert "set-cookie" not in response.headers
    assert await stored_rows(app) == (1, 1)
    after = (await me_after_sign_in(client, "alpha")).json()
    assert after["id"] == by_alpha["id"]
    assert [account["provider"] for account in after["social_accounts"]] == ["alpha"]


async def test_an_unverified_email_at_the_first_provider_does_not_link_to_the_second_user(
    client: httpx.AsyncClient, app: FastAPI, fake_alpha: FakeOAuthServer, fake_beta: FakeOAuthServer
) -> None:
    fake_beta.user = replace(fake_beta.user, email=SHARED_EMAIL)
    fake_alpha.user = replace(fake_alpha.user, email_verified=False)
    await me_after_sign_in(client, "beta")

    response = await sign_in(client, "alpha")

    assert_error(response, 400, "OAUTH_USER_ALREADY_EXISTS")
    assert await stored_rows(app) == (1, 1)


async def test_different_emails_stay_different_users(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    by_alpha = await sign_in(client, "alpha")
    by_beta = await sign_in(client, "beta")

    alpha_user = (await client.get(ME, headers=bearer_of(by_alpha))).json()
    beta_user = (await client.get(ME, headers=bearer_of(by_beta))).json()

    assert alpha_user["id"] != beta_user["id"]
    assert await stored_rows(app) == (2, 2)


async def test_verified_email_links_to_a_password_account_of_the_same_address(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    registered = await client.post(
        "/api/v1/auth/register",
        json={"email": SHARED_EMAIL, "password": "a long enough passphrase 42"},
    )
    assert registered.status_code == 201, registered.text

    user = (await me_after_sign_in(client, "alpha")).json()

    assert user["id"] == registered.json()["id"]
    assert user["is_verified"] is True
    assert await stored_rows(app) == (1, 1)
