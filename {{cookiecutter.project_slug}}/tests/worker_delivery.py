"""Delivery through a real broker by real `taskiq worker` processes.

The API (this test process) only enqueues; a
`taskiq worker app.notifications.worker:broker` process, started as an operator would start
it, delivers from the same database. Each run uses queues of its own, so parallel runs never
take each other's messages.

`WorkerDeliveryTests` holds the tests; the test module of the broker this service
uses (`test_worker_redis.py` or `test_worker_rabbitmq.py`) runs them against it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.core.database import Database
from app.notifications.schemas import NotificationCreate
from app.notifications.service import NotificationService
from tests.outbox_plugin import URL_ENV, WebhookPlugin, WebhookTarget, install_entry_point
from tests.outbox_support import all_finished, new_caller, statuses, wait_until, webhook
from tests.support import TEST_SECRET_KEY, SettingsFactory, build_app

PROJECT_DIR = Path(__file__).resolve().parents[1]
BURST = 200
CONCURRENCY = 20

# Fast retries and dispatcher passes.
DELIVERY: dict[str, Any] = {
    "max_delivery_attempts": 100,
    "delivery_retry_base_seconds": 0.1,
    "delivery_retry_max_seconds": 0.5,
    "delivery_poll_seconds": 0.1,
    "delivery_concurrency": CONCURRENCY,
}


@dataclass
class WorkerProcess:
    """`taskiq worker app.notifications.worker:broker` with the settings in its environment."""

    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "taskiq",
                "worker",
                "app.notifications.worker:broker",
                "--workers",
                "1",
                "--max-async-tasks",
                str(CONCURRENCY),
                "--shutdown-timeout",
                "5",
            ],
            cwd=PROJECT_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group: a kill reaches the worker's child processes too.
            start_new_session=True,
        )
        log.close()

    def kill(self) -> None:
        """What a crash or an OOM kill does: no shutdown, nothing finished."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is not None:  # it stopped by itself
            self.process = None
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    @property
    def log(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-40:])


@dataclass
class Deployment:
    """The API in this process, a webhook endpoint, and workers in their own processes."""

    app: FastAPI
    target: WebhookTarget
    worker: WorkerProcess

    @property
    def database(self) -> Database:
        database: Database = self.app.state.runtime.database
        return database


async def accept_burst(deployment: Deployment) -> list[int]:
    """Accept a burst as the API does (row committed, then enqueued), minus HTTP and
    signing, which the API tests cover: here the time goes to delivery."""
    app = deployment.app
    caller = await new_caller(app)
    slots = asyncio.Semaphore(CONCURRENCY)

    async def accept(n: int) -> int:
        async with slots, app.state.runtime.database.sessionmaker() as session:
            service = NotificationService(
                session,
                app.state.runtime.delivery.outbox,
                app.state.runtime.settings,
                app.state.runtime.plugins,
                app.state.runtime.delivery.enqueue,
            )
            payload = NotificationCreate.model_validate(webhook(f"r{n}"))
            accepted = await service.accept(caller, payload)
            return accepted.notification.id

    return list(await asyncio.gather(*(accept(n) for n in range(BURST))))


def delivered_count(target: WebhookTarget) -> int:
    return sum(target.delivered().values())


