"""`RequestModel`: the base of every request body, refusing what no database can store.

PostgreSQL cannot hold a NUL character (`\\u0000`) in text or JSON, nor `NaN` or an
infinite number (JSON's `NaN`, `Infinity`, or `1e400`, which overflows a double) in JSON;
SQLite and MySQL store or mangle them. Refused in every string and number of the body,
however deep in `metadata`, dictionary keys included: the same 422 VALIDATION_ERROR on
every database, before anything is written.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, field_validator
from pydantic_core import PydanticCustomError

NUL = "\x00"


def unstorable_part(value: Any) -> tuple[str, str] | None:
    """(where, why) of the first string or number in `value` no database can store.

    Walked without recursion: `metadata` may be nested deeper than Python's own limit
    (the service refuses that with a code of its own, after this).
    """
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, str):
            if NUL in item:
                return where, "holds the NUL character (\\u0000)"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return where, f"is {item!r}: only finite numbers can be stored"
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and NUL in key:
                    return f"{where}.{key!r}", "is a key holding the NUL character (\\u0000)"
                pending.append((f"{where}.{key}", child))
        elif isinstance(item, list | tuple | set | frozenset):
            pending.extend((f"{where}[{index}]", child) for index, child in enumerate(item))
    return None


class RequestModel(BaseModel):
    """Every request body derives from this (each feature's schemas.py)."""

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        found = unstorable_part(value)
        if found is not None:
            where, why = found
            raise PydanticCustomError(
                "unstorable_value",
                "The value{where} {why}.",
                {"where": f" at {where.lstrip('.')}" if where else "", "why": why},
            )
        return value
