"""Helpers for the notification tests: callers with API keys, waiting for delivery."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.client import SignedAuth
from app.core.database import Database
from app.main import create_app
from app.notifications.models import Notification
from tests.support import (
    SettingsFactory,
    create_user,
    issue_api_key,
    reset_database,
    signed_client,
)

NOTIFICATIONS = "/api/v1/notifications"

# Delivery as the tests want it: retries and dispatcher passes in milliseconds, not
# seconds. Timeouts stay long: on a busy machine a slow answer that is taken for a
# timeout makes a retry of a send whose outcome is unknown, which is a second send.
FAST_DELIVERY: dict[str, Any] = {
    "delivery_retry_base_seconds": 0.05,
    "delivery_retry_max_seconds": 0.2,
    "delivery_poll_seconds": 0.05,
    "delivery_send_timeout_seconds": 20.0,
    "delivery_lease_seconds": 60.0,
}


@dataclass(frozen=True)
class Caller:
    """A user of the service and one active API key of theirs (a `SigningKey`)."""

    user_id: int
    api_key_id: int
    access_key: str
    secret_key: str
    # What the service's NotificationCaller asks too: these callers are not operators.
    is_superuser: bool = False

    @property
    def auth(self) -> SignedAuth:
        return SignedAuth(self.access_key, self.secret_key)


async def new_caller(app: FastAPI, email: str | None = None) -> Caller:
    """A user of the service with an active API key."""
    user_id = await create_user(app, email or f"caller-{uuid.uuid4().hex[:10]}@example.com")
    key = await issue_api_key(app, user_id, "tests")
    return Caller(user_id, key.id, key.access_key, key.secret_key)


def email(to: list[str] | str = "a@example.com", **fields: Any) -> dict[str, Any]:
    recipients = [to] if isinstance(to, str) else to
    return {"channel": "email", "to": recipients, "subject": "Hi", "text": "hello", **fields}


def webhook(to: str = "someone", **fields: Any) -> dict[str, Any]:
    return {"channel": "webhook", "to": [to], "text": "hello", **fields}


async def post_all(
    client: httpx.AsyncClient, payloads: Iterable[dict[str, Any]], concurrency: int = 20
) -> list[int]:
    """POST each payload (a few at a time, as callers would); the accepted ids, in order."""
    slots = asyncio.Semaphore(concurrency)

    async def post(payload: dict[str, Any]) -> int:
        async with slots:
            response = await client.post(NOTIFICATIONS, json=payload)
        assert response.status_code == 202, response.text
        notification_id: int = response.json()["id"]
        return notification_id

    return list(await asyncio.gather(*(post(payload) for payload in payloads)))


async def rows(database: Database, ids: Iterable[int]) -> dict[int, Notification]:
    async with database.sessionmaker() as session:
        found = await session.scalars(select(Notification).where(Notification.id.in_(list(ids))))
        return {row.id: row for row in found}


async def statuses(database: Database, ids: Iterable[int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in (await rows(database, ids)).values():
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts


async def wait_until(
    condition: Callable[[], Any], seconds: float, what: str, interval: float = 0.05
) -> None:
    """Poll an async (or plain) condition until it holds; fail naming `what` if it never does."""
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"after {seconds} s still not {what} (last: {last!r})")


async def all_finished(database: Database, ids: list[int]) -> dict[str, int] | None:
    """The status counts once no row is queued or sending any more; else None."""
    counts = await statuses(database, ids)
    done = sum(counts.get(s, 0) for s in ("delivered", "failed", "unknown"))
    return counts if done == len(ids) else None


# --- unknown outcomes and several recipients, driven through the signed API ---------------

SENDER = "My Service <no-reply@mail.example.com>"
# Short, so that a provider answering after 1 s is past it. Set only where a slow answer
# is the point: elsewhere a busy machine must not turn a normal answer into an unknown.
READ_TIMEOUT = "0.5"
SLOW_ANSWER_SECONDS = 1.0
ANN, BOB, CY = "ann@example.com", "bob@example.org", "cy@example.net"


@asynccontextmanager
async def running(make_settings: SettingsFactory, attempts: int) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(max_delivery_attempts=attempts, **FAST_DELIVERY))
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        await reset_database(application.state.runtime.database)


async def post_email(application: FastAPI, to: list[str]) -> tuple[Caller, int]:
    caller = await new_caller(application)
    async with signed_client(application, caller) as client:
        response = await client.post(NOTIFICATIONS, json=email(to=to))
    assert response.status_code == 202, response.text
    notification_id: int = response.json()["id"]
    return caller, notification_id


async def finished(application: FastAPI, notification_id: int) -> Notification:
    database: Database = application.state.runtime.database
    await wait_until(lambda: all_finished(database, [notification_id]), 20, "finished")
    return (await rows(database, [notification_id]))[notification_id]


async def waiting_for_a_retry(application: FastAPI, notification_id: int, reason: str) -> None:
    """Until the row is back in the queue after a failed attempt that names `reason`."""
    database: Database = application.state.runtime.database

    async def retrying() -> bool:
        row = (await rows(database, [notification_id]))[notification_id]
        return row.status == "queued" and row.attempts >= 1 and reason in (row.last_error or "")

    await wait_until(retrying, 20, f"queued again after {reason!r}")


async def listed(application: FastAPI, caller: Caller, status: str) -> list[Any]:
    """The caller's notifications with `?status=`, through the signed API."""
    async with signed_client(application, caller) as client:
        response = await client.get(NOTIFICATIONS, params={"status": status})
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


def assert_unknown(row: Notification) -> None:
    assert row.status == "unknown", (row.status, row.last_error)
    assert row.attempts == 1
    assert row.delivered_at is None
    assert row.next_attempt_at is None
    assert "unknown" in (row.last_error or "")


# --- SES -------------------------------------------------------------------------------
