"""What the operator endpoints (/api/v1/admin) answer: any account, key or notification."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict

from app.accounts.mails import without_tokens
from app.core.orm.query import Page
from app.notifications.models import Notification
from app.notifications.schemas import NotificationRead, NotificationSummary
from app.signed_api.models import ApiKeyStatus

ItemT = TypeVar("ItemT")


class AdminPage(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    total: int
    page: int
    size: int
    pages: int

    @classmethod
    def of(cls, found: Page[Any], items: Iterable[ItemT]) -> Self:
        """One page of `found`, its rows given as `items` (already converted)."""
        return cls(
            items=list(items),
            total=found.total,
            page=found.page,
            size=found.size,
            pages=found.pages,
        )


class AdminUserRead(BaseModel):
    """An account as an operator sees it: its flags, no password hash, no profile."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    is_active: bool
    is_verified: bool
    is_superuser: bool
    created_at: datetime


class AdminApiKeyRead(BaseModel):
    """Any user's key: whose it is and its state, never its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    access_key: str
    memo: str | None
    status: ApiKeyStatus
    created_at: datetime
    last_used_at: datetime | None
    deleted_at: datetime | None


class AdminNotificationSummary(NotificationSummary):
    """A notification in an operator's list: the caller's summary, with whose it is (no
    one's, `user_id` null, for the service's own mail)."""

    user_id: int | None
    api_key_id: int | None

    @classmethod
    def of(cls, notification: Notification) -> AdminNotificationSummary:
        return cls.model_validate(_with_owner(NotificationSummary.of(notification), notification))


class AdminNotificationRead(NotificationRead):
    """A notification with its bodies. The service's own mail is shown without the secret
    of its link (an operator has no business with someone's reset token): REDACTED."""

    user_id: int | None
    api_key_id: int | None

    @classmethod
    def of(cls, notification: Notification) -> AdminNotificationRead:
        read = cls.model_validate(_with_owner(NotificationRead.of(notification), notification))
        if notification.user_id is None:
            read.text, read.html = without_tokens(read.text), without_tokens(read.html)
        return read


def _with_owner(read: BaseModel, notification: Notification) -> dict[str, object]:
    return {
        **read.model_dump(),
        "user_id": notification.user_id,
        "api_key_id": notification.api_key_id,
    }
