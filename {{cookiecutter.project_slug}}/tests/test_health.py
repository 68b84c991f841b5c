"""`/health`: 200 when the database answers, 503 naming the failing part when it does not."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from app.main import create_app
from tests.conftest import ServiceLog, SettingsFactory


async def test_health_reports_ok_when_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert response.headers["X-Request-ID"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


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
        await application.state.database.dispose()

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "unavailable"
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert "database" in body["message"]
    assert body["detail"] == {"failing": ["database"]}
    assert body["request_id"] == response.headers["X-Request-ID"]
    # Whoever reads the service's log learns why, not only that.
    assert "database check failed" in service_log.text
    assert "query failed" not in service_log.text  # it never got as far as a query
