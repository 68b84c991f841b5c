"""Test-only models. They live in their own `MetaData`, so the app's `create_all`, its
migrations and its schema checks never see them; the mixin fixtures create and drop them."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, MetaData, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.orm.base import NAMING_CONVENTION, BaseModel


class SampleModel(BaseModel):
    __abstract__ = True
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SampleUser(SampleModel):
    __repr_fields__ = ("id", "email")

    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    nickname: Mapped[str | None] = mapped_column(String(100), default=None)
    phone_number: Mapped[str | None] = mapped_column(String(20), default=None)
    birthday: Mapped[str | None] = mapped_column(String(5), default=None)
    gender: Mapped[str | None] = mapped_column(String(10), default=None)
    points: Mapped[int] = mapped_column(Integer, default=0)

    notes: Mapped[list[SampleNote]] = relationship(back_populates="author", passive_deletes=True)


class SampleNote(SampleModel):
    author_id: Mapped[int] = mapped_column(ForeignKey("sample_user.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))

    author: Mapped[SampleUser] = relationship(back_populates="notes")
