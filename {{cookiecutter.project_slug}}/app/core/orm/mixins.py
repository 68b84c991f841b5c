"""Mixins for `BaseModel`: async CRUD with chainable queries, and a readable repr.

Every method takes an optional keyword-only `session=`:

- passed: the method flushes; the transaction is the caller's.
- not passed: class methods use the current task's session from `Base.scoped_session`
  (installed by `Database.bind_models()`); `update`/`delete` first use the session the
  object is attached to. `SessionNotBoundError` when there is none.

Writes only flush unless `commit=True`, which ends the transaction of the session used:
commit on success, rollback on failure (so the session stays usable). A column named
`session` or `commit` cannot be set through these keywords; set such an attribute directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self, overload

from sqlalchemy.ext.asyncio import AsyncSession, async_object_session

from app.core.errors import NotFoundError
from app.core.orm.query import (
    InvalidQueryError,
    MultipleResultsError,
    Page,
    Query,
    SessionNotBoundError,
    bound_session,
    columns_of,
    criteria_for,
)

__all__ = [
    "CRUDMixin",
    "InvalidQueryError",
    "MultipleResultsError",
    "Page",
    "Query",
    "ReprMixin",
    "SessionNotBoundError",
]


async def _finish(session: AsyncSession, commit: bool) -> None:
    try:
        if commit:
            await session.commit()
        else:
            await session.flush()
    except Exception:
        if commit:
            await session.rollback()
        raise


def _describe(filters: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in filters.items())


class CRUDMixin:
    """Async create / get / filter_by / update / delete for `BaseModel` subclasses."""

    if TYPE_CHECKING:
        # Provided by the declarative base the mixin is combined with.
        def __init__(self, **values: Any) -> None: ...

    @classmethod
    async def create(
        cls, *, session: AsyncSession | None = None, commit: bool = False, **values: Any
    ) -> Self:
        """Insert a row. Its id and defaults (created_at...) are readable without a query."""
        columns_of(cls).check_writable(values)
        instance = cls(**values)
        if session is None:
            session = bound_session(cls)
        session.add(instance)
        await _finish(session, commit)
        return instance

    @overload
    @classmethod
    async def get(
        cls, ident: int, /, *, session: AsyncSession | None = None, **filters: Any
    ) -> Self: ...

    @overload
    @classmethod
    async def get(
        cls, ident: Sequence[int], /, *, session: AsyncSession | None = None, **filters: Any
    ) -> list[Self]: ...

    @overload
    @classmethod
    async def get(cls, /, *, session: AsyncSession | None = None, **filters: Any) -> Self: ...

    @classmethod
    async def get(
        cls, ident: Any = None, /, *, session: AsyncSession | None = None, **filters: Any
    ) -> Self | list[Self]:
        """One row by primary key, several by a list of keys (in that order), or one by
        unique keywords (`get(email=...)`). `NotFoundError` when a row is missing,
        `MultipleResultsError` when keywords match several."""
        if ident is None and not filters:
            raise InvalidQueryError(
                f"{cls.__name__}.get() needs an id, a list of ids or keyword filters."
            )
        if session is None:
            session = bound_session(cls)
        if isinstance(ident, Sequence) and not isinstance(ident, str | bytes):
            return await cls._get_many(list(ident), session, filters)
        if ident is not None and not filters:
            found = await session.get(cls, ident)
        else:
            if ident is not None:
                filters = {cls._primary_key_name(): ident, **filters}
            found = await Query(cls, session=session).filter_by(**filters).one_or_none()
        if found is None:
            raise NotFoundError(
                f"{cls.__name__} not found ({_describe(filters or {'id': ident})}).",
                detail={"model": cls.__name__, "criteria": filters or {"id": ident}},
            )
        return found

    @classmethod
    async def _get_many(
        cls, idents: list[Any], session: AsyncSession, filters: dict[str, Any]
    ) -> list[Self]:
        if not idents:
            return []
        key = cls._primary_key_name()
        query = Query(cls, session=session).filter_by(**{f"{key}__in": idents}, **filters)
        rows = await query.all()
        by_key = {getattr(row, key): row for row in rows}
        missing = [ident for ident in dict.fromkeys(idents) if ident not in by_key]
        if missing:
            raise NotFoundError(
                f"{cls.__name__} not found ({key} {', '.join(map(str, missing))}).",
                detail={"model": cls.__name__, "missing": missing},
            )
        return [by_key[ident] for ident in idents]

    @classmethod
    def filter_by(cls, *, session: AsyncSession | None = None, **filters: Any) -> Query[Self]:
        """A chainable query: `await User.filter_by(age__ge=18).order_by("-id").all()`."""
        return Query(cls, session=session, criteria=criteria_for(cls, filters))

    async def update(
        self, *, session: AsyncSession | None = None, commit: bool = False, **values: Any
    ) -> Self:
        """Set attributes and write them; `updated_at` moves forward."""
        columns_of(type(self)).check_writable(values)
        session = self._session_for_write(session)
        for name, value in values.items():
            setattr(self, name, value)
        await _finish(session, commit)
        return self

    async def delete(self, *, session: AsyncSession | None = None, commit: bool = False) -> None:
        session = self._session_for_write(session)
        await session.delete(self)
        await _finish(session, commit)

    def _session_for_write(self, session: AsyncSession | None) -> AsyncSession:
        # An object attached to another session than the one passed is refused by
        # SQLAlchemy (`session.add`): expunge it there first, or pass that session.
        attached = async_object_session(self)
        if session is None:
            session = attached if attached is not None else bound_session(type(self))
        if attached is not session:
            session.add(self)
        return session

    @classmethod
    def _primary_key_name(cls) -> str:
        primary_key = columns_of(cls).primary_key
        if primary_key is None:
            raise InvalidQueryError(f"{cls.__name__} has no single-column primary key.")
        return primary_key.key


class ReprMixin:
    __repr_fields__: tuple[str, ...] = ("id",)

    def __repr__(self) -> str:
        # Loaded values only: reading an expired attribute would query (and fail outside
        # an await), which a repr must never do.
        values: dict[str, Any] = {name: vars(self).get(name) for name in self.__repr_fields__}
        inner = ", ".join(f"{name}={value!r}" for name, value in values.items())
        return f"<{type(self).__name__} {inner}>"
