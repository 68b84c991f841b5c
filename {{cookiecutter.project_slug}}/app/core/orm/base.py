"""`Base` (the declarative base) and `BaseModel` (what every table inherits)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, Integer, MetaData, String
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import async_scoped_session
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from app.core.orm.mixins import CRUDMixin, ReprMixin

# Stable constraint names, so that migrations can name what they drop.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite and MySQL store them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        # MySQL's DATETIME drops microseconds unless asked: the stored value would differ
        # from the one the object holds after `create`.
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pass an aware one (UTC)")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def table_name_for(class_name: str) -> str:
    """`ApiWhitelist` → `api_whitelist`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", class_name).lower()


def case_sensitive_ascii(length: int) -> TypeEngine[Any]:
    """A string column compared byte for byte: MySQL's default collations ignore case,
    which would let `AbC…` find `abc…` and make two random tokens collide."""
    return String(length).with_variant(
        mysql.VARCHAR(length, charset="ascii", collation="ascii_bin"), "mysql", "mariadb"
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Set by `Database.bind_models()`: the session the CRUD mixin uses when none is passed.
    scoped_session: ClassVar[async_scoped_session[Any] | None] = None


class BaseModel(CRUDMixin, ReprMixin, Base):
    __abstract__ = True
    # Server-generated values come back with the INSERT/UPDATE (RETURNING where the
    # database has it), so reading them after `create` costs no extra SELECT.
    __mapper_args__: Any = {"eager_defaults": True}  # noqa: RUF012 - declared by SQLAlchemy

    @declared_attr.directive
    def __tablename__(cls) -> str:
        return table_name_for(cls.__name__)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )
