"""Pre-account takeover: someone sets up an account with another person's email address
before that person arrives, and must keep nothing of it once a provider proves who owns
the address.

Two ways in, each driven end to end through HTTP with the two provider-neutral fakes:
a) an account at the beta provider, whose email beta has not verified; b) a password
registration. The owner arrives through alpha, which has verified the address.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi_users.jwt import generate_jwt

from app.accounts.models import User
from app.core.database import Database
from app.notifications.models import Notification, NotificationStatus
from tests.fakes.flow import sign_in, stored_rows
from tests.fakes.oauth_server import FakeOAuthServer
from tests.support import (
    AUTH,
    ME,
    TEST_SECRET_KEY,
    IssuedKey,
    Mailbox,
    assert_error,
    bearer_of,
    client_of,
    issue_api_key,
    login,
    register,
    signed_client,
    token_of,
)

pytestmark = pytest.mark.usefixtures("fake_alpha", "fake_beta")

VICTIM = "jane.doe@example.com"  # the alpha fake's verified address
SQUATTER_PASSWORD = "squatter's own passphrase 7"
OWNER_PASSWORD = "the owner's real passphrase 3"
KEYS = f"{ME}/api-keys"
NOTIFICATIONS = "/api/v1/notifications"


@pytest.fixture(scope="module")
def app_plugins(module_mailbox: Mailbox, fake_provider_plugins: list[object]) -> list[object]:
    return [module_mailbox, *fake_provider_plugins]


@pytest.fixture
def app(shared_app: FastAPI, mailbox: Mailbox) -> FastAPI:
    """The module's tests share one app, each on an empty database and an empty mailbox."""
    return shared_app


@asynccontextmanager
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """One person's HTTP client, with its own cookie jar."""
    async with client_of(app) as client:
        yield client


