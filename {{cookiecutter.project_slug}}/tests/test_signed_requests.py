"""Signed requests end to end: what a caller with an API key sees, refusal by refusal.

The routes under /signed/ exist only in these tests: they are what any signed endpoint
of the service is, a route that takes `SignedCaller`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel
from redis.asyncio import Redis
from sqlalchemy import event, update

from app import PROJECT_SLUG
from app.accounts.models import User
from app.client.signing import SignedAuth
from app.core.config import Settings
from app.core.database import Database
from app.main import create_app
from app.signed_api.keys import add_whitelist_entry, delete_api_key, update_api_key
from app.signed_api.models import ApiKey, SignatureNonce
from app.signed_api.nonces import DatabaseNonceStore, RedisNonceStore
from app.signed_api.schemas import ApiKeyUpdate
from app.signed_api.signed_route import SignedCaller
from tests.support import (
    TEST_CLIENT_ADDRESS,
    IssuedKey,
    ServeApp,
    SettingsFactory,
    assert_error,
    client_of,
    create_user,
    issue_api_key,
    signature_headers,
    signed_client,
    without,
)

ECHO = "/signed/echo"
REDIS_TEST_URL = "redis://127.0.0.1:6379/15"
TOLERANCE = 300


class Greeting(BaseModel):
    text: str


def with_signed_routes(app: FastAPI) -> FastAPI:
    @app.api_route(ECHO, methods=["GET", "POST", "PUT", "DELETE"])
    async def echo(caller: SignedCaller, request: Request) -> dict[str, Any]:
        return {
            "api_key_id": caller.api_key_id,
            "user_id": caller.user_id,
            "client_address": caller.client_address,
            "method": request.method,
            "query": sorted(request.query_params.multi_items()),
            "body": (await request.body()).decode("utf-8", "replace"),
        }

    @app.post("/signed/items/{name}")
    async def item(name: str, caller: SignedCaller) -> dict[str, Any]:
        return {"name": name, "user_id": caller.user_id}

    @app.post("/signed/greetings", status_code=202)
    async def greet(greeting: Greeting, caller: SignedCaller) -> dict[str, Any]:
        return {"text": greeting.text, "api_key_id": caller.api_key_id}

    return app


def unsigned_client(app: FastAPI, address: str = TEST_CLIENT_ADDRESS) -> httpx.AsyncClient:
    return client_of(app, client_address=address)


@pytest.fixture(scope="module")
def signed_app(module_app: FastAPI) -> FastAPI:
    """The module's app with the signed test routes.

    Each test still starts and stops it and gets an empty database (`serve`); making one per
    test would resolve every /api/v1 route again, as the test routes come after them.
    """
    return with_signed_routes(module_app)


@pytest.fixture
async def service(signed_app: FastAPI, serve: ServeApp) -> AsyncIterator[FastAPI]:
    async with serve(signed_app):
        yield signed_app


@pytest.fixture
async def client(service: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with unsigned_client(service) as client:
        yield client


@pytest.fixture
async def user_id(service: FastAPI) -> int:
    return await create_user(service)


@pytest.fixture
async def key(service: FastAPI, user_id: int) -> IssuedKey:
    return await issue_api_key(service, user_id, memo="tests")


async def load_key(app: FastAPI, key_id: int) -> ApiKey:
    async with app.state.runtime.database.sessionmaker() as session:
        return await ApiKey.get(key_id, session=session)


async def whitelist(app: FastAPI, user_id: int, key: IssuedKey, *entries: str) -> None:
    async with app.state.runtime.database.sessionmaker() as session:
        for entry in entries:
            await add_whitelist_entry(session, app.state.runtime.settings, user_id, key.id, entry)


# -- accepted ------------------------------------------------------------------------


async def test_a_signed_request_reaches_the_endpoint_as_its_key_and_user(
    service: FastAPI, client: httpx.AsyncClient, key: IssuedKey, user_id: int
) -> None:
    body = b'{"hello": "world"}'
    headers = signature_headers(key, "POST", ECHO, query="b=2&a=1", body=body)

    response = await client.post(f"{ECHO}?b=2&a=1", content=body, headers=headers)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "api_key_id": key.id,
        "user_id": user_id,
        "client_address": TEST_CLIENT_ADDRESS,
        "method": "POST",
        "query": [["a", "1"], ["b", "2"]],
        "body": '{"hello": "world"}',
    }


async def test_using_a_key_records_when_it_was_last_used(
    service: FastAPI, client: httpx.AsyncClient, key: IssuedKey
) -> None:
    before = await load_key(service, key.id)
    assert before.last_used_at is None

    response = await client.get(ECHO, headers=signature_headers(key, "GET", ECHO))
    assert response.status_code == 200, response.text

    after = await load_key(service, key.id)
    assert after.last_used_at is not None
    assert abs(after.last_used_at - datetime.now(UTC)) < timedelta(seconds=30)
    # Being used is not an edit of the key.
    assert after.updated_at == before.updated_at


async def test_a_signed_endpoint_with_a_json_body_model_still_verifies_the_raw_bytes(
    service: FastAPI, key: IssuedKey
) -> None:
    async with signed_client(service, key) as client:
        response = await client.post("/signed/greetings", json={"text": "안녕하세요"})
    assert response.status_code == 202, response.text
    assert response.json() == {"text": "안녕하세요", "api_key_id": key.id}


# -- the shipped httpx auth ------------------------------------------------------------


async def test_signed_auth_signs_every_kind_of_request(service: FastAPI, key: IssuedKey) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"streamed "
        yield b"body"

    async with signed_client(service, key) as client:
        plain = await client.get(ECHO)
        with_params = await client.get(
            ECHO, params=[("z", "last"), ("a", "x y"), ("a", "b&c"), ("flag", "")]
        )
        with_json = await client.post(ECHO, json={"to": ["a@example.com"]})
        with_bytes = await client.put(ECHO, content=b"\x00\xffraw")
        streamed = await client.post(ECHO, content=chunks())
        deleted = await client.delete(ECHO)
        encoded_path = await client.post("/signed/items/hello wörld")

    for response in (plain, with_params, with_json, with_bytes, streamed, deleted, encoded_path):
        assert response.status_code == 200, response.text
    assert with_params.json()["query"] == [["a", "b&c"], ["a", "x y"], ["flag", ""], ["z", "last"]]
    assert json.loads(with_json.json()["body"]) == {"to": ["a@example.com"]}
    assert streamed.json()["body"] == "streamed body"
    assert encoded_path.json()["name"] == "hello wörld"


def test_signed_auth_works_with_a_synchronous_client_too() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    auth = SignedAuth("access", "secret-" * 8)
    with httpx.Client(transport=httpx.MockTransport(handler), auth=auth) as client:
        client.post("https://example.com/api/v1/notifications", json={"a": 1})
        client.post("https://example.com/api/v1/notifications", json={"a": 1})

    first, second = seen
    assert all(name in first.headers for name in ("X-Api-Key", "X-Timestamp", "X-Signature"))
    assert first.headers["X-Nonce"] != second.headers["X-Nonce"]
    assert abs(int(first.headers["X-Timestamp"]) - time.time()) < 5


# -- refused ---------------------------------------------------------------------------


async def test_a_missing_header_is_signature_missing(
    client: httpx.AsyncClient, key: IssuedKey
) -> None:
    for header in ("X-Api-Key", "X-Timestamp", "X-Nonce", "X-Signature"):
        headers = without(signature_headers(key, "GET", ECHO), header)
        response = await client.get(ECHO, headers=headers)
        body = assert_error(response, 401, "SIGNATURE_MISSING")
        assert body["detail"] == {"missing": [header]}
        assert header in body["message"]


async def test_an_unsigned_request_is_signature_missing(client: httpx.AsyncClient) -> None:
    response = await client.post(ECHO, json={"channel": "email"})
    body = assert_error(response, 401, "SIGNATURE_MISSING")
    assert body["detail"]["missing"] == ["X-Api-Key", "X-Timestamp", "X-Nonce", "X-Signature"]


async def test_an_unknown_key_is_api_key_invalid(client: httpx.AsyncClient, key: IssuedKey) -> None:
    stranger = IssuedKey(0, "no-such-access-key-" + "x" * 24, key.secret_key)
    response = await client.get(ECHO, headers=signature_headers(stranger, "GET", ECHO))
    assert_error(response, 401, "API_KEY_INVALID")


async def test_access_keys_are_case_sensitive(client: httpx.AsyncClient, key: IssuedKey) -> None:
    swapped = IssuedKey(key.id, key.access_key.swapcase(), key.secret_key)
    assert swapped.access_key != key.access_key
    response = await client.get(ECHO, headers=signature_headers(swapped, "GET", ECHO))
    assert_error(response, 401, "API_KEY_INVALID")


async def test_a_stopped_key_is_api_key_inactive_until_started_again(
    service: FastAPI, client: httpx.AsyncClient, key: IssuedKey, user_id: int
) -> None:
    settings = service.state.runtime.settings
    async with service.state.runtime.database.sessionmaker() as session:
        await update_api_key(session, settings, user_id, key.id, ApiKeyUpdate(status="stopped"))

    response = await client.get(ECHO, headers=signature_headers(key, "GET", ECHO))
    body = assert_error(response, 401, "API_KEY_INACTIVE")
    assert "stopped" in body["message"]

    async with service.state.runtime.database.sessionmaker() as session:
        await update_api_key(session, settings, user_id, key.id, ApiKeyUpdate(status="active"))
    response = await client.get(ECHO, headers=signature_headers(key, "GET", ECHO))
    assert response.status_code == 200, response.text


async def test_a_deleted_key_is_api_key_inactive(
    service: FastAPI, client: httpx.AsyncClient, key: IssuedKey, user_id: int
) -> None:
    async with service.state.runtime.database.sessionmaker() as session:
        await delete_api_key(session, user_id, key.id)

    response = await client.get(ECHO, headers=signature_headers(key, "GET", ECHO))
    body = assert_error(response, 401, "API_KEY_INACTIVE")
    assert "deleted" in body["message"]


async def test_a_timestamp_outside_the_window_is_signature_expired(
    client: httpx.AsyncClient, key: IssuedKey
) -> None:
    for offset in (-(TOLERANCE + 5), TOLERANCE + 5, -86400, 10**9):
        stamp = int(time.time()) + offset
        headers = signature_headers(key, "GET", ECHO, timestamp=stamp)
        body = assert_error(await client.get(ECHO, headers=headers), 401, "SIGNATURE_EXPIRED")
        assert body["detail"]["tolerance_seconds"] == TOLERANCE
        assert abs(body["detail"]["server_time"] - time.time()) < 5


async def test_a_timestamp_inside_the_window_is_accepted(
    client: httpx.AsyncClient, key: IssuedKey
) -> None:
    for offset in (-(TOLERANCE - 5), TOLERANCE - 5):
        headers = signature_headers(key, "GET", ECHO, timestamp=int(time.time()) + offset)
        response = await client.get(ECHO, headers=headers)
        assert response.status_code == 200, (offset, response.text)


async def test_the_window_follows_the_setting(
    make_settings: SettingsFactory, serve: ServeApp
) -> None:
    application = with_signed_routes(create_app(make_settings(signature_tolerance_seconds=30)))
    async with serve(application) as client:
        key = await issue_api_key(application, await create_user(application))
        late = signature_headers(key, "GET", ECHO, timestamp=int(time.time()) - 40)
        response = await client.get(ECHO, headers=late)
    assert_error(response, 401, "SIGNATURE_EXPIRED")


async def test_a_replayed_request_is_signature_replayed(
    client: httpx.AsyncClient, key: IssuedKey
) -> None:
    body = b'{"to": ["a@example.com"]}'
    headers = signature_headers(key, "POST", ECHO, body=body)

    first = await client.post(ECHO, content=body, headers=headers)
    again = await client.post(ECHO, content=body, headers=headers)

    assert first.status_code == 200, first.text
    body_of_refusal = assert_error(again, 401, "SIGNATURE_REPLAYED")
    assert "X-Nonce" in body_of_refusal["message"]


async def test_a_nonce_is_single_use_even_with_a_new_timestamp(
    client: httpx.AsyncClient, key: IssuedKey
) -> None:
    nonce = "reused-nonce-0123456789"
    first = await client.get(ECHO, headers=signature_headers(key, "GET", ECHO, nonce=nonce))
    later = signature_headers(key, "GET", ECHO, nonce=nonce, timestamp=int(time.time()) + 2)
    again = await client.get(ECHO, headers=later)
    assert first.status_code == 200, first.text
    assert_error(again, 401, "SIGNATURE_REPLAYED")


async def test_concurrent_copies_of_one_request_pass_once(
    client: httpx.AsyncClient, key: IssuedKey
) -> None:
    headers = signature_headers(key, "GET", ECHO)
    responses = await asyncio.gather(*(client.get(ECHO, headers=headers) for _ in range(5)))
    codes = sorted(
        "OK" if response.status_code == 200 else response.json()["code"] for response in responses
    )
    assert codes == ["OK", *["SIGNATURE_REPLAYED"] * 4]


async def test_copies_racing_beside_fresh_requests_pass_once_and_fail_no_fresh_one(
    client: httpx.AsyncClient, key: IssuedKey
) -> None:
    # Nonces spent at the same moment are written together: a copy breaks the statement,
    # and only the copies may be refused for it. (A first request records the key's use,
    # which the burst then has no need to write again.)
    warm = await client.get(ECHO, headers=signature_headers(key, "GET", ECHO))
    assert warm.status_code == 200, warm.text
    copied = signature_headers(key, "GET", ECHO)
    sends = [client.get(ECHO, headers=copied) for _ in range(4)]
    sends += [client.get(ECHO, headers=signature_headers(key, "GET", ECHO)) for _ in range(12)]
    responses = await asyncio.gather(*sends)

    copies = sorted(
        "OK" if response.status_code == 200 else response.json()["code"]
        for response in responses[:4]
    )
    assert copies == ["OK", *["SIGNATURE_REPLAYED"] * 3]
    assert [response.status_code for response in responses[4:]] == [200] * 12


async def test_a_replay_is_a_warning_in_the_log_not_a_database_error(
    client: httpx.AsyncClient, key: IssuedKey, caplog: pytest.LogCaptureFixture
) -> None:
    headers = signature_headers(key, "GET", ECHO)
    with (
        caplog.at_level(logging.DEBUG, logger=PROJECT_SLUG),
        caplog.at_level(logging.DEBUG, logger="sqlalchemy"),
    ):
        first = await client.get(ECHO, headers=headers)
        replays = await asyncio.gather(*(client.get(ECHO, headers=headers) for _ in range(3)))

    assert first.status_code == 200, first.text
    assert [response.status_code for response in replays] == [401] * 3
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []
    assert "IntegrityError" not in caplog.text
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "nonce" in r.message]
    assert len(warnings) == 3
    assert all(f"API key {key.id}" in record.getMessage() for record in warnings)
    # Said by the service's own logger, which its log handler writes out.
    assert all(record.name.startswith(f"{PROJECT_SLUG}.") for record in warnings)


@pytest.mark.parametrize(
    ("flags", "code"),
    [
        ({"is_verified": False}, "ACCOUNT_UNVERIFIED"),
        ({"is_active": False}, "ACCOUNT_INACTIVE"),
        ({"is_active": False, "is_verified": False}, "ACCOUNT_INACTIVE"),
    ],
)
async def test_a_key_of_an_unverified_or_inactive_account_is_refused(
    service: FastAPI,
    client: httpx.AsyncClient,
    key: IssuedKey,
    user_id: int,
    flags: dict[str, bool],
    code: str,
) -> None:
    # The key was made while the account was in good standing (an email change, say,
    # makes it unverified again).
    async with service.state.runtime.database.sessionmaker() as session:
        user = await session.get(User, user_id)
        assert user is not None
        for name, value in flags.items():
            setattr(user, name, value)
        await session.commit()
    headers = signature_headers(key, "POST", ECHO, body=b"{}")

    refused = await client.post(ECHO, content=b"{}", headers=headers)

    assert_error(refused, 403, code)
    # Nothing was recorded for the refused request: not even its nonce.
    async with service.state.runtime.database.sessionmaker() as session:
        assert await SignatureNonce.filter_by(session=session).count() == 0
    # Only the holder of the secret learns the account's state.
    forged = signature_headers(key, "POST", ECHO, body=b"{}", secret_key="x" * 40)
    assert_error(await client.post(ECHO, content=b"{}", headers=forged), 401, "SIGNATURE_INVALID")


async def test_a_forged_request_does_not_spend_the_nonce(
    client: httpx.AsyncClient, key: IssuedKey
) -> None:
    nonce = "not-spent-by-forgery-01"
    forged = signature_headers(key, "GET", ECHO, nonce=nonce, secret_key="guessed-" * 6)
    refused = await client.get(ECHO, headers=forged)
    genuine = await client.get(ECHO, headers=signature_headers(key, "GET", ECHO, nonce=nonce))
    assert_error(refused, 401, "SIGNATURE_INVALID")
    assert genuine.status_code == 200, genuine.text


async def test_the_same_nonce_under_two_keys_is_two_nonces(
    service: FastAPI, client: httpx.AsyncClient, key: IssuedKey, user_id: int
) -> None:
    other = await issue_api_key(service, user_id)
    nonce = "shared-nonce-0123456789"
    first = await client.get(ECHO, headers=signature_headers(key, "GET", ECHO, nonce=nonce))
    second = await client.get(ECHO, headers=signature_headers(other, "GET", ECHO, nonce=nonce))
    assert (first.status_code, second.status_code) == (200, 200)


async def test_a_badly_formed_nonce_is_signature_invalid(
    client: httpx.AsyncClient, key: IssuedKey
) -> None:
    for nonce in (
        "short-nonce",
        "x" * 65,
        "has spaces in it here",
        "dots.are.not.allowed.here",
        "한국어-nonce-0123456789",
    ):
        headers = signature_headers(key, "GET", ECHO)
        headers["X-Nonce"] = nonce
        raw = {name.encode(): value.encode() for name, value in headers.items()}
        body = assert_error(await client.get(ECHO, headers=raw), 401, "SIGNATURE_INVALID")
        assert body["detail"] == {"header": "X-Nonce"}, nonce
        assert "16 to 64" in body["message"]


async def test_nonces_of_16_to_64_allowed_characters_are_accepted(
    client: httpx.AsyncClient, key: IssuedKey
) -> None:
    for nonce in ("a" * 16, "A-z_0-9" * 9 + "a"):
        assert 16 <= len(nonce) <= 64
        headers = signature_headers(key, "GET", ECHO, nonce=nonce)
        response = await client.get(ECHO, headers=headers)
        assert response.status_code == 200, response.text


async def test_a_timestamp_that_is_not_whole_seconds_is_signature_invalid(
    client: httpx.AsyncClient, key: IssuedKey
) -> None:
    for timestamp in ("1767225600.5", "-1767225600", "soon", "1e9"):
        headers = signature_headers(key, "GET", ECHO)
        headers["X-Timestamp"] = timestamp
        body = assert_error(await client.get(ECHO, headers=headers), 401, "SIGNATURE_INVALID")
        assert body["detail"] == {"header": "X-Timestamp"}, timestamp


async def test_a_wrong_secret_is_signature_invalid(
    client: httpx.AsyncClient, key: IssuedKey
) -> None:
    headers = signature_headers(key, "GET", ECHO, secret_key=key.secret_key[:-1] + "!")
    assert_error(await client.get(ECHO, headers=headers), 401, "SIGNATURE_INVALID")


async def test_a_signature_that_is_not_base64_is_signature_invalid(
    client: httpx.AsyncClient, key: IssuedKey
) -> None:
    headers = signature_headers(key, "GET", ECHO)
    headers["X-Signature"] = "not base64 at all ~~~"
    assert_error(await client.get(ECHO, headers=headers), 401, "SIGNATURE_INVALID")


async def test_a_tampered_method_is_signature_invalid(
    client: httpx.AsyncClient, key: IssuedKey
) -> None:
    headers = signature_headers(key, "GET", ECHO)
    assert_error(await client.delete(ECHO, headers=headers), 401, "SIGNATURE_INVALID")


async def test_a_tampered_path_is_signature_invalid(
    client: httpx.AsyncClient, key: IssuedKey
) -> None:
    headers = signature_headers(key, "POST", "/signed/items/mine")
    response = await client.post("/signed/items/yours", headers=headers)
    assert_error(response, 401, "SIGNATURE_INVALID")


async def test_a_tampered_query_is_signature_invalid(
    client: httpx.AsyncClient, key: IssuedKey
) -> None:
    for signed, sent in [("a=1", "a=2"), ("a=1", "a=1&b=2"), ("a=1&b=2", "a=1"), ("", "x=1")]:
        headers = signature_headers(key, "GET", ECHO, query=signed)
        response = await client.get(f"{ECHO}?{sent}", headers=headers)
        assert_error(response, 401, "SIGNATURE_INVALID")


async def test_the_query_may_arrive_in_any_order(client: httpx.AsyncClient, key: IssuedKey) -> None:
    headers = signature_headers(key, "GET", ECHO, query="a=1&b=2")
    response = await client.get(f"{ECHO}?b=2&a=1", headers=headers)
    assert response.status_code == 200, response.text


async def test_a_tampered_body_is_signature_invalid(
    client: httpx.AsyncClient, key: IssuedKey
) -> None:
    signed = b'{"to": ["a@example.com"]}'
    for sent in (b'{"to": ["b@example.com"]}', signed + b" ", b""):
        headers = signature_headers(key, "POST", ECHO, body=signed)
        response = await client.post(ECHO, content=sent, headers=headers)
        assert_error(response, 401, "SIGNATURE_INVALID")


# -- whitelist and client address ----------------------------------------------------


async def test_a_key_without_whitelist_accepts_any_address(
    service: FastAPI, key: IssuedKey
) -> None:
    for address in ("198.51.100.7", "2001:db8::1"):
        async with signed_client(service, key, client_address=address) as client:
            response = await client.get(ECHO)
        assert response.status_code == 200, response.text
        assert response.json()["client_address"] == address


async def test_a_whitelist_admits_its_addresses_and_ranges_only(
    service: FastAPI, key: IssuedKey, user_id: int
) -> None:
    await whitelist(service, user_id, key, "198.51.100.7", "10.20.30.0/24", "2001:db8:1::/48")
    admitted = ["198.51.100.7", "10.20.30.255", "2001:db8:1::42", "::ffff:198.51.100.7"]
    refused = ["198.51.100.8", "10.20.31.0", "2001:db8:2::1"]
    for address in admitted + refused:
        async with signed_client(service, key, client_address=address) as client:
            response = await client.get(ECHO)
        if address in admitted:
            assert response.status_code == 200, (address, response.text)
        else:
            body = assert_error(response, 403, "IP_NOT_WHITELISTED")
            assert body["detail"] == {"client_address": address}


async def test_the_whitelist_is_checked_after_the_signature(
    service: FastAPI, key: IssuedKey, user_id: int
) -> None:
    """Without the secret, a caller learns nothing about the whitelist."""
    await whitelist(service, user_id, key, "198.51.100.7")
    async with unsigned_client(service, "203.0.113.99") as client:
        forged = signature_headers(key, "GET", ECHO, secret_key="guessed-" * 6)
        response = await client.get(ECHO, headers=forged)
    assert_error(response, 401, "SIGNATURE_INVALID")


async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    service: FastAPI, key: IssuedKey, user_id: int
) -> None:
    await whitelist(service, user_id, key, "198.51.100.7")
    async with signed_client(service, key, client_address="203.0.113.99") as client:
        response = await client.get(ECHO, headers={"X-Forwarded-For": "198.51.100.7"})
    body = assert_error(response, 403, "IP_NOT_WHITELISTED")
    assert body["detail"] == {"client_address": "203.0.113.99"}


@pytest.fixture
async def behind_proxy(
    make_settings: SettingsFactory, serve: ServeApp
) -> AsyncIterator[tuple[FastAPI, IssuedKey]]:
    settings = make_settings(trusted_proxies="10.0.0.0/8, 192.0.2.1")
    application = with_signed_routes(create_app(settings))
    async with serve(application):
        user_id = await create_user(application)
        key = await issue_api_key(application, user_id)
        await whitelist(application, user_id, key, "198.51.100.7")
        yield application, key


async def test_a_trusted_proxy_s_forwarded_for_names_the_client(
    behind_proxy: tuple[FastAPI, IssuedKey],
) -> None:
    application, key = behind_proxy
    cases: list[tuple[list[str], str, bool]] = [
        (["198.51.100.7"], "198.51.100.7", True),
        # Proxies in a chain: the right-most address that is not a trusted proxy.
        (["198.51.100.7, 192.0.2.1"], "198.51.100.7", True),
        (["198.51.100.7", "10.9.9.9"], "198.51.100.7", True),
        # The client wrote the left-most entry itself: not believed.
        (["198.51.100.7, 203.0.113.99"], "203.0.113.99", False),
        ([], "10.1.2.3", False),
    ]
    async with signed_client(application, key, client_address="10.1.2.3") as client:
        for forwarded_for, client_address, allowed in cases:
            headers = [("X-Forwarded-For", value) for value in forwarded_for]
            response = await client.get(ECHO, headers=headers)
            if allowed:
                assert response.status_code == 200, (forwarded_for, response.text)
                assert response.json()["client_address"] == client_address
            else:
                body = assert_error(response, 403, "IP_NOT_WHITELISTED")
                assert body["detail"] == {"client_address": client_address}


async def test_an_untrusted_peer_is_the_client_even_with_proxies_configured(
    behind_proxy: tuple[FastAPI, IssuedKey],
) -> None:
    application, key = behind_proxy
    async with signed_client(application, key, client_address="203.0.113.5") as client:
        response = await client.get(ECHO, headers={"X-Forwarded-For": "198.51.100.7"})
    assert_error(response, 403, "IP_NOT_WHITELISTED")


# -- where nonces are kept -----------------------------------------------------------


async def test_nonces_are_kept_in_the_database_until_their_window_ends(
    service: FastAPI, client: httpx.AsyncClient, key: IssuedKey
) -> None:
    stamp = int(time.time())
    nonce = "kept-in-the-database-01"
    headers = signature_headers(key, "GET", ECHO, timestamp=stamp, nonce=nonce)
    assert (await client.get(ECHO, headers=headers)).status_code == 200

    async with service.state.runtime.database.sessionmaker() as session:
        rows = await SignatureNonce.filter_by(session=session, api_key_id=key.id).all()
    assert [(row.nonce, row.expires_at) for row in rows] == [
        (nonce, datetime.fromtimestamp(stamp + TOLERANCE, UTC))
    ]


async def test_expired_nonces_are_deleted_and_live_ones_kept(
    service: FastAPI, key: IssuedKey
) -> None:
    store = DatabaseNonceStore(service.state.runtime.database, cleanup_interval=60)
    api_key = await load_key(service, key.id)
    now = time.time()
    await store.clean_up_if_due(now)  # so that `use` does not clean up by itself for a minute
    assert await store.use(api_key, "expired-nonce-00000001", now - 10)
    assert await store.use(api_key, "expired-nonce-00000002", now - 1)
    assert await store.use(api_key, "live-nonce-0000000001", now + 200)

    assert await store.clean_up(now) == 2

    async with service.state.runtime.database.sessionmaker() as session:
        left = await SignatureNonce.filter_by(session=session, api_key_id=key.id).all()
    assert [row.nonce for row in left] == ["live-nonce-0000000001"]
    # A live nonce is still refused after the cleanup.
    assert not await store.use(api_key, "live-nonce-0000000001", now + 200)


async def test_nonce_cleanup_runs_at_most_once_per_interval(
    service: FastAPI, key: IssuedKey
) -> None:
    store = DatabaseNonceStore(service.state.runtime.database, cleanup_interval=60)
    api_key = await load_key(service, key.id)
    now = time.time()
    await store.clean_up_if_due(now)  # the first call cleans; the next minute is quiet

    assert await store.use(api_key, "expired-nonce-00000003", now - 5)
    await store.clean_up_if_due(now + 30)
    async with service.state.runtime.database.sessionmaker() as session:
        assert await SignatureNonce.filter_by(session=session).count() == 1

    await store.clean_up_if_due(now + 61)
    async with service.state.runtime.database.sessionmaker() as session:
        assert await SignatureNonce.filter_by(session=session).count() == 0


@pytest.fixture
def redis_settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(redis_url=REDIS_TEST_URL)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_TEST_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def redis_service(
    redis_settings: Settings, serve: ServeApp, redis: Redis
) -> AsyncIterator[FastAPI]:
    application = with_signed_routes(create_app(redis_settings))
    async with serve(application):
        yield application
        async with application.state.runtime.database.sessionmaker() as session:
            access_keys = [key.access_key for key in await ApiKey.filter_by(session=session).all()]
    # Keys of this test's access keys only: other suites running at the same time (other
    # bakes, other lanes) use database 15 with the same prefix.
    store = application.state.runtime.nonce_store
    assert isinstance(store, RedisNonceStore)
    for access_key in access_keys:
        async for name in redis.scan_iter(match=f"{store.prefix}{access_key}:*"):
            await redis.delete(name)


async def test_with_redis_url_nonces_are_kept_in_redis(
    redis_service: FastAPI, redis: Redis
) -> None:
    store = redis_service.state.runtime.nonce_store
    assert isinstance(store, RedisNonceStore)
    key = await issue_api_key(redis_service, await create_user(redis_service))
    stamp = int(time.time())
    nonce = "kept-in-redis-000000001"
    headers = signature_headers(key, "GET", ECHO, timestamp=stamp, nonce=nonce)

    async with unsigned_client(redis_service) as client:
        first = await client.get(ECHO, headers=headers)
        again = await client.get(ECHO, headers=headers)
        racing = signature_headers(key, "GET", ECHO, nonce="race-0123456789abcd")
        concurrent = await asyncio.gather(*(client.get(ECHO, headers=racing) for _ in range(4)))

    assert first.status_code == 200, first.text
    assert_error(again, 401, "SIGNATURE_REPLAYED")
    assert sorted(response.status_code for response in concurrent) == [200, 401, 401, 401]
    redis_key = f"{store.prefix}{key.access_key}:{nonce}"
    ttl = await redis.ttl(redis_key)
    assert stamp + TOLERANCE - time.time() - 2 <= ttl <= stamp + TOLERANCE - time.time() + 2
    async with redis_service.state.runtime.database.sessionmaker() as session:
        assert await SignatureNonce.filter_by(session=session).count() == 0


async def test_in_redis_copies_racing_beside_fresh_requests_pass_once(
    redis_service: FastAPI,
) -> None:
    # One pipeline carries the nonces of concurrent requests: each SET NX stays its own.
    key = await issue_api_key(redis_service, await create_user(redis_service))
    copied = signature_headers(key, "GET", ECHO)
    async with unsigned_client(redis_service) as client:
        sends = [client.get(ECHO, headers=copied) for _ in range(4)]
        sends += [client.get(ECHO, headers=signature_headers(key, "GET", ECHO)) for _ in range(12)]
        responses = await asyncio.gather(*sends)

    assert sorted(response.status_code for response in responses[:4]) == [200, 401, 401, 401]
    assert [response.status_code for response in responses[4:]] == [200] * 12


async def test_redis_down_is_a_clear_503(
    make_settings: SettingsFactory, serve: ServeApp, closed_port: int
) -> None:
    settings = make_settings(redis_url=f"redis://127.0.0.1:{closed_port}/0")
    application = with_signed_routes(create_app(settings))
    async with serve(application) as client:
        key = await issue_api_key(application, await create_user(application))
        response = await client.get(ECHO, headers=signature_headers(key, "GET", ECHO))
    assert_error(response, 503, "NONCE_STORE_UNAVAILABLE")


# -- the key cache --------------------------------------------------------------------


async def test_a_key_stopped_by_another_process_is_refused_within_the_cache_time(
    service: FastAPI, client: httpx.AsyncClient, key: IssuedKey
) -> None:
    settings = service.state.runtime.settings
    assert (await client.get(ECHO, headers=signature_headers(key, "GET", ECHO))).status_code == 200

    # The command line, or another API process: its own connection to the database.
    elsewhere = Database(settings.database_url)
    try:
        async with elsewhere.sessionmaker() as session:
            await session.execute(
                update(ApiKey).where(ApiKey.id == key.id).values(status="stopped")
            )
            await session.commit()
    finally:
        await elsewhere.dispose()
    await asyncio.sleep(settings.api_key_cache_seconds + 0.1)

    response = await client.get(ECHO, headers=signature_headers(key, "GET", ECHO))
    assert_error(response, 401, "API_KEY_INACTIVE")


async def test_a_busy_key_is_read_from_the_database_once_per_cache_time(
    service: FastAPI, client: httpx.AsyncClient, key: IssuedKey
) -> None:
    key_reads: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM api_key" in statement:
            key_reads.append(statement)

    engine = service.state.runtime.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        for _ in range(3):
            response = await client.get(ECHO, headers=signature_headers(key, "GET", ECHO))
            assert response.status_code == 200, response.text
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert len(key_reads) <= 1, key_reads
