"""A stand-in for SES v2's `SendEmail` that answers what a test tells it to: errors, slowness."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import wait_unless

SEND_EMAIL_PATH = "/v2/email/outbound-emails"


@dataclass
class SesError:
    status: int
    code: str | None  # None: a bare status with a body that is not SES's JSON (a proxy's 503)
    message: str = "fake SES says no"


@dataclass
class FakeSes:
    error: SesError | None = None
    delay_seconds: float = 0.0
    # recipient address → the error every request to it gets (others are answered as usual)
    errors_for: dict[str, SesError] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    # The requests SES accepted (answered with a MessageId): the mails that went out.
    accepted: list[dict[str, Any]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _closing: bool = False

    def close(self) -> None:
        """Send delayed answers at once: the server is stopping."""
        self._closing = True

    def app(self) -> Starlette:
        return Starlette(routes=[Route(SEND_EMAIL_PATH, self._send_email, methods=["POST"])])

    async def _send_email(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.requests.append(body)
        error = self._error_for(body)
        if error is None:
            # Taken before the answer is sent: a slow answer is a mail that went out anyway.
            self.accepted.append(body)
        await wait_unless(self.delay_seconds, lambda: self._closing)
        if error is None:
            return JSONResponse({"MessageId": f"fake-{next(self._ids)}"})
        if error.code is None:
            return Response(b"<html>Service Unavailable</html>", error.status)
        # How SES v2 (a REST-JSON API) names its errors: a header plus a JSON message.
        return JSONResponse(
            {"message": error.message},
            status_code=error.status,
            headers={"x-amzn-ErrorType": f"{error.code}:http://internal.amazon.com/coral/"},
        )

    def _error_for(self, body: dict[str, Any]) -> SesError | None:
        destination = body.get("Destination", {})
        addresses = [address for addresses in destination.values() for address in addresses]
        for address in addresses:
            if address in self.errors_for:
                return self.errors_for[address]
        return self.error

    def destinations(self) -> list[dict[str, list[str]]]:
        """The Destination of each accepted request: who was shown on each mail."""
        return [body["Destination"] for body in self.accepted]