@pytest.fixture
async def squatter(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(app) as client:
        yield client


@pytest.fixture
async def squatter_cookies(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The squatter's browser, signed in by cookie."""
    async with browser(app) as client:
        yield client


@pytest.fixture
async def owner(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(app) as client:
        yield client


async def plant_notification(app: FastAPI, user_id: int, key: IssuedKey) -> None:
    """A notification the squatter sent: its text must not reach the owner's list."""
    async with app.state.runtime.database.sessionmaker() as session:
        await Notification.create(
            session=session,
            commit=True,
            channel="email",
            recipients=["friend@example.com"],
            subject="from the squatter",
            text="hello",
            status=NotificationStatus.DELIVERED.value,
            attempts=1,
            user_id=user_id,
            api_key_id=key.id,
        )


async def user_row(app: FastAPI, user_id: int) -> User:
    database: Database = app.state.runtime.database
    async with database.sessionmaker() as session:
        user = await session.get(User, user_id)
        assert user is not None
        return user


async def owner_notifications(app: FastAPI, owner: httpx.AsyncClient, me: dict[str, str]) -> Any:
    created = await owner.post(KEYS, json={}, headers=me)
    assert created.status_code == 201, created.text
    body = created.json()
    key = IssuedKey(body["id"], body["access_key"], body["secret_key"])
    async with signed_client(app, key) as signed:
        listed = await signed.get(NOTIFICATIONS)
    assert listed.status_code == 200, listed.text
    return listed.json()


async def test_chain_a_an_unverified_provider_email_keeps_nothing_once_another_provider_proves_it(
    app: FastAPI,
    fake_beta: FakeOAuthServer,
    squatter: httpx.AsyncClient,
    squatter_cookies: httpx.AsyncClient,
    owner: httpx.AsyncClient,
) -> None:
    # The squatter's beta account carries the victim's address, never verified.
    fake_beta.user = replace(fake_beta.user, email=VICTIM, email_verified=False)
    squatter_bearer = bearer_of(await sign_in(squatter, "beta"))
    cookie_sign_in = await sign_in(squatter_cookies, "beta", "cookie")
    assert cookie_sign_in.status_code in (302, 303), cookie_sign_in.text
    planted = (await squatter.get(ME, headers=squatter_bearer)).json()
    assert planted["is_verified"] is False
    assert (await squatter_cookies.get(ME)).status_code == 200

    # The owner arrives through alpha, which proves the address.
    owner_bearer = bearer_of(await sign_in(owner, "alpha"))
    mine = (await owner.get(ME, headers=owner_bearer)).json()
    assert mine["is_verified"] is True
    assert [account["provider"] for account in mine["social_accounts"]] == ["alpha"]
    # The squatter's profile is gone; alpha's fills the account.
    assert mine["name"] == "Jane Doe"
    assert mine["nickname"] is None

    # Everything the squatter held is dead.
    assert_error(await squatter.get(ME, headers=squatter_bearer), 401, "UNAUTHORIZED")
    assert_error(await squatter_cookies.get(ME), 401, "UNAUTHORIZED")
    again = await sign_in(squatter, "beta")
    if again.status_code == 200:
        # A fresh account of their own at most, never the owner's.
        elsewhere = (await squatter.get(ME, headers=bearer_of(again))).json()
        assert elsewhere["id"] != mine["id"]
    else:
        assert_error(again, 400, "OAUTH_USER_ALREADY_EXISTS")
    still_mine = (await owner.get(ME, headers=owner_bearer)).json()
    assert [account["provider"] for account in still_mine["social_accounts"]] == ["alpha"]


async def test_chain_b_password_squatter_keeps_nothing_once_a_provider_proves_the_email(
    app: FastAPI,
    squatter: httpx.AsyncClient,
    squatter_cookies: httpx.AsyncClient,
    owner: httpx.AsyncClient,
) -> None:
    registered = await register(
        squatter, VICTIM, SQUATTER_PASSWORD, name="Not Jane", phone_number="+821099998888"
    )
    squatter_bearer = bearer_of(await login(squatter, VICTIM, SQUATTER_PASSWORD))
    cookie_login = await login(squatter_cookies, VICTIM, SQUATTER_PASSWORD, backend="cookie")
    assert cookie_login.status_code == 204, cookie_login.text
    # A key made before keys needed a verified account, and a notification sent with it.
    planted_key = await issue_api_key(app, registered["id"], "planted")
    await plant_notification(app, registered["id"], planted_key)

    owner_bearer = bearer_of(await sign_in(owner, "alpha"))
    mine = (await owner.get(ME, headers=owner_bearer)).json()
    assert mine["id"] == registered["id"]
    assert mine["is_verified"] is True
    assert mine["name"] == "Jane Doe"
    assert mine["phone_number"] == "+821012345678"

    # The squatter's token and cookie read nothing, change nothing.
    assert_error(await squatter.get(ME, headers=squatter_bearer), 401, "UNAUTHORIZED")
    assert_error(await squatter_cookies.get(ME), 401, "UNAUTHORIZED")
    hijack = await squatter.patch(
        ME,
        headers=squatter_bearer,
        json={"password": "a brand new passphrase 9", "current_password": SQUATTER_PASSWORD},
    )
    assert_error(hijack, 401, "UNAUTHORIZED")
    # The password opens nothing.
    assert_error(await login(squatter, VICTIM, SQUATTER_PASSWORD), 400, "LOGIN_BAD_CREDENTIALS")
    # The planted key is revoked: its signed requests are refused.
    async with signed_client(app, planted_key) as signed:
        assert_error(await signed.get(NOTIFICATIONS), 401, "API_KEY_INACTIVE")
    # The owner inherits none of the squatter's notifications.
    listed = await owner_notifications(app, owner, owner_bearer)
    assert listed["total"] == 0
    row = await user_row(app, registered["id"])
    assert row.session_generation > 0


async def test_an_unverified_account_cannot_create_api_keys(
    app: FastAPI, squatter: httpx.AsyncClient
) -> None:
    await register(squatter, VICTIM, SQUATTER_PASSWORD)
    squatter_bearer = bearer_of(await login(squatter, VICTIM, SQUATTER_PASSWORD))

    refused = await squatter.post(KEYS, json={}, headers=squatter_bearer)

    assert_error(refused, 403, "ACCOUNT_UNVERIFIED")
    assert (await squatter.get(KEYS, headers=squatter_bearer)).json() == []


async def test_an_account_made_from_an_unproven_provider_email_gets_no_verification(
    app: FastAPI, fake_beta: FakeOAuthServer, squatter: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    fake_beta.user = replace(fake_beta.user, email=VICTIM, email_verified=False)
    squatter_bearer = bearer_of(await sign_in(squatter, "beta"))
    planted = (await squatter.get(ME, headers=squatter_bearer)).json()

    # Asking for a verification mail answers as usual, and mails nobody.
    asked = await squatter.post(f"{AUTH}/request-verify-token", json={"email": VICTIM})
    assert asked.status_code == 202, asked.text
    assert mailbox.to(VICTIM) == []
    # A verification token for the address (had one ever been mailed) does not verify it.
    token = generate_jwt(
        {"sub": str(planted["id"]), "email": VICTIM, "aud": "fastapi-users:verify"},
        TEST_SECRET_KEY,
        3600,
    )
    refused = await squatter.post(f"{AUTH}/verify", json={"token": token})
    assert refused.status_code == 400, refused.text
    assert (await squatter.get(ME, headers=squatter_bearer)).json()["is_verified"] is False


async def test_a_password_reset_by_the_owner_removes_what_the_unproven_party_set_up(
    app: FastAPI,
    fake_beta: FakeOAuthServer,
    squatter: httpx.AsyncClient,
    owner: httpx.AsyncClient,
    mailbox: Mailbox,
) -> None:
    fake_beta.user = replace(fake_beta.user, email=VICTIM, email_verified=False)
    squatter_bearer = bearer_of(await sign_in(squatter, "beta"))
    planted = (await squatter.get(ME, headers=squatter_bearer)).json()

    # The reset mail reaches the address's owner, who alone can use it.
    forgot = await owner.post(f"{AUTH}/forgot-password", json={"email": VICTIM})
    assert forgot.status_code == 202, forgot.text
    token = token_of(mailbox.last_link(VICTIM))
    reset = await owner.post(
        f"{AUTH}/reset-password", json={"token": token, "password": OWNER_PASSWORD}
    )
    assert reset.status_code == 200, reset.text

    mine = (
        await owner.get(ME, headers=bearer_of(await login(owner, VICTIM, OWNER_PASSWORD)))
    ).json()
    assert mine["id"] == planted["id"]
    assert mine["is_verified"] is True
    assert mine["social_accounts"] == []
    assert mine["nickname"] is None
    assert_error(await squatter.get(ME, headers=squatter_bearer), 401, "UNAUTHORIZED")
    again = await sign_in(squatter, "beta")
    if again.status_code == 200:
        elsewhere = (await squatter.get(ME, headers=bearer_of(again))).json()
        assert elsewhere["id"] != mine["id"]
    else:
        assert_error(again, 400, "OAUTH_USER_ALREADY_EXISTS")


async def test_a_provider_made_account_cannot_change_its_email_without_a_password(
    app: FastAPI, fake_beta: FakeOAuthServer, squatter: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    fake_beta.user = replace(fake_beta.user, email=VICTIM, email_verified=False)
    first = bearer_of(await sign_in(squatter, "beta"))
    own = "gildong@example.org"

    # A provider-made account has no password to confirm the change with.
    refused = await squatter.patch(ME, headers=first, json={"email": own})
    assert_error(refused, 400, "UPDATE_USER_CURRENT_PASSWORD_INVALID")
    assert (await stored_rows(app)) == (1, 1)
    assert mailbox.to(own) == []
