"""Email/password accounts: register, log in with a bearer token or a cookie, log out."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from fastapi_users.jwt import generate_jwt
from fastapi_users.password import PasswordHelper

from app.accounts.auth_backends import AUTH_COOKIE_NAME as COOKIE_NAME
from app.accounts.models import User
from app.core.config import Settings
from tests.support import (
    AUTH,
    ME,
    PASSWORD,
    Mailbox,
    ServeApp,
    ServiceLog,
    SettingsFactory,
    assert_error,
    bearer_for,
    build_app,
    login,
    register,
)


@pytest.fixture(scope="module")
def app_plugins(module_mailbox: Mailbox) -> list[object]:
    return [module_mailbox]


@pytest.fixture
def app(shared_app: FastAPI) -> FastAPI:
    """The module's tests share one app, each on an empty database."""
    return shared_app


async def test_register_answers_the_new_user_without_secrets(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{AUTH}/register",
        json={"email": "mina@example.com", "password": PASSWORD, "name": "Mina Park"},
    )

    assert response.status_code == 201, response.text
    user = response.json()
    assert user["email"] == "mina@example.com"
    assert user["name"] == "Mina Park"
    assert (user["is_active"], user["is_verified"], user["is_superuser"]) == (True, False, False)
    assert user["social_accounts"] == []
    for field in ("nickname", "profile_image_url", "gender", "birthyear", "birthday"):
        assert user[field] is None
    assert "password" not in response.text
    assert "hashed_password" not in user


async def test_passwords_are_stored_as_fastapi_users_hashes(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await register(client, "hash@example.com")

    async with app.state.runtime.database.sessionmaker() as session:
        stored = (await User.get(email="hash@example.com", session=session)).hashed_password
    assert PASSWORD not in stored
    assert stored.startswith("$argon2")
    assert PasswordHelper().verify_and_update(PASSWORD, stored)[0]


async def test_register_refuses_a_taken_email_whatever_its_case(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "taken@example.com")

    response = await client.post(
        f"{AUTH}/register", json={"email": "Taken@Example.com", "password": PASSWORD}
    )

    assert_error(response, 400, "REGISTER_USER_ALREADY_EXISTS")


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short", "at least 8 characters"), ("xx-pat@example.com-xx", "email address")],
)
async def test_register_refuses_a_weak_password(
    client: httpx.AsyncClient, password: str, reason: str
) -> None:
    response = await client.post(
        f"{AUTH}/register", json={"email": "pat@example.com", "password": password}
    )

    body = assert_error(response, 400, "REGISTER_INVALID_PASSWORD")
    assert reason in body["detail"]["reason"]


async def test_register_validates_profile_fields(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{AUTH}/register",
        json={"email": "bad@example.com", "password": PASSWORD, "birthday": "13-01"},
    )

    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert body["detail"][0]["loc"] == ["body", "birthday"]


