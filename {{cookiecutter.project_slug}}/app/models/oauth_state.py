"""The `oauth_state` table: sign-in states already used at a callback, until they expire."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column

from app.models.api_key import case_sensitive_ascii
from app.models.base import BaseModel, UTCDateTime

JTI_LENGTH = 64


class OAuthState(BaseModel):
    __tablename__ = "oauth_state"
    __repr_fields__ = ("id", "jti")

    # Unique: the INSERT of a state's id is what refuses its second use, even when two
    # copies of one callback race.
    jti: Mapped[str] = mapped_column(case_sensitive_ascii(JTI_LENGTH), unique=True, nullable=False)
    # After this the state's own expiry refuses it anyway, so the row can go.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True, nullable=False)
