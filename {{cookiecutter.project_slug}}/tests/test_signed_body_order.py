"""POST /api/v1/notifications checks the signature before it reads the body as JSON.

An unsigned or badly signed caller must not make the server parse anything: it is told
401 with the signature's code, whatever the body holds. A correctly signed request with a
bad body is refused with the same 4xx as before, and the OpenAPI document still describes
the request body.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support import (
    TEST_CLIENT_ADDRESS,
    IssuedKey,
    assert_error,
    create_user,
    issue_api_key,
    signature_headers,
)

NOTIFICATIONS = "/api/v1/notifications"
NOT_JSON = b'{"channel": "email", "to": ["a@example.com"'
TOO_DEEP = b'{"channel": "email", "to": ["a@example.com"], "metadata": ' + b"[" * 10_000
JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture
def app(shared_app: FastAPI) -> FastAPI:
    return shared_app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(TEST_CLIENT_ADDRESS, 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def key(app: FastAPI) -> IssuedKey:
    return await issue_api_key(app, await create_user(app))


def signed(key: IssuedKey, body: bytes, **options: Any) -> dict[str, str]:
    return {**JSON_HEADERS, **signature_headers(key, "POST", NOTIFICATIONS, body=body, **options)}


@pytest.mark.parametrize("body", [NOT_JSON, TOO_DEEP], ids=["not-json", "nested-10000-deep"])
async def test_an_unsigned_body_is_not_parsed(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(NOTIFICATIONS, content=body, headers=JSON_HEADERS)
    assert_error(response, 401, "SIGNATURE_MISSING")


@pytest.mark.parametrize("body", [NOT_JSON, TOO_DEEP], ids=["not-json", "nested-10000-deep"])
async def test_a_badly_signed_body_is_not_parsed(
    client: httpx.AsyncClient, key: IssuedKey, body: bytes
) -> None:
    wrong_secret = signed(key, body, secret_key="not-the-secret-key-0123456789abcdef")
    assert_error(
        await client.post(NOTIFICATIONS, content=body, headers=wrong_secret),
        401,
        "SIGNATURE_INVALID",
    )
    # Signed for another body: the signature covers the bytes that arrived.
    other = signed(key, b'{"channel": "email"}')
    assert_error(
        await client.post(NOTIFICATIONS, content=body, headers=other), 401, "SIGNATURE_INVALID"
    )
    unknown_key = {**signed(key, body), "X-Api-Key": "no-such-key"}
    assert_error(
        await client.post(NOTIFICATIONS, content=body, headers=unknown_key),
        401,
        "API_KEY_INVALID",
    )


async def test_a_signed_bad_body_is_refused_as_before(
    client: httpx.AsyncClient, key: IssuedKey
) -> None:
    not_json = assert_error(
        await client.post(NOTIFICATIONS, content=NOT_JSON, headers=signed(key, NOT_JSON)),
        422,
        "VALIDATION_ERROR",
    )
    assert not_json["detail"][0]["type"] == "json_invalid"
    assert not_json["detail"][0]["loc"][0] == "body"

    deep = TOO_DEEP + b"]" * 10_000 + b"}"
    assert_error(
        await client.post(NOTIFICATIONS, content=deep, headers=signed(key, deep)),
        400,
        "JSON_TOO_DEEP",
    )

    missing = json.dumps({"channel": "email", "text": "no recipients"}).encode()
    invalid = assert_error(
        await client.post(NOTIFICATIONS, content=missing, headers=signed(key, missing)),
        422,
        "VALIDATION_ERROR",
    )
    assert [error["loc"] for error in invalid["detail"]] == [["body", "to"]]

    empty = assert_error(
        await client.post(NOTIFICATIONS, content=b"", headers=signed(key, b"")),
        422,
        "VALIDATION_ERROR",
    )
    assert empty["detail"][0]["loc"] == ["body"]


async def test_a_signed_good_body_is_accepted(client: httpx.AsyncClient, key: IssuedKey) -> None:
    body = json.dumps({"channel": "email", "to": ["a@example.com"], "text": "hi"}).encode()
    response = await client.post(NOTIFICATIONS, content=body, headers=signed(key, body))
    assert response.status_code == 202, response.text
    assert response.json()["to"] == ["a@example.com"]


async def test_the_openapi_document_still_describes_the_body(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    request_body = document["paths"][NOTIFICATIONS]["post"]["requestBody"]
    assert request_body["required"] is True
    schema = request_body["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    assert {"channel", "to", "subject", "text", "html", "metadata"} <= set(schema["properties"])
    assert set(schema["required"]) == {"channel", "to"}
