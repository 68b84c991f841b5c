"""Text and numbers a database cannot store are refused with a 4xx and a code, never a 500.

PostgreSQL refuses a NUL character (`\\u0000`) in text and in JSON, and `NaN`, `Infinity`
or a number too large for a double (`1e400`) in JSON; SQLite and MariaDB store or mangle
them. Every lane refuses them alike, before anything is written. A CR or LF in a subject
or an address would let a caller write mail headers of their own: refused when the
notification is accepted, not when it is delivered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from app.accounts.models import User
from app.notifications.models import Notification
from app.signed_api.models import ApiKey
from tests.outbox_support import NOTIFICATIONS, new_caller
from tests.support import (
    AUTH,
    ME,
    Mailbox,
    assert_error,
    bearer_for,
    login,
    register,
    signed_client,
)

KEYS = "/api/v1/users/me/api-keys"
EMAIL = "owner@example.com"
NUL = "\u0000"
# A notification that is accepted as it is; each case spoils one part of it.
GOOD = '{"channel": "email", "to": ["a@example.com"], "subject": "Hi", "text": "hello"'


@pytest.fixture(scope="module")
def app_plugins(module_mailbox: Mailbox) -> list[object]:
    return [module_mailbox]


@pytest.fixture
def app(shared_app: FastAPI) -> FastAPI:
    """The module's tests share one app, each on an empty database."""
    return shared_app


@pytest.fixture
async def signed(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_client(app, await new_caller(app)) as client:
        yield client


@pytest.fixture
async def owner(app: FastAPI, client: httpx.AsyncClient) -> dict[str, str]:
    """The bearer headers of a verified account."""
    await register(client, EMAIL, name="Owner")
    async with app.state.runtime.database.sessionmaker() as session:
        await session.execute(update(User).filter_by(email=EMAIL).values(is_verified=True))
        await session.commit()
    return await bearer_for(client, EMAIL)


async def count(app: FastAPI, model: type[Any]) -> int:
    async with app.state.runtime.database.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def assert_refused(response: httpx.Response, status: int = 422) -> None:
    code = "LOGIN_BAD_CREDENTIALS" if status == 400 else "VALIDATION_ERROR"
    assert_error(response, status, code)
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(GOOD.replace("hello", "hel\\u0000lo") + "}", id="nul-in-text"),
        pytest.param(GOOD.replace('"Hi"', '"H\\u0000i"') + "}", id="nul-in-subject"),
        pytest.param(GOOD + ', "html": "<p>\\u0000</p>"}', id="nul-in-html"),
        pytest.param(GOOD.replace("a@example", "a\\u0000@example") + "}", id="nul-in-address"),
        pytest.param(GOOD + ', "metadata": {"note": "a\\u0000b"}}', id="nul-in-metadata-value"),
        pytest.param(GOOD + ', "metadata": {"k\\u0000": 1}}', id="nul-in-metadata-key"),
        pytest.param(GOOD + ', "metadata": {"n": NaN}}', id="nan"),
        pytest.param(GOOD + ', "metadata": {"n": Infinity}}', id="infinity"),
        pytest.param(GOOD + ', "metadata": {"n": -Infinity}}', id="minus-infinity"),
        pytest.param(GOOD + ', "metadata": {"n": 1e400}}', id="1e400"),
        pytest.param(GOOD + ', "metadata": {"a": [{"b": [1, -1e999]}]}}', id="nested-overflow"),
        pytest.param(
            GOOD.replace('"Hi"', '"Hi\\r\\nBcc: x@evil.example"') + "}", id="crlf-subject"
        ),
        pytest.param(GOOD.replace('"Hi"', '"Hi\\nthere"') + "}", id="lf-in-subject"),
        pytest.param(
            GOOD.replace("a@example.com", "a@example.com\\r\\nBcc: x@evil.example") + "}",
            id="crlf-in-address",
        ),
    ],
)
async def test_a_notification_the_database_cannot_store_is_refused(
    app: FastAPI, signed: httpx.AsyncClient, raw: str
) -> None:
    response = await signed.post(
        NOTIFICATIONS, content=raw.encode(), headers={"Content-Type": "application/json"}
    )
    assert_refused(response)
    assert await count(app, Notification) == 0


