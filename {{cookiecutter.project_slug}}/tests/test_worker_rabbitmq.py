"""Notification delivery by `taskiq worker` processes through RabbitMQ, as this service runs it."""

from __future__ import annotations

import os

import aio_pika

from tests.worker_delivery import WorkerDeliveryTests


class TestRabbitMQWorkers(WorkerDeliveryTests):
    broker = "rabbitmq"
    broker_url = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")

    async def delete_queue(self, queue: str) -> None:
        connection = await aio_pika.connect(self.broker_url)
        async with connection:
            channel = await connection.channel()
            for name in (queue, f"{queue}.dead_letter"):
                await channel.queue_delete(name)
            await channel.exchange_delete(queue)
