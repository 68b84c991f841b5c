"""Delivering one notification, and finding the notifications that need a broker message.

The database row is the truth; a broker message only says "try row N now". So:

- A worker *claims* a row with one conditional UPDATE (queued → sending, attempts + 1).
  When two workers get a message for the same row, only one UPDATE changes it and only
  that worker sends: the kit never sends a notification twice on its own.
- While sending, no database connection is held. The outcome is written with another
  conditional UPDATE that names the claimed attempt, so a worker whose lease ran out
  cannot overwrite the attempt that took over.
- Each recipient gets a message of its own (no one sees the others' addresses). The
  recipients that have it are recorded with the outcome (`delivered_recipients`), and a
  retry sends only to the others: no one gets a notification twice.
- A retryable failure (nothing was sent) puts the row back to `queued` with
  `next_attempt_at` set by exponential backoff with jitter; the dispatcher
  (`due_for_dispatch`) sends a broker message when it is due. A permanent failure, or the
  last attempt, ends in `failed` (or `delivered`, naming those who lack it, when some
  recipients have it).
- An unknown outcome (the provider took the request but its answer never came, or the send
  outlived the send timeout) ends in `unknown`: it may have gone out, so it is not sent
  again on its own; an operator decides.
- A `sending` row whose lease ran out belongs to a worker that died mid-send: it is queued
  again (the one kind of repeat: the outcome of that send is unknown).

`Outbox` is one process's handle on the table. The claims (and the outcomes) of the
deliveries running at the same moment are written together, one statement for many rows,
which is most of what delivery costs besides the send itself.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import ColumnElement, CursorResult, bindparam, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app import PROJECT_SLUG
from app.core.config import Settings
from app.core.database import Database
from app.core.interfaces import DeliveryOutcome, DeliveryResult, Notifier, OutgoingMessage
from app.core.orm.base import UTCDateTime, utcnow
from app.core.plugins import PluginRegistry
from app.notifications.models import LAST_ERROR_LENGTH, Notification, NotificationStatus

# Under the service's own logger, so that its handler (and format) writes these lines.
logger = logging.getLogger(f"{PROJECT_SLUG}.delivery")

QUEUED = NotificationStatus.QUEUED.value
SENDING = NotificationStatus.SENDING.value
DELIVERED = NotificationStatus.DELIVERED.value
FAILED = NotificationStatus.FAILED.value
UNKNOWN = NotificationStatus.UNKNOWN.value

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
# 2**60 base delays is past any sane cap; the exponent stops there so floats never overflow.
MAX_BACKOFF_EXPONENT = 60
# Recipients of one notification sent to at the same time (one message each).
RECIPIENTS_AT_ONCE = 5

T = TypeVar("T")


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    send_timeout_seconds: float
    lease_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        return cls(
            max_attempts=settings.max_delivery_attempts,
            retry_base_seconds=settings.delivery_retry_base_seconds,
            retry_max_seconds=settings.delivery_retry_max_seconds,
            send_timeout_seconds=settings.delivery_send_timeout_seconds,
            lease_seconds=settings.delivery_lease_seconds,
        )

    def retry_delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1 for the first).

        base * 2^(attempt-1), capped, then a random 50 to 100 % of it, so that messages that
        failed together (a provider outage) do not all come back in the same instant.
        """
        exponent = min(max(attempt - 1, 0), MAX_BACKOFF_EXPONENT)
        ceiling = min(self.retry_max_seconds, self.retry_base_seconds * 2.0**exponent)
        fraction = (rng or random).uniform(0.5, 1.0)
        return ceiling * fraction

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)


def _truncated(error: str) -> str:
    return error if len(error) <= LAST_ERROR_LENGTH else error[: LAST_ERROR_LENGTH - 1] + "…"


def _is_due(now: datetime) -> ColumnElement[bool]:
    return or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now)


async def _changed(session: AsyncSession, statement: Any) -> int:
    """Run a conditional UPDATE and say how many rows it changed."""
    result = cast(
        CursorResult[Any],
        await session.execute(statement.execution_options(synchronize_session=False)),
    )
    return result.rowcount


Delivered = dict[str, str | None]  # recipient → the provider's message id, if it gave one


@dataclass(frozen=True)
class Claim:
    """A row taken for sending: which attempt this is, and the message to send.

    `message.to` holds only the recipients still waiting for it; `delivered`, the ones
    earlier attempts reached.
    """

    notification_id: int
    attempt: int
    message: OutgoingMessage
    delivered: Delivered
    recipient_count: int  # distinct recipients of the notification, reached or not


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


async def _send_one(notifier: Notifier, message: OutgoingMessage) -> DeliveryResult:
    try:
        return await notifier.send(message)
    except Exception as exc:  # a notifier bug must not lose the notification
        logger.exception(
            "notifier %r raised while sending notification %s", notifier.name, message.id
        )
        return DeliveryResult.retryable(f"{notifier.name}: {type(exc).__name__}: {exc}")


