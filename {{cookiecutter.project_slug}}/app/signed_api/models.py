"""The signed API's tables: `api_key` (the keys a user's programs sign requests with),
`api_whitelist` (client addresses or CIDR ranges one key accepts) and `signature_nonce`
(nonces already used by signed requests, until they expire)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.orm.base import BaseModel, UTCDateTime, case_sensitive_ascii

ACCESS_KEY_LENGTH = 64
MEMO_LENGTH = 255
STATUS_LENGTH = 16


class ApiKeyStatus(StrEnum):
    ACTIVE = "active"
    STOPPED = "stopped"


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


# "ffff:…:ffff/128" is 43 characters; a little room above that.
IP_ADDRESS_LENGTH = 49


class ApiWhitelist(BaseModel):
    __repr_fields__ = ("id", "api_key_id", "ip_address")
    __table_args__ = (UniqueConstraint("api_key_id", "ip_address"),)

    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_key.id", ondelete="CASCADE"), index=True, nullable=False
    )
    # Normalized: "203.0.113.7" for one address, "10.0.0.0/24" for a range.
    ip_address: Mapped[str] = mapped_column(String(IP_ADDRESS_LENGTH), nullable=False)


NONCE_LENGTH = 64


class SignatureNonce(BaseModel):
    __repr_fields__ = ("id", "api_key_id", "nonce")
    # The unique pair is what refuses a replay, even when two copies race.
    __table_args__ = (UniqueConstraint("api_key_id", "nonce"),)

    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_key.id", ondelete="CASCADE"), nullable=False
    )
    nonce: Mapped[str] = mapped_column(case_sensitive_ascii(NONCE_LENGTH), nullable=False)
    # After this the request's timestamp is out of the window anyway, so the row can go.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True, nullable=False)
