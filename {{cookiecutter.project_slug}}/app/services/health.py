"""What `/health` reports: each dependency's state."""

from __future__ import annotations

import asyncio

from app.core.database import Database
from app.core.logging import get_api_logger

# Under the service's own logger, so the reason reaches the service's log handler.
logger = get_api_logger()

CHECK_TIMEOUT_SECONDS = 3.0


async def check_database(database: Database) -> str:
    try:
        await asyncio.wait_for(database.ping(), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure means "down"; the log keeps the reason
        logger.warning("health: database check failed: %s: %s", type(exc).__name__, exc)
        return "unavailable"
    return "ok"


async def check_health(database: Database) -> dict[str, str]:
    checks = {"database": await check_database(database)}
    status = "ok" if all(state == "ok" for state in checks.values()) else "unavailable"
    return {"status": status, **checks}
