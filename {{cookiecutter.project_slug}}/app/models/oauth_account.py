"""The `oauth_account` table: one row per provider account linked to a user."""

from __future__ import annotations

from fastapi_users_db_sqlalchemy import SQLAlchemyBaseOAuthAccountTable
from sqlalchemy import ForeignKey, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import BaseModel


class OAuthAccount(SQLAlchemyBaseOAuthAccountTable[int], BaseModel):
    __tablename__ = "oauth_account"
    __repr_fields__ = ("id", "oauth_name", "account_id")
    # One provider account belongs to one user, even when two sign-ins race.
    __table_args__ = (UniqueConstraint("oauth_name", "account_id"),)

    # Text, not fastapi-users' String(1024): real Google and Kakao tokens are longer.
    access_token: Mapped[str] = mapped_column(Text, nullable=False)
    refresh_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True, nullable=False
    )
