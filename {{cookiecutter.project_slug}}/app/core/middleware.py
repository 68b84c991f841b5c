"""ASGI middleware: request id, security headers, access log, the net that turns a crash
into a clean 500, and the request body size limit."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.context import RequestState, request_state_var
from app.core.errors import RequestTooLargeError, error_body
from app.core.logging import get_api_logger, mask_email

# What the access log says of a request whose client left before the answer (as nginx).
CLIENT_CLOSED_REQUEST = 499
REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept only when it is short and harmless to echo into logs and headers.
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Browsers must not guess a content type (a JSON answer rendered as HTML).
NOSNIFF = (b"x-content-type-options", b"nosniff")
# Served over https: browsers keep to https for a year, subdomains included.
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


def security_headers(served_over_https: bool) -> tuple[tuple[bytes, bytes], ...]:
    """The headers every answer carries; HSTS only where the service is reached over https."""
    return (NOSNIFF, HSTS) if served_over_https else (NOSNIFF,)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            # fullmatch: `$` alone would let a trailing newline through into the header.
            return text if _INCOMING_ID.fullmatch(text) else None
    return None


class RequestContextMiddleware:
    """Plain ASGI (no BaseHTTPMiddleware task hop), so it costs next to nothing per request."""

    def __init__(
        self, app: ASGIApp, response_headers: tuple[tuple[bytes, bytes], ...] = (NOSNIFF,)
    ) -> None:
        self.app = app
        self.logger = get_api_logger()
        self.response_headers = response_headers

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
        added_headers = (header, *self.response_headers)

        async def send_with_request_id(message: Message) -> None:
            nonlocal status_code, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_code = message["status"]
                message["headers"] = [*message.get("headers", []), *added_headers]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_request_id)
        except RequestTooLargeError as exc:
            # Raised while reading the body in a place that did not turn it into a response.
            if response_started:
                raise
            status_code = exc.status_code
            await _send_error(
                send, exc.status_code, exc.code, exc.message, exc.detail, *added_headers
            )
        except ClientDisconnect:
            # The client left while its body was being read: nobody is there to answer.
            status_code = CLIENT_CLOSED_REQUEST
        except Exception:
            self.logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if response_started:
                raise
            status_code = 500
            await _send_error(
                send,
                500,
                "INTERNAL_ERROR",
                "The server failed to handle this request.",
                None,
                *added_headers,
            )
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


async def _send_error(
    send: Send,
    status_code: int,
    code: str,
    message: str,
    detail: object,
    *extra_headers: tuple[bytes, bytes],
) -> None:
    body = json.dumps(error_body(code, message, detail)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra_headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


class RequestBodyLimitMiddleware:
    """Refuses request bodies over `max_body_bytes` with 413 REQUEST_TOO_LARGE.

    A Content-Length over the limit is refused before a byte is read. The body is also
    counted as it streams in, so a missing or understated Content-Length (chunked uploads,
    or a client that lies) cannot get more than the limit into memory: the read that
    crosses it raises, which the error handlers (or RequestContextMiddleware) answer with
    the same 413. Runs before any endpoint code has a whole body, so nothing is stored.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def _too_large(self, size: int | None) -> RequestTooLargeError:
        return RequestTooLargeError(
            f"The request body is larger than {self.max_body_bytes} bytes.",
            detail={"max_bytes": self.max_body_bytes, "content_length": size},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            error = self._too_large(declared)
            await _send_error(send, error.status_code, error.code, error.message, error.detail)
            return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise self._too_large(declared)
            return message

        await self.app(scope, counting_receive, send)