async def send_each(
    plugins: PluginRegistry,
    message: OutgoingMessage,
    policy: DeliveryPolicy,
    results: dict[str, DeliveryResult],
) -> None:
    """Send each recipient in `message.to` a message of its own; the outcomes go to `results`.

    Filled as sends end, so that a caller cut off midway knows who has it. The whole
    attempt gets the policy's send timeout: a send still running then may have reached
    the provider (unknown), one not started yet was not sent (retryable).
    """
    notifier = plugins.notifier_for(message.channel)
    if notifier is None:
        missing = f"no notifier delivers the {message.channel!r} channel in this service"
        results.update({address: DeliveryResult.permanent(missing) for address in message.to})
        return
    started: set[str] = set()
    slots = asyncio.Semaphore(RECIPIENTS_AT_ONCE)

    async def one(address: str) -> None:
        async with slots:
            started.add(address)
            results[address] = await _send_one(notifier, replace(message, to=[address]))

    limit = policy.send_timeout_seconds
    try:
        async with asyncio.timeout(limit):
            if len(message.to) == 1:  # the usual case: no task to spawn
                await one(message.to[0])
            else:
                await asyncio.gather(*(one(address) for address in message.to))
    except TimeoutError:
        for address in message.to:
            if address in results:
                continue
            results[address] = (
                DeliveryResult.unknown(f"{notifier.name}: no answer within {limit:g} s")
                if address in started
                else DeliveryResult.retryable(f"not sent: the attempt took over {limit:g} s")
            )


def _reasons(failures: dict[str, DeliveryResult], several: bool) -> str:
    """Why these recipients do not have it; each named when the notification has several."""
    reasons = [
        f"{address}: {result.error or result.outcome.value}" if several else result.error or ""
        for address, result in failures.items()
    ]
    return "; ".join(reasons) or "the notifier gave no reason"


def outcome_values(
    results: dict[str, DeliveryResult],
    delivered_before: Delivered,
    attempt: int,
    policy: DeliveryPolicy,
    now: datetime,
    *,
    recipient_count: int = 1,
) -> dict[str, Any]:
    """The columns that record what one attempt came to (`record` empties the others).

    `results` holds this attempt's outcome per recipient. Unknown for any recipient makes
    the notification `unknown` (never sent again on its own); else a retryable one queues
    it again for the recipients who lack it; when nothing is left to try it is `delivered`
    if anyone has it (last_error naming who does not) and `failed` if no one does.
    """
    delivered: Delivered = dict(delivered_before)
    for address, result in results.items():
        if result.outcome is DeliveryOutcome.DELIVERED:
            delivered[address] = result.provider_message_id
    failures = {
        address: result
        for address, result in results.items()
        if result.outcome is not DeliveryOutcome.DELIVERED
    }
    outcomes = {result.outcome for result in failures.values()}
    values: dict[str, Any] = {"delivered_recipients": delivered or None}
    error = _reasons(failures, recipient_count > 1) if failures else None
    if DeliveryOutcome.UNKNOWN in outcomes:
        unknown = (
            f"outcome unknown, not sent again: the provider may have sent it ({error}); "
            "check with the provider before sending it again"
        )
        return {**values, "status": UNKNOWN, "last_error": _truncated(unknown)}
    if DeliveryOutcome.RETRYABLE in outcomes:
        if attempt < policy.max_attempts:
            return {
                **values,
                "status": QUEUED,
                "last_error": _truncated(error or ""),
                "next_attempt_at": now + timedelta(seconds=policy.retry_delay(attempt)),
            }
        error = f"{error} (gave up after {attempt} attempts)"
    if not delivered:
        return {**values, "status": FAILED, "last_error": _truncated(error or "")}
    return {
        **values,
        "status": DELIVERED,
        "provider_message_id": next((id_ for id_ in delivered.values() if id_), None),
        "delivered_at": now,
        "last_error": _truncated(f"not delivered to: {error}") if error else None,
    }


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


async def requeue_crashed(database: Database, policy: DeliveryPolicy) -> int:
    """Queue again (or fail, when no attempt is left) `sending` rows whose lease ran out."""
    now = utcnow()
    async with database.sessionmaker() as session:
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
                if attempts >= policy.max_attempts
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


@dataclass(frozen=True)
class DispatchBatch:
    ids: list[int]  # rows leased to the caller: send a broker message for each
    last_id: int  # the last row looked at, where the next page starts
    full: bool  # as many rows as asked for: there may be more


