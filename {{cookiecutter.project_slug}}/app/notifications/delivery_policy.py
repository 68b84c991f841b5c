"""How often and how long delivery tries, and what one attempt's outcome makes of a row.

- A retryable failure (nothing was sent) puts the row back to `queued` with
  `next_attempt_at` set by exponential backoff with jitter. A permanent failure, or the
  last attempt, ends in `failed` (or `delivered`, naming those who lack it, when some
  recipients have it).
- A recipient on the suppression list (a hard bounce, a complaint) is sent nothing and
  recorded as `suppressed`; when every recipient is, the notification fails unsent.
- An unknown outcome (the provider took the request but its answer never came, or the send
  outlived the send timeout) ends in `unknown`: it may have gone out, so it is not sent
  again on its own; an operator decides.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.core.config import Settings
from app.core.interfaces import DeliveryOutcome, DeliveryResult
from app.notifications.models import LAST_ERROR_LENGTH, NotificationStatus, RecipientStatus

QUEUED = NotificationStatus.QUEUED.value
DELIVERED = NotificationStatus.DELIVERED.value
FAILED = NotificationStatus.FAILED.value
UNKNOWN = NotificationStatus.UNKNOWN.value

# 2**60 base delays is past any sane cap; the exponent stops there so floats never overflow.
MAX_BACKOFF_EXPONENT = 60

Delivered = dict[str, str | None]  # recipient → the provider's message id, if it gave one


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    send_timeout_seconds: float
    lease_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        return cls(
            max_attempts=settings.max_delivery_attempts,
            retry_base_seconds=settings.delivery_retry_base_seconds,
            retry_max_seconds=settings.delivery_retry_max_seconds,
            send_timeout_seconds=settings.delivery_send_timeout_seconds,
            lease_seconds=settings.delivery_lease_seconds,
        )

    def retry_delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1 for the first).

        base * 2^(attempt-1), capped, then a random 50 to 100 % of it, so that messages that
        failed together (a provider outage) do not all come back in the same instant.
        """
        exponent = min(max(attempt - 1, 0), MAX_BACKOFF_EXPONENT)
        ceiling = min(self.retry_max_seconds, self.retry_base_seconds * 2.0**exponent)
        fraction = (rng or random).uniform(0.5, 1.0)
        return ceiling * fraction

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)


def _truncated(error: str) -> str:
    return error if len(error) <= LAST_ERROR_LENGTH else error[: LAST_ERROR_LENGTH - 1] + "…"


def _reasons(failures: dict[str, DeliveryResult], several: bool) -> str:
    """Why these recipients do not have it; each named when the notification has several."""
    reasons = [
        f"{address}: {result.error or result.outcome.value}" if several else result.error or ""
        for address, result in failures.items()
    ]
    return "; ".join(reasons) or "the notifier gave no reason"


def outcome_values(
    results: dict[str, DeliveryResult],
    delivered_before: Delivered,
    attempt: int,
    policy: DeliveryPolicy,
    now: datetime,
    *,
    recipient_count: int = 1,
) -> dict[str, Any]:
    """The columns that record what one attempt came to (`Outbox.record` empties the others).

    `results` holds this attempt's outcome per recipient. Unknown for any recipient makes
    the notification `unknown` (never sent again on its own); else a retryable one queues
    it again for the recipients who lack it; when nothing is left to try it is `delivered`
    if anyone has it (last_error naming who does not) and `failed` if no one does.
    """
    delivered: Delivered = dict(delivered_before)
    for address, result in results.items():
        if result.outcome is DeliveryOutcome.DELIVERED:
            delivered[address] = result.provider_message_id
    failures = {
        address: result
        for address, result in results.items()
        if result.outcome is not DeliveryOutcome.DELIVERED
    }
    outcomes = {result.outcome for result in failures.values()}
    error = _reasons(failures, recipient_count > 1) if failures else None
    if DeliveryOutcome.UNKNOWN in outcomes:
        unknown = (
            f"outcome unknown, not sent again: the provider may have sent it ({error}); "
            "check with the provider before sending it again"
        )
        values = _recipient_values(delivered, failures, retrying=False)
        return {**values, "status": UNKNOWN, "last_error": _truncated(unknown)}
    if DeliveryOutcome.RETRYABLE in outcomes:
        if attempt < policy.max_attempts:
            return {
                **_recipient_values(delivered, failures, retrying=True),
                "status": QUEUED,
                "last_error": _truncated(error or ""),
                "next_attempt_at": now + timedelta(seconds=policy.retry_delay(attempt)),
            }
        error = f"{error} (gave up after {attempt} attempts)"
    values = _recipient_values(delivered, failures, retrying=False)
    if not delivered and outcomes == {DeliveryOutcome.SUPPRESSED}:
        error = f"not sent: every recipient is on the suppression list ({error})"
        return {**values, "status": FAILED, "last_error": _truncated(error)}
    if not delivered:
        return {**values, "status": FAILED, "last_error": _truncated(error or "")}
    return {
        **values,
        "status": DELIVERED,
        "provider_message_id": next((id_ for id_ in delivered.values() if id_), None),
        "delivered_at": now,
        "last_error": _truncated(f"not delivered to: {error}") if error else None,
    }


def _recipient_values(
    delivered: Delivered, failures: dict[str, DeliveryResult], *, retrying: bool
) -> dict[str, Any]:
    """Each recipient's standing: who has it, and why each of the others does not."""
    statuses = {
        DeliveryOutcome.SUPPRESSED: RecipientStatus.SUPPRESSED,
        DeliveryOutcome.PERMANENT: RecipientStatus.FAILED,
        DeliveryOutcome.UNKNOWN: RecipientStatus.UNKNOWN,
        # Not sent; tried again only when the notification is queued again.
        DeliveryOutcome.RETRYABLE: RecipientStatus.RETRYING if retrying else RecipientStatus.FAILED,
    }
    undelivered = {
        address: {"status": statuses[result.outcome].value, "error": result.error}
        for address, result in failures.items()
    }
    return {
        "delivered_recipients": delivered or None,
        "undelivered_recipients": undelivered or None,
    }
