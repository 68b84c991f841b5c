"""The suppression list: delivery sends nothing to a listed recipient, and the status says so.

Any channel may use it; here a recording notifier stands in for one, registered as a
plugin. Addresses are put on the list through the port plugins use (the runtime's
`suppressions`), and everything else is seen through the signed API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.core.hookspecs import hookimpl
from app.core.interfaces import (
    DeliveryResult,
    Notifier,
    OutgoingMessage,
    Suppression,
    SuppressionList,
    SuppressionReason,
)
from tests.support import (
    IssuedKey,
    SettingsFactory,
    build_app,
    create_user,
    issue_api_key,
    reset_database,
    signed_client,
)

NOTIFICATIONS = "/api/v1/notifications"
CALLER = "sender@example.com"
CHANNEL = "letters"
FINISHED = {"delivered", "failed", "unknown"}
# Delivery passes in milliseconds, so that a test waits for little.
QUICK_DELIVERY: dict[str, Any] = {
    "delivery_poll_seconds": 0.05,
    "delivery_retry_base_seconds": 0.05,
    "delivery_retry_max_seconds": 0.2,
}


class RecordingNotifier:
    """Delivers everything, except to `refused@...` (a permanent failure); keeps who got what."""

    name = "recording"
    channel = CHANNEL
    is_configured = True
    is_stand_in = False

    def __init__(self) -> None:
        self.sent_to: list[str] = []

    def check_recipient(self, address: str) -> str | None:
        return None

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        [address] = message.to
        if address.startswith("refused@"):
            return DeliveryResult.permanent("mailbox does not exist")
        self.sent_to.append(address)
        return DeliveryResult.delivered(f"sent-{len(self.sent_to)}")


class RecordingPlugin:
    def __init__(self, notifier: RecordingNotifier) -> None:
        self.notifier = notifier

    @hookimpl
    def register_notifiers(self, settings: Settings) -> list[Notifier]:
        return [self.notifier]


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
async def application(
    make_settings: SettingsFactory, notifier: RecordingNotifier
) -> AsyncIterator[FastAPI]:
    app = build_app(make_settings(**QUICK_DELIVERY), RecordingPlugin(notifier))
    try:
        async with app.router.lifespan_context(app):
            yield app
    finally:
        await reset_database(app.state.runtime.database)


def suppressions(app: FastAPI) -> SuppressionList:
    listed: SuppressionList = app.state.runtime.suppressions
    return listed


async def new_caller(app: FastAPI, email: str) -> IssuedKey:
    return await issue_api_key(app, await create_user(app, email))


async def send(app: FastAPI, caller: IssuedKey, to: list[str]) -> dict[str, Any]:
    """Post a notification, wait until delivery is done with it: its status."""
    async with signed_client(app, caller) as client:
        accepted = await client.post(
            NOTIFICATIONS, json={"channel": CHANNEL, "to": to, "text": "hello"}
        )
        assert accepted.status_code == 202, accepted.text
        url = f"{NOTIFICATIONS}/{accepted.json()['id']}"
        async with asyncio.timeout(20):
            while True:
                status = await client.get(url)
                assert status.status_code == 200, status.text
                answer: dict[str, Any] = status.json()
                if answer["status"] in FINISHED:
                    return answer
                await asyncio.sleep(0.05)


def outcomes(answer: dict[str, Any]) -> dict[str, str]:
    return {entry["address"]: entry["status"] for entry in answer["recipients"]}


async def test_a_suppressed_recipient_is_reported_not_sent_to(
    application: FastAPI, notifier: RecordingNotifier
) -> None:
    added = await suppressions(application).suppress(
        [Suppression(CHANNEL, "Gone@Example.com", SuppressionReason.BOUNCE, "550 user unknown")]
    )
    assert added == 1
    caller = await new_caller(application, CALLER)

    # Written in another case than it was listed: the same address.
    answer = await send(application, caller, ["gone@example.COM", "here@example.com"])

    assert notifier.sent_to == ["here@example.com"]
    assert answer["status"] == "delivered"
    assert outcomes(answer) == {"gone@example.COM": "suppressed", "here@example.com": "delivered"}
    gone, here = answer["recipients"]
    assert "bounce" in gone["error"] and "550 user unknown" in gone["error"]
    assert here["provider_message_id"] == "sent-1" and here["error"] is None
    assert "gone@example.COM" in answer["last_error"]


async def test_when_every_recipient_is_suppressed_nothing_is_sent_and_it_fails(
    application: FastAPI, notifier: RecordingNotifier
) -> None:
    await suppressions(application).suppress(
        [
            Suppression(CHANNEL, "a@example.com", SuppressionReason.BOUNCE),
            Suppression(CHANNEL, "b@example.com", SuppressionReason.COMPLAINT),
        ]
    )
    caller = await new_caller(application, CALLER)

    answer = await send(application, caller, ["a@example.com", "b@example.com"])

    assert notifier.sent_to == []
    assert answer["status"] == "failed"
    assert answer["attempts"] == 1
    assert "every recipient is on the suppression list" in answer["last_error"]
    assert outcomes(answer) == {"a@example.com": "suppressed", "b@example.com": "suppressed"}


async def test_the_list_is_per_channel_and_an_address_is_listed_once(
    application: FastAPI, notifier: RecordingNotifier
) -> None:
    listed = suppressions(application)
    assert await listed.suppress([Suppression("other", "x@example.com", SuppressionReason.BOUNCE)])
    first = Suppression(CHANNEL, "y@example.com", SuppressionReason.COMPLAINT)
    assert await listed.suppress([first, first]) == 1
    assert await listed.suppress([first]) == 0
    caller = await new_caller(application, CALLER)

    answer = await send(application, caller, ["x@example.com", "y@example.com"])

    # Suppressed on another channel only: this one still delivers to it.
    assert outcomes(answer) == {"x@example.com": "delivered", "y@example.com": "suppressed"}
    assert notifier.sent_to == ["x@example.com"]


async def test_each_recipient_has_an_outcome_in_the_order_given(
    application: FastAPI, notifier: RecordingNotifier
) -> None:
    caller = await new_caller(application, CALLER)
    async with signed_client(application, caller) as client:
        accepted = await client.post(
            NOTIFICATIONS, json={"channel": CHANNEL, "to": ["p@example.com"], "text": "hi"}
        )
    # Accepted, not yet attempted.
    assert accepted.json()["recipients"] == [
        {
            "address": "p@example.com",
            "status": "pending",
            "provider_message_id": None,
            "error": None,
        }
    ]

    answer = await send(application, caller, ["refused@example.com", "ok@example.com"])

    assert answer["status"] == "delivered"
    assert [(entry["address"], entry["status"]) for entry in answer["recipients"]] == [
        ("refused@example.com", "failed"),
        ("ok@example.com", "delivered"),
    ]
    assert answer["recipients"][0]["error"] == "mailbox does not exist"
