"""The `notification` table, the outbox that delivery works from; and the suppression list.

A row is written in the request that accepts it and is the only record of the work: the
broker merely carries "deliver row N now". Delivery moves a row through
`queued → sending → delivered`, back to `queued` for a retry, or to `failed`; or to
`unknown` when the provider may have sent it without saying so (never retried on its own).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.orm.base import BaseModel, UTCDateTime

CHANNEL_LENGTH = 32
SUBJECT_LENGTH = 998  # the longest header line RFC 5322 allows
PROVIDER_MESSAGE_ID_LENGTH = 255
IDEMPOTENCY_KEY_LENGTH = 255
REQUEST_HASH_LENGTH = 64  # hex SHA-256
LAST_ERROR_LENGTH = 2000


class NotificationStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"
    # The provider may or may not have sent it (its answer never came): not retried, so
    # that no one gets it twice; an operator decides. `last_error` says what happened.
    UNKNOWN = "unknown"


class RecipientStatus(StrEnum):
    """Where one recipient of a notification stands."""

    PENDING = "pending"  # not attempted yet, or its attempt is under way
    DELIVERED = "delivered"
    SUPPRESSED = "suppressed"  # on the suppression list: not sent, and not to be
    RETRYING = "retrying"  # nothing sent yet; tried again later
    FAILED = "failed"
    UNKNOWN = "unknown"  # the provider may have it; not sent again on its own


# Statuses delivery never leaves on its own.
FINISHED_STATUSES = frozenset(
    {NotificationStatus.DELIVERED, NotificationStatus.FAILED, NotificationStatus.UNKNOWN}
)


class Notification(BaseModel):
    __repr_fields__ = ("id", "channel", "status", "attempts")
    __table_args__ = (
        # A repeated request with the same Idempotency-Key finds the first one, even when
        # the two race: the second insert fails on this constraint.
        UniqueConstraint("api_key_id", "idempotency_key"),
        # The dispatcher's question: which rows are due?
        Index("ix_notification_status_next_attempt_at", "status", "next_attempt_at"),
        # A caller's list, newest first.
        Index("ix_notification_user_id_id", "user_id", "id"),
    )

    channel: Mapped[str] = mapped_column(String(CHANNEL_LENGTH), nullable=False)
    recipients: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    subject: Mapped[str | None] = mapped_column(String(SUBJECT_LENGTH))
    text: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    # `metadata` is taken on declarative classes (the table's MetaData): the attribute
    # has another name, the column and the API field keep `metadata`.
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSON, nullable=False, default=dict
    )

    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default=NotificationStatus.QUEUED.value
    )
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(PROVIDER_MESSAGE_ID_LENGTH))
    # Queued: not to be attempted before this (a retry's backoff); None = at once.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Who answers for the row until then: for `sending`, the worker sending it (a row past
    # its lease belongs to a crashed worker); for `queued`, the broker message that was
    # sent for it (past the lease, the message is taken as lost and sent again).
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Each recipient is sent a message of its own. Those that have it, address → the
    # provider's message id (or None): a retry sends only to the others, never again to them.
    delivered_recipients: Mapped[dict[str, str | None] | None] = mapped_column(
        JSON(none_as_null=True)
    )
    # The others, as the last attempt left them: address → {"status": a RecipientStatus
    # (suppressed, failed, retrying, unknown), "error": why}. Not named in either = pending.
    undelivered_recipients: Mapped[dict[str, dict[str, str | None]] | None] = mapped_column(
        JSON(none_as_null=True)
    )

    # The account whose API key sent it; None for the service's own mail (account mails),
    # which no account's API lists.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    # Keys are never deleted as rows (a deleted key is marked so): a notification keeps its key.
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id", ondelete="SET NULL"))
    idempotency_key: Mapped[str | None] = mapped_column(String(IDEMPOTENCY_KEY_LENGTH))
    # What the first request asked for, so a key reused for a different request is refused.
    request_hash: Mapped[str | None] = mapped_column(String(REQUEST_HASH_LENGTH))


ADDRESS_LENGTH = 320  # the longest email address (64 + @ + 255)
SUPPRESSION_REASON_LENGTH = 16
SUPPRESSION_DETAIL_LENGTH = 500


class SuppressedRecipient(BaseModel):
    """An address delivery skips on a channel: it bounced for good, or its owner complained.

    Added by whatever hears of it (e.g. the SES plugin's feedback endpoint); delivery
    reports such a recipient as `suppressed` and sends it nothing. Addresses are stored
    lower-case, so that a differently written address is the same one.
    """

    __repr_fields__ = ("id", "channel", "address", "reason")
    __table_args__ = (UniqueConstraint("channel", "address"),)

    channel: Mapped[str] = mapped_column(String(CHANNEL_LENGTH), nullable=False)
    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), nullable=False)
    # A SuppressionReason: "bounce" or "complaint".
    reason: Mapped[str] = mapped_column(String(SUPPRESSION_REASON_LENGTH), nullable=False)
    # Where it came from: the provider's diagnostic, its message id, the notification.
    detail: Mapped[str | None] = mapped_column(String(SUPPRESSION_DETAIL_LENGTH))
