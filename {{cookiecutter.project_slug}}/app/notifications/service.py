"""Accepting notifications into the outbox (the callers' and the service's own mail), and
reading them back (the caller's own only)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.dependencies import runtime_of
from app.core.errors import AppError, ConflictError, NotFoundError
from app.core.interfaces import RecipientRule, Sender
from app.core.orm.base import utcnow
from app.core.orm.query import Page
from app.core.plugins import PluginRegistry
from app.notifications.models import IDEMPOTENCY_KEY_LENGTH, Notification, NotificationStatus
from app.notifications.outbox import Outbox
from app.notifications.schemas import MAX_METADATA_DEPTH, MAX_RECIPIENTS, NotificationCreate

if TYPE_CHECKING:
    from app.runtime import Runtime

# Printable ASCII without spaces: what clients put in a header without surprises.
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[\x21-\x7e]+$")

Enqueue = Callable[[int], Awaitable[bool]]


class NotificationRejected(AppError):
    """The request cannot become a notification; `code` says why."""

    status_code = 422


class NotificationCaller(Protocol):
    """Who is asking (a verified signed request): the key's user, and the key."""

    @property
    def user_id(self) -> int: ...

    @property
    def api_key_id(self) -> int: ...

    @property
    def is_superuser(self) -> bool: ...


@dataclass(frozen=True)
class Accepted:
    notification: Notification
    # True when an Idempotency-Key matched an earlier request: nothing new was queued.
    replayed: bool


