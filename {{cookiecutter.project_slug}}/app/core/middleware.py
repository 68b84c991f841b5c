"""ASGI middleware: request id, access log, and the net that turns a crash into a clean 500."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.context import RequestState, request_state_var
from app.core.errors import error_body
from app.core.logging import get_api_logger, mask_email

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept only when it is short and harmless to echo into logs and headers.
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _INCOMING_ID.match(text) else None
    return None


class RequestContextMiddleware:
    """Plain ASGI (no BaseHTTPMiddleware task hop), so it costs next to nothing per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.logger = get_api_logger()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        state = RequestState(request_id)
        token = request_state_var.set(state)
        status_code = 500
        response_started = False
        header = (REQUEST_ID_HEADER.lower().encode(), request_id.encode())

        async def send_with_request_id(message: Message) -> None:
            nonlocal status_code, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_code = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            self.logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if response_started:
                raise
            status_code = 500
            body = json.dumps(
                error_body("INTERNAL_ERROR", "The server failed to handle this request.")
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        header,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        finally:
            self._log_access(scope, state, status_code, time.perf_counter() - started)
            request_state_var.reset(token)

    def _log_access(
        self, scope: Scope, state: RequestState, status_code: int, elapsed: float
    ) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        client = scope.get("client")
        client_address = client[0] if client else "-"
        user_id = state.user_id
        email = mask_email(state.user_email)
        duration_ms = round(elapsed * 1000, 2)
        self.logger.info(
            "%s %s %s %.2fms client=%s user=%s email=%s",
            scope["method"],
            scope["path"],
            status_code,
            duration_ms,
            client_address,
            user_id or "-",
            email or "-",
            extra={
                "method": scope["method"],
                "path": scope["path"],
                "status": status_code,
                "duration_ms": duration_ms,
                "client": client_address,
                "user_id": user_id,
                "email": email,
            },
        )
