"""Sessions end when they should: on logout, and for every earlier token when the password,
the email or a reset changes what proves the account; a password or email change needs the
current password."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi_users.jwt import generate_jwt
from sqlalchemy import event

from app.accounts.auth_backends import AUTH_COOKIE_NAME
from tests.support import (
    AUTH,
    ME,
    PASSWORD,
    TEST_SECRET_KEY,
    Mailbox,
    ServeApp,
    SettingsFactory,
    assert_error,
    bearer_for,
    bearer_of,
    build_app,
    login,
    register,
    token_of,
)

EMAIL = "alice@example.com"
NEW_PASSWORD = "a different long passphrase 5"


@pytest.fixture(scope="module")
def app_plugins(module_mailbox: Mailbox) -> list[object]:
    return [module_mailbox]


@pytest.fixture
async def client(
    module_app: FastAPI, serve: ServeApp, mailbox: Mailbox
) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(module_app) as client:
        await register(client, EMAIL)
        yield client


async def cookie_login(client: httpx.AsyncClient) -> str:
    response = await login(client, EMAIL, backend="cookie")
    assert response.status_code == 204, response.text
    cookie = client.cookies[AUTH_COOKIE_NAME]
    client.cookies.clear()
    return cookie


async def reads_me_by_cookie(client: httpx.AsyncClient, cookie: str) -> int:
    return (await client.get(ME, cookies={AUTH_COOKIE_NAME: cookie})).status_code


async def test_bearer_logout_ends_that_token(client: httpx.AsyncClient) -> None:
    token = await bearer_for(client, EMAIL)
    assert (await client.get(ME, headers=token)).status_code == 200

    assert (await client.post(f"{AUTH}/jwt/logout", headers=token)).status_code == 204

    assert_error(await client.get(ME, headers=token), 401, "UNAUTHORIZED")
    assert_error(await client.post(f"{AUTH}/jwt/logout", headers=token), 401, "UNAUTHORIZED")


async def test_logout_signs_out_every_session_of_the_user(client: httpx.AsyncClient) -> None:
    phone = await bearer_for(client, EMAIL)
    laptop = await bearer_for(client, EMAIL)
    cookie = await cookie_login(client)

    assert (await client.post(f"{AUTH}/jwt/logout", headers=phone)).status_code == 204

    assert_error(await client.get(ME, headers=laptop), 401, "UNAUTHORIZED")
    assert await reads_me_by_cookie(client, cookie) == 401
    # Signing in again opens a new session.
    assert (await client.get(ME, headers=await bearer_for(client, EMAIL))).status_code == 200


async def test_a_cookie_replayed_after_cookie_logout_is_refused(client: httpx.AsyncClient) -> None:
    cookie = await cookie_login(client)
    assert await reads_me_by_cookie(client, cookie) == 200

    logout = await client.post(f"{AUTH}/cookie/logout", cookies={AUTH_COOKIE_NAME: cookie})
    assert logout.status_code == 204, logout.text

    assert await reads_me_by_cookie(client, cookie) == 401


async def test_a_password_change_ends_every_earlier_session(client: httpx.AsyncClient) -> None:
    token = await bearer_for(client, EMAIL)
    other = await bearer_for(client, EMAIL)
    cookie = await cookie_login(client)

    changed = await client.patch(
        ME, headers=token, json={"password": NEW_PASSWORD, "current_password": PASSWORD}
    )

    assert changed.status_code == 200, changed.text
    for earlier in (token, other):
        assert_error(await client.get(ME, headers=earlier), 401, "UNAUTHORIZED")
    assert await reads_me_by_cookie(client, cookie) == 401
    assert_error(await login(client, EMAIL), 400, "LOGIN_BAD_CREDENTIALS")
    fresh = bearer_of(await login(client, EMAIL, NEW_PASSWORD))
    assert (await client.get(ME, headers=fresh)).status_code == 200


async def test_an_email_change_ends_every_earlier_session(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    token = await bearer_for(client, EMAIL)
    cookie = await cookie_login(client)

    changed = await client.patch(
        ME, headers=token, json={"email": "alice@example.org", "current_password": PASSWORD}
    )

    assert changed.status_code == 200, changed.text
    assert changed.json()["email"] == "alice@example.org"
    assert_error(await client.get(ME, headers=token), 401, "UNAUTHORIZED")
    assert await reads_me_by_cookie(client, cookie) == 401
    assert mailbox.to("alice@example.org"), "the new address is asked to verify"


async def test_a_password_reset_ends_every_earlier_session(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    token = await bearer_for(client, EMAIL)
    cookie = await cookie_login(client)

    assert (await client.post(f"{AUTH}/forgot-password", json={"email": EMAIL})).status_code == 202
    reset = await client.post(
        f"{AUTH}/reset-password",
        json={"token": token_of(mailbox.last_link(EMAIL)), "password": NEW_PASSWORD},
    )

    assert reset.status_code == 200, reset.text
    assert_error(await client.get(ME, headers=token), 401, "UNAUTHORIZED")
    assert await reads_me_by_cookie(client, cookie) == 401


@pytest.mark.parametrize(
    "change",
    [{"password": NEW_PASSWORD}, {"email": "alice@example.org"}],
    ids=["password", "email"],
)
@pytest.mark.parametrize(
    "current", [None, "", "not the password"], ids=["missing", "empty", "wrong"]
)
async def test_a_credential_change_without_the_current_password_is_refused(
    client: httpx.AsyncClient, change: dict[str, str], current: str | None
) -> None:
    token = await bearer_for(client, EMAIL)
    body = change if current is None else {**change, "current_password": current}

    refused = await client.patch(ME, headers=token, json=body)

    assert_error(refused, 400, "UPDATE_USER_CURRENT_PASSWORD_INVALID")
    # Nothing changed: the same email, the same password, the token still works.
    me = await client.get(ME, headers=token)
    assert me.status_code == 200
    assert me.json()["email"] == EMAIL
    assert (await login(client, EMAIL)).status_code == 200


async def test_a_profile_change_needs_no_password_and_keeps_the_session(
    client: httpx.AsyncClient,
) -> None:
    token = await bearer_for(client, EMAIL)

    changed = await client.patch(ME, headers=token, json={"nickname": "ally"})

    assert changed.status_code == 200, changed.text
    assert (await client.get(ME, headers=token)).json()["nickname"] == "ally"


async def test_a_token_without_a_session_generation_is_refused(client: httpx.AsyncClient) -> None:
    # Signed with the service's own secret, shaped as tokens were before sessions could end.
    me = (await client.get(ME, headers=await bearer_for(client, EMAIL))).json()
    old_style = generate_jwt(
        {"sub": str(me["id"]), "aud": ["fastapi-users:auth"]}, TEST_SECRET_KEY, 3600
    )

    assert_error(
        await client.get(ME, headers={"Authorization": f"Bearer {old_style}"}), 401, "UNAUTHORIZED"
    )


async def test_reading_users_me_takes_one_query_with_sessions_that_can_end(
    client: httpx.AsyncClient, module_app: FastAPI
) -> None:
    token = await bearer_for(client, EMAIL)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = module_app.state.runtime.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert (await client.get(ME, headers=token)).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)

    # The in-process worker's delivery sweep shares the engine and may poll meanwhile.
    request_statements = [s for s in statements if "notification" not in s]
    # The generation is on the user row the token check loads anyway.
    assert len(request_statements) == 1, request_statements


async def test_guessing_the_current_password_is_limited_like_logins(
    make_settings: SettingsFactory, serve: ServeApp
) -> None:
    settings = make_settings(rate_limits_enabled=True, rate_limit_login="2/minute")
    async with serve(build_app(settings, Mailbox())) as client:
        await register(client, EMAIL)
        token = await bearer_for(client, EMAIL)
        for guess in ("guess one", "guess two"):
            wrong = await client.patch(
                ME, headers=token, json={"password": NEW_PASSWORD, "current_password": guess}
            )
            assert_error(wrong, 400, "UPDATE_USER_CURRENT_PASSWORD_INVALID")

        right = await client.patch(
            ME, headers=token, json={"password": NEW_PASSWORD, "current_password": PASSWORD}
        )

        assert_error(right, 429, "RATE_LIMITED")
        assert (await client.get(ME, headers=token)).status_code == 200