async def test_the_same_notification_without_them_is_accepted(
    app: FastAPI, signed: httpx.AsyncClient
) -> None:
    raw = GOOD + ', "metadata": {"n": 1.5e300, "tab": "a\\tb", "nested": [{"ok": -0.0}]}}'
    response = await signed.post(
        NOTIFICATIONS, content=raw.encode(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 202, response.text
    assert await count(app, Notification) == 1


async def test_a_status_filter_with_a_nul_is_refused(signed: httpx.AsyncClient) -> None:
    assert_refused(await signed.get(NOTIFICATIONS, params={"status": f"queued{NUL}"}))


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"name": f"Ma{NUL}llory"}, id="nul-in-name"),
        pytest.param({"nickname": NUL}, id="nul-in-nickname"),
        pytest.param({"password": f"correct horse{NUL}battery"}, id="nul-in-password"),
        pytest.param({"email": f"new{NUL}@example.com"}, id="nul-in-email"),
    ],
)
async def test_a_registration_the_database_cannot_store_is_refused(
    app: FastAPI, client: httpx.AsyncClient, fields: dict[str, str]
) -> None:
    body = {"email": "new@example.com", "password": "correct horse battery", **fields}
    assert_refused(await client.post(f"{AUTH}/register", json=body))
    assert await count(app, User) == 0


@pytest.mark.parametrize("backend", ["jwt", "cookie"])
async def test_a_login_name_with_a_nul_is_bad_credentials(
    client: httpx.AsyncClient, owner: dict[str, str], backend: str
) -> None:
    assert_refused(await login(client, f"{EMAIL}{NUL}", backend=backend), 400)
    assert_refused(await login(client, f"{NUL}{EMAIL}", backend=backend), 400)


@pytest.mark.parametrize("path", ["forgot-password", "request-verify-token"])
async def test_an_account_mail_for_an_address_with_a_nul_is_refused(
    client: httpx.AsyncClient, owner: dict[str, str], path: str
) -> None:
    assert_refused(await client.post(f"{AUTH}/{path}", json={"email": f"{EMAIL}{NUL}"}))


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"name": f"Ma{NUL}llory"}, id="nul-in-name"),
        pytest.param({"nickname": f"x{NUL}"}, id="nul-in-nickname"),
        pytest.param({"profile_image_url": f"https://example.com/{NUL}.png"}, id="nul-in-url"),
    ],
)
async def test_a_profile_change_the_database_cannot_store_is_refused(
    client: httpx.AsyncClient, owner: dict[str, str], fields: dict[str, str]
) -> None:
    assert_refused(await client.patch(ME, json=fields, headers=owner))
    me = await client.get(ME, headers=owner)
    assert me.status_code == 200, me.text
    assert me.json()["name"] == "Owner"
    assert me.json()["nickname"] is None


async def test_a_key_memo_with_a_nul_is_refused(
    app: FastAPI, client: httpx.AsyncClient, owner: dict[str, str]
) -> None:
    assert_refused(await client.post(KEYS, json={"memo": f"m{NUL}"}, headers=owner))
    assert await count(app, ApiKey) == 0

    created = await client.post(KEYS, json={"memo": "kept"}, headers=owner)
    assert created.status_code == 201, created.text
    key = f"{KEYS}/{created.json()['id']}"
    assert_refused(await client.patch(key, json={"memo": f"m{NUL}"}, headers=owner))
    whitelist = f"{key}/whitelist"
    assert_refused(
        await client.post(whitelist, json={"ip_address": f"10.0.0.1{NUL}"}, headers=owner)
    )
    listed = await client.get(KEYS, headers=owner)
    assert [(item["memo"], item["whitelist"]) for item in listed.json()] == [("kept", [])]