async def test_bearer_login_gives_a_token_that_opens_users_me(client: httpx.AsyncClient) -> None:
    await register(client, "bearer@example.com")

    response = await login(client, "bearer@example.com")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    me = await client.get(ME, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == "bearer@example.com"


async def test_cookie_login_sets_an_http_only_cookie_that_opens_users_me(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "cookie@example.com")

    response = await login(client, "cookie@example.com", backend="cookie")

    assert response.status_code == 204, response.text
    set_cookie = response.headers["set-cookie"].lower()
    assert set_cookie.startswith(f"{COOKIE_NAME}=")
    assert "httponly" in set_cookie
    assert "samesite=lax" in set_cookie
    assert "max-age=3600" in set_cookie
    # PUBLIC_BASE_URL is http here: a Secure cookie would never come back.
    assert "secure" not in set_cookie
    me = await client.get(ME)
    assert me.status_code == 200
    assert me.json()["email"] == "cookie@example.com"


async def test_each_app_sets_the_login_cookie_its_settings_ask_for(
    make_settings: SettingsFactory, serve: ServeApp
) -> None:
    # Apps of one process (tests, several apps in one server) share the routers made for
    # equal cookie settings; each must still answer with its own.
    plain = make_settings()
    public = make_settings(
        public_base_url="https://accounts.example.com", auth_token_lifetime_seconds=600
    )
    cookies: dict[str, dict[str, str]] = {}
    for name, settings in (("plain", plain), ("public", public), ("plain again", plain)):
        async with serve(build_app(settings, Mailbox())) as client:
            await register(client, "cookie@example.com")
            response = await login(client, "cookie@example.com", backend="cookie")
        assert response.status_code == 204
        cookies[name] = cookie_attributes(response.headers["set-cookie"])

    assert "secure" in cookies["public"]
    assert cookies["public"]["max-age"] == "600"
    for name in ("plain", "plain again"):
        assert "secure" not in cookies[name]
        assert cookies[name]["max-age"] == "3600"


def cookie_attributes(set_cookie: str) -> dict[str, str]:
    """`name=value; Max-Age=600; Secure` → {"max-age": "600", "secure": ""} (the pair left out)."""
    attributes = {}
    for part in set_cookie.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        attributes[key.lower()] = value
    return attributes


async def test_login_failure_does_not_tell_whether_the_email_exists(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "known@example.com")

    wrong_password = await login(client, "known@example.com", "not the password at all")
    unknown_email = await login(client, "nobody@example.com", "not the password at all")

    for response in (wrong_password, unknown_email):
        assert_error(response, 400, "LOGIN_BAD_CREDENTIALS")
    first, second = wrong_password.json(), unknown_email.json()
    assert {**first, "request_id": ""} == {**second, "request_id": ""}


async def test_cookie_logout_ends_the_browser_session(client: httpx.AsyncClient) -> None:
    await register(client, "leaving@example.com")
    await login(client, "leaving@example.com", backend="cookie")
    assert (await client.get(ME)).status_code == 200

    response = await client.post(f"{AUTH}/cookie/logout")

    assert response.status_code == 204
    assert_error(await client.get(ME), 401, "UNAUTHORIZED")


async def test_bearer_logout_answers_for_a_signed_in_user_only(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "jwt-out@example.com")
    headers = await bearer_for(client, "jwt-out@example.com")

    assert (await client.post(f"{AUTH}/jwt/logout", headers=headers)).status_code == 204
    assert_error(await client.post(f"{AUTH}/jwt/logout"), 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic bWU6cGFzcw=="},
        {"Cookie": f"{COOKIE_NAME}=not-a-token"},
    ],
)
async def test_users_me_without_a_valid_sign_in_is_401_in_the_error_shape(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    assert_error(await client.get(ME, headers=headers), 401, "UNAUTHORIZED")


async def test_a_token_signed_with_another_secret_is_refused(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client, "forged@example.com")
    forged = generate_jwt(
        {"sub": str(user["id"]), "aud": ["fastapi-users:auth"]},
        "another-secret-key-that-is-long-enough-9876543210",
        3600,
    )

    response = await client.get(ME, headers={"Authorization": f"Bearer {forged}"})

    assert_error(response, 401, "UNAUTHORIZED")


async def test_an_inactive_user_can_neither_log_in_nor_use_a_token(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await register(client, "gone@example.com")
    headers = await bearer_for(client, "gone@example.com")
    async with app.state.runtime.database.sessionmaker() as session:
        user = await User.get(email="gone@example.com", session=session)
        await user.update(is_active=False, session=session, commit=True)

    assert_error(await login(client, "gone@example.com"), 400, "LOGIN_BAD_CREDENTIALS")
    assert_error(await client.get(ME, headers=headers), 401, "UNAUTHORIZED")


async def test_the_access_log_names_the_signed_in_user(
    settings: Settings, serve: ServeApp, service_log: ServiceLog
) -> None:
    service = build_app(settings, Mailbox())
    service_log.attach()
    async with serve(service) as client:
        user = await register(client, "logged@example.com")
        headers = await bearer_for(client, "logged@example.com")
        await client.get(ME, headers=headers)
        await client.get(ME)

    lines = [line for line in service_log.text.splitlines() if f"GET {ME} " in line]
    assert len(lines) == 2
    assert f"user={user['id']} email=l***@example.com" in lines[0]
    assert "user=- email=-" in lines[1]
