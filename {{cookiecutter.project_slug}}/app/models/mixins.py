"""Mixins for `BaseModel`: async CRUD with chainable queries, and a readable repr."""

from __future__ import annotations

from typing import Any


class CRUDMixin:
    """Placeholder: the async CRUD mixin (create, get, filter_by, update, delete)."""


class ReprMixin:
    __repr_fields__: tuple[str, ...] = ("id",)

    def __repr__(self) -> str:
        values: dict[str, Any] = {name: getattr(self, name, None) for name in self.__repr_fields__}
        inner = ", ".join(f"{name}={value!r}" for name, value in values.items())
        return f"<{type(self).__name__} {inner}>"
