"""The accounts' tables: `user` (fastapi-users' columns, our int id and timestamps, the
common profile), `oauth_account` (one row per linked provider account) and `oauth_state`
(sign-in states already used at a callback, until they expire)."""

from __future__ import annotations

from datetime import datetime

from fastapi_users_db_sqlalchemy import SQLAlchemyBaseOAuthAccountTable, SQLAlchemyBaseUserTable
from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.orm.base import BaseModel, UTCDateTime, case_sensitive_ascii

# Column widths; the request schemas enforce the same limits.
NAME_LENGTH = 100
URL_LENGTH = 2048
GENDER_LENGTH = 16
BIRTHDAY_LENGTH = 5  # "MM-DD"
PHONE_LENGTH = 16  # "+" and at most 15 digits (E.164)


class User(SQLAlchemyBaseUserTable[int], BaseModel):
    __tablename__ = "user"
    __repr_fields__ = ("id", "email")

    name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    nickname: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    profile_image_url: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    gender: Mapped[str | None] = mapped_column(String(GENDER_LENGTH))
    birthyear: Mapped[int | None] = mapped_column(Integer)
    birthday: Mapped[str | None] = mapped_column(String(BIRTHDAY_LENGTH))
    phone_number: Mapped[str | None] = mapped_column(String(PHONE_LENGTH))

    # Every sign-in token carries the generation it was issued in; bumping it (logout,
    # a password, email or reset change, the takeover repair) ends every earlier session.
    session_generation: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    # Made by a provider that did not vouch for the email: the address is nobody's proof
    # of anything until it changes (no verification mail, no linking by it).
    email_unproven_from_provider: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )

    # Loaded with the user: fastapi-users reads `oauth_accounts` after loading a user, and
    # an async session cannot lazy-load. "selectin" rather than "joined", so that a plain
    # `select(User)` (or the CRUD mixin) needs no `.unique()`.
    oauth_accounts: Mapped[list[OAuthAccount]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def social_accounts(self) -> list[OAuthAccount]:
        return list(self.oauth_accounts)


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


JTI_LENGTH = 64


class OAuthState(BaseModel):
    __tablename__ = "oauth_state"
    __repr_fields__ = ("id", "jti")

    # Unique: the INSERT of a state's id is what refuses its second use, even when two
    # copies of one callback race.
    jti: Mapped[str] = mapped_column(case_sensitive_ascii(JTI_LENGTH), unique=True, nullable=False)
    # After this the state's own expiry refuses it anyway, so the row can go.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True, nullable=False)
