"""Single-use nonces for signed requests: in the database, or in Redis when REDIS_URL is set.

A nonce is remembered until its request's timestamp leaves the accepted window; after
that the timestamp check alone refuses a replay, so the nonce can be forgotten.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app import PROJECT_SLUG
from app.core.batcher import GroupCommit
from app.core.config import Settings
from app.core.database import Database
from app.core.errors import ServiceUnavailableError
from app.core.single_use import CLEANUP_INTERVAL_SECONDS, SingleUseRows
from app.signed_api.models import ApiKey, SignatureNonce

logger = logging.getLogger(f"{PROJECT_SLUG}.signed_api")

REDIS_KEY_PREFIX = f"{PROJECT_SLUG}:signature-nonce:"
REDIS_TIMEOUT_SECONDS = 2.0
# Nonces per pipeline.
REDIS_BATCH_SIZE = 100


class NonceStore(Protocol):
    async def use(self, api_key: ApiKey, nonce: str, expires_at: float) -> bool:
        """Record `nonce` for this key until `expires_at` (Unix time); False if already used."""

    async def close(self) -> None: ...


class DatabaseNonceStore(SingleUseRows):
    """One row per nonce; the unique (api_key_id, nonce) pair refuses a second use."""

    def __init__(
        self, database: Database, *, cleanup_interval: float = CLEANUP_INTERVAL_SECONDS
    ) -> None:
        super().__init__(
            database, SignatureNonce, "signature nonces", cleanup_interval=cleanup_interval
        )

    async def use(self, api_key: ApiKey, nonce: str, expires_at: float) -> bool:
        return await self.spend(expires_at, api_key_id=api_key.id, nonce=nonce)


class RedisNonceStore:
    """`SET key NX EX ttl`: atomic, and Redis forgets the nonce by itself. The nonces of
    concurrent requests go in one pipeline (one round trip); each SET stays its own."""

    def __init__(self, client: Redis, *, prefix: str = REDIS_KEY_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self._sets: GroupCommit[tuple[str, int], bool] = GroupCommit(
            self._set_batch, REDIS_BATCH_SIZE
        )

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
            return await self._sets.submit((self.key_for(api_key, nonce), ttl))
        except RedisError as exc:
            logger.error("Redis refused a signature nonce: %s: %s", type(exc).__name__, exc)
            raise ServiceUnavailableError(
                "Signed requests cannot be checked right now: the nonce store is unavailable.",
                code="NONCE_STORE_UNAVAILABLE",
            ) from None

    async def _set_batch(self, nonces: list[tuple[str, int]]) -> list[bool]:
        # Not a transaction: two copies of one nonce in the batch are two SETs, and only
        # the first one stores it.
        async with self.client.pipeline(transaction=False) as pipeline:
            for key, ttl in nonces:
                pipeline.set(key, b"1", nx=True, ex=ttl)
            stored = await pipeline.execute()
        return [bool(result) for result in stored]

    async def close(self) -> None:
        await self._sets.drain()
        await self.client.aclose()


def create_nonce_store(settings: Settings, database: Database) -> NonceStore:
    if settings.redis_url:
        return RedisNonceStore.from_url(settings.redis_url)
    return DatabaseNonceStore(database)
