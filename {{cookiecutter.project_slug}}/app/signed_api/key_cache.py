"""Recently read API keys, so that a busy key costs no query per signed request.

A key is read from the database (with its whitelist, its owner's flags and its decrypted
secret) at most once per `API_KEY_CACHE_SECONDS` in each process. Whatever changes a key
or a whitelist through this process's database (the owner's routes, the operator's, the
takeover repair) empties the cache at once; a change made by another process (another
API worker, the command line) is honoured within `API_KEY_CACHE_SECONDS`.

Unknown access keys are never cached: guessing cannot fill the cache.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection

from app.core.database import Database
from app.signed_api.models import ApiKey

# Tables whose writes can change what a cached key allows.
KEY_TABLES = ("api_key", "api_whitelist", "user")
# Statements marked with this option leave the cache as it is (a key's `last_used_at`).
KEEPS_KEY_CACHE = "keeps_key_cache"
MAX_CACHED_KEYS = 10_000


@dataclass(frozen=True, slots=True)
class KeyOwner:
    """The flags of a key's account that decide whether it may use the signed API."""

    is_active: bool
    is_verified: bool
    is_superuser: bool


@dataclass(frozen=True, slots=True)
class KnownKey:
    """A key as one read found it; shared by the requests that use it, read only."""

    api_key: ApiKey
    owner: KeyOwner
    whitelist: tuple[str, ...]
    # None when the stored secret cannot be decrypted (the request then fails loudly).
    secret_key: str | None


Load = Callable[[str], Awaitable[KnownKey | None]]


class KeyCache:
    def __init__(self, seconds: float, *, max_keys: int = MAX_CACHED_KEYS) -> None:
        self.seconds = seconds
        self.max_keys = max_keys
        self._keys: OrderedDict[str, tuple[float, KnownKey]] = OrderedDict()

    async def get(self, access_key: str, load: Load) -> KnownKey | None:
        now = time.monotonic()
        cached = self._keys.get(access_key)
        if cached is not None and now - cached[0] < self.seconds:
            return cached[1]
        known = await load(access_key)
        if known is None or self.seconds <= 0:
            self._keys.pop(access_key, None)
            return known
        self._keys[access_key] = (now, known)
        self._keys.move_to_end(access_key)
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
        return known

    @classmethod
    def watching(cls, database: Database, seconds: float) -> KeyCache:
        cache = cls(seconds)
        cache.watch(database)
        return cache

    def clear(self) -> None:
        self._keys.clear()

    def watch(self, database: Database) -> None:
        """Empty the cache whenever this database writes to a key's tables."""

        @event.listens_for(database.engine.sync_engine, "after_cursor_execute")
        def _forget_on_write(
            conn: Connection, cursor: Any, statement: str, params: Any, context: Any, many: bool
        ) -> None:
            if not self._keys or context is None or context.execution_options.get(KEEPS_KEY_CACHE):
                return
            if not (context.isupdate or context.isinsert or context.isdelete):
                return
            written = getattr(getattr(context.compiled, "statement", None), "table", None)
            if getattr(written, "name", None) in KEY_TABLES:
                self.clear()
