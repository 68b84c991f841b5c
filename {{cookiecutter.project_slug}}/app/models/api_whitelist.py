"""The `api_whitelist` table: client addresses (or CIDR ranges) one API key accepts."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import BaseModel

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
