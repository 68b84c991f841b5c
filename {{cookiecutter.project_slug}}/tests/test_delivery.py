"""Delivery with the in-process broker: retries, failures, claims, recovery, an outage.

The notifiers here are plugin objects registered with the plugin manager, as an installed
plugin's would be; the service's own delivery code runs unchanged.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI

import app.notifications.delivery
from app.core.config import Settings
from app.core.database import Database
from app.core.hookspecs import hookimpl
from app.core.interfaces import DeliveryResult, Notifier, OutgoingMessage
from app.core.orm.base import utcnow
from app.notifications.delivery_attempt import attempt_delivery
from app.notifications.delivery_policy import DeliveryPolicy
from app.notifications.models import Notification
from app.notifications.outbox import Outbox
from tests.outbox_plugin import WebhookPlugin, WebhookTarget
from tests.outbox_support import (
    FAST_DELIVERY,
    Caller,
    all_finished,
    new_caller,
    post_all,
    rows,
    wait_until,
    webhook,
)
from tests.support import SettingsFactory, build_app, signed_client, started

NOTIFICATIONS = "/api/v1/notifications"


class ScriptedNotifier:
    """Answers by recipient: `fail2` fails twice (retryable) then delivers, `reject` is
    refused for good, `down` always fails retryably, `lost` is an unknown outcome (sent,
    its answer lost), `boom` raises, `hang` never answers
    (the first time only, with `hang-once`), anything else is delivered."""

    name = "scripted"
    channel = "script"
    is_configured = True
    is_stand_in = False

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.calls_to: Counter[tuple[str, str]] = Counter()  # (notification id, recipient)
        self.delivered: list[str] = []

    def check_recipient(self, address: str) -> str | None:
        return None if address and " " not in address else "no spaces, please"

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        assert message.id is not None
        [recipient] = message.to  # delivery sends each recipient a message of its own
        self.calls[message.id] += 1
        self.calls_to[message.id, recipient] += 1
        call = self.calls_to[message.id, recipient]
        if recipient.startswith("fail") and call <= int(recipient.removeprefix("fail")):
            return DeliveryResult.retryable(f"provider throttled (call {call})")
        if recipient == "reject":
            return DeliveryResult.permanent("mailbox does not exist")
        if recipient == "down":
            return DeliveryResult.retryable("provider unavailable")
        if recipient == "lost":
            return DeliveryResult.unknown("the provider's answer was lost")
        if recipient == "boom":
            raise RuntimeError("notifier bug")
        if recipient == "hang" or (recipient == "hang-once" and call == 1):
            await asyncio.sleep(3600)
        self.delivered.append(message.id)
        return DeliveryResult.delivered(f"scripted-{message.id}-{call}")

    @hookimpl
    def register_notifiers(self, settings: Settings) -> Sequence[Notifier]:
        return [self]


@pytest.fixture
def notifier() -> ScriptedNotifier:
    return ScriptedNotifier()


@pytest.fixture
def delivery_settings(make_settings: SettingsFactory) -> Settings:
    # The scripted notifier answers at once or never: a short timeout is safe here.
    return make_settings(
        max_delivery_attempts=4, **{**FAST_DELIVERY, "delivery_send_timeout_seconds": 0.5}
    )


@pytest.fixture
async def service(
    delivery_settings: Settings, notifier: ScriptedNotifier
) -> AsyncIterator[FastAPI]:
    async with started(build_app(delivery_settings, notifier)) as application:
        yield application


@pytest.fixture
async def caller(service: FastAPI) -> Caller:
    return await new_caller(service)


async def send(service: FastAPI, caller: Caller, to: str | list[str]) -> int:
    recipients = [to] if isinstance(to, str) else to
    async with signed_client(service, caller) as client:
        response = await client.post(
            NOTIFICATIONS, json={"channel": "script", "to": recipients, "text": "hi"}
        )
    assert response.status_code == 202, response.text
    notification_id: int = response.json()["id"]
    return notification_id


async def finished(service: FastAPI, notification_id: int) -> Notification:
    database: Database = service.state.runtime.database
    await wait_until(lambda: all_finished(database, [notification_id]), 10, "finished")
    return (await rows(database, [notification_id]))[notification_id]


async def test_retryable_failures_are_retried_until_delivered(
    service: FastAPI, caller: Caller, notifier: ScriptedNotifier
) -> None:
    notification_id = await send(service, caller, "fail2")

    row = await finished(service, notification_id)

    assert row.status == "delivered"
    assert row.attempts == 3
    assert row.last_error is None
    assert row.provider_message_id == f"scripted-{notification_id}-3"
    assert row.delivered_at is not None
    assert notifier.calls[str(notification_id)] == 3


async def test_a_retry_waits_its_backoff_and_says_why(
    make_settings: SettingsFactory, notifier: ScriptedNotifier, serve: Any
) -> None:
    settings = make_settings(
        **{**FAST_DELIVERY, "delivery_retry_base_seconds": 0.4, "delivery_retry_max_seconds": 0.4}
    )
    application = build_app(settings, notifier)
    async with serve(application):
        caller = await new_caller(application)
        notification_id = await send(application, caller, "fail1")
        database: Database = application.state.runtime.database

        async def waiting_to_retry() -> Notification | None:
            row = (await rows(database, [notification_id]))[notification_id]
            return row if row.attempts == 1 and row.status == "queued" else None

        await wait_until(waiting_to_retry, 5, "queued for a retry", interval=0.01)
        row = await waiting_to_retry()
        assert row is not None
        assert row.last_error == "provider throttled (call 1)"
        assert row.next_attempt_at is not None
        wait = (row.next_attempt_at - row.updated_at).total_seconds()
        assert 0.2 - 0.01 <= wait <= 0.4 + 0.01

        row = await finished(application, notification_id)
        assert row.status == "delivered"
        assert row.attempts == 2


async def test_a_retry_sends_only_to_the_recipients_still_waiting(
    service: FastAPI, caller: Caller, notifier: ScriptedNotifier
) -> None:
    notification_id = await send(service, caller, ["ann", "fail2", "cy", "ann"])

    row = await finished(service, notification_id)

    assert row.status == "delivered", row.last_error
    assert row.attempts == 3
    assert row.last_error is None
    key = str(notification_id)
    # Ann (named twice) and Cy had it after the first attempt: the retries were for fail2.
    assert notifier.calls_to == Counter({(key, "ann"): 1, (key, "cy"): 1, (key, "fail2"): 3})
    assert row.delivered_recipients == {
        "ann": f"scripted-{key}-1",
        "cy": f"scripted-{key}-1",
        "fail2": f"scripted-{key}-3",
    }
    assert row.provider_message_id == f"scripted-{key}-1"


async def test_recipients_that_fail_for_good_are_named_beside_those_who_have_it(
    service: FastAPI, caller: Caller, notifier: ScriptedNotifier
) -> None:
    notification_id = await send(service, caller, ["ann", "reject"])

    row = await finished(service, notification_id)

    assert row.status == "delivered"
    assert row.attempts == 1
    assert row.last_error == "not delivered to: reject: mailbox does not exist"
    assert row.delivered_recipients == {"ann": f"scripted-{notification_id}-1"}


async def test_a_permanent_failure_fails_at_once(
    service: FastAPI, caller: Caller, notifier: ScriptedNotifier
) -> None:
    notification_id = await send(service, caller, "reject")

    row = await finished(service, notification_id)

    assert row.status == "failed"
    assert row.attempts == 1
    assert row.last_error == "mailbox does not exist"
    assert notifier.calls[str(notification_id)] == 1


async def test_retryable_failures_end_in_failed_after_the_last_attempt(
    service: FastAPI, caller: Caller, notifier: ScriptedNotifier
) -> None:
    notification_id = await send(service, caller, "down")

    row = await finished(service, notification_id)

    assert row.status == "failed"
    assert row.attempts == 4
    assert row.last_error == "provider unavailable (gave up after 4 attempts)"
    assert notifier.calls[str(notification_id)] == 4


async def test_a_notifier_that_raises_is_retried_and_one_that_hangs_is_not_resent(
    service: FastAPI, caller: Caller, notifier: ScriptedNotifier
) -> None:
    crashed = await send(service, caller, "boom")
    hung_once = await send(service, caller, "hang-once")

    crash_row = await finished(service, crashed)
    assert crash_row.status == "failed"
    assert crash_row.attempts == 4
    assert "RuntimeError: notifier bug" in (crash_row.last_error or "")

    # Still sending when the send timeout ran out: it may have gone out, so it is not
    # sent again; an operator decides.
    hang_row = await finished(service, hung_once)
    assert hang_row.status == "unknown"
    assert hang_row.attempts == 1
    assert "outcome unknown" in (hang_row.last_error or "")
    assert "no answer within 0.5 s" in (hang_row.last_error or "")
    assert notifier.calls[str(hung_once)] == 1


@pytest.mark.parametrize("processes", [1, 5], ids=["one-process", "five-processes"])
async def test_five_deliveries_of_one_row_send_it_once(
    service: FastAPI,
    caller: Caller,
    notifier: ScriptedNotifier,
    delivery_settings: Settings,
    processes: int,
) -> None:
    """Five broker messages for one row, in one process (one batch of claims) or in five
    (five claims racing in the database): one send."""
    database: Database = service.state.runtime.database
    async with database.sessionmaker() as session:
        row = await Notification.create(
            session=session,
            channel="script",
            recipients=["x"],
            text="hi",
            user_id=caller.user_id,
            api_key_id=caller.api_key_id,
            lease_expires_at=utcnow() + timedelta(hours=1),  # the dispatcher leaves it alone
        )
        await session.commit()
    policy = DeliveryPolicy.from_settings(delivery_settings)
    outboxes = [Outbox(database, policy) for _ in range(processes)]

    results = await asyncio.gather(
        *(
            attempt_delivery(outboxes[n % processes], service.state.runtime.plugins, row.id)
            for n in range(5)
        )
    )

    assert sorted(str(result) for result in results) == ["None"] * 4 + ["delivered"]
    assert notifier.calls[str(row.id)] == 1
    assert (await rows(database, [row.id]))[row.id].attempts == 1


def test_backoff_doubles_is_capped_and_jittered() -> None:
    policy = DeliveryPolicy(
        max_attempts=10,
        retry_base_seconds=1.0,
        retry_max_seconds=10.0,
        send_timeout_seconds=1.0,
        lease_seconds=2.0,
    )
    rng = random.Random(7)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (200, 10.0)]:
        delays = [policy.retry_delay(attempt, rng) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays), (attempt, delays)
        assert len(set(delays)) > 40  # jittered: failures of one outage spread out


async def test_rows_left_by_a_stopped_process_are_taken_over_at_startup(
    delivery_settings: Settings, notifier: ScriptedNotifier, serve: Any
) -> None:
    before = Database(delivery_settings.database_url)
    before.bind_models()
    await before.create_all()
    now = utcnow()
    hour = timedelta(hours=1)
    async with before.sessionmaker() as session:
        from app.accounts.models import User

        user = await User.create(
            session=session,
            email="left@example.com",
            hashed_password="-",
            is_active=True,
            is_verified=True,
            is_superuser=False,
        )
        common: dict[str, Any] = {
            "session": session,
            "channel": "script",
            "recipients": ["x"],
            "text": "hi",
            "user_id": user.id,
        }
        # Its broker message went down with the process that sent it.
        enqueued = await Notification.create(**common, lease_expires_at=now + hour)
        # Its worker died mid-send, long enough ago.
        crashed = await Notification.create(
            **common, status="sending", attempts=1, lease_expires_at=now - timedelta(seconds=1)
        )
        # Another worker is sending it right now: not ours to take.
        in_flight = await Notification.create(
            **common, status="sending", attempts=1, lease_expires_at=now + hour
        )
        # Died mid-send on its last attempt.
        exhausted = await Notification.create(
            **common, status="sending", attempts=4, lease_expires_at=now - timedelta(seconds=1)
        )
        # A retry that is not due yet.
        later = await Notification.create(**common, attempts=1, next_attempt_at=now + hour)
        await session.commit()
    await before.dispose()

    application = build_app(delivery_settings, notifier)
    async with serve(application):
        database: Database = application.state.runtime.database
        await wait_until(
            lambda: all_finished(database, [enqueued.id, crashed.id, exhausted.id]),
            10,
            "taken over",
        )
        await asyncio.sleep(0.3)  # a few dispatcher passes
        found = await rows(
            database, [enqueued.id, crashed.id, in_flight.id, exhausted.id, later.id]
        )

    assert (found[enqueued.id].status, found[enqueued.id].attempts) == ("delivered", 1)
    assert (found[crashed.id].status, found[crashed.id].attempts) == ("delivered", 2)
    assert found[in_flight.id].status == "sending"
    assert found[exhausted.id].status == "failed"
    assert "interrupted" in (found[exhausted.id].last_error or "")
    assert found[later.id].status == "queued"
    assert set(notifier.delivered) == {str(enqueued.id), str(crashed.id)}


async def test_a_stopping_service_hands_back_what_it_was_sending(
    make_settings: SettingsFactory,
    notifier: ScriptedNotifier,
    serve: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app.notifications.delivery, "SHUTDOWN_GRACE_SECONDS", 0.2)
    settings = make_settings(
        **{**FAST_DELIVERY, "delivery_send_timeout_seconds": 30.0, "delivery_lease_seconds": 60.0}
    )
    first = build_app(settings, notifier)
    database_url = settings.database_url
    async with first.router.lifespan_context(first):
        caller = await new_caller(first)
        notification_id = await send(first, caller, ["ann", "hang-once"])
        await wait_until(lambda: notifier.calls[str(notification_id)] == 2, 5, "sending")
    # Stopped mid-send: the row is queued again at once, not left for its 60 s lease.
    restarted = build_app(settings, notifier)
    assert restarted.state.runtime.settings.database_url == database_url
    async with serve(restarted):
        row = await finished(restarted, notification_id)

    assert row.status == "delivered"
    assert row.attempts == 2
    # Ann had it before the stop: only the interrupted recipient was sent it again.
    key = str(notification_id)
    assert notifier.calls_to == Counter({(key, "ann"): 1, (key, "hang-once"): 2})


async def test_a_stop_mid_send_keeps_an_unknown_outcome_unknown(
    make_settings: SettingsFactory,
    notifier: ScriptedNotifier,
    serve: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app.notifications.delivery, "SHUTDOWN_GRACE_SECONDS", 0.2)
    settings = make_settings(
        **{**FAST_DELIVERY, "delivery_send_timeout_seconds": 30.0, "delivery_lease_seconds": 60.0}
    )
    first = build_app(settings, notifier)
    async with first.router.lifespan_context(first):
        caller = await new_caller(first)
        notification_id = await send(first, caller, ["lost", "hang-once"])
        await wait_until(lambda: notifier.calls[str(notification_id)] == 2, 5, "sending")
    # `lost` may have it already: the row is not queued again for anyone.
    restarted = build_app(settings, notifier)
    async with serve(restarted):
        await asyncio.sleep(0.3)  # a few dispatcher passes: none may take the row
        row = (await rows(restarted.state.runtime.database, [notification_id]))[notification_id]

    assert row.status == "unknown"
    assert row.attempts == 1
    assert "the provider's answer was lost" in (row.last_error or "")
    assert notifier.calls[str(notification_id)] == 2


async def test_a_burst_through_an_endpoint_outage_is_delivered_exactly_once(
    make_settings: SettingsFactory, serve: Any
) -> None:
    target = WebhookTarget()
    target.start()
    settings = make_settings(max_delivery_attempts=100, **FAST_DELIVERY)
    application = build_app(settings, WebhookPlugin(target.url))
    try:
        async with serve(application):
            database: Database = application.state.runtime.database
            caller = await new_caller(application)
            async with signed_client(application, caller) as signed:
                ids = await post_all(signed, [webhook(f"r{n}") for n in range(100)])
                await wait_until(lambda: sum(target.delivered().values()) >= 40, 20, "started")
                target.stop()
                # Half the burst arrives during the outage, so some of it must wait, however
                # fast or slow this machine delivered the first half.
                ids += await post_all(signed, [webhook(f"r{n}") for n in range(100, 200)])

                async def retrying_after_outage() -> bool:
                    waiting = (await rows(database, ids)).values()
                    return any(
                        row.status == "queued" and "unreachable" in (row.last_error or "")
                        for row in waiting
                    )

                await wait_until(retrying_after_outage, 20, "waiting for the endpoint")
                assert sum(target.delivered().values()) < 200
                target.start()
                await wait_until(lambda: all_finished(database, ids), 30, "all delivered")
                assert await all_finished(database, ids) == {"delivered": 200}
    finally:
        target.stop()

    delivered = target.delivered()
    assert set(delivered) == {str(notification_id) for notification_id in ids}
    assert max(delivered.values()) == 1, "a notification was sent twice"
