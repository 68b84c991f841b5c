"""Delivery's side of each process: the task broker, the delivery task, enqueueing and
the dispatcher.

`TASK_BROKER` picks the broker:

- `inprocess` (the default): taskiq's in-memory broker inside the API process, so one
  uvicorn process is the whole system.
- `redis` (taskiq-redis) or `rabbitmq` (taskiq-aio-pika): the API only enqueues; the
  deliveries run in worker processes started with

      taskiq worker app.notifications.worker:broker

  Each worker process runs the API's own startup (database, plugins, delivery) from the
  same settings, without serving HTTP.

The process that delivers (the API in process, else each worker) also runs the
dispatcher: at startup it takes over rows that a stopped process left queued or mid-send,
and then, every `DELIVERY_POLL_SECONDS`, it sends a broker message for each retry that
has come due and for each row whose message went missing. Since the rows, not the broker
messages, say what is left to do, retries survive any restart.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Annotated, Any

from taskiq import AsyncBroker, Context, InMemoryBroker, TaskiqDepends

from app import PROJECT_SLUG
from app.core.config import Settings, TaskBroker
from app.core.database import Database
from app.core.plugins import PluginRegistry
from app.notifications.delivery_attempt import attempt_delivery
from app.notifications.delivery_policy import DeliveryPolicy
from app.notifications.models import NotificationStatus
from app.notifications.outbox import Outbox

# Under the service's own logger, so that its handler (and format) writes these lines.
logger = logging.getLogger(f"{PROJECT_SLUG}.delivery")

DELIVER_TASK_NAME = "deliver_notification"
# How long a stopping process lets in-flight sends finish before cutting them off.
SHUTDOWN_GRACE_SECONDS = 10.0
# How long it lets a dispatcher pass finish (cut off mid-query, it would log an error).
DISPATCHER_STOP_SECONDS = 5.0


async def deliver_notification(
    notification_id: int, context: Annotated[Context, TaskiqDepends()]
) -> None:
    """Make one delivery attempt of a notification; its row says whether and what to send."""
    delivery: Delivery = context.state.delivery
    await delivery.deliver(notification_id)


def create_broker(settings: Settings) -> AsyncBroker:
    """The broker `TASK_BROKER` names, with the delivery task registered on it."""
    kind = settings.delivery_broker
    broker: AsyncBroker
    if kind is TaskBroker.INPROCESS:
        # Results are never read: keep one, not the default hundred.
        broker = InMemoryBroker(max_stored_results=1)
    elif kind is TaskBroker.REDIS:
        from app.notifications.redis_queue import ResilientListQueueBroker

        # A plain list: the rows are the record, so a message that a killed worker had
        # popped is sent again by the dispatcher, and nothing piles up in Redis.
        assert settings.broker_url is not None  # Settings refuses redis without a URL
        broker = ResilientListQueueBroker(settings.broker_url, queue_name=settings.task_queue)
    else:
        from taskiq_aio_pika import AioPikaBroker, Exchange, Queue

        queue = settings.task_queue
        broker = AioPikaBroker(
            settings.broker_url,
            exchange=Exchange(name=queue),
            task_queues=[Queue(name=queue)],
            dead_letter_queue=Queue(name=f"{queue}.dead_letter"),
            qos=settings.delivery_concurrency,
        )
    broker.register_task(deliver_notification, task_name=DELIVER_TASK_NAME)
    return broker


class Delivery:
    """One process's side of delivery: enqueueing and, where this process delivers,
    the delivery task's work and the dispatcher."""

    def __init__(self, settings: Settings, broker: AsyncBroker | None = None) -> None:
        self.settings = settings
        self.policy = DeliveryPolicy.from_settings(settings)
        self._broker = broker
        self._outbox: Outbox | None = None
        self._plugins: PluginRegistry | None = None
        self._slots: asyncio.Semaphore | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[Any]] = set()

    @property
    def broker(self) -> AsyncBroker:
        # Built on first use: a worker process's app never builds one of its own.
        if self._broker is None:
            self._broker = create_broker(self.settings)
        return self._broker

    def use_broker(self, broker: AsyncBroker) -> None:
        """Deliver from this broker (a worker's, which its receiver starts) instead of one
        built from the settings."""
        if self._outbox is not None:
            raise RuntimeError("delivery has started already: its broker cannot change")
        self._broker = broker

    @property
    def delivers_here(self) -> bool:
        """In process, the API process delivers; with a real broker only workers do."""
        return (
            self.settings.delivery_broker is TaskBroker.INPROCESS or self.broker.is_worker_process
        )

    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            raise RuntimeError("delivery has not started in this process")
        return self._outbox

    async def start(self, database: Database, plugins: PluginRegistry) -> None:
        self._outbox = Outbox(database, self.policy)
        self._plugins = plugins
        broker = self.broker
        broker.state.delivery = self
        if not broker.is_worker_process:  # a worker's receiver starts its own broker
            try:
                await broker.startup()
            except Exception:
                # Accepting goes on: rows that cannot be enqueued wait for the workers'
                # dispatcher, which finds them once the broker is back.
                logger.exception(
                    "the %s broker did not start: notifications are accepted but wait "
                    "until a worker's dispatcher reaches them",
                    self.settings.delivery_broker.value,
                )
        if self.delivers_here:
            self._stopping.clear()
            self._slots = asyncio.Semaphore(self.settings.delivery_concurrency)
            self._dispatcher = asyncio.create_task(
                self._dispatch_forever(), name="notification dispatcher"
            )

    async def stop(self) -> None:
        self._stopping.set()
        if self._dispatcher is not None:
            try:
                await asyncio.wait_for(self._dispatcher, DISPATCHER_STOP_SECONDS)
            except TimeoutError:
                logger.warning("the notification dispatcher did not stop in time")
            self._dispatcher = None
        if self._in_flight:
            _, unfinished = await asyncio.wait(self._in_flight, timeout=SHUTDOWN_GRACE_SECONDS)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        if self._outbox is not None:
            await self._outbox.close()
        broker = self.broker
        if not broker.is_worker_process:
            await broker.shutdown()

    async def enqueue(self, notification_id: int) -> bool:
        """Send the broker message for a row; False (and logged) when the broker refused.

        A refused row loses its lease, so the next dispatcher pass sends its message.
        """
        task = self.broker.find_task(DELIVER_TASK_NAME)
        assert task is not None  # registered by create_broker
        try:
            await task.kiq(notification_id)
        except Exception as exc:
            logger.warning(
                "notification %s could not be handed to the %s broker (%s: %s); the "
                "dispatcher will try again",
                notification_id,
                self.settings.delivery_broker.value,
                type(exc).__name__,
                exc,
            )
            with suppress(Exception):
                await self.outbox.forget_lease(notification_id)
            return False
        return True

    async def deliver(self, notification_id: int) -> NotificationStatus | None:
        """The delivery task's work: one attempt, at most `DELIVERY_CONCURRENCY` at once."""
        if self._plugins is None or self._slots is None:
            raise RuntimeError("delivery has not started in this process")
        current = asyncio.current_task()
        if current is not None:
            self._in_flight.add(current)
        try:
            async with self._slots:
                return await attempt_delivery(self.outbox, self._plugins, notification_id)
        except Exception:
            # The row is unchanged (still queued and leased): the dispatcher retries it.
            logger.exception("delivering notification %s failed", notification_id)
            return None
        finally:
            if current is not None:
                self._in_flight.discard(current)

    async def dispatch_once(self, *, take_over: bool = False) -> bool:
        """One dispatcher pass; False when the broker refused and the pass must be redone."""
        outbox = self.outbox
        await outbox.requeue_crashed()
        after_id = 0
        while True:
            batch = await outbox.due_for_dispatch(take_over=take_over, after_id=after_id)
            for position, notification_id in enumerate(batch.ids):
                if not await self.enqueue(notification_id):
                    for untouched in batch.ids[position + 1 :]:
                        await outbox.forget_lease(untouched)
                    return False
                # The in-memory broker's enqueue never waits: let requests in between.
                await asyncio.sleep(0)
            if not batch.full:
                return True
            after_id = batch.last_id

    async def _dispatch_forever(self) -> None:
        # The first complete pass takes over whatever a stopped process left behind.
        take_over = True
        failing = False
        while not self._stopping.is_set():
            try:
                if await self.dispatch_once(take_over=take_over):
                    take_over = False
                failing = False
            except Exception as exc:
                # The traceback once; while the database stays down, one line per pass.
                if failing:
                    logger.warning("notification dispatcher pass failed again: %s", exc)
                else:
                    logger.exception("notification dispatcher pass failed; trying again")
                failing = True
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.delivery_poll_seconds)
