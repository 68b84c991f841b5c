"""Nobody can flood a mailbox through the account mails, from one client address or many.

Each route that sends an account mail (register, request-verify-token, forgot-password,
an email change through PATCH /users/me) counts per email address, whoever asks and
whether or not the address has an account; the answer over the limit is 429
RATE_LIMITED and tells nothing about the account. Email changes count per account too.
Where the mails are made, a count per recipient stops whatever a route let through.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from app.core.config import Settings
from app.core.rate_limits import MemoryCounterStore
from tests.support import (
    AUTH,
    ME,
    PASSWORD,
    Mailbox,
    SettingsFactory,
    assert_error,
    bearer_for,
    build_app,
    register,
    started,
)

REDIS_TEST_URL = "redis://127.0.0.1:6379/14"
PER_ADDRESS = 3
EMAIL_CHANGES = 2
KNOWN = "known@example.com"
UNKNOWN = "nobody@example.com"


def limited_settings(make_settings: SettingsFactory, **overrides: Any) -> Settings:
    limits = {
        "rate_limit_mail_per_address": f"{PER_ADDRESS}/hour",
        "rate_limit_email_change": f"{EMAIL_CHANGES}/hour",
    }
    return make_settings(rate_limits_enabled=True, **{**limits, **overrides})


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
async def service(
    make_settings: SettingsFactory, mailbox: Mailbox
) -> AsyncIterator[tuple[FastAPI, Mailbox]]:
    async with started(build_app(limited_settings(make_settings), mailbox)) as application:
        yield application, mailbox


def addresses() -> Iterator[str]:
    """A fresh client address for every request: an attacker with many addresses."""
    for number in itertools.count(1):
        yield f"198.51.{number // 250}.{number % 250 + 1}"


class Attacker:
    """Calls the service from a new client address each time."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.addresses = addresses()

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(next(self.addresses), 51000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    async def post(self, path: str, payload: dict[str, Any]) -> httpx.Response:
        async with self.client() as client:
            return await client.post(f"{AUTH}/{path}", json=payload)


def email_change(email: str) -> dict[str, str]:
    return {"email": email, "current_password": PASSWORD}


def assert_rate_limited(response: httpx.Response) -> dict[str, Any]:
    body = assert_error(response, 429, "RATE_LIMITED")
    assert 1 <= int(response.headers["Retry-After"]) <= 3600
    return body


def comparable(response: httpx.Response) -> tuple[int, dict[str, Any], str | None]:
    """The answer without its request id, which differs between any two answers."""
    body = response.json()
    del body["request_id"]
    return response.status_code, body, response.headers.get("Retry-After")


def stop_the_clock(app: FastAPI) -> None:
    """Every count of the app's rate limits at one instant, so windows that open at
    different moments of the test still have the same seconds left."""
    store = app.state.runtime.rate_limiter.store
    assert isinstance(store, MemoryCounterStore)
    # A whole second: a window's end minus this instant is then exactly the window's length
    # (a fraction can leave it a hair over, and the Retry-After rounded up past the window).
    now = float(math.floor(store.clock()))
    store.clock = lambda: now


async def test_request_verify_token_is_limited_per_address(
    service: tuple[FastAPI, Mailbox],
) -> None:
    app, mailbox = service
    attacker = Attacker(app)
    async with attacker.client() as client:
        await register(client, KNOWN)  # the first mail to the address
    for _ in range(PER_ADDRESS - 1):
        assert (await attacker.post("request-verify-token", {"email": KNOWN})).status_code == 202
    for spelling in (KNOWN, KNOWN.upper(), f" {KNOWN}", "known+again@example.com"):
        assert_rate_limited(await attacker.post("request-verify-token", {"email": spelling}))
    assert len(mailbox.to(KNOWN)) == PER_ADDRESS


async def test_forgot_password_is_limited_per_address(service: tuple[FastAPI, Mailbox]) -> None:
    app, mailbox = service
    attacker = Attacker(app)
    async with attacker.client() as client:
        await register(client, KNOWN)
    mailbox.sent.clear()
    for _ in range(PER_ADDRESS - 1):
        assert (await attacker.post("forgot-password", {"email": KNOWN})).status_code == 202
    for _ in range(3):
        assert_rate_limited(await attacker.post("forgot-password", {"email": KNOWN}))
    assert len(mailbox.to(KNOWN)) == PER_ADDRESS - 1


async def test_register_is_limited_per_address(service: tuple[FastAPI, Mailbox]) -> None:
    app, mailbox = service
    attacker = Attacker(app)
    payload = {"email": KNOWN, "password": PASSWORD}
    assert (await attacker.post("register", payload)).status_code == 201
    for _ in range(PER_ADDRESS - 1):
        taken = await attacker.post("register", payload)
        assert_error(taken, 400, "REGISTER_USER_ALREADY_EXISTS")
    assert_rate_limited(await attacker.post("register", payload))
    assert_rate_limited(await attacker.post("register", {**payload, "email": KNOWN.title()}))
    assert len(mailbox.to(KNOWN)) == 1


@pytest.mark.parametrize("path", ["forgot-password", "request-verify-token"])
async def test_an_address_without_an_account_is_limited_alike(
    service: tuple[FastAPI, Mailbox], path: str
) -> None:
    app, mailbox = service
    # The known address's window opens at its registration, the other's at the first
    # request after it: a second or more apart on a loaded machine, and the refusals would
    # differ in the seconds they name (in the message too), which says nothing of an account.
    stop_the_clock(app)
    attacker = Attacker(app)
    async with attacker.client() as client:
        await register(client, KNOWN)
    answers: dict[str, list[httpx.Response]] = {KNOWN: [], UNKNOWN: []}
    for _ in range(PER_ADDRESS + 1):
        for email in (KNOWN, UNKNOWN):
            answers[email].append(await attacker.post(path, {"email": email}))
    # The known address had its registration mail: one answer fewer before the limit.
    known = [response.status_code for response in answers[KNOWN]]
    unknown = [response.status_code for response in answers[UNKNOWN]]
    assert known == [202] * (PER_ADDRESS - 1) + [429] * 2
    assert unknown == [202] * PER_ADDRESS + [429]
    # Refused alike, to the second: nothing in the answer tells which address has an account.
    assert comparable(answers[KNOWN][-1]) == comparable(answers[UNKNOWN][-1])
    assert_rate_limited(answers[UNKNOWN][-1])
    assert mailbox.to(UNKNOWN) == []


async def test_email_changes_are_capped_per_account(service: tuple[FastAPI, Mailbox]) -> None:
    app, mailbox = service
    attacker = Attacker(app)
    async with attacker.client() as client:
        await register(client, KNOWN)
        email = KNOWN
        for number in range(EMAIL_CHANGES):
            # Signed in afresh each time: a changed email may end the earlier sessions.
            headers = await bearer_for(client, email)
            email = f"victim{number}@example.com"
            changed = await client.patch(ME, json=email_change(email), headers=headers)
            assert changed.status_code == 200, changed.text
            assert len(mailbox.to(email)) == 1
        headers = await bearer_for(client, email)
        refused = await client.patch(ME, json=email_change("one-more@example.com"), headers=headers)
        assert_rate_limited(refused)
        me = await client.get(ME, headers=headers)
        assert me.status_code == 200, me.text
        assert me.json()["email"] == email
    assert mailbox.to("one-more@example.com") == []


async def test_an_email_change_counts_toward_the_new_address(
    service: tuple[FastAPI, Mailbox],
) -> None:
    app, mailbox = service
    attacker = Attacker(app)
    for _ in range(PER_ADDRESS):
        assert (await attacker.post("forgot-password", {"email": UNKNOWN})).status_code == 202
    async with attacker.client() as client:
        await register(client, KNOWN)
        headers = await bearer_for(client, KNOWN)
        refused = await client.patch(ME, json=email_change(UNKNOWN), headers=headers)
        assert_rate_limited(refused)
        assert (await client.get(ME, headers=headers)).json()["email"] == KNOWN
    assert mailbox.to(UNKNOWN) == []


async def test_the_mail_itself_is_capped_per_recipient(
    make_settings: SettingsFactory, mailbox: Mailbox
) -> None:
    """With the route's count off, the count where the mail is made still holds."""
    settings = limited_settings(
        make_settings, rate_limit_mail_per_address="off", rate_limit_mail_per_recipient="2/hour"
    )
    application = build_app(settings, mailbox)
    async with started(application):
        attacker = Attacker(application)
        async with attacker.client() as client:
            await register(client, KNOWN)
        for _ in range(4):
            # Still 202: the answer does not tell that the mail was held back.
            assert (await attacker.post("forgot-password", {"email": KNOWN})).status_code == 202
    assert len(mailbox.to(KNOWN)) == 2


async def test_with_redis_every_instance_shares_the_count_per_address(
    make_settings: SettingsFactory, mailbox: Mailbox
) -> None:
    prefix = f"test-mail-flooding-{uuid.uuid4().hex}:"
    settings = limited_settings(
        make_settings, redis_url=REDIS_TEST_URL, rate_limit_key_prefix=prefix
    )
    one, two = build_app(settings, mailbox), build_app(settings, mailbox)
    try:
        async with started(one), two.router.lifespan_context(two):
            instances = itertools.cycle((Attacker(one), Attacker(two)))
            for _ in range(PER_ADDRESS):
                forgot = await next(instances).post("forgot-password", {"email": UNKNOWN})
                assert forgot.status_code == 202
            assert_rate_limited(await next(instances).post("forgot-password", {"email": UNKNOWN}))
    finally:
        redis = Redis.from_url(REDIS_TEST_URL)
        async for name in redis.scan_iter(match=f"{prefix}*"):
            await redis.delete(name)
        await redis.aclose()
