"""Rate limits: per client address on login, register, forgot-password and
request-verify-token; per API key on the signed API; counted in Redis when REDIS_URL is set,
in memory otherwise. (Per email address: tests/test_mail_flooding.py.)"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from redis.asyncio import Redis

from app.core.config import RateLimit, parse_rate_limit
from app.core.rate_limits import (
    MemoryCounterStore,
    RateLimitScope,
    RedisCounterStore,
    configured_limits,
)
from app.main import create_app
from tests.support import (
    AUTH,
    ServeApp,
    ServiceLog,
    SettingsFactory,
    assert_error,
    create_user,
    issue_api_key,
    login,
    register,
    signed_client,
    started,
)

REDIS_TEST_URL = "redis://127.0.0.1:6379/14"
NOTIFICATIONS = "/api/v1/notifications"
PROXY = "192.0.2.254"
# Long enough for a few logins on a loaded machine (an app's first request also resolves its
# routes), short enough to wait out.
WINDOW = 2.0
LIMITED: dict[str, Any] = {"rate_limits_enabled": True}


def client_from(app: FastAPI, address: str, **headers: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 51000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


def assert_rate_limited(response: httpx.Response, most_seconds: int) -> None:
    body = assert_error(response, 429, "RATE_LIMITED")
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= most_seconds
    assert body["detail"]["retry_after_seconds"] == retry_after


async def sleep_until(moment: float) -> None:
    """Until a little after `moment` (time.monotonic)."""
    await asyncio.sleep(max(0.0, moment - time.monotonic()) + 0.2)


async def forgot(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post(f"{AUTH}/forgot-password", json={"email": email})


@pytest.fixture(scope="module")
def app_settings() -> dict[str, Any]:
    return {
        **LIMITED,
        "rate_limit_login": "2/minute",
        "rate_limit_register": "2/hour",
        "rate_limit_forgot_password": "1/15m",
        "rate_limit_request_verify": "1/15m",
        "rate_limit_signed_api": "2/minute",
        "trusted_proxies": PROXY,
    }


@pytest.fixture(scope="module")
async def limited_app(module_app: FastAPI) -> AsyncIterator[FastAPI]:
    """The module's app, started once for the tests of each route's limit; each test calls
    from addresses of its own."""
    async with started(module_app) as application:
        yield application


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own, so parallel runs on database 14 never meet."""
    prefix = f"test-rate-limit-{uuid.uuid4().hex}:"
    yield prefix
    client = Redis.from_url(REDIS_TEST_URL)
    async for name in client.scan_iter(match=f"{prefix}*"):
        await client.delete(name)
    await client.aclose()


def test_limits_are_read_as_count_per_period() -> None:
    assert parse_rate_limit("10/minute") == RateLimit(10, 60.0)
    assert parse_rate_limit("5 / 15m") == RateLimit(5, 900.0)
    assert parse_rate_limit("100/10s") == RateLimit(100, 10.0)
    assert parse_rate_limit("3/500ms") == RateLimit(3, 0.5)
    assert parse_rate_limit("2/hours") == RateLimit(2, 3600.0)
    assert parse_rate_limit("1/day") == RateLimit(1, 86400.0)
    assert parse_rate_limit("OFF") is None


@pytest.mark.parametrize("text", ["10", "ten/minute", "0/minute", "5/0s", "5/fortnight", ""])
def test_a_malformed_limit_stops_the_settings(make_settings: SettingsFactory, text: str) -> None:
    with pytest.raises(ValidationError, match="rate limit"):
        make_settings(rate_limit_login=text)


async def test_login_is_limited_per_address_across_bearer_and_cookie(
    limited_app: FastAPI,
) -> None:
    async with client_from(limited_app, "198.51.100.1") as client:
        assert (await login(client, "who@example.com", backend="jwt")).status_code == 400
        assert (await login(client, "who@example.com", backend="cookie")).status_code == 400
        assert_rate_limited(await login(client, "who@example.com"), 60)
        assert_rate_limited(await login(client, "who@example.com", backend="cookie"), 60)
        # Signing out is not signing in: never limited.
        assert (await client.post(f"{AUTH}/jwt/logout")).status_code == 401
    async with client_from(limited_app, "198.51.100.2") as other:
        assert (await login(other, "who@example.com")).status_code == 400


async def test_register_is_limited_per_address(limited_app: FastAPI) -> None:
    async with client_from(limited_app, "198.51.100.3") as client:
        await register(client, "one@example.com")
        await register(client, "two@example.com")
        refused = await client.post(
            f"{AUTH}/register", json={"email": "three@example.com", "password": "long enough 1"}
        )
        assert_rate_limited(refused, 3600)
    async with client_from(limited_app, "198.51.100.4") as other:
        await register(other, "three@example.com")


async def test_forgot_password_is_limited_per_address(limited_app: FastAPI) -> None:
    async with client_from(limited_app, "198.51.100.5") as client:
        assert (await forgot(client, "a@example.com")).status_code == 202
        assert_rate_limited(await forgot(client, "b@example.com"), 900)
    async with client_from(limited_app, "198.51.100.6") as other:
        assert (await forgot(other, "a@example.com")).status_code == 202