def canonical_json(payload: NotificationCreate) -> bytes:
    """What was asked, as UTF-8 JSON that is the same for the same request.

    Raises UnicodeEncodeError when a string holds a lone surrogate (such as \\ud800): valid
    in JSON, but not text UTF-8 (or the database) can hold.
    """
    canonical = json.dumps(
        payload.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return canonical.encode()


def content_size(payload: NotificationCreate) -> int:
    """Bytes of subject, bodies and metadata: what the size limit counts."""
    parts = [payload.subject or "", payload.text or "", payload.html or ""]
    size = sum(len(part.encode()) for part in parts)
    if payload.metadata:
        size += len(json.dumps(payload.metadata, separators=(",", ":")).encode())
    return size


def json_depth(value: Any) -> int:
    """Levels of nesting of a JSON value (a scalar is 0), counted without recursion.

    Without recursion because the value may be nested deeper than Python's own limit.
    """
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
        pending.extend((child, depth + 1) for child in children)
    return deepest


class NotificationService:
    def __init__(
        self,
        session: AsyncSession | Callable[[], AsyncSession],
        outbox: Outbox,
        settings: Settings,
        plugins: PluginRegistry,
        enqueue: Enqueue,
        on_accepted: Callable[[Notification], None] | None = None,
    ) -> None:
        self._session = session
        self.outbox = outbox
        self.settings = settings
        self.plugins = plugins
        self.enqueue = enqueue
        # Told of each new notification (the metrics' count); replays are not new.
        self.on_accepted = on_accepted

    @property
    def session(self) -> AsyncSession:
        """The session of reads and account mails. Given as a factory (the request's scoped
        session), it is made on first use: most accepts need none (Outbox.add writes)."""
        if not isinstance(self._session, AsyncSession):
            self._session = self._session()
        return self._session

    def validate(self, payload: NotificationCreate) -> bytes:
        """Refuse what could never be delivered, each reason with its own code; the request's
        canonical JSON (`canonical_json`) when it can be."""
        # First: every later step serializes the payload, which these two would break.
        depth = json_depth(payload.metadata)
        if depth > MAX_METADATA_DEPTH:
            raise NotificationRejected(
                f"`metadata` is nested {depth} levels deep; at most {MAX_METADATA_DEPTH} "
                "are allowed.",
                code="METADATA_TOO_DEEP",
                detail={"depth": depth, "max": MAX_METADATA_DEPTH},
            )
        try:
            canonical = canonical_json(payload)
        except UnicodeEncodeError:
            raise NotificationRejected(
                "A string in the request holds a lone UTF-16 surrogate (such as \\ud800), "
                "which is not text: send valid Unicode.",
                code="TEXT_INVALID",
            ) from None
        channels = self.plugins.channels
        notifier = self.plugins.notifier_for(payload.channel)
        if notifier is None:
            raise NotificationRejected(
                f"This service has no {payload.channel!r} channel; it has: "
                f"{', '.join(channels) or 'none'}.",
                code="CHANNEL_UNKNOWN",
                detail={"channel": payload.channel, "channels": channels},
            )
        count = len(payload.to)
        if count == 0:
            raise NotificationRejected(
                "`to` is empty: give at least one recipient.", code="RECIPIENTS_EMPTY"
            )
        if count > MAX_RECIPIENTS:
            raise NotificationRejected(
                f"`to` has {count} recipients; at most {MAX_RECIPIENTS} are allowed.",
                code="TOO_MANY_RECIPIENTS",
                detail={"count": count, "max": MAX_RECIPIENTS},
            )
        invalid = [
            {"index": index, "address": address, "reason": reason}
            for index, address in enumerate(payload.to)
            if (reason := notifier.check_recipient(address)) is not None
        ]
        if invalid:
            first = invalid[0]
            raise NotificationRejected(
                f"{len(invalid)} recipient(s) cannot receive {payload.channel} messages; "
                f"first: {first['address']!r}: {first['reason']}",
                code="RECIPIENT_INVALID",
                detail=invalid,
            )
        if not payload.text and not payload.html:
            raise NotificationRejected(
                "Give the message a body: `text`, `html` or both.", code="BODY_MISSING"
            )
        size, limit = content_size(payload), self.settings.notification_max_body_bytes
        if size > limit:
            raise AppError(
                f"Subject, bodies and metadata take {size} bytes; at most {limit} are allowed.",
                code="NOTIFICATION_TOO_LARGE",
                status_code=413,
                detail={"size": size, "max": limit},
            )
        return canonical

    async def check_recipients(
        self, caller: NotificationCaller, payload: NotificationCreate
    ) -> None:
        """Refuse recipients the channel will not let this caller reach (RecipientRule)."""
        notifier = self.plugins.notifier_for(payload.channel)
        if not isinstance(notifier, RecipientRule):
            return
        sender = Sender(user_id=caller.user_id, is_superuser=caller.is_superuser)
        refused = set(await notifier.refused_recipients(sender, payload.to))
        if not refused:
            return
        indexes = [index for index, address in enumerate(payload.to) if address in refused]
        # One message whatever the reason (unknown, not linked, someone else's), so that
        # the answer does not tell whether a person exists.
        raise NotificationRejected(
            f"{len(indexes)} recipient(s) cannot be sent {payload.channel} messages with "
            "this API key: it reaches only the recipients its account is allowed to.",
            code="RECIPIENT_NOT_ALLOWED",
            detail=[{"index": index} for index in indexes],
        )

    async def accept(
        self,
        caller: NotificationCaller,
        payload: NotificationCreate,
        idempotency_key: str | None = None,
    ) -> Accepted:
        """Commit the notification, then enqueue its delivery."""
        if idempotency_key is not None and not (
            len(idempotency_key) <= IDEMPOTENCY_KEY_LENGTH
            and IDEMPOTENCY_KEY_PATTERN.match(idempotency_key)
        ):
            raise NotificationRejected(
                f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_LENGTH} printable ASCII "
                "characters without spaces.",
                code="IDEMPOTENCY_KEY_INVALID",
            )
        canonical = self.validate(payload)
        await self.check_recipients(caller, payload)
        # A fingerprint of what was asked, to tell a retried request from a different one.
        fingerprint = hashlib.sha256(canonical).hexdigest()
        if idempotency_key is not None:
            earlier = await self._by_idempotency_key(caller, idempotency_key)
            if earlier is not None:
                return Accepted(self._same_request(earlier, fingerprint), replayed=True)

        notification = self._queued_row(
            payload,
            user_id=caller.user_id,
            api_key_id=caller.api_key_id,
            idempotency_key=idempotency_key,
            request_hash=fingerprint,
        )
        try:
            if self.outbox.groups_new_rows:
                await self.outbox.add(notification)
            else:
                self.session.add(notification)
                await self.session.commit()
        except IntegrityError:
            if idempotency_key is None:
                raise
            # The same key raced in from a second request: the first one wins. The lookup
            # above left a transaction open, whose snapshot (MySQL's repeatable read) is
            # older than the winner's row: a new one sees it.
            await self.session.rollback()
            earlier = await self._by_idempotency_key(caller, idempotency_key)
            if earlier is None:
                raise
            return Accepted(self._same_request(earlier, fingerprint), replayed=True)
        await self.enqueue_committed(notification)
        return Accepted(notification, replayed=False)

    def add_own_message(self, payload: NotificationCreate) -> Notification:
        """The service's own message (an account mail) as a row in the session's transaction.

        It has no sender (`user_id` None) and no key: no caller's API reads it, and the
        notifier is told it is the service's own. The caller commits it, with whatever
        else the transaction holds, then calls `enqueue_committed`.
        """
        self.validate(payload)
        notification = self._queued_row(payload)
        self.session.add(notification)
        return notification

    async def enqueue_committed(self, notification: Notification) -> None:
        """Hand a new, committed row to delivery."""
        if self.on_accepted is not None:
            self.on_accepted(notification)
        await self.enqueue(notification.id)

    def _queued_row(self, payload: NotificationCreate, **owner: Any) -> Notification:
        return Notification(
            channel=payload.channel,
            recipients=list(payload.to),
            subject=payload.subject,
            text=payload.text,
            html=payload.html,
            metadata_=payload.metadata,
            status=NotificationStatus.QUEUED.value,
            attempts=0,
            # The message enqueued after the commit answers for the row until then;
            # should it be lost (or the process stop first), the dispatcher sends another.
            lease_expires_at=utcnow() + timedelta(seconds=self.settings.delivery_lease_seconds),
            **owner,
        )

    async def get(self, caller: NotificationCaller, notification_id: int) -> Notification:
        found = await Notification.filter_by(
            session=self.session, id=notification_id, user_id=caller.user_id
        ).one_or_none()
        if found is None:
            raise NotFoundError(
                f"Notification {notification_id} not found.",
                code="NOTIFICATION_NOT_FOUND",
                detail={"id": notification_id},
            )
        return found

    async def list(
        self,
        caller: NotificationCaller,
        *,
        status: NotificationStatus | None = None,
        page: int = 1,
        size: int = 20,
    ) -> Page[Notification]:
        filters: dict[str, Any] = {"user_id": caller.user_id}
        if status is not None:
            filters["status"] = status.value
        query = Notification.filter_by(session=self.session, **filters).order_by("-id")
        return await query.paginate(page, size)

    async def _by_idempotency_key(
        self, caller: NotificationCaller, idempotency_key: str
    ) -> Notification | None:
        result = await self.session.scalars(
            select(Notification).where(
                Notification.api_key_id == caller.api_key_id,
                Notification.idempotency_key == idempotency_key,
            )
        )
        return result.first()

    @staticmethod
    def _same_request(earlier: Notification, fingerprint: str) -> Notification:
        if earlier.request_hash != fingerprint:
            raise ConflictError(
                "This Idempotency-Key was used for a different request; use a new key "
                "for a new notification.",
                code="IDEMPOTENCY_KEY_REUSED",
                detail={"id": earlier.id},
            )
        return earlier


def notification_service(
    runtime: Runtime, session: AsyncSession | Callable[[], AsyncSession]
) -> NotificationService:
    """The service working in `session` (the request's, or one an account change uses)."""
    return NotificationService(
        session=session,
        outbox=runtime.delivery.outbox,
        settings=runtime.settings,
        plugins=runtime.plugins,
        enqueue=runtime.delivery.enqueue,
        on_accepted=runtime.metrics.notifications.count_accepted if runtime.metrics else None,
    )


async def get_notification_service(request: Request) -> NotificationService:
    runtime = runtime_of(request)
    return notification_service(runtime, runtime.database.scoped_session)


NotificationServiceDep = Annotated[NotificationService, Depends(get_notification_service)]
