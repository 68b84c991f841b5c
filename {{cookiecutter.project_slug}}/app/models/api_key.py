"""The `api_key` table: the keys a user's programs sign requests with."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeEngine

from app.models.base import BaseModel, UTCDateTime

if TYPE_CHECKING:
    from app.models.api_whitelist import ApiWhitelist

ACCESS_KEY_LENGTH = 64
MEMO_LENGTH = 255
STATUS_LENGTH = 16


class ApiKeyStatus(StrEnum):
    ACTIVE = "active"
    STOPPED = "stopped"


def case_sensitive_ascii(length: int) -> TypeEngine[Any]:
    """A string column compared byte for byte: MySQL's default collations ignore case,
    which would let `AbC…` find `abc…` and make two random tokens collide."""
    return String(length).with_variant(
        mysql.VARCHAR(length, charset="ascii", collation="ascii_bin"), "mysql", "mariadb"
    )


class ApiKey(BaseModel):
    __repr_fields__ = ("id", "user_id", "access_key", "status")

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True, nullable=False
    )
    access_key: Mapped[str] = mapped_column(
        case_sensitive_ascii(ACCESS_KEY_LENGTH), unique=True, nullable=False
    )
    # A Fernet token, never the secret itself; emptied when the key is deleted.
    encrypted_secret: Mapped[str] = mapped_column(Text, nullable=False)
    memo: Mapped[str | None] = mapped_column(String(MEMO_LENGTH))
    status: Mapped[str] = mapped_column(
        String(STATUS_LENGTH), default=ApiKeyStatus.ACTIVE.value, nullable=False
    )
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Deleted keys stay as rows: requests signed with them are told the key is inactive
    # (not unknown), and notifications sent with them keep their owner.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # Selectin: every reader of a key (the list endpoint, the request verifier) needs it.
    whitelist: Mapped[list[ApiWhitelist]] = relationship(
        lazy="selectin",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ApiWhitelist.id",
    )

    @property
    def is_active(self) -> bool:
        return self.deleted_at is None and self.status == ApiKeyStatus.ACTIVE
