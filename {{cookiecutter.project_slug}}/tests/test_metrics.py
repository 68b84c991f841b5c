"""`/metrics` (METRICS_ENABLED=true): Prometheus text with requests by route template,
latency, notifications accepted, and the outbox read from the database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from app.main import create_app
from tests.outbox_plugin import WebhookPlugin, WebhookTarget
from tests.outbox_support import (
    FAST_DELIVERY,
    NOTIFICATIONS,
    new_caller,
    statuses,
    wait_until,
    webhook,
)
from tests.support import (
    ServeApp,
    SettingsFactory,
    build_app,
    build_test_settings,
    signed_client,
    started,
)
from tests.test_health import unreachable_url

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample as (name, labels) → value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def test_metrics_do_not_exist_unless_enabled(
    make_settings: SettingsFactory, serve_lean: ServeApp
) -> None:
    async with serve_lean(create_app(make_settings())) as client:
        response = await client.get("/metrics")
        schema = (await client.get("/openapi.json")).json()
    assert response.status_code == 404
    assert "/metrics" not in schema["paths"]


async def test_requests_are_counted_by_route_template_and_status(
    make_settings: SettingsFactory, serve_lean: ServeApp
) -> None:
    async with serve_lean(create_app(make_settings(metrics_enabled=True))) as client:
        for _ in range(3):
            assert (await client.get("/health")).status_code == 200
        # Two ids, one route: one series, not one per id.
        for notification_id in (11, 12):
            response = await client.get(f"{NOTIFICATIONS}/{notification_id}")
            assert response.status_code == 401  # unsigned
        for junk in ("/wp-admin", "/.env", "/no/such/page"):
            assert (await client.get(junk)).status_code == 404
        assert (await client.post("/health")).status_code == 405
        # The static files share one series, found or not.
        assert (await client.get("/static/pages.css")).status_code == 200
        assert (await client.get("/static/no-such-file.css")).status_code == 404
        samples = await scrape(client)
        schema = (await client.get("/openapi.json")).json()

    requests = "http_requests_total"
    assert value(samples, requests, route="/health", method="GET", status="200") == 3
    one_route = NOTIFICATIONS + "/{notification_id}"
    assert value(samples, requests, route=one_route, method="GET", status="401") == 2
    assert value(samples, requests, route="unmatched", method="GET", status="404") == 3
    assert value(samples, requests, route="/health", method="POST", status="405") == 1
    static = "/static/{path}"
    assert value(samples, requests, route=static, method="GET", status="200") == 1
    assert value(samples, requests, route=static, method="GET", status="404") == 1
    routes = {dict(labels).get("route") for name, labels in samples if name == requests}
    assert not any(
        str(route).endswith(("/11", "/12", "wp-admin", ".env", ".css")) for route in routes
    )
    # The latency histogram has one series per route as well.
    latency = "http_request_duration_seconds_count"
    assert value(samples, latency, route="/health", method="GET") == 3
    assert value(samples, latency, route=one_route, method="GET") == 2
    bucket = "http_request_duration_seconds_bucket"
    assert value(samples, bucket, route="/health", method="GET", le="+Inf") == 3
    # For the monitoring system, not a part of the API clients read about.
    assert "/metrics" not in schema["paths"]


async def test_with_a_metrics_token_only_its_bearer_may_read(
    make_settings: SettingsFactory, serve_lean: ServeApp
) -> None:
    token = "scrape-token-0123456789abcdef"
    settings = make_settings(metrics_enabled=True, metrics_token=token)
    async with serve_lean(create_app(settings)) as client:
        nothing = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        prefix = await client.get("/metrics", headers={"Authorization": f"Bearer {token[:-1]}"})
        basic = await client.get("/metrics", headers={"Authorization": f"Basic {token}"})
        right = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})

    for refused in (nothing, wrong, prefix, basic):
        assert refused.status_code == 401, refused.text
        body = refused.json()
        assert set(body) == {"code", "message", "detail", "request_id"}
        assert body["code"] == "METRICS_TOKEN_INVALID"
        assert refused.headers["WWW-Authenticate"] == "Bearer"
        assert "http_requests_total" not in refused.text
    assert right.status_code == 200
    assert value(parse(right.text), "notifications_outbox_up") == 1


async def test_metrics_still_answer_while_the_database_is_down(
    make_settings: SettingsFactory, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        metrics_enabled=True,
        database_url=unreachable_url(database_url, tmp_path),
        create_tables_on_startup=False,
    )
    application = create_app(settings)
    transport = httpx.ASGITransport(app=application)
    try:
        async with (
            application.router.lifespan_context(application),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        ):
            assert (await client.get("/health")).status_code == 503
            samples = await scrape(client)
    finally:
        await application.state.runtime.database.dispose()

    # The monitoring system learns that the outbox could not be read, and still gets the
    # HTTP numbers (here: the 503 of /health).
    assert value(samples, "notifications_outbox_up") == 0
    assert value(samples, "notifications_backlog", channel="email") is None
    requests = "http_requests_total"
    assert value(samples, requests, route="/health", method="GET", status="503") == 1


@pytest.fixture(scope="module")
def target() -> Iterator[WebhookTarget]:
    endpoint = WebhookTarget()
    endpoint.start()
    yield endpoint
    endpoint.stop()


@pytest.fixture
async def service(database_url: str, target: WebhookTarget) -> AsyncIterator[FastAPI]:
    target.forget()
    settings = build_test_settings(
        database_url,
        metrics_enabled=True,
        **{**FAST_DELIVERY, "delivery_retry_max_seconds": 0.05},
        # The flaky recipient below keeps failing: it must stay waiting, not end failed.
        max_delivery_attempts=10_000,
    )
    async with started(build_app(settings, WebhookPlugin(target.url))) as application:
        yield application


async def test_notifications_accepted_delivered_failed_and_waiting_by_channel(
    service: FastAPI,
) -> None:
    caller = await new_caller(service)
    async with signed_client(service, caller) as client:
        before = await scrape(client)
        ids = []
        for recipient in ("ada", "reject-bob", "flaky100000-carol"):
            response = await client.post(NOTIFICATIONS, json=webhook(recipient))
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        # A replay of the same request is not a new notification.
        for _ in range(2):
            replay = await client.post(
                NOTIFICATIONS, json=webhook("ada"), headers={"Idempotency-Key": "once"}
            )
            assert replay.status_code == 202, replay.text
        ids.append(replay.json()["id"])

        async def two_finished() -> bool:
            counts = await statuses(service.state.runtime.database, ids)
            return counts.get("delivered") == 2 and counts.get("failed") == 1

        await wait_until(two_finished, 20, "delivered and failed")
        after = await scrape(client)

    # Every channel shows, at 0 before anything is sent.
    for channel in ("webhook", "email"):
        assert value(before, "notifications_accepted_total", channel=channel) == 0
        assert value(before, "notifications_backlog", channel=channel) == 0
        assert value(before, "notifications_by_status", channel=channel, status="delivered") == 0
    assert value(after, "notifications_accepted_total", channel="webhook") == 4
    assert value(after, "notifications_accepted_total", channel="email") == 0
    assert value(after, "notifications_outbox_up") == 1
    webhook_rows = {
        status: value(after, "notifications_by_status", channel="webhook", status=status)
        for status in ("delivered", "failed", "unknown")
    }
    assert webhook_rows == {"delivered": 2, "failed": 1, "unknown": 0}
    # The flaky one is queued or being sent again: the backlog.
    assert value(after, "notifications_backlog", channel="webhook") == 1
    waiting = sum(
        value(after, "notifications_by_status", channel="webhook", status=status) or 0
        for status in ("queued", "sending")
    )
    assert waiting == 1
    assert value(after, "notifications_backlog", channel="email") == 0
