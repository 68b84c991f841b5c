"""What `/health` reports: each dependency's state.

The database always; the broker when `TASK_BROKER` is redis or rabbitmq; Redis when
`REDIS_URL` is set. The checks run at once, each cut off after
`HEALTH_CHECK_TIMEOUT_SECONDS`, so a hung dependency costs one timeout, not one per part.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from app.core.config import Settings, TaskBroker
from app.core.database import Database
from app.core.logging import get_api_logger

# Under the service's own logger, so the reason reaches the service's log handler.
logger = get_api_logger()

OK = "ok"
UNAVAILABLE = "unavailable"

Check = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class HealthReport:
    # Part name → "ok" or "unavailable".
    parts: dict[str, str]
    # Part name → a short reason, for the parts that failed (no addresses, no secrets).
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.reasons

    @property
    def failing(self) -> list[str]:
        return list(self.reasons)


async def ping_redis(url: str, seconds: float) -> None:
    from redis.asyncio import Redis

    # The caller's wait_for cuts the check off; the client's own limits are a backstop.
    client = Redis.from_url(url, socket_timeout=2 * seconds, socket_connect_timeout=2 * seconds)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def ping_rabbitmq(url: str, seconds: float) -> None:
    """Open an AMQP connection (TCP, handshake, login) and close it again."""
    import aio_pika

    connection = await aio_pika.connect(url, timeout=2 * seconds)
    await connection.close()


def checks_for(database: Database, settings: Settings) -> dict[str, Check]:
    """The parts this deployment depends on, each with its check."""
    seconds = settings.health_check_timeout_seconds
    checks: dict[str, Check] = {"database": database.ping}
    broker_url = settings.broker_url or ""
    if settings.delivery_broker is TaskBroker.REDIS:
        checks["broker"] = lambda: ping_redis(broker_url, seconds)
    elif settings.delivery_broker is TaskBroker.RABBITMQ:
        checks["broker"] = lambda: ping_rabbitmq(broker_url, seconds)
    if settings.redis_url:
        redis_url = settings.redis_url
        checks["redis"] = lambda: ping_redis(redis_url, seconds)
    return checks


def failure_reason(exc: BaseException, seconds: float) -> str:
    """Short and safe to show anyone: the kind of failure, never the message (which may
    carry a host name or a user name)."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {seconds:g}s"
    cause: BaseException | None = exc
    seen: set[int] = set()
    # Client libraries wrap the socket's error in their own (a chain can loop: stop then).
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return type(exc).__name__


async def run_check(name: str, check: Check, seconds: float) -> str | None:
    """None when the part answered, else why not."""
    try:
        await asyncio.wait_for(check(), seconds)
    except Exception as exc:  # any failure means "down"; the log keeps the whole reason
        logger.warning("health: %s check failed: %s: %s", name, type(exc).__name__, exc)
        return failure_reason(exc, seconds)
    return None


async def check_health(database: Database, settings: Settings) -> HealthReport:
    checks = checks_for(database, settings)
    seconds = settings.health_check_timeout_seconds
    results = await asyncio.gather(
        *(run_check(name, check, seconds) for name, check in checks.items())
    )
    reasons = {name: reason for name, reason in zip(checks, results, strict=True) if reason}
    parts = {name: UNAVAILABLE if name in reasons else OK for name in checks}
    return HealthReport(parts, reasons)
