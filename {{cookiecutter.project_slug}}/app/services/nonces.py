"""Single-use nonces for signed requests: in the database, or in Redis when REDIS_URL is set.

A nonce is remembered until its request's timestamp leaves the accepted window; after
that the timestamp check alone refuses a replay, so the nonce can be forgotten.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from app import PROJECT_SLUG
from app.core.config import Settings
from app.core.database import Database
from app.core.errors import ServiceUnavailableError
from app.models.api_key import ApiKey
from app.models.signature_nonce import SignatureNonce

logger = logging.getLogger(__name__)

# Expired rows are deleted at most this often per process, after a request, not on a timer.
CLEANUP_INTERVAL_SECONDS = 60.0
REDIS_KEY_PREFIX = f"{PROJECT_SLUG}:signature-nonce:"
REDIS_TIMEOUT_SECONDS = 2.0


class NonceStore(Protocol):
    async def use(self, api_key: ApiKey, nonce: str, expires_at: float) -> bool:
        """Record `nonce` for this key until `expires_at` (Unix time); False if already used."""

    async def close(self) -> None: ...


class DatabaseNonceStore:
    """One row per nonce; the unique (api_key_id, nonce) pair refuses a second use."""

    def __init__(
        self, database: Database, *, cleanup_interval: float = CLEANUP_INTERVAL_SECONDS
    ) -> None:
        self.database = database
        self.cleanup_interval = cleanup_interval
        self._next_cleanup = 0.0

    async def use(self, api_key: ApiKey, nonce: str, expires_at: float) -> bool:
        # Its own short transaction: the nonce is spent even if the endpoint then fails.
        async with self.database.sessionmaker() as session:
            session.add(
                SignatureNonce(
                    api_key_id=api_key.id,
                    nonce=nonce,
                    expires_at=datetime.fromtimestamp(expires_at, UTC),
                )
            )
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                return False
        await self.clean_up_if_due()
        return True

    async def clean_up_if_due(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        if now < self._next_cleanup:
            return
        # Claimed before awaiting, so concurrent requests do not all clean up at once.
        self._next_cleanup = now + self.cleanup_interval
        try:
            removed = await self.clean_up(now)
        except Exception:
            # A failed cleanup costs nothing but disk; the request it follows has succeeded.
            logger.warning("could not delete expired signature nonces", exc_info=True)
            return
        if removed:
            logger.debug("deleted %d expired signature nonces", removed)

    async def clean_up(self, now: float | None = None) -> int:
        """Delete the nonces whose window has passed; say how many went."""
        cutoff = datetime.fromtimestamp(time.time() if now is None else now, UTC)
        async with self.database.sessionmaker() as session:
            result = await session.execute(
                delete(SignatureNonce).where(SignatureNonce.expires_at < cutoff)
            )
            await session.commit()
        return int(getattr(result, "rowcount", 0) or 0)

    async def close(self) -> None:
        return None


class RedisNonceStore:
    """`SET key NX EX ttl`: atomic, and Redis forgets the nonce by itself."""

    def __init__(self, client: Redis, *, prefix: str = REDIS_KEY_PREFIX) -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, *, prefix: str = REDIS_KEY_PREFIX) -> RedisNonceStore:
        client = Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        return cls(client, prefix=prefix)

    def key_for(self, api_key: ApiKey, nonce: str) -> str:
        return f"{self.prefix}{api_key.access_key}:{nonce}"

    async def use(self, api_key: ApiKey, nonce: str, expires_at: float) -> bool:
        ttl = max(1, math.ceil(expires_at - time.time()))
        try:
            stored = await self.client.set(self.key_for(api_key, nonce), b"1", nx=True, ex=ttl)
        except RedisError as exc:
            logger.error("Redis refused a signature nonce: %s: %s", type(exc).__name__, exc)
            raise ServiceUnavailableError(
                "Signed requests cannot be checked right now: the nonce store is unavailable.",
                code="NONCE_STORE_UNAVAILABLE",
            ) from None
        return bool(stored)

    async def close(self) -> None:
        await self.client.aclose()


def create_nonce_store(settings: Settings, database: Database) -> NonceStore:
    if settings.redis_url:
        return RedisNonceStore.from_url(settings.redis_url)
    return DatabaseNonceStore(database)
