"""The `user` table: fastapi-users' columns, our int id and timestamps, the common profile."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi_users_db_sqlalchemy import SQLAlchemyBaseUserTable
from sqlalchemy import Boolean, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import BaseModel

if TYPE_CHECKING:
    from app.models.oauth_account import OAuthAccount

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
