"""The KakaoTalk notifier: a memo to each recipient, sent with that user's stored Kakao token.

Recipients are `user:<id>`, a user's verified email, or `me` (the sender). Each must have a
linked Kakao account (an `oauth_account` row named "kakao") whose token carries the
`talk_message` consent. An expired token, or one Kakao refuses, is refreshed once and the
new tokens are stored.

Whom a sender may reach (RecipientRule): a message goes out with the recipient's own
token, so an account reaches only its own linked Kakao account; an operator (superuser)
reaches any active user with one. The rule is checked when a notification is accepted and
again when it is sent (the role or the link may have gone since).

A message to several recipients counts as delivered once any of them has it: sending it
again would repeat it to those, so the ones that failed are named in the result's error.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from app.accounts.models import OAuthAccount, User
from app.core.http import tls_context
from app.core.interfaces import DeliveryOutcome, DeliveryResult, OutgoingMessage, Sender
from app.core.logging import PLUGINS_LOGGER
from app.core.orm.base import Base
from app.plugins.kakaotalk.settings import KakaoTalkSettings

logger = logging.getLogger(f"{PLUGINS_LOGGER}.kakaotalk")

T = TypeVar("T")
R = TypeVar("R")

# fastapi-users declares these models' columns as plain attributes for type checkers; the
# tables' columns are the typed way to name them in a query.
USERS = User.__table__.c
ACCOUNTS = OAuthAccount.__table__.c

CHANNEL = "kakaotalk"
OAUTH_NAME = "kakao"  # the sign-in provider whose tokens this channel sends with
MEMO_PATH = "/v2/api/talk/memo/default/send"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a URL path
USER_PREFIX = "user:"
ME = "me"  # the sender's own account
TEXT_LIMIT = 200  # Kakao's limit for a text template's text
# Recipients of one message looked up or sent to at the same time.
RECIPIENTS_AT_ONCE = 5
# Refresh a little before Kakao's expiry, so a token does not lapse on the way.
EXPIRY_MARGIN_SECONDS = 60

# Kakao's error codes (https://developers.kakao.com/docs/latest/en/rest-api/reference).
INVALID_TOKEN = -401
CONSENT_MISSING = -402
NOT_A_TALK_USER = -501
# Internal error, under maintenance, quota exceeded for now, timed out: later may work.
TEMPORARY_CODES = frozenset({-1, -7, -10, -603, -9798})
# Failures before a request left: nothing reached Kakao, so trying again is safe.
NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
)


class _Failed(Exception):
    """One recipient could not be reached; `result` says whether trying later may help."""

    def __init__(self, result: DeliveryResult) -> None:
        super().__init__(result.error)
        self.result = result


def _permanent(reason: str) -> _Failed:
    return _Failed(DeliveryResult.permanent(reason))


def _retryable(reason: str) -> _Failed:
    return _Failed(DeliveryResult.retryable(reason))


def _database_unavailable(address: str, exc: Exception) -> _Failed:
    return _retryable(f"{address}: database unavailable ({type(exc).__name__})")


@dataclass(frozen=True)
class _Target:
    """A recipient resolved to its Kakao account's tokens."""

    address: str
    account_row_id: int
    access_token: str
    refresh_token: str | None
    expires_at: int | None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now + EXPIRY_MARGIN_SECONDS


def parse_recipient(address: str, sender_id: int | None = None) -> int | str:
    """`user:<id>` (or `me`) → the user id; otherwise the normalised email.

    ValueError when neither, or for `me` in a message without a sender.
    """
    if address == ME:
        if sender_id is None:
            raise ValueError(f"{ME!r} names the sender, and this message has none")
        return sender_id
    if address.startswith(USER_PREFIX):
        digits = address[len(USER_PREFIX) :]
        if digits.isascii() and digits.isdigit() and int(digits) > 0:
            return int(digits)
        raise ValueError(f"{address!r}: write a user as user:<id>, e.g. user:42")
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(
            f"{address!r} is neither user:<id>, {ME} nor a valid email address ({exc})"
        ) from exc


def _lowered(key: int | str) -> int | str:
    return key.lower() if isinstance(key, str) else key


def _reachable(sender: Sender, ids: set[int], emails: set[str]) -> Select[tuple[int, str]]:
    """The users among `ids` and `emails` that `sender` may message: id and email of each."""
    named: list[ColumnElement[bool]] = []
    if ids:
        named.append(USERS.id.in_(ids))
    if emails:
        named.append(and_(func.lower(USERS.email).in_(emails), USERS.is_verified.is_(True)))
    linked = exists().where(ACCOUNTS.user_id == USERS.id, ACCOUNTS.oauth_name == OAUTH_NAME)
    query = select(USERS.id, USERS.email).where(or_(*named), USERS.is_active.is_(True), linked)
    if not sender.is_superuser:
        query = query.where(USERS.id == sender.user_id)
    return query


