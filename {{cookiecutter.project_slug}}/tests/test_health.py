"""`/health`: 200 when the database (and the broker and Redis, where configured) answer,
503 naming the failing part when one does not; `/health/live` answers whatever is down."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.main import create_app
from tests.support import ServeApp, ServiceLog, SettingsFactory, closed_port

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


async def test_health_reports_ok_when_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert response.headers["X-Request-ID"]


def unreachable_url(database_url: str, tmp_path: Path) -> str:
    """A URL of the lane's own kind that cannot connect."""
    backend = make_url(database_url).get_backend_name()
    if backend == "mysql":
        return f"mysql+aiomysql://root@127.0.0.1:{closed_port()}/test"
    if backend == "postgresql":
        return f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/test"
    not_a_folder = tmp_path / "plain-file"
    not_a_folder.write_text("")
    return f"sqlite+aiosqlite:///{not_a_folder}/service.db"


async def test_health_is_503_and_names_the_database_when_it_is_unreachable(
    make_settings: SettingsFactory, database_url: str, tmp_path: Path, service_log: ServiceLog
) -> None:
    settings = make_settings(
        database_url=unreachable_url(database_url, tmp_path), create_tables_on_startup=False
    )
    application = create_app(settings)
    service_log.attach()
    transport = httpx.ASGITransport(app=application)
    try:
        async with (
            application.router.lifespan_context(application),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        ):
            response = await client.get("/health")
    finally:
        await application.state.runtime.database.dispose()

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "unavailable"
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert "database" in body["message"]
    assert body["detail"] == {"failing": ["database"]}
    assert set(body["reasons"]) == {"database"}
    assert body["request_id"] == response.headers["X-Request-ID"]
    # Whoever reads the service's log learns why, not only that.
    assert "database check failed" in service_log.text
    assert "query failed" not in service_log.text  # it never got as far as a query


async def health_of(serve: ServeApp, settings: Any) -> httpx.Response:
    async with serve(create_app(settings)) as client:
        return await client.get("/health")


def assert_unavailable(response: httpx.Response, failing: list[str]) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "unavailable"
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert body["detail"] == {"failing": failing}
    assert set(body["reasons"]) == set(failing)
    for part in failing:
        assert body[part] == "unavailable"
        assert part in body["message"]
    return body


@pytest.mark.parametrize(
    ("broker", "url"),
    [("redis", REDIS_URL), ("rabbitmq", RABBITMQ_URL)],
)
async def test_health_reports_the_broker_when_one_is_configured(
    make_settings: SettingsFactory, serve_lean: ServeApp, broker: str, url: str
) -> None:
    response = await health_of(serve_lean, make_settings(task_broker=broker, broker_url=url))
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


@pytest.mark.parametrize(
    ("broker", "url"),
    [
        ("redis", "redis://127.0.0.1:{port}/0"),
        ("rabbitmq", "amqp://guest:guest@127.0.0.1:{port}/"),
    ],
)
async def test_health_is_503_and_names_the_broker_when_it_is_unreachable(
    make_settings: SettingsFactory,
    serve_lean: ServeApp,
    service_log: ServiceLog,
    broker: str,
    url: str,
) -> None:
    settings = make_settings(task_broker=broker, broker_url=url.format(port=closed_port()))
    application = create_app(settings)
    service_log.attach()
    async with serve_lean(application) as client:
        response = await client.get("/health")

    body = assert_unavailable(response, ["broker"])
    assert body["database"] == "ok"
    assert body["reasons"] == {"broker": "connection refused"}
    # The reason shown to anyone says what failed, not where: no address, no user name.
    assert "127.0.0.1" not in response.text
    assert "guest" not in response.text
    assert "broker check failed" in service_log.text


async def test_health_reports_redis_when_redis_url_is_set(
    make_settings: SettingsFactory, serve_lean: ServeApp
) -> None:
    response = await health_of(serve_lean, make_settings(redis_url=REDIS_URL))
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


async def test_health_is_503_and_names_redis_when_it_is_unreachable(
    make_settings: SettingsFactory, serve_lean: ServeApp
) -> None:
    settings = make_settings(redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    body = assert_unavailable(await health_of(serve_lean, settings), ["redis"])
    assert body["reasons"] == {"redis": "connection refused"}


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A port that accepts connections and never says a word: a hung dependency."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_hung_broker_and_redis_are_cut_off_after_the_check_timeout(
    make_settings: SettingsFactory, silent_server: int
) -> None:
    """Without the timeout /health would hang as long as they do (here: for ever)."""
    silent = f"redis://127.0.0.1:{silent_server}/0"
    settings = make_settings(
        task_broker="redis", broker_url=silent, redis_url=silent, health_check_timeout_seconds=1
    )
    application = create_app(settings)
    # Not started: the broker's own startup would wait on the silent port too.
    transport = httpx.ASGITransport(app=application)
    try:
        # A pooled connection, so that the database's check is a quick SELECT 1 well within
        # the timeout even on a busy machine.
        await application.state.runtime.database.ping()
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/health")
    finally:
        await application.state.runtime.database.dispose()

    body = assert_unavailable(response, ["broker", "redis"])
    assert body["database"] == "ok"
    assert body["reasons"] == {
        "broker": "no answer within 1s",
        "redis": "no answer within 1s",
    }


async def test_live_answers_even_when_the_database_is_unreachable(
    make_settings: SettingsFactory, database_url: str, tmp_path: Path, serve_lean: ServeApp
) -> None:
    settings = make_settings(
        database_url=unreachable_url(database_url, tmp_path),
        create_tables_on_startup=False,
        redis_url=f"redis://127.0.0.1:{closed_port()}/0",
    )
    application = create_app(settings)
    transport = httpx.ASGITransport(app=application)
    try:
        async with (
            application.router.lifespan_context(application),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        ):
            live = await client.get("/health/live")
            ready = await client.get("/health")
    finally:
        await application.state.runtime.database.dispose()

    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    assert ready.status_code == 503
    assert ready.json()["detail"]["failing"] == ["database", "redis"]
