"""The outbox table as delivery uses it: adding rows, claiming them, recording outcomes,
taking over.

The database row is the truth; a broker message only says "try row N now". So:

- A worker *claims* a row with one conditional UPDATE (queued → sending, attempts + 1).
  When two workers get a message for the same row, only one UPDATE changes it and only
  that worker sends: the kit never sends a notification twice on its own.
- While sending, no database connection is held. The outcome is written with another
  conditional UPDATE that names the claimed attempt, so a worker whose lease ran out
  cannot overwrite the attempt that took over.
- The recipients that have it are recorded with the outcome (`delivered_recipients`), and
  a claim hands out only the others: no one gets a notification twice.
- A retry waits in `queued` until its `next_attempt_at`; the dispatcher
  (`due_for_dispatch`) sends a broker message when it is due.
- A `sending` row whose lease ran out belongs to a worker that died mid-send: it is queued
  again (the one kind of repeat: the outcome of that send is unknown).

`Outbox` is one process's handle on the table. The claims (and the outcomes) of the
deliveries running at the same moment are written together, one statement for many rows,
which is most of what delivery costs besides the send itself. So are the new rows of the
requests accepted at the same moment: each is committed before its request is answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Table,
    bindparam,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app import PROJECT_SLUG
from app.core.batcher import GroupCommit
from app.core.database import Database
from app.core.interfaces import OutgoingMessage
from app.core.orm.base import UTCDateTime, utcnow
from app.notifications.delivery_policy import Delivered, DeliveryPolicy
from app.notifications.models import Notification, NotificationStatus
from app.notifications.suppressions import normalised, suppressed_among

# Under the service's own logger, so that its handler (and format) writes these lines.
logger = logging.getLogger(f"{PROJECT_SLUG}.delivery")

QUEUED = NotificationStatus.QUEUED.value
SENDING = NotificationStatus.SENDING.value
FAILED = NotificationStatus.FAILED.value

# Rows one dispatcher pass looks at; a full batch means "look again at once".
DISPATCH_BATCH = 500
# Writing an outcome after a successful send is worth a few tries: if it never lands,
# the lease runs out and the notification is sent again.
RECORD_RETRY_DELAYS = (0.2, 1.0, 3.0)
# A claim that the database picked as a deadlock's victim was undone whole: taken again
# at once, this many times (MariaDB locks the status index's entries in its own order).
CLAIM_DEADLOCK_RETRIES = 3
# How databases name a deadlock: MySQL/MariaDB's error number, PostgreSQL's SQLSTATE.
MYSQL_DEADLOCK = 1213
POSTGRESQL_DEADLOCK = "40P01"
# Rows per claim or outcome statement.
BATCH_SIZE = 100

T = TypeVar("T")

_TABLE = cast(Table, Notification.__table__)
# New rows, many per statement, their ids in the order of the rows.
_INSERT_NEW = insert(_TABLE).returning(_TABLE.c.id, sort_by_parameter_order=True)
# The row's attributes by their columns' names (`metadata_` is the column `metadata`).
_COLUMN_OF_ATTRIBUTE = {
    attribute.key: attribute.columns[0].key for attribute in inspect(Notification).column_attrs
}
# Every column a new row is written with: the same for each row of a many-row INSERT.
_NEW_ROW_COLUMNS = {column.key: None for column in _TABLE.columns if column.key != "id"}


def _is_due(now: datetime) -> ColumnElement[bool]:
    return or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now)


async def _changed(session: AsyncSession, statement: Any) -> int:
    """Run a conditional UPDATE and say how many rows it changed."""
    result = cast(
        CursorResult[Any],
        await session.execute(statement.execution_options(synchronize_session=False)),
    )
    return result.rowcount


@dataclass(frozen=True)
class Claim:
    """A row taken for sending: which attempt this is, and the message to send.

    `message.to` holds only the recipients still waiting for it; `delivered`, the ones
    earlier attempts reached; `suppressed`, those of `message.to` on the suppression list
    (address → why), who are not to be sent to.
    """

    notification_id: int
    attempt: int
    message: OutgoingMessage
    delivered: Delivered
    recipient_count: int  # distinct recipients of the notification, reached or not
    suppressed: dict[str, str] = field(default_factory=dict)


# What a claim reads back: all a notifier needs, and the attempt number.
CLAIMED_COLUMNS = (
    Notification.id,
    Notification.attempts,
    Notification.channel,
    Notification.recipients,
    Notification.subject,
    Notification.text,
    Notification.html,
    Notification.metadata_,
    Notification.user_id,
    Notification.delivered_recipients,
)


def _claim_of(row: Any) -> Claim:
    notification_id, attempts, channel, recipients, subject, text, html, metadata = row[:8]
    sender, reached = row[8:]
    delivered: Delivered = dict(reached or {})
    everyone = list(dict.fromkeys(recipients))  # an address named twice gets it once
    message = OutgoingMessage(
        channel=channel,
        to=[address for address in everyone if address not in delivered],
        subject=subject,
        text=text,
        html=html,
        metadata=dict(metadata or {}),
        id=str(notification_id),
        sender_id=sender,
    )
    return Claim(notification_id, attempts, message, delivered, len(everyone))


# Built once, with parameters: SQLAlchemy reuses one compiled form for every batch
# instead of analysing a new statement each time.
_DUE = or_(
    Notification.next_attempt_at.is_(None),
    Notification.next_attempt_at <= bindparam("now", type_=UTCDateTime()),
)
_TAKE = {
    "status": SENDING,
    "attempts": Notification.attempts + 1,
    "lease_expires_at": bindparam("lease_until", type_=UTCDateTime()),
}
# SQLite and PostgreSQL: one statement takes the rows and reads them back.
_CLAIM_MANY = (
    update(Notification)
    .where(
        Notification.id.in_(bindparam("ids", expanding=True)),
        Notification.status == QUEUED,
        _DUE,
    )
    .values(_TAKE)
    .returning(*CLAIMED_COLUMNS)
)
# MySQL / MariaDB (no UPDATE ... RETURNING): one row at a time, then one read of the taken.
_CLAIM_ONE = (
    update(Notification)
    .where(Notification.id == bindparam("notification_id"), Notification.status == QUEUED, _DUE)
    .values(_TAKE)
)
_READ_CLAIMED = select(*CLAIMED_COLUMNS).where(
    Notification.id.in_(bindparam("ids", expanding=True))
)


async def _with_retries(operation: Callable[[], Awaitable[T]], what: str) -> T:
    for delay in RECORD_RETRY_DELAYS:
        try:
            return await operation()
        except (DBAPIError, OSError) as exc:
            logger.warning("%s failed (%s); trying again in %.1f s", what, exc, delay)
            await asyncio.sleep(delay)
    return await operation()


# What an attempt's outcome sets; a column its outcome does not name is emptied.
OUTCOME_COLUMNS = (
    "status",
    "last_error",
    "provider_message_id",
    "next_attempt_at",
    "lease_expires_at",
    "delivered_at",
    "delivered_recipients",
    "undelivered_recipients",
)
_RECORD = (
    update(Notification)
    .where(
        Notification.id == bindparam("notification_id"),
        Notification.status == SENDING,
        Notification.attempts == bindparam("attempt"),
    )
    .values(
        {
            name: bindparam(f"new_{name}", type_=Notification.__table__.c[name].type)
            for name in OUTCOME_COLUMNS
        }
    )
)


@dataclass(frozen=True)
class DispatchBatch:
    ids: list[int]  # rows leased to the caller: send a broker message for each
    last_id: int  # the last row looked at, where the next page starts
    full: bool  # as many rows as asked for: there may be more


def _is_deadlock(exc: DBAPIError) -> bool:
    """The database undid this transaction to break a deadlock: running it again is safe."""
    error = exc.orig
    if error is None:
        return False
    return getattr(error, "sqlstate", None) == POSTGRESQL_DEADLOCK or error.args[:1] == (
        MYSQL_DEADLOCK,
    )


async def _with_suppressed(connection: AsyncConnection, claims: list[Claim]) -> list[Claim]:
    """The claims, each naming those of its recipients on the suppression list."""
    wanted = [(claim.message.channel, address) for claim in claims for address in claim.message.to]
    if not wanted:
        return claims
    listed = await suppressed_among(connection, wanted)
    if not listed:
        return claims
    return [
        replace(
            claim,
            suppressed={
                address: listed[key]
                for address in claim.message.to
                if (key := (claim.message.channel, normalised(address))) in listed
            },
        )
        for claim in claims
    ]


class _RowLost(Exception):
    """An outcome in a batch matched no row: the batch is undone and written row by row."""


Outcome = tuple[int, int, dict[str, Any]]  # notification id, attempt, outcome columns


class Outbox:
    """The outbox table as one process's deliveries use it."""

    def __init__(self, database: Database, policy: DeliveryPolicy) -> None:
        self.database = database
        self.policy = policy
        self._new_rows: GroupCommit[dict[str, Any], int | IntegrityError] = GroupCommit(
            self._insert_batch, BATCH_SIZE
        )
        self._claims: GroupCommit[int, Claim | None] = GroupCommit(self._claim_batch, BATCH_SIZE)
        self._outcomes: GroupCommit[Outcome, bool] = GroupCommit(self._record_batch, BATCH_SIZE)

    @property
    def _returning(self) -> bool:
        return bool(self.database.engine.dialect.update_returning)

    @property
    def groups_new_rows(self) -> bool:
        """Whether `add` is the way to write new rows. Not on SQLite: one writer at a time,
        commits without an fsync, so little to share; and under load a second writing
        connection beside the request's was seen waiting out SQLite's lock (30 s). There
        the request's session writes the row."""
        return self.database.backend != "sqlite"

    async def add(self, notification: Notification) -> None:
        """Commit a new row and give `notification` its id and times.

        The rows of requests accepted while a statement runs go together in the next one;
        each call returns once its own row is committed. Raises IntegrityError when the row
        breaks a unique constraint (an Idempotency-Key that another request has used).
        """
        now = utcnow()
        values = {**_NEW_ROW_COLUMNS, "created_at": now, "updated_at": now}
        for attribute, value in vars(notification).items():
            if attribute in _COLUMN_OF_ATTRIBUTE:
                values[_COLUMN_OF_ATTRIBUTE[attribute]] = value
        outcome = await self._new_rows.submit(values)
        if isinstance(outcome, IntegrityError):
            raise outcome
        notification.id = outcome
        notification.created_at = notification.updated_at = now

    async def _insert_batch(self, rows: list[dict[str, Any]]) -> list[int | IntegrityError]:
        try:
            return list(await self._insert(rows))
        except IntegrityError as exc:
            if len(rows) == 1:
                return [exc]
        # One of them broke a constraint, which undid the statement: each on its own, so
        # that only that one fails.
        outcomes: list[int | IntegrityError] = []
        for row in rows:
            try:
                outcomes.extend(await self._insert([row]))
            except IntegrityError as exc:
                outcomes.append(exc)
        return outcomes

    async def _insert(self, rows: list[dict[str, Any]]) -> Sequence[int]:
        async with self.database.autocommit_connection() as connection:
            try:
                result = await connection.execute(_INSERT_NEW, rows)
                ids = result.scalars().all()
                await connection.commit()
            except IntegrityError:
                await connection.rollback()
                raise
        return ids

    async def claim(self, notification_id: int) -> Claim | None:
        """Take a due queued row for sending, or None when it is not there to take.

        None means another worker has it, it is finished, or its retry is not due yet:
        in every case this process must not send.
        """
        return await self._claims.submit(notification_id)

    async def _claim_batch(self, ids: list[int]) -> list[Claim | None]:
        for _ in range(CLAIM_DEADLOCK_RETRIES):
            try:
                return await self._claim_batch_once(ids)
            except DBAPIError as exc:
                if not _is_deadlock(exc):
                    raise
                logger.info("claiming %d notifications met a deadlock; taking them again", len(ids))
        return await self._claim_batch_once(ids)

    async def _claim_batch_once(self, ids: list[int]) -> list[Claim | None]:
        now = utcnow()
        unique = sorted(set(ids))  # one lock order for every process: no deadlocks
        params = {"now": now, "lease_until": now + self.policy.lease}
        async with self.database.engine.begin() as connection:
            if self._returning:
                result = await connection.execute(_CLAIM_MANY, {**params, "ids": unique})
                rows = result.all()
            else:
                taken = [
                    notification_id
                    for notification_id in unique
                    if (
                        await connection.execute(
                            _CLAIM_ONE, {**params, "notification_id": notification_id}
                        )
                    ).rowcount
                    == 1
                ]
                rows = []
                if taken:
                    rows = (await connection.execute(_READ_CLAIMED, {"ids": taken})).all()
            claimed = [_claim_of(row) for row in rows]
            claimed = await _with_suppressed(connection, claimed)
        # The transaction has ended: no connection is held while the notifiers send.
        claims = {claim.notification_id: claim for claim in claimed}
        # Two messages for one row in one batch: the row goes to the first, once.
        return [claims.pop(notification_id, None) for notification_id in ids]

    async def record(self, notification_id: int, attempt: int, values: dict[str, Any]) -> bool:
        """Write an attempt's outcome; False when the row no longer belongs to that attempt.

        An outcome column that `values` does not name is emptied.
        """
        unknown = set(values) - set(OUTCOME_COLUMNS)
        if unknown:
            raise ValueError(f"not outcome columns: {', '.join(sorted(unknown))}")
        recorded = await _with_retries(
            lambda: self._outcomes.submit((notification_id, attempt, values)),
            f"recording notification {notification_id}",
        )
        if not recorded:
            logger.warning(
                "notification %s: attempt %s ended after its lease; the outcome (%s) is not "
                "recorded, the attempt that took over decides",
                notification_id,
                attempt,
                values["status"],
            )
        return recorded

    async def _record_batch(self, outcomes: list[Outcome]) -> list[bool]:
        params = [
            {
                "notification_id": notification_id,
                "attempt": attempt,
                **{f"new_{name}": values.get(name) for name in OUTCOME_COLUMNS},
            }
            for notification_id, attempt, values in outcomes
        ]
        # Rows in id order, as the claims lock them: no two processes wait on each other.
        order = sorted(range(len(outcomes)), key=lambda index: outcomes[index][0])
        dialect = self.database.engine.dialect
        if len(params) > 1 and dialect.supports_sane_multi_rowcount:
            try:
                async with self.database.engine.begin() as connection:
                    result = await connection.execute(_RECORD, [params[i] for i in order])
                    if result.rowcount == len(params):
                        return [True] * len(params)
                    raise _RowLost
            except _RowLost:
                pass  # rolled back: find out which attempt lost its row, one by one
        recorded = [False] * len(params)
        async with self.database.engine.begin() as connection:
            for index in order:
                recorded[index] = (await connection.execute(_RECORD, params[index])).rowcount == 1
        return recorded

    async def release(self, notification_id: int, attempt: int, delivered: Delivered) -> None:
        """Put a row this process was sending back in the queue, keeping who has it."""
        await self.record(
            notification_id,
            attempt,
            {
                "status": QUEUED,
                "last_error": "the send was cut off by a shutdown; trying again",
                "delivered_recipients": delivered or None,
            },
        )

    async def requeue_crashed(self) -> int:
        """Queue again (or fail, when no attempt is left) `sending` rows whose lease ran out."""
        now = utcnow()
        async with self.database.sessionmaker() as session:
            rows = (
                await session.execute(
                    select(Notification.id, Notification.attempts)
                    .where(Notification.status == SENDING, Notification.lease_expires_at <= now)
                    .order_by(Notification.id)
                    .limit(DISPATCH_BATCH)
                )
            ).all()
            await session.commit()
            taken = 0
            for notification_id, attempts in rows:
                interrupted = "the send was interrupted (its worker stopped)"
                values: dict[str, Any] = (
                    {"status": FAILED, "last_error": f"{interrupted}; no attempts are left"}
                    if attempts >= self.policy.max_attempts
                    else {"status": QUEUED, "last_error": f"{interrupted}; trying again"}
                )
                taken += await _changed(
                    session,
                    update(Notification)
                    .where(
                        Notification.id == notification_id,
                        Notification.status == SENDING,
                        Notification.attempts == attempts,
                        Notification.lease_expires_at <= now,
                    )
                    .values(next_attempt_at=None, lease_expires_at=None, **values),
                )
            await session.commit()
        if taken:
            logger.warning("%s notification(s) were left mid-send by a stopped worker", taken)
        return taken

    async def due_for_dispatch(
        self, *, take_over: bool = False, after_id: int = 0, limit: int = DISPATCH_BATCH
    ) -> DispatchBatch:
        """Due queued rows that need a broker message, each leased to the caller.

        Normally a row whose message is out (its lease runs) is left alone. `take_over=True`
        (at startup) takes every due row: messages sent by a process that is gone are lost
        with it, and a second message for a row only costs a claim that changes nothing.
        """
        now = utcnow()
        conditions: list[ColumnElement[bool]] = [
            Notification.status == QUEUED,
            _is_due(now),
            Notification.id > after_id,
        ]
        if not take_over:
            conditions.append(
                or_(Notification.lease_expires_at.is_(None), Notification.lease_expires_at <= now)
            )
        async with self.database.engine.connect() as connection:
            candidates: Sequence[int] = (
                await connection.scalars(
                    select(Notification.id)
                    .where(*conditions)
                    .order_by(Notification.id)
                    .limit(limit)
                )
            ).all()
            await connection.commit()
        leased: list[int] = []
        if candidates:
            # Only rows still as the query saw them: another process may have leased some.
            lease = update(Notification).values(lease_expires_at=now + self.policy.lease)
            async with self.database.engine.begin() as connection:
                if self.database.engine.dialect.update_returning:
                    statement = lease.where(Notification.id.in_(candidates), *conditions)
                    returned = await connection.scalars(statement.returning(Notification.id))
                    leased = sorted(returned.all())
                else:
                    for notification_id in candidates:
                        statement = lease.where(Notification.id == notification_id, *conditions)
                        if (await connection.execute(statement)).rowcount == 1:
                            leased.append(notification_id)
        return DispatchBatch(
            ids=leased,
            last_id=candidates[-1] if candidates else after_id,
            full=len(candidates) >= limit,
        )

    async def forget_lease(self, notification_id: int) -> None:
        """A broker message could not be sent: let the next dispatcher pass send one."""
        async with self.database.engine.begin() as connection:
            await connection.execute(
                update(Notification)
                .where(Notification.id == notification_id, Notification.status == QUEUED)
                .values(lease_expires_at=None)
            )

    async def close(self) -> None:
        await self._new_rows.drain()
        await self._claims.drain()
        await self._outcomes.drain()
