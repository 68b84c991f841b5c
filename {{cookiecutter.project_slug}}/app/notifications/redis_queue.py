"""The Redis broker of `TASK_BROKER=redis`: taskiq-redis's list queue, kept alive through
a Redis outage.

taskiq-redis's listener only catches the built-in ConnectionError, not redis-py's own,
so when Redis goes away the worker process dies, and the sends it had in flight are made
again by whichever worker takes their rows over. This one waits for Redis instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import BrokerMessage
from taskiq_redis import ListQueueBroker

from app import PROJECT_SLUG
from app.core.batcher import GroupCommit

logger = logging.getLogger(f"{PROJECT_SLUG}.delivery")

RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 10.0
# Messages per LPUSH.
PUSH_BATCH_SIZE = 100


class ResilientListQueueBroker(ListQueueBroker):
    """A list-queue broker whose listener outlives a Redis restart, and whose enqueue
    pushes the messages of concurrent requests together."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        # One client over the broker's pool for every enqueue (taskiq-redis builds one per
        # message). A client is safe to share: each command takes a pooled connection.
        self._client: Redis = Redis(connection_pool=self.connection_pool)
        self._pushes: GroupCommit[tuple[str, bytes], None] = GroupCommit(
            self._push_batch, PUSH_BATCH_SIZE
        )

    async def kick(self, message: BrokerMessage) -> None:
        """Returns once the message is on its list (with those kicked meanwhile)."""
        queue_name = message.labels.get("queue_name") or self.queue_name
        await self._pushes.submit((queue_name, message.message))

    async def _push_batch(self, messages: list[tuple[str, bytes]]) -> list[None]:
        by_queue: dict[str, list[bytes]] = {}
        for queue_name, body in messages:
            by_queue.setdefault(queue_name, []).append(body)
        for queue_name, bodies in by_queue.items():
            # In order: the worker pops from the other end, first pushed first.
            await self._client.lpush(queue_name, *bodies)
        return [None] * len(messages)

    async def shutdown(self) -> None:
        await self._pushes.drain()
        await super().shutdown()

    async def listen(self) -> AsyncGenerator[bytes, None]:
        wait = RECONNECT_FIRST_SECONDS
        while True:
            try:
                async for message in super().listen():
                    wait = RECONNECT_FIRST_SECONDS
                    yield message
            except (RedisConnectionError, RedisTimeoutError) as exc:
                logger.warning("Redis unreachable (%s); trying again in %.1f s", exc, wait)
                await asyncio.sleep(wait)
                wait = min(wait * 2, RECONNECT_MAX_SECONDS)