async def test_request_verify_token_is_limited_per_address(limited_app: FastAPI) -> None:
    path = f"{AUTH}/request-verify-token"
    async with client_from(limited_app, "198.51.100.7") as client:
        assert (await client.post(path, json={"email": "a@example.com"})).status_code == 202
        assert_rate_limited(await client.post(path, json={"email": "b@example.com"}), 900)
    async with client_from(limited_app, "198.51.100.8") as other:
        assert (await other.post(path, json={"email": "a@example.com"})).status_code == 202


async def test_the_address_is_the_one_trusted_proxies_name(limited_app: FastAPI) -> None:
    # Two people behind the same (trusted) proxy have a count each...
    for person in ("192.0.2.1", "192.0.2.2"):
        for _ in range(2):
            async with client_from(limited_app, PROXY, **{"X-Forwarded-For": person}) as client:
                assert (await login(client, "who@example.com")).status_code == 400
    # ...and one cannot escape their count by writing another address in front.
    spoofed = {"X-Forwarded-For": "10.9.9.9, 192.0.2.1"}
    async with client_from(limited_app, PROXY, **spoofed) as client:
        assert_rate_limited(await login(client, "who@example.com"), 60)


async def test_the_signed_api_is_limited_per_api_key(limited_app: FastAPI) -> None:
    first = await issue_api_key(limited_app, await create_user(limited_app, "k1@example.com"))
    second = await issue_api_key(limited_app, await create_user(limited_app, "k2@example.com"))
    async with signed_client(limited_app, first) as client:
        assert (await client.get(NOTIFICATIONS)).status_code == 200
        assert (await client.get(NOTIFICATIONS)).status_code == 200
        assert_rate_limited(await client.get(NOTIFICATIONS), 60)
    # Same address, another key: its own count.
    async with signed_client(limited_app, second) as client:
        assert (await client.get(NOTIFICATIONS)).status_code == 200


def test_off_and_disabled_limits_do_not_count(make_settings: SettingsFactory) -> None:
    assert RateLimitScope.LOGIN not in configured_limits(
        make_settings(**LIMITED, rate_limit_login="off")
    )
    assert configured_limits(make_settings(rate_limits_enabled=False)) == {}
    assert set(configured_limits(make_settings(**LIMITED))) == set(RateLimitScope)


async def test_without_redis_each_process_counts_in_its_own_memory(
    make_settings: SettingsFactory, serve: ServeApp
) -> None:
    settings = make_settings(**LIMITED, rate_limit_login=f"1/{WINDOW}s")
    one, two = create_app(settings), create_app(settings)
    assert isinstance(one.state.runtime.rate_limiter.store, MemoryCounterStore)
    async with serve(one) as first, serve(two) as second:
        assert (await login(first, "who@example.com")).status_code == 400
        # The window opened while that request ran: it is over one window after the answer.
        window_over = time.monotonic() + WINDOW
        assert (await login(second, "who@example.com")).status_code == 400
        assert_rate_limited(await login(first, "who@example.com"), int(WINDOW))
        await sleep_until(window_over)
        assert (await login(first, "who@example.com")).status_code == 400


async def test_with_redis_two_instances_share_one_count(
    make_settings: SettingsFactory, serve: ServeApp, redis_prefix: str
) -> None:
    settings = make_settings(
        **LIMITED,
        redis_url=REDIS_TEST_URL,
        rate_limit_login=f"3/{WINDOW}s",
        rate_limit_key_prefix=redis_prefix,
    )
    one, two = create_app(settings), create_app(settings)
    assert isinstance(one.state.runtime.rate_limiter.store, RedisCounterStore)
    async with serve(one) as first, serve(two) as second:
        assert (await login(first, "who@example.com")).status_code == 400
        window_over = time.monotonic() + WINDOW
        assert (await login(second, "who@example.com")).status_code == 400
        assert (await login(first, "who@example.com")).status_code == 400
        assert_rate_limited(await login(second, "who@example.com"), int(WINDOW))
        assert_rate_limited(await login(first, "who@example.com"), int(WINDOW))
        # Redis forgets the window by itself: access comes back for both.
        await sleep_until(window_over)
        assert (await login(second, "who@example.com")).status_code == 400
        assert (await login(first, "who@example.com")).status_code == 400


async def test_redis_down_lets_requests_through_and_warns(
    make_settings: SettingsFactory, serve: ServeApp, service_log: ServiceLog, closed_port: int
) -> None:
    settings = make_settings(
        **LIMITED, redis_url=f"redis://127.0.0.1:{closed_port}/0", rate_limit_login="1/minute"
    )
    application = create_app(settings)
    service_log.attach()
    async with serve(application) as client:
        for _ in range(3):
            assert (await login(client, "who@example.com")).status_code == 400
    assert "rate limits are off" in service_log.text
    assert "Redis failed" in service_log.text
