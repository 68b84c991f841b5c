"""Notification delivery by `taskiq worker` processes through Redis, as this service runs it."""

from __future__ import annotations

import os

from redis.asyncio import Redis

from tests.worker_delivery import WorkerDeliveryTests


class TestRedisWorkers(WorkerDeliveryTests):
    broker = "redis"
    broker_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

    async def delete_queue(self, queue: str) -> None:
        client = Redis.from_url(self.broker_url)
        await client.delete(queue)
        await client.aclose()
