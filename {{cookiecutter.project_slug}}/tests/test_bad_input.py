"""Bad input gets a clear 4xx with a code, in the error shape, and nothing is stored."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.accounts.models import User
from app.main import create_app
from app.notifications.models import Notification
from tests.outbox_support import NOTIFICATIONS, email, new_caller
from tests.support import ServeApp, SettingsFactory, signed_client

REGISTER = "/api/v1/auth/register"
BODY_LIMIT = 4096


@pytest.fixture
def app(shared_app: FastAPI) -> FastAPI:
    """The module's tests share one app, each on an empty database."""
    return shared_app


def assert_refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "detail", "request_id"}, body
    assert body["code"] == code, body
    assert body["message"]
    assert "Traceback" not in response.text
    return body


async def count(app: FastAPI, model: type[Any]) -> int:
    async with app.state.runtime.database.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
async def signed(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_client(app, await new_caller(app)) as client:
        yield client


def oversized_registration() -> bytes:
    body = {"email": "big@example.com", "password": "correct-horse-battery", "name": "x" * 8000}
    return json.dumps(body).encode()


async def in_chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 1000):
        yield data[start : start + 1000]


@pytest.mark.parametrize("declared", ["honest", "understated", "absent"])
async def test_a_body_over_the_limit_is_413_and_stores_nothing(
    make_settings: SettingsFactory, serve: ServeApp, declared: str
) -> None:
    application = create_app(make_settings(max_request_body_bytes=BODY_LIMIT))
    data = oversized_registration()
    headers = {"Content-Type": "application/json"}
    content: bytes | AsyncIterator[bytes] = data
    if declared == "understated":
        headers["Content-Length"] = "100"
    elif declared == "absent":
        content = in_chunks(data)  # sent chunked: the size is known only by counting

    async with serve(application) as client:
        response = await client.post(REGISTER, content=content, headers=headers)
        body = assert_refused(response, 413, "REQUEST_TOO_LARGE")
        assert response.headers["X-Request-ID"] == body["request_id"]
        assert await count(application, User) == 0


async def test_a_body_under_the_limit_still_goes_through(
    make_settings: SettingsFactory, serve: ServeApp
) -> None:
    application = create_app(make_settings(max_request_body_bytes=BODY_LIMIT))
    async with serve(application) as client:
        response = await client.post(
            REGISTER, json={"email": "small@example.com", "password": "correct-horse-battery"}
        )
        assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        pytest.param(
            b'{"channel": "email", "to": ["a@example.com"], "text": "hi", "metadata": '
            + b"[" * 10_000
            + b"]" * 10_000
            + b"}",
            400,
            "JSON_TOO_DEEP",
            id="nested-10000-deep",
        ),
        pytest.param(
            b'{"channel": "email", "to": ["a@example.com"], "text": "caf\xe9"}',
            400,
            "BODY_NOT_UTF8",
            id="not-utf8",
        ),
        pytest.param(
            b'{"channel": "email", "to": ["a@example.com"], "text": "\\ud800"}',
            422,
            "TEXT_INVALID",
            id="lone-surrogate",
        ),
    ],
)
async def test_an_unreadable_body_is_refused_without_a_crash(
    app: FastAPI, signed: httpx.AsyncClient, raw: bytes, status: int, code: str
) -> None:
    response = await signed.post(
        NOTIFICATIONS, content=raw, headers={"Content-Type": "application/json"}
    )
    assert_refused(response, status, code)
    assert await count(app, Notification) == 0


async def test_metadata_nested_past_the_limit_is_refused(
    app: FastAPI, signed: httpx.AsyncClient
) -> None:
    metadata: Any = "leaf"
    for _ in range(300):
        metadata = {"a": metadata}
    response = await signed.post(NOTIFICATIONS, json=email(metadata=metadata))
    assert_refused(response, 422, "METADATA_TOO_DEEP")
    assert await count(app, Notification) == 0


async def test_an_unknown_channel_is_refused_naming_the_channels_there_are(
    app: FastAPI, signed: httpx.AsyncClient
) -> None:
    response = await signed.post(NOTIFICATIONS, json=email(channel="carrier-pigeon"))
    body = assert_refused(response, 422, "CHANNEL_UNKNOWN")
    assert "email" in body["detail"]["channels"]
    assert await count(app, Notification) == 0


async def test_ten_thousand_recipients_are_refused(app: FastAPI, signed: httpx.AsyncClient) -> None:
    recipients = [f"user{n}@example.com" for n in range(10_000)]
    response = await signed.post(NOTIFICATIONS, json=email(to=recipients))
    body = assert_refused(response, 422, "TOO_MANY_RECIPIENTS")
    assert body["detail"]["count"] == 10_000
    assert await count(app, Notification) == 0


async def test_a_huge_request_id_is_not_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "r" * 65_536})
    assert response.status_code == 200
    echoed = response.headers["X-Request-ID"]
    assert len(echoed) <= 128 and not echoed.startswith("rrrr")


async def test_a_huge_bearer_token_is_a_401(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/users/me", headers={"Authorization": "Bearer " + "a" * 65_536}
    )
    assert response.status_code == 401, response.text
    assert response.json()["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Timestamp", "not-a-number"),
        ("X-Timestamp", "9" * 400),
        ("X-Nonce", "n" * 10_000),
        ("X-Signature", "zz"),
    ],
)
async def test_malformed_signing_headers_are_refused(
    app: FastAPI, client: httpx.AsyncClient, header: str, value: str
) -> None:
    caller = await new_caller(app)
    request = client.build_request("POST", NOTIFICATIONS, json=email())
    caller.auth.sign_request(request)
    request.headers[header] = value
    response = await client.send(request)
    assert response.status_code in (400, 401), response.text
    assert response.json()["code"].startswith("SIGNATURE_"), response.text
    assert await count(app, Notification) == 0
