"""The database server goes away and comes back while the service runs.

A proxy (tests/fault_proxy.py) stands between the service and the lane's database
server, so only this test's connections are cut: the shared server, and the tests running
against it in parallel, never notice. While the database is out of reach the API answers
503 DATABASE_UNAVAILABLE and /health names the database; once it is back both recover
without a restart, and every notification accepted on either side of the outage is
delivered.

A SQLite file has no server to lose: the test is collected on the MariaDB / MySQL and
PostgreSQL lanes only.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app.core.database import IDLE_TEST_SECONDS, Database
from app.notifications.models import Notification
from tests.fault_proxy import FaultProxy
from tests.outbox_plugin import WebhookPlugin, WebhookTarget
from tests.outbox_support import (
    FAST_DELIVERY,
    NOTIFICATIONS,
    Caller,
    all_finished,
    new_caller,
    post_all,
    wait_until,
    webhook,
)
from tests.support import ServeApp, SettingsFactory, build_app, signed_client

LANE_URL = os.environ.get("TEST_DATABASE_URL", "")
SERVER_LANE = bool(LANE_URL) and make_url(LANE_URL).get_backend_name() in {"mysql", "postgresql"}
BEFORE, AFTER = 30, 30
OUTAGE_SECONDS = 1.0


def through(proxy: FaultProxy, url: str) -> str:
    """The lane's URL with the proxy's address in place of the server's."""
    parsed = make_url(url).set(host="127.0.0.1", port=proxy.port)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture
async def proxy() -> AsyncIterator[FaultProxy]:
    parsed = make_url(LANE_URL)
    default_port = 3306 if parsed.get_backend_name() == "mysql" else 5432
    fault_proxy = FaultProxy(parsed.host or "127.0.0.1", parsed.port or default_port)
    await fault_proxy.start()
    yield fault_proxy
    await fault_proxy.close()


@pytest.fixture
def target() -> Iterator[WebhookTarget]:
    endpoint = WebhookTarget()
    endpoint.start()
    yield endpoint
    endpoint.stop()


async def caller_rows(database: Database, caller: Caller) -> int:
    async with database.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).where(Notification.user_id == caller.user_id)
        )
    return int(count or 0)


def assert_database_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "detail", "request_id"}
    assert body["code"] == "DATABASE_UNAVAILABLE"
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert response.headers["Retry-After"]


# Defined on server lanes only: elsewhere there is nothing to collect (and nothing skipped).
if SERVER_LANE:

    async def test_a_database_outage_is_503_then_recovers_and_loses_no_notification(
        proxy: FaultProxy,
        target: WebhookTarget,
        make_settings: SettingsFactory,
        serve: ServeApp,
    ) -> None:
        settings = make_settings(
            database_url=through(proxy, LANE_URL),
            task_broker="inprocess",
            **{
                **FAST_DELIVERY,
                "max_delivery_attempts": 100,
                # Short: a broker message lost with a cut connection is sent again within
                # seconds, not the minute the other tests allow.
                "delivery_lease_seconds": 3.0,
                "delivery_send_timeout_seconds": 1.5,
            },
        )
        application = build_app(settings, WebhookPlugin(target.url))
        # Sends stay in flight a while, so that the outage catches some mid-delivery.
        target.delay = 0.1
        async with serve(application) as plain:
            database: Database = application.state.runtime.database
            caller = await new_caller(application)
            async with signed_client(application, caller) as client:
                accepted = await post_all(client, [webhook(f"before-{n}") for n in range(BEFORE)])
                assert (await plain.get("/health")).status_code == 200

                await proxy.cut()
                try:
                    refused = await client.post(NOTIFICATIONS, json=webhook("during"))
                    assert_database_unavailable(refused)
                    read = await client.get(f"{NOTIFICATIONS}/{accepted[0]}")
                    assert_database_unavailable(read)
                    health = await plain.get("/health")
                    assert health.status_code == 503, health.text
                    assert health.json()["database"] == "unavailable"
                    assert health.json()["code"] == "SERVICE_UNAVAILABLE"
                    assert health.json()["detail"] == {"failing": ["database"]}
                    await asyncio.sleep(OUTAGE_SECONDS)
                    assert_database_unavailable(await client.post(NOTIFICATIONS, json=webhook("x")))
                finally:
                    await proxy.restore()

                # Back without a restart: the pool tests its idle connections and replaces the dead.
                health = await plain.get("/health")
                assert health.status_code == 200, health.text
                assert health.json() == {"status": "ok", "database": "ok"}
                accepted += await post_all(client, [webhook(f"after-{n}") for n in range(AFTER)])
                assert (await client.get(f"{NOTIFICATIONS}/{accepted[0]}")).status_code == 200

            await wait_until(lambda: all_finished(database, accepted), 30, "all finished")
            assert await all_finished(database, accepted) == {"delivered": BEFORE + AFTER}
            # Nothing refused was stored, nothing accepted is missing.
            assert await caller_rows(database, caller) == len(accepted)
            assert set(target.delivered()) == {str(n) for n in accepted}

    async def test_connections_that_died_while_idle_are_replaced_before_use(
        proxy: FaultProxy, make_settings: SettingsFactory, serve: ServeApp
    ) -> None:
        # The dispatcher's first pass only: no query of its own finds the dead connections
        # (and makes the pool replace them) before the requests do.
        settings = make_settings(
            database_url=through(proxy, LANE_URL),
            task_broker="inprocess",
            delivery_poll_seconds=3600,
        )
        application = build_app(settings)
        async with serve(application) as client:
            answers = await asyncio.gather(*(client.get("/health") for _ in range(3)))
            assert [answer.status_code for answer in answers] == [200, 200, 200]

            # A server restart, or its idle timeout, while the pool's connections wait.
            await proxy.cut()
            await proxy.restore()
            await asyncio.sleep(IDLE_TEST_SECONDS + 0.2)

            answers = await asyncio.gather(*(client.get("/health") for _ in range(3)))
            assert [answer.status_code for answer in answers] == [200, 200, 200], [
                answer.text for answer in answers
            ]
