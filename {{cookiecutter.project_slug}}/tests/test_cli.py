"""`python -m app.cli send`, `status`, `list`: the signed API from a shell.

In process against a stand-in endpoint (under a base URL with a path, so it cannot clash
with the service's own route), and as a real process against the service on a socket.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Header, Request

from app.cli import run
from app.main import create_app
from app.signed_api.signed_route import SignedCaller
from tests.fakes.server import LiveServer
from tests.support import (
    TEST_CLIENT_ADDRESS,
    IssuedKey,
    ServeApp,
    SettingsFactory,
    closed_port,
    create_user,
    issue_api_key,
    reset_database,
)

PROJECT_DIR = Path(__file__).resolve().parents[1]
STAND_IN_PREFIX = "/stand-in"
SEND = [
    "send",
    "--channel",
    "email",
    "--to",
    "a@example.com",
    "--to",
    "b@example.com",
    "--subject",
    "Hi",
    "--text",
    "hello",
]


def with_stand_in_endpoint(app: FastAPI) -> FastAPI:
    """A signed endpoint that answers with what it received."""

    @app.post(f"{STAND_IN_PREFIX}/api/v1/notifications", status_code=202)
    async def accept(
        request: Request,
        caller: SignedCaller,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> dict[str, Any]:
        return {
            "received": json.loads(await request.body()),
            "api_key_id": caller.api_key_id,
            "idempotency_key": idempotency_key,
        }

    return app


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def answer(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture(scope="module")
def stand_in_app(module_app: FastAPI) -> FastAPI:
    """The module's app for the in-process tests; each test starts it on an empty database."""
    return with_stand_in_endpoint(module_app)


@pytest.fixture
async def stand_in(stand_in_app: FastAPI, serve: ServeApp) -> AsyncIterator[FastAPI]:
    async with serve(stand_in_app):
        yield stand_in_app


@pytest.fixture
async def key(stand_in: FastAPI) -> IssuedKey:
    return await issue_api_key(stand_in, await create_user(stand_in))


def environment(key: IssuedKey, base_url: str, secret_key: str | None = None) -> dict[str, str]:
    return {
        "API_ACCESS_KEY": key.access_key,
        "API_SECRET_KEY": secret_key or key.secret_key,
        "API_BASE_URL": base_url,
    }


async def run_in_process(app: FastAPI, argv: list[str], environ: dict[str, str]) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    transport = httpx.ASGITransport(app=app, client=(TEST_CLIENT_ADDRESS, 51000))
    code = await run(argv, environ=environ, transport=transport, stdout=out, stderr=err)
    return Outcome(code, out.getvalue(), err.getvalue())


async def test_send_posts_a_signed_notification_and_prints_the_answer(
    stand_in: FastAPI, key: IssuedKey
) -> None:
    argv = [
        *SEND,
        "--html",
        "<p>hello</p>",
        "--metadata",
        '{"order": 42}',
        "--idempotency-key",
        "order-42",
    ]
    outcome = await run_in_process(
        stand_in, argv, environment(key, f"http://testserver{STAND_IN_PREFIX}")
    )

    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.answer == {
        "received": {
            "channel": "email",
            "to": ["a@example.com", "b@example.com"],
            "subject": "Hi",
            "text": "hello",
            "html": "<p>hello</p>",
            "metadata": {"order": 42},
        },
        "api_key_id": key.id,
        "idempotency_key": "order-42",
    }


async def test_a_refusal_prints_its_code_and_message_and_exits_1(
    stand_in: FastAPI, key: IssuedKey
) -> None:
    environ = environment(key, f"http://testserver{STAND_IN_PREFIX}/", secret_key="wrong-" * 8)
    outcome = await run_in_process(stand_in, SEND, environ)
    assert outcome.exit_code == 1
    assert outcome.stdout == ""
    assert outcome.stderr.startswith("error: 401 SIGNATURE_INVALID: The signature does not match")


async def test_missing_key_variables_are_named_and_exit_2(stand_in: FastAPI) -> None:
    outcome = await run_in_process(stand_in, SEND, {"API_BASE_URL": "http://testserver"})
    assert outcome.exit_code == 2
    assert "API_ACCESS_KEY and API_SECRET_KEY" in outcome.stderr


