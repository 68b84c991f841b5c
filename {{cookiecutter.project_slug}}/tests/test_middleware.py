"""The request id: on every response, echoed when the caller sent a sane one."""

from __future__ import annotations

import logging
import re

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import Message, Receive, Scope, Send

from app.core.middleware import RequestContextMiddleware

GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.mark.parametrize(
    ("method", "path", "status_code"),
    [("GET", "/health", 200), ("GET", "/no/such/page", 404), ("POST", "/health", 405)],
)
async def test_every_response_carries_a_fresh_request_id(
    lean_client: httpx.AsyncClient, method: str, path: str, status_code: int
) -> None:
    first = await lean_client.request(method, path)
    second = await lean_client.request(method, path)
    assert first.status_code == second.status_code == status_code
    assert GENERATED_ID.match(first.headers["X-Request-ID"])
    assert GENERATED_ID.match(second.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    assert len(first.headers.get_list("X-Request-ID")) == 1


@pytest.mark.parametrize(
    "incoming",
    ["checkout-7f3a.retry:2_b", "0af7651916cd43dd8448eb211c80319c", "x" * 128],
)
async def test_a_sane_incoming_request_id_is_echoed(
    lean_client: httpx.AsyncClient, incoming: str
) -> None:
    response = await lean_client.get("/health", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming",
    [
        "x" * 129,
        "two words",
        "abc\r\nSet-Cookie: session=stolen",
        "<script>",
        "",
    ],
    ids=["too-long", "space", "crlf", "markup", "empty"],
)
async def test_an_unsafe_incoming_request_id_is_replaced(
    lean_client: httpx.AsyncClient, incoming: str
) -> None:
    response = await lean_client.get("/health", headers={"X-Request-ID": incoming})
    assert response.status_code == 200
    assert GENERATED_ID.match(response.headers["X-Request-ID"])
    assert "set-cookie" not in response.headers


async def test_error_body_names_the_same_request_id_as_the_header(
    lean_client: httpx.AsyncClient,
) -> None:
    response = await lean_client.get("/no/such/page", headers={"X-Request-ID": "trace-42"})
    assert response.headers["X-Request-ID"] == "trace-42"
    assert response.json()["request_id"] == "trace-42"

    generated = await lean_client.get("/no/such/page")
    assert generated.json()["request_id"] == generated.headers["X-Request-ID"]


async def test_a_client_leaving_mid_body_is_a_quiet_499_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def reads_the_body(scope: Scope, receive: Receive, send: Send) -> None:
        await Request(scope, receive).body()
        await PlainTextResponse("read")(scope, receive, send)

    messages = iter([{"type": "http.request", "body": b"{", "more_body": True}])

    async def receive() -> Message:
        # The rest of the body never comes: the client hung up.
        return next(messages, {"type": "http.disconnect"})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/notifications",
        "headers": [],
        "query_string": b"",
        "client": ("203.0.113.10", 4000),
    }
    with caplog.at_level(logging.INFO):
        await RequestContextMiddleware(reads_the_body)(scope, receive, send)

    assert sent == [], "nobody is there to answer"
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert any(" 499 " in record.getMessage() for record in caplog.records)
