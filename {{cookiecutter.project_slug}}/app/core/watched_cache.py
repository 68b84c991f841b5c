"""Rows read on a hot path, kept a short while, forgotten as soon as this process writes them.

A value is read from the database at most once per `seconds` in each process. A write to
one of the watched tables through this process's engine empties the cache when the
statement runs and again when its transaction ends; a read that overlapped such a write is
not kept (it may have seen the row from before the commit). A change made by another
process (another API worker, the command line) is honoured within `seconds`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar
from weakref import WeakSet

from sqlalchemy import event
from sqlalchemy.engine import Connection

from app.core.database import Database

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


class WatchedCache(Generic[Key, Value]):
    def __init__(
        self,
        seconds: float,
        tables: tuple[str, ...],
        *,
        max_entries: int,
        unless_option: str | None = None,
    ) -> None:
        """`unless_option`: statements carrying this execution option write without emptying
        the cache (a column nobody reads through it, such as a key's `last_used_at`)."""
        self.seconds = seconds
        self.tables = frozenset(tables)
        self.max_entries = max_entries
        self.unless_option = unless_option
        self._entries: OrderedDict[Key, tuple[float, Value]] = OrderedDict()
        # Moves on every write to a watched table: a read that started before it is not kept.
        self._writes = 0
        # Connections that wrote a watched table in their open transaction (held weakly;
        # not in `Connection.info`, which a connection that lost its server cannot reach).
        self._writing: WeakSet[Connection] = WeakSet()

    async def get(self, key: Key, load: Callable[[Key], Awaitable[Value | None]]) -> Value | None:
        now = time.monotonic()
        cached = self._entries.get(key)
        if cached is not None and now - cached[0] < self.seconds:
            return cached[1]
        writes_before = self._writes
        value = await load(key)
        # Nothing is kept of a miss: guessing keys cannot fill the cache.
        if value is None or self.seconds <= 0 or writes_before != self._writes:
            self._entries.pop(key, None)
            return value
        self._entries[key] = (now, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        self._writes += 1
        self._entries.clear()

    def watch(self, database: Database) -> None:
        """Empty the cache whenever this database writes to a watched table, and again when
        that write's transaction commits or rolls back."""
        sync_engine = database.engine.sync_engine

        @event.listens_for(sync_engine, "after_cursor_execute")
        def _forget_on_write(
            conn: Connection, cursor: Any, statement: str, params: Any, context: Any, many: bool
        ) -> None:
            if context is None or not (context.isupdate or context.isinsert or context.isdelete):
                return
            if self.unless_option and context.execution_options.get(self.unless_option):
                return
            written = getattr(getattr(context.compiled, "statement", None), "table", None)
            if getattr(written, "name", None) in self.tables:
                self._writing.add(conn)
                self.clear()

        def _forget_at_end(conn: Connection) -> None:
            if conn in self._writing:
                self._writing.discard(conn)
                self.clear()

        event.listen(sync_engine, "commit", _forget_at_end)
        event.listen(sync_engine, "rollback", _forget_at_end)
