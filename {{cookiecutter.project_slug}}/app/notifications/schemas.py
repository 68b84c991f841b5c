"""Notifications as the signed API reads and writes them (CONTRACT.md, "Notification request")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from app.core.schemas import RequestModel
from app.notifications.models import (
    CHANNEL_LENGTH,
    SUBJECT_LENGTH,
    Notification,
    NotificationStatus,
    RecipientStatus,
)

MAX_RECIPIENTS = 50
# Levels of nesting `metadata` may have: enough for any real use, and far below the depth
# at which serializing it (to fingerprint, store or answer it) would fail.
MAX_METADATA_DEPTH = 32
# What ends a line (str.splitlines' list). A subject or an address holding one could add
# mail headers of the caller's own (a Bcc:); refused when the notification is accepted.
LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def one_line(value: str) -> str:
    if not LINE_BREAKS.isdisjoint(value):
        raise ValueError("must be one line: no CR, LF or other line break")
    return value


OneLine = Annotated[str, AfterValidator(one_line)]


class NotificationCreate(RequestModel):
    channel: str = Field(
        min_length=1,
        max_length=CHANNEL_LENGTH,
        description="A notifier channel this service has, e.g. `email`.",
        examples=["email"],
    )
    # Counted by the service, not here, so that 0 and 51 get codes of their own.
    to: list[OneLine] = Field(
        description=f"1 to {MAX_RECIPIENTS} addresses that fit the channel.",
        json_schema_extra={"minItems": 1, "maxItems": MAX_RECIPIENTS},
        examples=[["a@example.com"]],
    )
    subject: OneLine | None = Field(default=None, max_length=SUBJECT_LENGTH)
    text: str | None = Field(default=None, description="Plain-text body.")
    html: str | None = Field(default=None, description="HTML body, where the channel has one.")
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description=f"Any JSON object, nested at most {MAX_METADATA_DEPTH} levels deep; "
        "kept with the notification.",
    )


class NotificationSummary(BaseModel):
    """A notification without its bodies: what a list shows."""

    id: int
    channel: str
    to: list[str]
    subject: str | None
    status: NotificationStatus
    attempts: int
    last_error: str | None
    provider_message_id: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def of(cls, notification: Notification) -> NotificationSummary:
        return cls.model_validate(_fields(notification, cls))


class RecipientOutcome(BaseModel):
    """Where one recipient stands: each is sent a message of its own."""

    address: str
    status: RecipientStatus = Field(
        description="`pending` (not attempted yet), `delivered`, `suppressed` (on the "
        "suppression list after a hard bounce or a complaint: not sent), `retrying`, "
        "`failed` or `unknown` (the provider may have it; not sent again on its own)."
    )
    provider_message_id: str | None = None
    error: str | None = None


class NotificationRead(NotificationSummary):
    text: str | None
    html: str | None
    recipients: list[RecipientOutcome] = Field(
        description="Each recipient's outcome, in the order of `to`."
    )

    @classmethod
    def of(cls, notification: Notification) -> NotificationRead:
        return cls.model_validate(
            {**_fields(notification, cls), "recipients": recipient_outcomes(notification)}
        )


def recipient_outcomes(notification: Notification) -> list[RecipientOutcome]:
    delivered = notification.delivered_recipients or {}
    undelivered = notification.undelivered_recipients or {}
    outcomes = []
    for address in dict.fromkeys(notification.recipients):  # an address named twice is one
        if address in delivered:
            outcome = RecipientOutcome(
                address=address,
                status=RecipientStatus.DELIVERED,
                provider_message_id=delivered[address],
            )
        elif address in undelivered:
            outcome = RecipientOutcome(
                address=address,
                status=RecipientStatus(undelivered[address]["status"] or "pending"),
                error=undelivered[address].get("error"),
            )
        else:
            outcome = RecipientOutcome(address=address, status=RecipientStatus.PENDING)
        outcomes.append(outcome)
    return outcomes


def _fields(notification: Notification, schema: type[BaseModel]) -> dict[str, Any]:
    renamed = {"to": notification.recipients, "metadata": notification.metadata_}
    return {
        name: renamed[name] if name in renamed else getattr(notification, name)
        for name in schema.model_fields
        if name != "recipients"
    }


class NotificationPage(BaseModel):
    items: list[NotificationSummary]
    total: int
    page: int
    size: int
    pages: int
