"""Chainable, validated queries for `BaseModel`: `User.filter_by(...).order_by(...).all()`.

Filters are `column__operator=value` keywords (`email__like="%@x.com"`); a bare
`column=value` means `eq`. Unknown columns and operators raise `InvalidQueryError`
(a 400 when it reaches a route) instead of being ignored.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.core.errors import AppError, ConflictError

ModelT = TypeVar("ModelT")

# The page size `paginate` accepts when the caller does not say otherwise.
DEFAULT_MAX_PAGE_SIZE = 100


class InvalidQueryError(AppError):
    """A filter, ordering or value names a column or operator the model does not have."""

    status_code = 400
    code = "INVALID_QUERY"


class MultipleResultsError(ConflictError):
    """A lookup that must match one row matched several."""

    code = "MULTIPLE_RESULTS"


class SessionNotBoundError(RuntimeError):
    """No session was passed and `Database.bind_models()` has not run: a wiring mistake."""


def _is_collection(value: Any) -> bool:
    return isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping)


def _collection(value: Any) -> list[Any]:
    if not _is_collection(value):
        raise ValueError(f"takes a list of values, got {value!r}")
    return list(value)


def _in(column: Any, value: Any) -> ColumnElement[bool]:
    result: ColumnElement[bool] = column.in_(_collection(value))
    return result


def _not_in(column: Any, value: Any) -> ColumnElement[bool]:
    result: ColumnElement[bool] = column.not_in(_collection(value))
    return result


def _between(column: Any, value: Any) -> ColumnElement[bool]:
    bounds = _collection(value)
    if len(bounds) != 2:
        raise ValueError(f"takes two bounds [low, high], got {value!r}")
    result: ColumnElement[bool] = column.between(bounds[0], bounds[1])
    return result


def _is_null(column: Any, value: Any) -> ColumnElement[bool]:
    if not isinstance(value, bool):
        raise ValueError(f"takes True or False, got {value!r}")
    result: ColumnElement[bool] = column.is_(None) if value else column.is_not(None)
    return result


# `like`/`ilike` take a pattern as written; `startswith`, `endswith` and `contains` take
# plain text, so a `%` or `_` in it matches itself (autoescape).
OPERATORS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
    "in": _in,
    "notin": _not_in,
    "like": lambda column, value: column.like(value),
    "ilike": lambda column, value: column.ilike(value),
    "startswith": lambda column, value: column.startswith(value, autoescape=True),
    "endswith": lambda column, value: column.endswith(value, autoescape=True),
    "contains": lambda column, value: column.contains(value, autoescape=True),
    "isnull": _is_null,
    "between": _between,
}


@dataclass(frozen=True, slots=True)
class ModelColumns:
    """What a model lets callers name, computed once per model class."""

    model_name: str
    columns: Mapping[str, InstrumentedAttribute[Any]]
    writable: frozenset[str]
    primary_key: InstrumentedAttribute[Any] | None

    def column(self, name: str) -> InstrumentedAttribute[Any]:
        try:
            return self.columns[name]
        except KeyError:
            raise self._unknown(name, sorted(self.columns)) from None

    def check_writable(self, names: Iterable[str]) -> None:
        for name in names:
            if name not in self.writable:
                raise self._unknown(name, sorted(self.writable))

    def _unknown(self, name: str, valid: list[str]) -> InvalidQueryError:
        guess = get_close_matches(name, valid, n=1)
        hint = f" Did you mean {guess[0]!r}?" if guess else ""
        return InvalidQueryError(
            f"{self.model_name} has no column {name!r}; valid columns: {', '.join(valid)}.{hint}",
            detail={"model": self.model_name, "column": name, "valid": valid},
        )


_columns_cache: dict[type[Any], ModelColumns] = {}


def columns_of(model: type[Any]) -> ModelColumns:
    cached = _columns_cache.get(model)
    if cached is not None:
        return cached
    mapper = inspect(model)
    columns = {attr.key: getattr(model, attr.key) for attr in mapper.column_attrs}
    relationships = {relationship.key for relationship in mapper.relationships}
    primary_key = None
    if len(mapper.primary_key) == 1:
        primary_key = columns[mapper.get_property_by_column(mapper.primary_key[0]).key]
    info = ModelColumns(
        model_name=model.__name__,
        columns=columns,
        writable=frozenset(columns) | relationships,
        primary_key=primary_key,
    )
    _columns_cache[model] = info
    return info


def criteria_for(model: type[Any], filters: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """`{"email__like": "%@x.com", "id": 3}` → SQL criteria, refusing unknown names."""
    info = columns_of(model)
    criteria: list[ColumnElement[bool]] = []
    for key, value in filters.items():
        name, separator, op = key.rpartition("__")
        if not separator:
            name, op = key, "eq"
        column = info.column(name)
        build = OPERATORS.get(op)
        if build is None:
            raise InvalidQueryError(
                f"{info.model_name}.{name}: unknown operator {op!r}; "
                f"valid operators: {', '.join(OPERATORS)}.",
                detail={
                    "model": info.model_name,
                    "column": name,
                    "operator": op,
                    "valid": list(OPERATORS),
                },
            )
        try:
            criteria.append(build(column, value))
        except ValueError as exc:
            raise InvalidQueryError(
                f"{info.model_name}.{name}__{op}: {exc}",
                detail={"model": info.model_name, "column": name, "operator": op},
            ) from None
    return criteria


# An ordering as the caller named it: (attribute name, descending).
Ordering = tuple[str, bool]


def ordering_for(model: type[Any], names: Iterable[str]) -> list[Ordering]:
    """`("-created_at", "id")` → `[("created_at", True), ("id", False)]`, refusing unknown names."""
    info = columns_of(model)
    ordering: list[Ordering] = []
    for raw in names:
        name = raw.lstrip("+-")
        info.column(name)
        ordering.append((name, raw.startswith("-")))
    return ordering


def bound_session(model: type[Any]) -> AsyncSession:
    """The session of the current task, from the scoped session `bind_models()` installed."""
    scoped = getattr(model, "scoped_session", None)
    if scoped is None:
        raise SessionNotBoundError(
            f"{model.__name__}: no session was passed and none is bound. Pass session=..., "
            "or call Database.bind_models() at startup (create_app's lifespan does)."
        )
    session: AsyncSession = scoped()
    return session


@dataclass(frozen=True, slots=True)
class Page(Generic[ModelT]):
    """One page of results. `pages` is 0 when nothing matches."""

    items: list[ModelT]
    total: int
    page: int
    size: int
    pages: int

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


class Query(Generic[ModelT]):
    """An immutable query: every method returns a new one; `await` a terminal to run it.

    The session is looked up when a terminal runs, so a query built in one place can run
    in another request's task.
    """

    __slots__ = ("_criteria", "_limit", "_model", "_offset", "_order", "_session")

    def __init__(
        self,
        model: type[ModelT],
        *,
        session: AsyncSession | None = None,
        criteria: Sequence[ColumnElement[bool]] = (),
        order: Sequence[Ordering] = (),
        limit: int | None = None,
        offset: int | None = None,
    ) -> None:
        self._model = model
        self._session = session
        self._criteria = tuple(criteria)
        self._order = tuple(order)
        self._limit = limit
        self._offset = offset

    def _copy(self) -> Query[ModelT]:
        clone: Query[ModelT] = Query.__new__(Query)
        clone._model = self._model
        clone._session = self._session
        clone._criteria = self._criteria
        clone._order = self._order
        clone._limit = self._limit
        clone._offset = self._offset
        return clone

    # -- building --------------------------------------------------------------------

    def filter_by(self, **filters: Any) -> Query[ModelT]:
        """Add `column__operator=value` filters (AND)."""
        return self.where(*criteria_for(self._model, filters))

    def where(self, *criteria: ColumnElement[bool]) -> Query[ModelT]:
        """Add SQLAlchemy criteria, for what keywords cannot say (e.g. `or_(...)`)."""
        clone = self._copy()
        clone._criteria = self._criteria + criteria
        return clone

    def order_by(self, *columns: str) -> Query[ModelT]:
        """Append orderings: `"name"` ascending, `"-name"` descending."""
        clone = self._copy()
        clone._order = self._order + tuple(ordering_for(self._model, columns))
        return clone

    def limit(self, count: int | None) -> Query[ModelT]:
        clone = self._copy()
        clone._limit = self._non_negative("limit", count)
        return clone

    def offset(self, count: int | None) -> Query[ModelT]:
        clone = self._copy()
        clone._offset = self._non_negative("offset", count)
        return clone

    def with_session(self, session: AsyncSession | None) -> Query[ModelT]:
        clone = self._copy()
        clone._session = session
        return clone

    @property
    def statement(self) -> Select[tuple[ModelT]]:
        """The SELECT this query runs, to extend with plain SQLAlchemy."""
        statement = select(self._model)
        if self._criteria:
            statement = statement.where(*self._criteria)
        if self._order:
            columns = columns_of(self._model).columns
            statement = statement.order_by(
                *(
                    columns[name].desc() if descending else columns[name]
                    for name, descending in self._order
                )
            )
        if self._limit is not None:
            statement = statement.limit(self._limit)
        if self._offset is not None:
            statement = statement.offset(self._offset)
        return statement

    # -- running ---------------------------------------------------------------------

    async def all(self) -> list[ModelT]:
        result = await self._get_session().scalars(self.statement)
        return list(result.all())

    async def first(self) -> ModelT | None:
        if self._limit == 0:
            return None
        result = await self._get_session().scalars(self.statement.limit(1))
        return result.first()

    async def one_or_none(self) -> ModelT | None:
        """The one matching row, None when there is none; `MultipleResultsError` if several."""
        fetch = 2 if self._limit is None else min(self._limit, 2)
        rows = (await self._get_session().scalars(self.statement.limit(fetch))).all()
        if len(rows) > 1:
            name = self._model.__name__
            raise MultipleResultsError(
                f"More than one {name} matches, where one was expected.",
                detail={"model": name},
            )
        return rows[0] if rows else None

    async def count(self) -> int:
        """How many rows match (within `limit`/`offset` when they are set)."""
        if self._limit is None and self._offset is None:
            statement = select(func.count()).select_from(self._model)
            if self._criteria:
                statement = statement.where(*self._criteria)
        else:
            statement = select(func.count()).select_from(self.statement.subquery())
        total = await self._get_session().scalar(statement)
        return int(total or 0)

    async def exists(self) -> bool:
        statement = select(self._primary_key()).select_from(self._model)
        if self._criteria:
            statement = statement.where(*self._criteria)
        if self._offset is not None:
            statement = statement.offset(self._offset)
        if self._limit == 0:
            return False
        found = await self._get_session().scalar(statement.limit(1))
        return found is not None

    async def paginate(
        self, page: int, size: int, *, max_size: int = DEFAULT_MAX_PAGE_SIZE
    ) -> Page[ModelT]:
        """Page `page` (from 1) of `size` rows; ties are broken by primary key so pages
        never overlap. Replaces any `limit`/`offset` set earlier."""
        name = self._model.__name__
        if page < 1:
            raise InvalidQueryError(
                f"{name}: page must be 1 or more, got {page}.", detail={"page": page}
            )
        if not 1 <= size <= max_size:
            raise InvalidQueryError(
                f"{name}: size must be between 1 and {max_size}, got {size}.",
                detail={"size": size, "max_size": max_size},
            )
        unbounded = self._copy()
        unbounded._limit = unbounded._offset = None
        total = await unbounded.count()
        start = (page - 1) * size
        items: list[ModelT] = []
        if start < total:
            order = unbounded._order
            primary_key = self._primary_key().key
            if all(name != primary_key for name, _ in order):
                order = (*order, (primary_key, False))
            page_query = unbounded._copy()
            page_query._order, page_query._limit, page_query._offset = order, size, start
            items = await page_query.all()
        return Page(items=items, total=total, page=page, size=size, pages=-(-total // size))

    # -- helpers ---------------------------------------------------------------------

    def _get_session(self) -> AsyncSession:
        return self._session if self._session is not None else bound_session(self._model)

    def _primary_key(self) -> InstrumentedAttribute[Any]:
        primary_key = columns_of(self._model).primary_key
        if primary_key is None:
            raise InvalidQueryError(f"{self._model.__name__} has no single-column primary key.")
        return primary_key

    def _non_negative(self, what: str, count: int | None) -> int | None:
        if count is not None and count < 0:
            raise InvalidQueryError(
                f"{self._model.__name__}: {what} must be 0 or more, got {count}.",
                detail={what: count},
            )
        return count