async def test_an_unreachable_service_exits_1(key: IssuedKey) -> None:
    port = closed_port()
    out, err = io.StringIO(), io.StringIO()
    code = await run(
        SEND, environ=environment(key, f"http://127.0.0.1:{port}"), stdout=out, stderr=err
    )
    assert code == 1
    assert f"cannot reach http://127.0.0.1:{port}/" in err.getvalue()


async def test_metadata_must_be_a_json_object(stand_in: FastAPI, key: IssuedKey) -> None:
    environ = environment(key, f"http://testserver{STAND_IN_PREFIX}")
    outcome = await run_in_process(stand_in, [*SEND, "--metadata", "[1, 2]"], environ)
    assert outcome.exit_code == 2
    assert "must be a JSON object" in outcome.stderr
    assert outcome.stdout == ""


async def test_a_missing_option_is_a_usage_mistake(stand_in: FastAPI, key: IssuedKey) -> None:
    environ = environment(key, f"http://testserver{STAND_IN_PREFIX}")
    outcome = await run_in_process(stand_in, ["send", "--channel", "email"], environ)
    assert outcome.exit_code == 2
    assert "Missing option '--to'" in outcome.stderr


# -- as a real process, against the service on a socket -------------------------------


@dataclass
class LiveService:
    url: str
    key: IssuedKey


@pytest.fixture
async def live_service(make_settings: SettingsFactory) -> AsyncIterator[LiveService]:
    settings = make_settings()
    server = LiveServer(lifespan="on")
    # The served app runs on the server's own event loop; this twin (same database)
    # prepares rows from the test's loop.
    served = with_stand_in_endpoint(create_app(settings))
    twin = create_app(settings)
    try:
        server.start(served)
        key = await issue_api_key(twin, await create_user(twin))
        yield LiveService(server.url, key)
    finally:
        server.stop()
        await reset_database(twin.state.runtime.database)


async def run_command(argv: list[str], environ: dict[str, str]) -> Outcome:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        *argv,
        cwd=PROJECT_DIR,
        env={**os.environ, **environ},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Outcome(process.returncode, stdout.decode(), stderr.decode())


async def test_the_command_sends_through_the_real_service(live_service: LiveService) -> None:
    outcome = await run_command(SEND, environment(live_service.key, live_service.url))

    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.answer["status"] == "queued"
    assert outcome.answer["id"] >= 1


async def test_status_and_list_read_back_what_was_sent(live_service: LiveService) -> None:
    environ = environment(live_service.key, live_service.url)
    first = (await run_command(SEND, environ)).answer["id"]
    second = (await run_command([*SEND, "--subject", "Again"], environ)).answer["id"]

    status = await run_command(["status", str(first)], environ)
    assert status.exit_code == 0, status.stderr
    assert (status.answer["id"], status.answer["subject"]) == (first, "Hi")
    assert status.answer["to"] == ["a@example.com", "b@example.com"]

    listed = await run_command(["list", "--size", "1"], environ)
    assert listed.exit_code == 0, listed.stderr
    assert [item["id"] for item in listed.answer["items"]] == [second]
    assert (listed.answer["total"], listed.answer["pages"]) == (2, 2)

    missing = await run_command(["status", "999999"], environ)
    assert missing.exit_code == 1
    assert "404 NOTIFICATION_NOT_FOUND" in missing.stderr
    bad_status = await run_command(["list", "--status", "lost"], environ)
    assert bad_status.exit_code == 2
    assert "'lost' is not one of" in bad_status.stderr


async def test_the_command_reaches_a_service_under_a_path(live_service: LiveService) -> None:
    url = f"{live_service.url}{STAND_IN_PREFIX}"
    outcome = await run_command(SEND, environment(live_service.key, url))
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.answer["received"]["to"] == ["a@example.com", "b@example.com"]


async def test_the_command_exits_1_with_the_code_of_a_refusal(live_service: LiveService) -> None:
    environ = environment(live_service.key, live_service.url, secret_key="wrong-" * 8)
    outcome = await run_command(SEND, environ)
    assert outcome.exit_code == 1
    assert "401 SIGNATURE_INVALID" in outcome.stderr
    assert outcome.stdout == ""
