"""Single-use tokens kept as rows until they expire (spent signature nonces, sign-in states).

A unique column refuses a second spend, even of two copies that race. Expired rows are
worthless and deleted after a spend, at most once per interval per process, not on a timer.
The spends of concurrent requests are written together, one INSERT for many rows.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError

from app.core.batcher import GroupCommit
from app.core.database import Database

logger = logging.getLogger(__name__)

CLEANUP_INTERVAL_SECONDS = 60.0
# Spends per statement.
BATCH_SIZE = 100


class SingleUseRows:
    """Spends tokens as rows of `model`, a table with a unique token column and an
    `expires_at` column saying when a row may go."""

    def __init__(
        self,
        database: Database,
        model: Any,
        what: str,
        *,
        cleanup_interval: float = CLEANUP_INTERVAL_SECONDS,
    ) -> None:
        self.database = database
        self.model = model
        self.what = what
        self.cleanup_interval = cleanup_interval
        self._next_cleanup = 0.0
        # Built once: SQLAlchemy then reuses its compiled SQL for every spend.
        self._insert = insert(model.__table__)
        self._spends: GroupCommit[dict[str, Any], bool] = GroupCommit(self._spend_batch, BATCH_SIZE)

    async def spend(self, expires_at: float, **values: Any) -> bool:
        """Write the token's row, valid until `expires_at` (Unix time); False if spent already.

        Committed before this returns, by a statement of its own (with the spends of the
        requests arriving meanwhile): the token is spent even if what follows fails. A Core
        statement on an autocommit connection (one round trip on PostgreSQL): it runs on every
        signed request, and an ORM session would add its own bookkeeping for nothing.
        """
        row = {**values, "expires_at": datetime.fromtimestamp(expires_at, UTC)}
        if self.database.backend == "sqlite":
            # One writer at a time and commits without an fsync: little to share, and a
            # batch's connection was seen waiting out SQLite's lock under load.
            spent = await self._insert_all([row])
        else:
            spent = await self._spends.submit(row)
        if spent:
            await self.clean_up_if_due()
        return spent

    async def close(self) -> None:
        """Wait for the spends under way (at shutdown, before the database closes)."""
        await self._spends.drain()

    async def _spend_batch(self, rows: list[dict[str, Any]]) -> list[bool]:
        if await self._insert_all(rows):
            return [True] * len(rows)
        if len(rows) == 1:
            return [False]
        # One of them was spent already (a replay), which undid the statement: each on its
        # own, so that only the replay is refused.
        return [await self._insert_all([row]) for row in rows]

    async def _insert_all(self, rows: list[dict[str, Any]]) -> bool:
        """Insert the rows in one statement; False, and none of them, if one was spent."""
        async with self.database.autocommit_connection() as connection:
            try:
                await connection.execute(
                    self._insert,
                    rows,
                    # A spent token breaking the unique column is the expected answer, not a
                    # failed query: the database logger leaves it out (app/core/database.py).
                    execution_options={"skip_user_error_events": True},
                )
                await connection.commit()
            except IntegrityError:
                await connection.rollback()
                return False
        return True

    async def clean_up_if_due(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        if now < self._next_cleanup:
            return
        # Claimed before awaiting, so concurrent requests do not all clean up at once.
        self._next_cleanup = now + self.cleanup_interval
        try:
            removed = await self.clean_up(now)
        except Exception:
            # A failed cleanup costs nothing but disk; the request it follows has succeeded.
            logger.warning("could not delete expired %s", self.what, exc_info=True)
            return
        if removed:
            logger.debug("deleted %d expired %s", removed, self.what)

    async def clean_up(self, now: float | None = None) -> int:
        """Delete the rows whose expiry has passed; say how many went."""
        cutoff = datetime.fromtimestamp(time.time() if now is None else now, UTC)
        async with self.database.sessionmaker() as session:
            result = await session.execute(delete(self.model).where(self.model.expires_at < cutoff))
            await session.commit()
        return int(getattr(result, "rowcount", 0) or 0)
