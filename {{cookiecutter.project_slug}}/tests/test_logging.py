"""The "<slug>.api" access log and the "<slug>.db" query log, as a reader of the logs sees them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, Request
from sqlalchemy import column, select, table

from app.core.context import set_current_user
from app.core.database import Database
from app.core.logging import API_LOGGER, DB_LOGGER, mask_email
from app.main import create_app
from tests.support import PRODUCTION, TEST_CLIENT_ADDRESS, ServeApp, ServiceLog, SettingsFactory

USER_EMAIL = "jane.doe@example.com"
MASKED_EMAIL = "j***@example.com"
MISSING_TABLE = "missing_report_table"

probe_router = APIRouter(prefix="/probe")


@probe_router.get("/me")
async def who_am_i() -> dict[str, str]:
    set_current_user(42, USER_EMAIL)
    return {"hello": "jane"}


@probe_router.get("/me-sync")
def who_am_i_from_a_thread() -> dict[str, str]:
    # Sync routes run in a worker thread with a copy of the request's context.
    set_current_user(42, USER_EMAIL)
    return {"hello": "jane"}


@probe_router.get("/anonymous")
async def anonymous() -> dict[str, str]:
    return {"hello": "stranger"}


@probe_router.get("/report")
async def broken_report(request: Request) -> None:
    database: Database = request.app.state.runtime.database
    async with database.sessionmaker() as session:
        await session.execute(select(column("total")).select_from(table(MISSING_TABLE)))


def build_app(make_settings: SettingsFactory, service_log: ServiceLog, **overrides: Any) -> FastAPI:
    application = create_app(make_settings(**overrides))
    service_log.attach()
    application.include_router(probe_router)
    return application


def access_lines(service_log: ServiceLog, path: str) -> list[str]:
    return [
        line
        for line in service_log.text.splitlines()
        if f" {API_LOGGER} " in line and f"GET {path} " in line
    ]


@pytest.mark.parametrize("path", ["/probe/me", "/probe/me-sync"])
async def test_access_log_names_request_client_and_user_with_a_masked_email(
    make_settings: SettingsFactory, service_log: ServiceLog, serve_lean: ServeApp, path: str
) -> None:
    async with serve_lean(build_app(make_settings, service_log, log_json=False)) as client:
        response = await client.get(path)
    assert response.status_code == 200

    [line] = access_lines(service_log, path)
    request_id = response.headers["X-Request-ID"]
    assert f"[{request_id}]" in line
    assert re.search(rf"GET {path} 200 \d+\.\d\dms ", line), line
    assert f"client={TEST_CLIENT_ADDRESS}" in line
    assert "user=42" in line
    assert f"email={MASKED_EMAIL}" in line
    assert USER_EMAIL not in service_log.text


async def test_access_log_of_an_anonymous_request_and_of_a_failure(
    make_settings: SettingsFactory, service_log: ServiceLog, serve_lean: ServeApp
) -> None:
    async with serve_lean(build_app(make_settings, service_log, log_json=False)) as client:
        await client.get("/probe/anonymous")
        await client.post("/probe/anonymous")

    [line] = access_lines(service_log, "/probe/anonymous")
    assert "user=- email=-" in line
    [refused] = [line for line in service_log.text.splitlines() if "POST /probe/anonymous" in line]
    assert " 405 " in refused


@pytest.mark.parametrize(
    "overrides",
    [{"log_json": True}, PRODUCTION],
    ids=["log_json", "production"],
)
async def test_logs_are_json_lines_when_asked_and_in_production(
    make_settings: SettingsFactory,
    service_log: ServiceLog,
    serve_lean: ServeApp,
    overrides: dict[str, Any],
) -> None:
    async with serve_lean(build_app(make_settings, service_log, **overrides)) as client:
        response = await client.get("/probe/me")
        await client.get("/probe/anonymous")

    records = service_log.json_lines()  # every line parses, or this fails
    assert len(records) == len(service_log.text.splitlines())
    [access] = [record for record in records if record.get("path") == "/probe/me"]
    assert access["logger"] == API_LOGGER
    assert access["level"] == "INFO"
    assert access["method"] == "GET"
    assert access["status"] == 200
    assert isinstance(access["duration_ms"], float) and access["duration_ms"] >= 0
    assert access["client"] == TEST_CLIENT_ADDRESS
    assert access["user_id"] == "42"
    assert access["email"] == MASKED_EMAIL
    assert access["request_id"] == response.headers["X-Request-ID"]
    assert access["time"]
    [anonymous] = [record for record in records if record.get("path") == "/probe/anonymous"]
    assert anonymous["user_id"] is None
    assert USER_EMAIL not in service_log.text


async def test_slow_queries_are_logged_by_the_db_logger(
    make_settings: SettingsFactory, service_log: ServiceLog, serve_lean: ServeApp
) -> None:
    async with serve_lean(
        build_app(make_settings, service_log, log_json=True, slow_query_ms=0)
    ) as c:
        assert (await c.get("/health")).status_code == 200

    slow = [
        record
        for record in service_log.json_lines()
        if record["logger"] == DB_LOGGER and "SELECT 1" in record["message"]
    ]
    assert slow, service_log.text
    assert slow[0]["level"] == "WARNING"
    assert slow[0]["message"].startswith("slow query ")
    assert slow[0]["duration_ms"] >= 0


async def test_quick_queries_stay_out_of_the_log(
    make_settings: SettingsFactory, service_log: ServiceLog, serve_lean: ServeApp
) -> None:
    async with serve_lean(build_app(make_settings, service_log, slow_query_ms=60_000)) as client:
        assert (await client.get("/health")).status_code == 200
    assert f" {DB_LOGGER} " not in service_log.text


async def test_a_failing_query_is_logged_by_the_db_logger(
    make_settings: SettingsFactory, service_log: ServiceLog, serve_lean: ServeApp
) -> None:
    async with serve_lean(build_app(make_settings, service_log, log_json=True)) as client:
        response = await client.get("/probe/report")
    assert response.status_code == 500

    failed = [
        record
        for record in service_log.json_lines()
        if record["logger"] == DB_LOGGER and record["level"] == "ERROR"
    ]
    assert len(failed) == 1, service_log.text
    assert failed[0]["message"].startswith("query failed: ")
    assert f"FROM {MISSING_TABLE}" in failed[0]["message"]
    assert failed[0]["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        (USER_EMAIL, MASKED_EMAIL),
        ("a@b.co", "a***@b.co"),
        ("not-an-address", "***"),
        (None, None),
    ],
)
def test_mask_email(email: str | None, masked: str | None) -> None:
    assert mask_email(email) == masked
