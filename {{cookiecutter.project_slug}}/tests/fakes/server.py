"""Serve an ASGI app with uvicorn on 127.0.0.1, on a free port, in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Literal

import uvicorn
from starlette.types import ASGIApp


class LiveServer:
    """The socket is bound at once, so `url` is known before the app is built (an app
    whose settings must name its own address, say) and handed to `start`."""

    def __init__(
        self,
        app: ASGIApp | None = None,
        *,
        lifespan: Literal["auto", "on", "off"] = "off",
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._app = app
        self._lifespan = lifespan
        self._on_stop = on_stop
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, app: ASGIApp | None = None, timeout: float = 20.0) -> None:
        app = app or self._app
        if app is None:
            raise ValueError("LiveServer.start needs an app")
        config = uvicorn.Config(
            app, lifespan=self._lifespan, log_level="warning", timeout_graceful_shutdown=2
        )
        server = self._server = uvicorn.Server(config)
        thread = self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the server for {self.url} stopped while starting")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server for {self.url} did not start in {timeout}s")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._on_stop is not None:
            self._on_stop()
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
        self._socket.close()

    def __enter__(self) -> LiveServer:
        if self._app is not None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


async def wait_unless(seconds: float, stopped: Callable[[], bool]) -> None:
    """A fake's slow answer: `seconds`, cut short once `stopped()` is true, so that the
    fake's server stops without waiting for it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    # Polled: the server is stopped from another thread, which cannot set an asyncio.Event.
    while not stopped():
        left = deadline - loop.time()
        if left <= 0:
            return
        await asyncio.sleep(min(left, 0.05))
