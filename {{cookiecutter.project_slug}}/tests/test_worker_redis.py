"""Notification delivery by `taskiq worker` processes through Redis, as this service runs it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.outbox_support import all_finished, statuses, wait_until
from tests.worker_delivery import (
    BURST,
    Deployment,
    WorkerDeliveryTests,
    accept_burst,
    delivered_count,
)

REDIS_SERVER = "/usr/bin/redis-server"


class RedisServer:
    """A `redis-server` of the test's own on a free port, without persistence: a restart
    loses every queued message, which is what a broker crash does at worst."""

    def __init__(self, log_path: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.02)

    def kill(self) -> None:
        """A crash: no shutdown, no save."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


class TestRedisWorkers(WorkerDeliveryTests):
    broker = "redis"
    broker_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

    async def delete_queue(self, queue: str) -> None:
        client = Redis.from_url(self.broker_url)
        await client.delete(queue)
        await client.aclose()

    @pytest.fixture
    def redis_server(self, tmp_path: Path) -> Iterator[RedisServer]:
        server = RedisServer(tmp_path / "redis.log")
        server.start()
        yield server
        server.kill()

    @pytest.fixture
    def broker_address(self, request: pytest.FixtureRequest) -> str:
        """A test that asks for `redis_server` gets that server as its broker."""
        if "redis_server" in request.fixturenames:
            server: RedisServer = request.getfixturevalue("redis_server")
            return server.url
        return self.broker_url

    # Short: messages lost with the broker are sent again once their lease runs out.
    @pytest.mark.parametrize("lease_seconds", [3.0])
    async def test_a_redis_restart_mid_burst_leaves_nothing_stuck(
        self, deployment: Deployment, redis_server: RedisServer
    ) -> None:
        target, worker = deployment.target, deployment.worker
        target.delay = 0.05  # sends stay in flight long enough to be cut off
        ids = await accept_burst(deployment)
        worker.start()
        await wait_until(lambda: delivered_count(target) >= BURST // 5, 30, "delivering")

        redis_server.kill()  # the queued messages go with it
        assert delivered_count(target) < BURST, "the restart came too late"
        await asyncio.sleep(0.5)
        redis_server.start()
        try:
            await wait_until(lambda: all_finished(deployment.database, ids), 25, "all finished")
        except AssertionError as error:
            raise AssertionError(f"{error}\nworker log:\n{worker.log}") from None

        counts = await statuses(deployment.database, ids)
        assert counts == {"delivered": BURST}, counts
        # The worker waited for Redis instead of dying with it.
        log = worker.log_path.read_text(errors="replace")
        assert "Redis unreachable" in log and "Traceback" not in log, worker.log
        assert set(target.delivered()) == {str(notification_id) for notification_id in ids}
