"""Login and forgot-password answer alike, and about as fast, whether an account exists.

Register cannot hide it: CONTRACT.md promises REGISTER_USER_ALREADY_EXISTS (docs/security.md
says why, and how the register rate limit makes up for it).

The timings compare medians of interleaved calls with a loose bound (a factor of 3, or a
few ms apart, whichever is looser): this checks behaviour, it does not benchmark. Each
test makes the difference it guards against large: a password hash of tens of ms for
login; for forgot-password, a database that takes 60 ms to write the reset mail's outbox
row and a mail provider that takes 100 ms to send it.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Sequence
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event
from starlette.types import Message

from app.core.interfaces import DeliveryResult, OutgoingMessage
from tests.support import (
    AUTH,
    TEST_CLIENT_ADDRESS,
    Mailbox,
    ServeApp,
    SettingsFactory,
    build_app,
    login,
    register,
)

KNOWN = "known@example.com"
UNKNOWN = "nobody@example.com"
ROUNDS = 12
MAIL_SECONDS = 0.1
WRITE_SECONDS = 0.06
ANSWER_SECONDS = 0.2


class SlowMailbox(Mailbox):
    """A mail provider that takes its time, as SMTP does."""

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        await asyncio.sleep(MAIL_SECONDS)
        return await super().send(message)


def comparable(response: httpx.Response) -> tuple[int, Any]:
    body = response.json()
    if isinstance(body, dict):
        body.pop("request_id", None)
    return response.status_code, body


def assert_alike(known: Sequence[float], unknown: Sequence[float], slack: float) -> None:
    fast, slow = sorted((statistics.median(known), statistics.median(unknown)))
    assert slow < 3 * fast or slow - fast < slack, (
        f"median answer times differ: {statistics.median(known) * 1000:.1f} ms with an "
        f"account, {statistics.median(unknown) * 1000:.1f} ms without"
    )


async def answer_time(
    app: FastAPI, path: str, payload: dict[str, Any]
) -> tuple[float, asyncio.Future[None]]:
    """Seconds until the last byte of the answer, as a client sees it.

    The app may keep running afterwards (tasks after the answer): await the returned future.
    """
    body = json.dumps(payload).encode()
    answered = asyncio.Event()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": (TEST_CLIENT_ADDRESS, 51000),
        "server": ("testserver", 80),
    }
    requested = False

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": body, "more_body": False}
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body"):
            answered.set()

    started = time.perf_counter()
    running = asyncio.ensure_future(app(scope, receive, send))
    await answered.wait()
    return time.perf_counter() - started, running


async def test_login_answers_alike_with_and_without_an_account(
    make_settings: SettingsFactory, serve: ServeApp
) -> None:
    # A real hash cost (tens of ms): answering unknown emails without hashing would show.
    settings = make_settings(password_hash_time_cost=1, password_hash_memory_kib=8192)
    async with serve(build_app(settings)) as client:
        await register(client, KNOWN)
        known = await login(client, KNOWN, "wrong password 1")
        unknown = await login(client, UNKNOWN, "wrong password 1")
        assert comparable(known) == comparable(unknown)
        assert known.status_code == 400
        assert known.json()["code"] == "LOGIN_BAD_CREDENTIALS"

        times: dict[str, list[float]] = {KNOWN: [], UNKNOWN: []}
        for _ in range(ROUNDS):
            for email in (KNOWN, UNKNOWN):
                started = time.perf_counter()
                await login(client, email, "wrong password 1")
                times[email].append(time.perf_counter() - started)
    assert_alike(times[KNOWN], times[UNKNOWN], slack=0.010)


def slow_outbox_writes(statement: str) -> None:
    if statement.lstrip().upper().startswith("INSERT INTO NOTIFICATION"):
        time.sleep(WRITE_SECONDS)  # the whole process waits, as for a slow disk


async def test_forgot_password_answers_alike_whether_or_not_it_writes_a_mail(
    make_settings: SettingsFactory, serve: ServeApp
) -> None:
    mailbox = SlowMailbox()
    settings = make_settings(account_mail_answer_seconds=ANSWER_SECONDS)
    application = build_app(settings, mailbox)
    engine = application.state.runtime.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", lambda *args: slow_outbox_writes(args[2]))
    async with serve(application) as client:
        await register(client, KNOWN)
        await asyncio.sleep(MAIL_SECONDS * 2)
        mailbox.sent.clear()
        forgot = f"{AUTH}/forgot-password"
        known = await client.post(forgot, json={"email": KNOWN})
        unknown = await client.post(forgot, json={"email": UNKNOWN})
        assert comparable(known) == comparable(unknown) == (202, None)

        times: dict[str, list[float]] = {KNOWN: [], UNKNOWN: []}
        running: list[asyncio.Future[None]] = []
        try:
            for _ in range(ROUNDS):
                for email in (KNOWN, UNKNOWN):
                    elapsed, call = await answer_time(application, forgot, {"email": email})
                    times[email].append(elapsed)
                    running.append(call)
        finally:
            await asyncio.gather(*running)
        # Every reset mail still went out, to the account holder only.
        assert len(mailbox.to(KNOWN)) == ROUNDS + 1
        assert mailbox.to(UNKNOWN) == []
    account, no_account = statistics.median(times[KNOWN]), statistics.median(times[UNKNOWN])
    assert min(account, no_account) >= ANSWER_SECONDS
    # Well under the write's 60 ms (and the send's 100 ms): neither shows.
    assert abs(account - no_account) < WRITE_SECONDS / 2, (
        f"median answer times differ: {account * 1000:.1f} ms with an account, "
        f"{no_account * 1000:.1f} ms without"
    )


async def test_register_says_an_email_is_taken_as_the_contract_promises(
    client: httpx.AsyncClient,
) -> None:
    await register(client, KNOWN)
    again = await client.post(f"{AUTH}/register", json={"email": KNOWN, "password": "x" * 12})
    assert again.status_code == 400
    assert again.json()["code"] == "REGISTER_USER_ALREADY_EXISTS"