class WorkerDeliveryTests:
    """Delivery by `taskiq worker` processes; a subclass names the broker and its URL."""

    broker: ClassVar[str]
    broker_url: ClassVar[str]

    async def delete_queue(self, queue: str) -> None:
        """Remove what the run left on the broker."""
        raise NotImplementedError

    @pytest.fixture
    def lease_seconds(self) -> float:
        """Long: on a busy machine a slow send is never taken for a crashed one (and made twice)."""
        return 60.0

    @pytest.fixture
    def broker_address(self) -> str:
        """The broker the run uses: the shared one, unless a test brings its own."""
        return self.broker_url

    @pytest.fixture
    def target(self) -> Iterator[WebhookTarget]:
        endpoint = WebhookTarget()
        endpoint.start()
        yield endpoint
        endpoint.stop()

    @pytest.fixture
    async def deployment(
        self,
        lease_seconds: float,
        broker_address: str,
        make_settings: SettingsFactory,
        target: WebhookTarget,
        tmp_path: Path,
        serve: Any,
    ) -> AsyncIterator[Deployment]:
        queue = f"test-outbox-{uuid.uuid4().hex[:12]}"
        # A send may take up to half the lease: what is slower is taken for lost.
        delivery = {
            **DELIVERY,
            "delivery_lease_seconds": lease_seconds,
            "delivery_send_timeout_seconds": lease_seconds / 2,
        }
        settings: Settings = make_settings(
            task_broker=self.broker, broker_url=broker_address, task_queue=queue, **delivery
        )
        plugin_path = install_entry_point(tmp_path / "site")
        env = {
            **os.environ,
            "ENVIRONMENT": "test",
            "SECRET_KEY": TEST_SECRET_KEY,
            "DATABASE_URL": settings.database_url,
            "CREATE_TABLES_ON_STARTUP": "false",  # the API made them
            "TASK_BROKER": self.broker,
            "BROKER_URL": broker_address,
            "TASK_QUEUE": queue,
            URL_ENV: target.url,
            "PYTHONPATH": os.pathsep.join([str(PROJECT_DIR), str(plugin_path)]),
            **{name.upper(): str(value) for name, value in delivery.items()},
        }
        env = {name: value for name, value in env.items() if not name.startswith("PYTEST_")}
        worker = WorkerProcess(env, tmp_path / "worker.log")
        application = build_app(settings, WebhookPlugin(target.url))
        try:
            async with serve(application):
                yield Deployment(application, target, worker)
                worker.stop()
        finally:
            worker.stop()
            if broker_address == self.broker_url:  # a test's own broker goes with it
                await self.delete_queue(queue)

    async def test_a_worker_delivers_a_burst_through_an_endpoint_outage_exactly_once(
        self, deployment: Deployment
    ) -> None:
        target, worker = deployment.target, deployment.worker
        ids = await accept_burst(deployment)
        await asyncio.sleep(0.3)
        # The API only enqueued: nothing is delivered until a worker runs.
        assert await statuses(deployment.database, ids) == {"queued": BURST}
        assert delivered_count(target) == 0

        worker.start()
        await wait_until(lambda: delivered_count(target) >= BURST // 4, 60, "delivering")
        target.stop()
        await asyncio.sleep(1.0)
        assert not await all_finished(deployment.database, ids), "the outage came too late"
        target.start()
        try:
            await wait_until(lambda: all_finished(deployment.database, ids), 60, "all delivered")
        except AssertionError as error:
            raise AssertionError(f"{error}\nworker log:\n{worker.log}") from None

        assert await statuses(deployment.database, ids) == {"delivered": BURST}
        delivered = target.delivered()
        assert set(delivered) == {str(notification_id) for notification_id in ids}
        assert max(delivered.values()) == 1, "a notification was sent twice"

    # Short: the killed worker's sends are taken over within seconds of the restart.
    @pytest.mark.parametrize("lease_seconds", [4.0])
    async def test_a_worker_killed_mid_burst_loses_nothing(self, deployment: Deployment) -> None:
        target, worker = deployment.target, deployment.worker
        target.delay = 0.05  # sends stay in flight long enough to be cut off
        worker.start()
        ids = await accept_burst(deployment)
        await wait_until(lambda: delivered_count(target) >= BURST // 5, 60, "delivering")

        worker.kill()
        cut_off = delivered_count(target)
        assert cut_off < BURST, "the kill came too late"
        await asyncio.sleep(0.5)
        assert delivered_count(target) - cut_off <= CONCURRENCY  # answers already on their way

        worker.start()
        try:
            await wait_until(lambda: all_finished(deployment.database, ids), 60, "all delivered")
        except AssertionError as error:
            raise AssertionError(f"{error}\nworker log:\n{worker.log}") from None

        assert await statuses(deployment.database, ids) == {"delivered": BURST}
        delivered = target.delivered()
        assert set(delivered) == {str(notification_id) for notification_id in ids}
        # Only a send cut off mid-way (its outcome unknown) may have been made twice.
        repeated = [key for key, count in delivered.items() if count > 1]
        assert len(repeated) <= CONCURRENCY, repeated
