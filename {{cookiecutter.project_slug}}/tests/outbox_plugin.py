"""A `webhook` notifier plugin and the HTTP endpoint it delivers to, for the delivery tests.

The notifier is what a third-party plugin would be: it posts each message to an HTTP
endpoint, and maps the answer onto delivered / retryable / permanent. The endpoint
(`WebhookTarget`) is a local server the tests can stop and start again on the same port,
which is what a provider outage looks like from the service: connections refused.

Worker processes load the plugin through an entry point (`install_entry_point`), as an
installed package's plugin is loaded; the in-process tests register `WebhookPlugin`
objects with the plugin manager.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.core.config import Settings
from app.core.hookspecs import hookimpl
from app.core.interfaces import DeliveryResult, Notifier, OutgoingMessage
from app.core.plugins import ENTRY_POINT_GROUP

CHANNEL = "webhook"
URL_ENV = "OUTBOX_TEST_WEBHOOK_URL"
RECIPIENT = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# Recipients that script the endpoint's answers: `flaky2-x` fails twice with 503 per
# notification, then succeeds; `reject-x` is refused for good (400).
FLAKY = re.compile(r"^flaky(\d+)-")
REJECT_PREFIX = "reject-"


class WebhookNotifier:
    name = "webhook"
    channel = CHANNEL
    is_stand_in = False

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._client: httpx.AsyncClient | None = None

    @property
    def is_configured(self) -> bool:
        return bool(self.url)

    def check_recipient(self, address: str) -> str | None:
        if RECIPIENT.match(address):
            return None
        return "a webhook recipient is 1 to 64 of a-z, 0-9, '.', '_' and '-'"

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        if self._client is None:  # one client per process, made in the loop that uses it
            self._client = httpx.AsyncClient(timeout=5.0)
        body = {"notification_id": message.id, "to": message.to, "text": message.text}
        try:
            response = await self._client.post(f"{self.url}/messages", json=body)
        except httpx.TransportError as exc:
            return DeliveryResult.retryable(f"webhook unreachable: {type(exc).__name__}")
        if response.status_code == 429 or response.status_code >= 500:
            return DeliveryResult.retryable(f"webhook answered {response.status_code}")
        if response.status_code >= 400:
            return DeliveryResult.permanent(
                f"webhook refused the message: {response.json().get('error')}"
            )
        message_id: str = response.json()["message_id"]
        return DeliveryResult.delivered(message_id)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class WebhookPlugin:
    """The plugin: adds the webhook notifier (which closes its client at shutdown)."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url

    @hookimpl
    def register_notifiers(self, settings: Settings) -> Sequence[Notifier]:
        return [WebhookNotifier(self.url or os.environ.get(URL_ENV, ""))]


# What the entry point names: worker processes read the endpoint's URL from URL_ENV.
plugin = WebhookPlugin()


def install_entry_point(folder: Path) -> Path:
    """Write what installing a package with this plugin leaves behind; put `folder` on
    a process's path and its plugin manager finds the plugin."""
    dist_info = folder / "outbox_test_webhook-1.0.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: outbox-test-webhook\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nwebhook = tests.outbox_plugin:plugin\n"
    )
    return folder


class WebhookTarget:
    """The endpoint the webhook notifier posts to: records each message it accepts.

    `stop()` and `start()` take it down and bring it back on the same port. `delay`
    makes each answer take that long, so that sends are in flight for a while.
    """

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.delay = 0.0
        self._lock = threading.Lock()
        self.accepted: list[str] = []  # notification ids, one per message accepted
        self.requests: Counter[str] = Counter()  # every request, answered or not
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.app = Starlette(routes=[Route("/messages", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> JSONResponse:
        body: dict[str, Any] = await request.json()
        notification_id = str(body["notification_id"])
        recipient = body["to"][0]
        with self._lock:
            self.requests[notification_id] += 1
            seen = self.requests[notification_id]
        if self.delay:
            await asyncio.sleep(self.delay)
        if recipient.startswith(REJECT_PREFIX):
            return JSONResponse({"error": "no such recipient"}, status_code=400)
        flaky = FLAKY.match(recipient)
        if flaky and seen <= int(flaky.group(1)):
            return JSONResponse({"error": "try again later"}, status_code=503)
        with self._lock:
            self.accepted.append(notification_id)
        return JSONResponse({"message_id": f"hook-{uuid.uuid4().hex}"})

    def forget(self) -> None:
        with self._lock:
            self.accepted.clear()
            self.requests.clear()

    def delivered(self) -> Counter[str]:
        with self._lock:
            return Counter(self.accepted)

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def start(self, timeout: float = 10.0) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        server = uvicorn.Server(
            uvicorn.Config(
                self.app, lifespan="off", log_level="warning", timeout_graceful_shutdown=5
            )
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the webhook target on {self.url} did not start")
            time.sleep(0.01)
        self._server, self._thread, self._socket = server, thread, sock

    def stop(self) -> None:
        if self._server is None or self._thread is None or self._socket is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._socket.close()
        self._server = self._thread = self._socket = None