def _plain_text(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup)).strip()


def memo_text(message: OutgoingMessage) -> str:
    """Subject and body in one text, cut to Kakao's limit."""
    body = message.text or (_plain_text(message.html) if message.html else "")
    text = "\n\n".join(part for part in (message.subject, body) if part)
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def _kakao_error(response: httpx.Response) -> tuple[int | None, str]:
    try:
        body = response.json()
    except ValueError:
        return None, f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return None, f"HTTP {response.status_code}"
    code = body.get("code")
    text = body.get("msg") or body.get("error_description") or body.get("error") or ""
    return (code if isinstance(code, int) else None), f"HTTP {response.status_code}: {text}"


class KakaoTalkNotifier:
    name = "kakaotalk"
    channel = CHANNEL
    is_stand_in = False

    def __init__(self, settings: KakaoTalkSettings, *, default_link_url: str) -> None:
        self.settings = settings
        self.link_url = settings.link_url or default_link_url
        # How many HTTP clients were opened: one per process is the design.
        self.clients_created = 0
        self._http: httpx.AsyncClient | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        # One refresh at a time per account: concurrent sends share its result.
        self._refresh_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    @property
    def is_configured(self) -> bool:
        return self.settings.is_configured

    @property
    def http_client(self) -> httpx.AsyncClient | None:
        return self._http

    def check_recipient(self, address: str) -> str | None:
        if address == ME:
            return None
        try:
            parse_recipient(address)
        except ValueError as exc:
            return str(exc)
        return None

    async def refused_recipients(self, sender: Sender, recipients: Sequence[str]) -> list[str]:
        """The recipients `sender` may not reach: each must be an active user with a linked
        Kakao account, and the sender's own account unless the sender is an operator.

        An email names only an account that verified it: an account holding an address it
        never proved must not receive what was meant for the address's owner.
        """
        keys: dict[str, int | str] = {}
        for address in recipients:
            try:
                keys[address] = parse_recipient(address, sender.user_id)
            except ValueError:
                continue  # refused below, like any recipient not reachable
        ids = {key for key in keys.values() if isinstance(key, int)}
        emails = {key.lower() for key in keys.values() if isinstance(key, str)}
        reachable: set[int | str] = set()
        if ids or emails:
            async with self._session_factory()() as session:
                for user_id, email in await session.execute(_reachable(sender, ids, emails)):
                    reachable.update((user_id, email.lower()))
        return [
            address
            for address in recipients
            if address not in keys or _lowered(keys[address]) not in reachable
        ]

    def start(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Use this database, and open the HTTP client (once)."""
        self._sessions = sessions
        self._http_client()

    async def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        if not self.is_configured:
            return DeliveryResult.permanent(
                "KakaoTalk is not configured: set KAKAOTALK_CLIENT_ID (or KAKAO_CLIENT_ID)"
            )
        text = memo_text(message)
        if not text:
            return DeliveryResult.permanent("a KakaoTalk message needs a subject or a text")
        template = self._template(message, text)

        try:
            refused = await self._refused_now(message)
        except (SQLAlchemyError, OSError) as exc:
            return DeliveryResult.retryable(f"database unavailable ({type(exc).__name__})")
        allowed = [address for address in message.to if address not in refused]
        # Look every recipient up (and refresh tokens) before sending to anyone: a failure
        # now leaves nothing sent, so the whole message may be retried.
        resolved = await self._each(
            lambda address: self._resolve(address, message.sender_id), allowed
        )
        targets = [item for item in resolved if isinstance(item, _Target)]
        failures = [item for item in resolved if isinstance(item, DeliveryResult)]
        failures += [
            DeliveryResult.permanent(f"{address}: not allowed for this message's sender")
            for address in refused
        ]
        if any(failure.outcome is DeliveryOutcome.RETRYABLE for failure in failures):
            return DeliveryResult.retryable(self._reasons(failures))

        sent = await self._each(lambda target: self._deliver(target, template), targets)
        not_sent = [result for result in sent if result.outcome is not DeliveryOutcome.DELIVERED]
        delivered = len(sent) - len(not_sent)
        failures += not_sent
        if delivered == 0:
            if any(failure.outcome is DeliveryOutcome.UNKNOWN for failure in failures):
                return DeliveryResult.unknown(self._reasons(failures))
            if any(failure.outcome is DeliveryOutcome.RETRYABLE for failure in failures):
                return DeliveryResult.retryable(self._reasons(failures))
            return DeliveryResult.permanent(self._reasons(failures))
        if failures:
            return DeliveryResult(
                DeliveryOutcome.DELIVERED, error="not delivered to: " + self._reasons(failures)
            )
        return DeliveryResult.delivered()

    # --- recipients and tokens ---------------------------------------------------------

    async def _refused_now(self, message: OutgoingMessage) -> set[str]:
        """The rule again, with the sender as it is now; the service's own messages have none."""
        if message.sender_id is None:
            return set()
        async with self._session_factory()() as session:
            is_superuser = await session.scalar(
                select(USERS.is_superuser).where(USERS.id == message.sender_id)
            )
        if is_superuser is None:
            return set(message.to)  # the sender's account is gone
        sender = Sender(user_id=message.sender_id, is_superuser=bool(is_superuser))
        return set(await self.refused_recipients(sender, message.to))

    async def _resolve(self, address: str, sender_id: int | None) -> _Target | DeliveryResult:
        try:
            target = await self._find(address, sender_id)
            if target.expired(time.time()):
                target = await self._refresh(target, stale_token=target.access_token)
        except _Failed as failed:
            return failed.result
        return target

    async def _find(self, address: str, sender_id: int | None) -> _Target:
        try:
            key = parse_recipient(address, sender_id)
        except ValueError as exc:
            raise _permanent(str(exc)) from exc
        try:
            async with self._session_factory()() as session:
                user_query = select(USERS.id, USERS.is_active)
                if isinstance(key, int):
                    user_query = user_query.where(USERS.id == key)
                else:
                    user_query = user_query.where(
                        func.lower(USERS.email) == key.lower(), USERS.is_verified.is_(True)
                    )
                user = (await session.execute(user_query)).first()
                if user is None:
                    raise _permanent(f"{address}: no such user")
                if not user.is_active:
                    raise _permanent(f"{address}: the user is deactivated")
                account = await session.scalar(
                    select(OAuthAccount)
                    .where(ACCOUNTS.user_id == user.id, ACCOUNTS.oauth_name == OAUTH_NAME)
                    .order_by(ACCOUNTS.id)
                    .limit(1)
                )
                if account is None:
                    raise _permanent(f"{address}: the user has not signed in with Kakao")
                return self._target(address, account)
        except (SQLAlchemyError, OSError) as exc:
            raise _database_unavailable(address, exc) from exc

    @staticmethod
    def _target(address: str, account: OAuthAccount) -> _Target:
        return _Target(
            address=address,
            account_row_id=account.id,
            access_token=account.access_token,
            refresh_token=account.refresh_token,
            expires_at=account.expires_at,
        )

    async def _refresh(self, target: _Target, *, stale_token: str) -> _Target:
        """A fresh access token for the account, stored; `stale_token` is the one that failed."""
        lock = self._refresh_locks.get(target.account_row_id)
        if lock is None:
            lock = self._refresh_locks[target.account_row_id] = asyncio.Lock()
        async with lock:
            current = await self._reload(target)
            if current.access_token != stale_token and not current.expired(time.time()):
                return current  # another send refreshed it meanwhile
            if not current.refresh_token:
                raise _permanent(
                    f"{target.address}: the Kakao sign-in has expired; the user must sign in "
                    "with Kakao again"
                )
            # No database connection is held while Kakao answers.
            tokens = await self._request_tokens(target.address, current.refresh_token)
            refreshed = await self._store(current, tokens)
            logger.info("refreshed the Kakao token of oauth account %s", target.account_row_id)
            return refreshed

    async def _reload(self, target: _Target) -> _Target:
        try:
            async with self._session_factory()() as session:
                account = await session.get(OAuthAccount, target.account_row_id)
                if account is None:
                    raise _permanent(f"{target.address}: the Kakao account was unlinked")
                return self._target(target.address, account)
        except (SQLAlchemyError, OSError) as exc:
            raise _database_unavailable(target.address, exc) from exc

    async def _store(self, target: _Target, tokens: dict[str, Any]) -> _Target:
        try:
            async with self._session_factory()() as session:
                account = await session.get(OAuthAccount, target.account_row_id)
                if account is None:
                    raise _permanent(f"{target.address}: the Kakao account was unlinked")
                account.access_token = tokens["access_token"]
                expires_in = tokens.get("expires_in")
                account.expires_at = (
                    int(time.time()) + expires_in if isinstance(expires_in, int) else None
                )
                # Kakao sends a new refresh token only when the old one is near its end.
                if isinstance(tokens.get("refresh_token"), str) and tokens["refresh_token"]:
                    account.refresh_token = tokens["refresh_token"]
                refreshed = self._target(target.address, account)
                await session.commit()
                return refreshed
        except (SQLAlchemyError, OSError) as exc:
            raise _database_unavailable(target.address, exc) from exc

    async def _request_tokens(self, address: str, refresh_token: str) -> dict[str, Any]:
        form = {
            "grant_type": "refresh_token",
            "client_id": self.settings.client_id,
            "refresh_token": refresh_token,
        }
        secret = self.settings.client_secret.get_secret_value()
        if secret:
            form["client_secret"] = secret
        url = self.settings.auth_base_url.rstrip("/") + TOKEN_PATH
        try:
            response = await self._http_client().post(url, data=form)
        except httpx.HTTPError as exc:
            raise _retryable(f"{address}: Kakao's token endpoint unreachable ({exc!r})") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise _retryable(f"{address}: token refresh failed, {_kakao_error(response)[1]}")
        if response.status_code >= 400:
            raise _permanent(
                f"{address}: Kakao refused to refresh the token ({_kakao_error(response)[1]}); "
                "the user must sign in with Kakao again"
            )
        try:
            tokens = response.json()
        except ValueError as exc:
            raise _retryable(f"{address}: Kakao's token endpoint sent no JSON") from exc
        if not isinstance(tokens, dict) or not isinstance(tokens.get("access_token"), str):
            raise _retryable(f"{address}: Kakao's token endpoint sent no access token")
        return tokens

    # --- sending -----------------------------------------------------------------------

    def _template(self, message: OutgoingMessage, text: str) -> dict[str, Any]:
        link = message.metadata.get("link_url")
        if not (isinstance(link, str) and link.startswith(("https://", "http://"))):
            link = self.link_url
        template: dict[str, Any] = {
            "object_type": "text",
            "text": text,
            "link": {"web_url": link, "mobile_web_url": link},
        }
        if self.settings.button_title:
            template["button_title"] = self.settings.button_title
        return template

    async def _deliver(self, target: _Target, template: dict[str, Any]) -> DeliveryResult:
        try:
            response = await self._post_memo(target, template)
            code, _ = _kakao_error(response)
            if response.status_code == 401 or code == INVALID_TOKEN:
                # Revoked or expired early: refresh once and try again.
                target = await self._refresh(target, stale_token=target.access_token)
                response = await self._post_memo(target, template)
        except _Failed as failed:
            return failed.result
        return self._outcome(target.address, response)

    async def _post_memo(self, target: _Target, template: dict[str, Any]) -> httpx.Response:
        url = self.settings.api_base_url.rstrip("/") + MEMO_PATH
        try:
            return await self._http_client().post(
                url,
                data={"template_object": json.dumps(template, ensure_ascii=False)},
                headers={"Authorization": f"Bearer {target.access_token}"},
            )
        except NOT_SENT as exc:
            raise _retryable(f"{target.address}: Kakao unreachable ({exc!r})") from exc
        except httpx.HTTPError as exc:
            # Sent, but no answer (read timeout, dropped connection): Kakao may have shown
            # the memo already, and sending it again would show it twice.
            raise _Failed(
                DeliveryResult.unknown(
                    f"{target.address}: Kakao took the memo but did not answer ({exc!r})"
                )
            ) from exc

    @staticmethod
    def _outcome(address: str, response: httpx.Response) -> DeliveryResult:
        if response.is_success:
            return DeliveryResult.delivered()
        code, reason = _kakao_error(response)
        if code == CONSENT_MISSING:
            return DeliveryResult.permanent(
                f"{address}: the user has not agreed to talk_message ({reason})"
            )
        if code == NOT_A_TALK_USER:
            return DeliveryResult.permanent(f"{address}: not a KakaoTalk user ({reason})")
        if response.status_code >= 500 or response.status_code == 429 or code in TEMPORARY_CODES:
            return DeliveryResult.retryable(f"{address}: Kakao failed, {reason}")
        return DeliveryResult.permanent(f"{address}: Kakao refused the message, {reason}")

    # --- plumbing ----------------------------------------------------------------------

    @staticmethod
    async def _each(call: Callable[[T], Awaitable[R]], items: Sequence[T]) -> list[R]:
        """`call` for every item, a few at a time (each may hold a database connection)."""
        slots = asyncio.Semaphore(RECIPIENTS_AT_ONCE)

        async def one(item: T) -> R:
            async with slots:
                return await call(item)

        return list(await asyncio.gather(*(one(item) for item in items)))

    def _http_client(self) -> httpx.AsyncClient:
        if self._http is None:
            timeout = httpx.Timeout(
                self.settings.read_timeout_seconds, connect=self.settings.connect_timeout_seconds
            )
            self._http = httpx.AsyncClient(timeout=timeout, verify=tls_context())
            self.clients_created += 1
        return self._http

    def _session_factory(self) -> async_sessionmaker[AsyncSession]:
        if self._sessions is not None:
            return self._sessions
        # A process that skipped the startup hook uses the models' bound database.
        if Base.scoped_session is not None:
            factory: async_sessionmaker[AsyncSession] = Base.scoped_session.session_factory
            return factory
        raise _retryable("the database is not ready yet")

    @staticmethod
    def _reasons(failures: list[DeliveryResult]) -> str:
        return "; ".join(failure.error or failure.outcome.value for failure in failures)
