"""The `signature_nonce` table: nonces already used by signed requests, until they expire."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.api_key import case_sensitive_ascii
from app.models.base import BaseModel, UTCDateTime

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