async def due_for_dispatch(
    database: Database,
    policy: DeliveryPolicy,
    *,
    take_over: bool = False,
    after_id: int = 0,
    limit: int = DISPATCH_BATCH,
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
    async with database.engine.connect() as connection:
        candidates: Sequence[int] = (
            await connection.scalars(
                select(Notification.id).where(*conditions).order_by(Notification.id).limit(limit)
            )
        ).all()
        await connection.commit()
    leased: list[int] = []
    if candidates:
        # Only rows still as the query saw them: another process may have leased some.
        lease = update(Notification).values(lease_expires_at=now + policy.lease)
        async with database.engine.begin() as connection:
            if database.engine.dialect.update_returning:
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


ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


class MicroBatch(Generic[ItemT, ResultT]):
    """Group commit: one batch at a time; what comes in meanwhile is the next batch.

    Idle, a call runs at once, alone. Busy (the database is slow, or many sends end
    together), calls pile up while a batch runs and go together in the next one. Each
    `submit` waits for its own result; `run` gets a batch's items and returns their
    results in the same order. A batch that raises fails each of its calls.
    """

    def __init__(
        self, run: Callable[[list[ItemT]], Awaitable[list[ResultT]]], max_size: int
    ) -> None:
        self._run = run
        self._max_size = max_size
        self._pending: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: ItemT) -> ResultT:
        future: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_all())
        return await future

    async def _flush_all(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_size]
                del self._pending[: self._max_size]
                await self._flush(batch)
        finally:
            self._flusher = None
            # Cancelled mid-way: no call may wait for ever.
            pending, self._pending = self._pending, []
            for _, future in pending:
                future.cancel()

    async def _flush(self, batch: list[tuple[ItemT, asyncio.Future[ResultT]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def drain(self) -> None:
        """Wait for the batch under way (at shutdown, before the database closes)."""
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)


# Rows per claim or outcome statement.
BATCH_SIZE = 100


def _is_deadlock(exc: DBAPIError) -> bool:
    """The database undid this transaction to break a deadlock: running it again is safe."""
    error = exc.orig
    if error is None:
        return False
    return getattr(error, "sqlstate", None) == POSTGRESQL_DEADLOCK or error.args[:1] == (
        MYSQL_DEADLOCK,
    )


class _RowLost(Exception):
    """An outcome in a batch matched no row: the batch is undone and written row by row."""


Outcome = tuple[int, int, dict[str, Any]]  # notification id, attempt, outcome columns


class Outbox:
    """The outbox table as one process's deliveries use it."""

    def __init__(self, database: Database, policy: DeliveryPolicy) -> None:
        self.database = database
        self.policy = policy
        self._claims: MicroBatch[int, Claim | None] = MicroBatch(self._claim_batch, BATCH_SIZE)
        self._outcomes: MicroBatch[Outcome, bool] = MicroBatch(self._record_batch, BATCH_SIZE)

    @property
    def _returning(self) -> bool:
        return bool(self.database.engine.dialect.update_returning)

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
        # The transaction has ended: no connection is held while the notifiers send.
        claims = {claim.notification_id: claim for claim in map(_claim_of, rows)}
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

    async def deliver(
        self, plugins: PluginRegistry, notification_id: int
    ) -> NotificationStatus | None:
        """One delivery attempt of one notification; its new status, or None if none was made."""
        claimed = await self.claim(notification_id)
        if claimed is None:
            return None
        attempt = claimed.attempt
        results: dict[str, DeliveryResult] = {}
        try:
            await send_each(plugins, claimed.message, self.policy, results)
        except asyncio.CancelledError:
            # Stopping mid-send: hand the row back now rather than when its lease ends,
            # with the recipients reached so far, who must not get it again. An outcome
            # already known to be unknown stays so: that row is not to be sent again.
            reached = outcome_values(results, claimed.delivered, attempt, self.policy, utcnow())
            if reached["status"] == UNKNOWN:
                await asyncio.shield(self.record(notification_id, attempt, reached))
            else:
                delivered = reached["delivered_recipients"]
                await asyncio.shield(self.release(notification_id, attempt, delivered))
            raise
        values = outcome_values(
            results,
            claimed.delivered,
            attempt,
            self.policy,
            utcnow(),
            recipient_count=claimed.recipient_count,
        )
        recorded = await self.record(notification_id, attempt, values)
        error = values.get("last_error")
        log = logger.info if values["status"] == DELIVERED and not error else logger.warning
        log(
            "notification %s attempt %s: %s%s",
            notification_id,
            attempt,
            values["status"],
            f" ({error})" if error else "",
            extra={"notification_id": notification_id, "outcome": values["status"]},
        )
        return NotificationStatus(values["status"]) if recorded else None

    async def requeue_crashed(self) -> int:
        return await requeue_crashed(self.database, self.policy)

    async def due_for_dispatch(
        self, *, take_over: bool = False, after_id: int = 0, limit: int = DISPATCH_BATCH
    ) -> DispatchBatch:
        return await due_for_dispatch(
            self.database, self.policy, take_over=take_over, after_id=after_id, limit=limit
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
        await self._claims.drain()
        await self._outcomes.drain()
