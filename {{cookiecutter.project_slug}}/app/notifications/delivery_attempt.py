"""One delivery attempt of one notification: claim its row, send it, record the outcome.

Each recipient gets a message of its own (no one sees the others' addresses), sent
through the notifier the plugin registry names for the channel. The outcome, one per
recipient, becomes the row's new status (`delivery_policy.outcome_values`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from app import PROJECT_SLUG
from app.core.interfaces import DeliveryResult, Notifier, OutgoingMessage
from app.core.orm.base import utcnow
from app.core.plugins import PluginRegistry
from app.notifications.delivery_policy import DELIVERED, UNKNOWN, DeliveryPolicy, outcome_values
from app.notifications.models import NotificationStatus
from app.notifications.outbox import Outbox

# Under the service's own logger, so that its handler (and format) writes these lines.
logger = logging.getLogger(f"{PROJECT_SLUG}.delivery")

# Recipients of one notification sent to at the same time (one message each).
RECIPIENTS_AT_ONCE = 5


async def _send_one(notifier: Notifier, message: OutgoingMessage) -> DeliveryResult:
    try:
        return await notifier.send(message)
    except Exception as exc:  # a notifier bug must not lose the notification
        logger.exception(
            "notifier %r raised while sending notification %s", notifier.name, message.id
        )
        return DeliveryResult.retryable(f"{notifier.name}: {type(exc).__name__}: {exc}")


async def send_each(
    plugins: PluginRegistry,
    message: OutgoingMessage,
    policy: DeliveryPolicy,
    results: dict[str, DeliveryResult],
) -> None:
    """Send each recipient in `message.to` a message of its own; the outcomes go to `results`.

    Filled as sends end, so that a caller cut off midway knows who has it. The whole
    attempt gets the policy's send timeout: a send still running then may have reached
    the provider (unknown), one not started yet was not sent (retryable).
    """
    notifier = plugins.notifier_for(message.channel)
    if notifier is None:
        missing = f"no notifier delivers the {message.channel!r} channel in this service"
        results.update({address: DeliveryResult.permanent(missing) for address in message.to})
        return
    started: set[str] = set()
    slots = asyncio.Semaphore(RECIPIENTS_AT_ONCE)

    async def one(address: str) -> None:
        async with slots:
            started.add(address)
            results[address] = await _send_one(notifier, replace(message, to=[address]))

    if not message.to:
        return
    limit = policy.send_timeout_seconds
    try:
        async with asyncio.timeout(limit):
            if len(message.to) == 1:  # the usual case: no task to spawn
                await one(message.to[0])
            else:
                await asyncio.gather(*(one(address) for address in message.to))
    except TimeoutError:
        for address in message.to:
            if address in results:
                continue
            results[address] = (
                DeliveryResult.unknown(f"{notifier.name}: no answer within {limit:g} s")
                if address in started
                else DeliveryResult.retryable(f"not sent: the attempt took over {limit:g} s")
            )


async def attempt_delivery(
    outbox: Outbox, plugins: PluginRegistry, notification_id: int
) -> NotificationStatus | None:
    """One delivery attempt of one notification; its new status, or None if none was made."""
    claimed = await outbox.claim(notification_id)
    if claimed is None:
        return None
    attempt = claimed.attempt
    # The suppressed are reported, never sent to.
    results: dict[str, DeliveryResult] = {
        address: DeliveryResult.suppressed(f"on the suppression list ({why}); not sent")
        for address, why in claimed.suppressed.items()
    }
    message = claimed.message
    if claimed.suppressed:
        message = replace(message, to=[address for address in message.to if address not in results])
    try:
        await send_each(plugins, message, outbox.policy, results)
    except asyncio.CancelledError:
        # Stopping mid-send: hand the row back now rather than when its lease ends,
        # with the recipients reached so far, who must not get it again. An outcome
        # already known to be unknown stays so: that row is not to be sent again.
        reached = outcome_values(results, claimed.delivered, attempt, outbox.policy, utcnow())
        if reached["status"] == UNKNOWN:
            await asyncio.shield(outbox.record(notification_id, attempt, reached))
        else:
            delivered = reached["delivered_recipients"]
            await asyncio.shield(outbox.release(notification_id, attempt, delivered))
        raise
    values = outcome_values(
        results,
        claimed.delivered,
        attempt,
        outbox.policy,
        utcnow(),
        recipient_count=claimed.recipient_count,
    )
    recorded = await outbox.record(notification_id, attempt, values)
    error = values.get("last_error")
    log = logger.info if values["status"] == DELIVERED and not error else logger.warning
    log(
        "notification %s attempt %s: %s%s",
        notification_id,
        attempt,
        values["status"],
        f" ({error})" if error else "",
        extra={"notification_id": notification_id, "outcome": values["status"]},
    )
    return NotificationStatus(values["status"]) if recorded else None
