"""HTTP metrics for Prometheus: requests and latency by route template.

Labelled by the route's template (`/api/v1/notifications/{notification_id}`), never the
raw path: one series per route, however many ids and junk paths clients send.
Counted per process: with `uvicorn --workers N`, each scrape sees whichever process
answered it (see the docs' Operations page).
"""

from __future__ import annotations

import re
import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Requests that matched no route (404s, scanners): one label, not one per path.
UNMATCHED_ROUTE = "unmatched"
# Servers accept any token as a method; other ones share one label.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time from the request's arrival to the end of its answer, by route template.",
            ["route", "method"],
            registry=registry,
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)


def route_template(scope: Scope) -> str:
    """The template of the route that handled the request; routing has put the route in
    the scope by the time the answer has gone."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    regex = getattr(route, "path_regex", None)
    if isinstance(template, str) and isinstance(regex, re.Pattern):
        return _included_prefix(scope["path"], regex) + template
    if "app_root_path" in scope:  # inside a Mount (static files): one series for it all
        return str(scope.get("root_path", "")) + "/{path}"
    return UNMATCHED_ROUTE


def _included_prefix(path: str, regex: re.Pattern[str]) -> str:
    """The prefix of the router(s) the route was included under.

    Some FastAPI versions copy included routes with the prefix added to their path; newer
    ones keep the router and match the route against the rest of the path. Either way,
    the route's pattern matches the path from the prefix's end (from 0 when its path is
    whole), and a prefix is literal text of the router's, never a client's value.
    """
    start = 0
    while start != -1:
        if regex.match(path[start:]):
            return path[:start]
        start = path.find("/", start + 1)
    return ""


class HttpMetricsMiddleware:
    """Plain ASGI (no BaseHTTPMiddleware task hop): a clock and two label look-ups per
    request. Outermost, so it also counts answers the inner middleware makes (413, 500)."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status_code = 500  # when the app raises before answering

        async def send_and_note_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            self.metrics.observe(
                route_template(scope),
                method if (method := scope["method"]) in KNOWN_METHODS else OTHER_METHOD,
                status_code,
                time.perf_counter() - started,
            )
