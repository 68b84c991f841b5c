"""The `notification` table: the outbox that delivery works from.

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

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), nullable=False)
    # Keys are never deleted as rows (a deleted key is marked so): a notification keeps its key.
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id", ondelete="SET NULL"))
    idempotency_key: Mapped[str | None] = mapped_column(String(IDEMPOTENCY_KEY_LENGTH))
    # What the first request asked for, so a key reused for a different request is refused.
    request_hash: Mapped[str | None] = mapped_column(String(REQUEST_HASH_LENGTH))

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES
