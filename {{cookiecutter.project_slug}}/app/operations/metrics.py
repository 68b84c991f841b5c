"""What `/metrics` shows (METRICS_ENABLED=true): HTTP metrics, notifications accepted, and
the outbox read from the database at scrape time.

Deliveries happen in worker processes (TASK_BROKER=redis or rabbitmq), which serve no HTTP:
counters kept in the API process would never see them. The outbox table sees every
process's work, so delivered, failed and waiting notifications are gauges read from it,
one grouped query per scrape.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from app.core.config import Settings
from app.core.database import Database
from app.core.logging import get_api_logger
from app.core.metrics import HttpMetrics
from app.notifications.models import Notification, NotificationStatus

logger = get_api_logger()

# Rows still to be delivered: waiting for an attempt, or being sent.
BACKLOG_STATUSES = (NotificationStatus.QUEUED.value, NotificationStatus.SENDING.value)

OutboxCounts = dict[tuple[str, str], int]


class NotificationMetrics:
    def __init__(self, registry: CollectorRegistry, channels: Iterable[str]) -> None:
        self.accepted = Counter(
            "notifications_accepted",
            "Notifications this API process accepted (idempotent replays not counted), by channel.",
            ["channel"],
            registry=registry,
        )
        for channel in channels:  # a channel with none yet shows 0, not nothing
            self.accepted.labels(channel)

    def count_accepted(self, notification: Notification) -> None:
        self.accepted.labels(notification.channel).inc()


class Metrics:
    """One app's metrics, in a registry of its own (not the process-wide default one), so
    that several apps in one process (tests) do not share counts."""

    def __init__(self, channels: Iterable[str]) -> None:
        self.channels = list(channels)
        self.registry = CollectorRegistry()
        self.http = HttpMetrics(self.registry)
        self.notifications = NotificationMetrics(self.registry, self.channels)


def create_metrics(settings: Settings, channels: Iterable[str]) -> Metrics | None:
    return Metrics(channels) if settings.metrics_enabled else None


async def outbox_counts(database: Database) -> OutboxCounts:
    """Notifications by (channel, status): one grouped query over the outbox."""
    query = select(Notification.channel, Notification.status, func.count()).group_by(
        Notification.channel, Notification.status
    )
    async with database.engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return {(channel, status): count for channel, status, count in rows}


class OutboxSnapshot(Collector):
    """The outbox as one scrape read it; None when the query failed."""

    def __init__(self, counts: OutboxCounts | None, channels: Iterable[str]) -> None:
        self.counts = counts
        self.channels = channels

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "notifications_outbox_up",
            "1 when this scrape read the outbox from the database, 0 when it could not.",
            value=0 if self.counts is None else 1,
        )
        if self.counts is None:
            return
        # Every configured channel and status appears, at 0 when it has no rows.
        channels = sorted({*self.channels, *(channel for channel, _ in self.counts)})
        by_status = GaugeMetricFamily(
            "notifications_by_status",
            "Notifications in the outbox by channel and status (delivered, failed, unknown, "
            "queued, sending), read from the database at scrape time.",
            labels=["channel", "status"],
        )
        backlog = GaugeMetricFamily(
            "notifications_backlog",
            "Notifications not yet delivered (queued or sending), by channel.",
            labels=["channel"],
        )
        for channel in channels:
            for status in NotificationStatus:
                count = self.counts.get((channel, status.value), 0)
                by_status.add_metric([channel, status.value], count)
            waiting = sum(self.counts.get((channel, status), 0) for status in BACKLOG_STATUSES)
            backlog.add_metric([channel], waiting)
        yield by_status
        yield backlog


class _Scrape(Collector):
    def __init__(self, *collectors: Collector) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def scrape_allowed(settings: Settings, authorization: str | None) -> bool:
    """With METRICS_TOKEN set, only a scraper sending it as a bearer token may read."""
    if not settings.metrics_token:
        return True
    scheme, _, supplied = (authorization or "").partition(" ")
    # Constant time: the comparison does not tell how much of a guess was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        supplied.strip().encode(), settings.metrics_token.encode()
    )


async def render(metrics: Metrics, database: Database, seconds: float) -> bytes:
    """The exposition text: this process's counters, then the outbox as it is now."""
    counts: OutboxCounts | None
    try:
        counts = await asyncio.wait_for(outbox_counts(database), seconds)
    except Exception as exc:  # the HTTP metrics are still worth serving
        logger.warning("metrics: outbox query failed: %s: %s", type(exc).__name__, exc)
        counts = None
    return generate_latest(_Scrape(metrics.registry, OutboxSnapshot(counts, metrics.channels)))
