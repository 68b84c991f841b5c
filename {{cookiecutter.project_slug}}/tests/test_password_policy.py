"""Passwords: the most common ones (a maintained list of leaked passwords) are refused
wherever a password is set — registration, reset and change — whatever their case."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.support import (
    AUTH,
    ME,
    PASSWORD,
    Mailbox,
    assert_error,
    bearer_for,
    login,
    register,
    token_of,
)

EMAIL = "pat@example.com"
# Long enough for the length rule, all among the most common leaked passwords.
COMMON = ["password", "iloveyou", "PassWord1", "qwertyuiop", "12345678", "Sunshine"]
GOOD = "violet kettle rides north"


@pytest.fixture(scope="module")
def app_plugins(module_mailbox: Mailbox) -> list[object]:
    return [module_mailbox]


@pytest.fixture
def app(shared_app: FastAPI, mailbox: Mailbox) -> FastAPI:
    """The module's tests share one app, each on an empty database and an empty mailbox."""
    return shared_app


def assert_common_refused(response: httpx.Response, code: str) -> None:
    body = assert_error(response, 400, code)
    assert "common" in body["detail"]["reason"]


@pytest.mark.parametrize("password", COMMON)
async def test_register_refuses_a_common_password(client: httpx.AsyncClient, password: str) -> None:
    response = await client.post(f"{AUTH}/register", json={"email": EMAIL, "password": password})

    assert_common_refused(response, "REGISTER_INVALID_PASSWORD")
    assert (await login(client, EMAIL, password)).status_code == 400


async def test_a_password_change_refuses_a_common_password(client: httpx.AsyncClient) -> None:
    await register(client, EMAIL)
    token = await bearer_for(client, EMAIL)

    for password in COMMON:
        response = await client.patch(
            ME, headers=token, json={"password": password, "current_password": PASSWORD}
        )
        assert_common_refused(response, "UPDATE_USER_INVALID_PASSWORD")
    assert (await login(client, EMAIL)).status_code == 200


async def test_a_reset_refuses_a_common_password(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client, EMAIL)
    await client.post(f"{AUTH}/forgot-password", json={"email": EMAIL})
    token = token_of(mailbox.last_link(EMAIL))

    for password in COMMON:
        response = await client.post(
            f"{AUTH}/reset-password", json={"token": token, "password": password}
        )
        assert_common_refused(response, "RESET_PASSWORD_INVALID_PASSWORD")
    assert (await login(client, EMAIL)).status_code == 200


async def test_an_uncommon_password_is_accepted_everywhere(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client, EMAIL, GOOD)
    token = await bearer_for(client, EMAIL, GOOD)
    changed = await client.patch(
        ME, headers=token, json={"password": PASSWORD, "current_password": GOOD}
    )
    assert changed.status_code == 200, changed.text

    await client.post(f"{AUTH}/forgot-password", json={"email": EMAIL})
    reset = await client.post(
        f"{AUTH}/reset-password",
        json={"token": token_of(mailbox.last_link(EMAIL)), "password": GOOD},
    )

    assert reset.status_code == 200, reset.text
    assert (await login(client, EMAIL, GOOD)).status_code == 200
