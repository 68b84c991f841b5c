"""Recently read API keys, so that a busy key costs no query per signed request.

A key is read from the database (with its whitelist, its owner's flags and its decrypted
secret) at most once per `API_KEY_CACHE_SECONDS` in each process (`WatchedCache`: whatever
changes a key, a whitelist or an account through this process empties it at once; a
change made by another process is honoured within `API_KEY_CACHE_SECONDS`).

Unknown access keys are never cached: guessing cannot fill the cache.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.database import Database
from app.core.watched_cache import WatchedCache
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


KeyCache = WatchedCache[str, KnownKey]


def watched_key_cache(database: Database, seconds: float) -> KeyCache:
    cache = KeyCache(
        seconds, KEY_TABLES, max_entries=MAX_CACHED_KEYS, unless_option=KEEPS_KEY_CACHE
    )
    cache.watch(database)
    return cache
