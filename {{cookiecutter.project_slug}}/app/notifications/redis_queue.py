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

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq_redis import ListQueueBroker

from app import PROJECT_SLUG

logger = logging.getLogger(f"{PROJECT_SLUG}.delivery")

RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 10.0


class ResilientListQueueBroker(ListQueueBroker):
    """A list-queue broker whose listener outlives a Redis restart."""

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
