"""The `user` table: fastapi-users' columns, our int id and timestamps, the common profile."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi_users_db_sqlalchemy import SQLAlchemyBaseUserTable
from sqlalchemy import Integer, String
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

    # Loaded with the user: fastapi-users reads `oauth_accounts` after loading a user, and
    # an async session cannot lazy-load. "selectin" rather than "joined", so that a plain
    # `select(User)` (or the CRUD mixin) needs no `.unique()`.
    oauth_accounts: Mapped[list[OAuthAccount]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def social_accounts(self) -> list[OAuthAccount]:
        return list(self.oauth_accounts)
