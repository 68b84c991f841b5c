"""The KakaoTalk notifier: a memo to each recipient, sent with that user's stored Kakao token.

Recipients are `user:<id>`, a user's verified email, or `me` (the sender). Each must have
signed in with Kakao (a linked account, reached through core's `LinkedAccounts` port) with
the `talk_message` consent. An expired token, or one Kakao refuses, is refreshed once with
Kakao sign-in's own OAuth client, and the new tokens are stored.

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
from httpx_oauth.oauth2 import RefreshTokenError

from app.core.http import tls_context
from app.core.interfaces import (
    DeliveryOutcome,
    DeliveryResult,
    LinkedAccount,
    LinkedAccounts,
    LinkedAccountsUnavailable,
    OutgoingMessage,
    PluginPorts,
    Sender,
)
from app.core.logging import PLUGINS_LOGGER
from app.plugins.kakao.client import KakaoUserOAuth2
from app.plugins.kakaotalk.settings import KakaoTalkSettings

logger = logging.getLogger(f"{PLUGINS_LOGGER}.kakaotalk")

T = TypeVar("T")
R = TypeVar("R")

CHANNEL = "kakaotalk"
OAUTH_NAME = "kakao"  # the sign-in provider whose tokens this channel sends with
MEMO_PATH = "/v2/api/talk/memo/default/send"
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


@dataclass(frozen=True)
class _Target:
    """A recipient resolved to its linked Kakao account and that account's tokens."""

    address: str
    account: LinkedAccount

    @property
    def access_token(self) -> str:
        return self.account.access_token

    def expired(self, now: float) -> bool:
        expires_at = self.account.expires_at
        return expires_at is not None and expires_at <= now + EXPIRY_MARGIN_SECONDS


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

    def __init__(
        self, settings: KakaoTalkSettings, kakao: KakaoUserOAuth2, *, default_link_url: str
    ) -> None:
        self.settings = settings
        # Kakao sign-in's client: its app keys and token endpoint refresh the users' tokens.
        self.kakao = kakao
        self.link_url = settings.link_url or default_link_url
        # How many HTTP clients were opened: one per process is the design.
        self.clients_created = 0
        self._http: httpx.AsyncClient | None = None
        self._accounts: LinkedAccounts | None = None
        # One refresh at a time per account: concurrent sends share its result.
        self._refresh_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    @property
    def is_configured(self) -> bool:
        return bool(self.kakao.client_id)

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
        if (ids or emails) and self._accounts is not None:
            holders = await self._accounts.find_users(
                user_ids=ids, verified_emails=emails, linked_to=OAUTH_NAME
            )
            for holder in holders:
                if holder.is_active and (sender.is_superuser or holder.user_id == sender.user_id):
                    reachable.update((holder.user_id, holder.email.lower()))
        # Not started (not configured): nobody is reachable.
        return [
            address
            for address in recipients
            if address not in keys or _lowered(keys[address]) not in reachable
        ]

    async def start(self, ports: PluginPorts) -> None:
        """Use the service's linked accounts, and open the HTTP client (once)."""
        self._accounts = ports.linked_accounts
        self._http_client()

    async def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        if not self.is_configured:
            return DeliveryResult.permanent(
                "KakaoTalk is not configured: set Kakao sign-in's KAKAO_CLIENT_ID"
            )
        text = memo_text(message)
        if not text:
            return DeliveryResult.permanent("a KakaoTalk message needs a subject or a text")
        template = self._template(message, text)

        try:
            refused = await self._refused_now(message)
        except _Failed as failed:
            return failed.result
        except LinkedAccountsUnavailable as exc:
            return DeliveryResult.retryable(str(exc))
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
        found = await self._linked_accounts().find_users(user_ids=[message.sender_id])
        if not found:
            return set(message.to)  # the sender's account is gone
        sender = Sender(user_id=message.sender_id, is_superuser=found[0].is_superuser)
        return set(await self.refused_recipients(sender, message.to))

    async def _resolve(self, address: str, sender_id: int | None) -> _Target | DeliveryResult:
        try:
            target = await self._find(address, sender_id)
            if target.expired(time.time()):
                target = await self._refresh(target, stale_token=target.access_token)
        except _Failed as failed:
            return failed.result
        except LinkedAccountsUnavailable as exc:
            return DeliveryResult.retryable(f"{address}: {exc}")
        return target

    async def _find(self, address: str, sender_id: int | None) -> _Target:
        try:
            key = parse_recipient(address, sender_id)
        except ValueError as exc:
            raise _permanent(str(exc)) from exc
        accounts = self._linked_accounts()
        if isinstance(key, int):
            found = await accounts.find_users(user_ids=[key])
        else:
            found = await accounts.find_users(verified_emails=[key])
        if not found:
            raise _permanent(f"{address}: no such user")
        user = found[0]
        if not user.is_active:
            raise _permanent(f"{address}: the user is deactivated")
        account = await accounts.linked_account(user.user_id, OAUTH_NAME)
        if account is None:
            raise _permanent(f"{address}: the user has not signed in with Kakao")
        return _Target(address, account)

    async def _refresh(self, target: _Target, *, stale_token: str) -> _Target:
        """A fresh access token for the account, stored; `stale_token` is the one that failed."""
        lock = self._refresh_locks.get(target.account.id)
        if lock is None:
            lock = self._refresh_locks[target.account.id] = asyncio.Lock()
        async with lock:
            current = await self._reload(target)
            if current.access_token != stale_token and not current.expired(time.time()):
                return current  # another send refreshed it meanwhile
            refresh_token = current.account.refresh_token
            if not refresh_token:
                raise _permanent(
                    f"{target.address}: the Kakao sign-in has expired; the user must sign in "
                    "with Kakao again"
                )
            # No database connection is held while Kakao answers.
            tokens = await self._request_tokens(target.address, refresh_token)
            refreshed = await self._store(current, tokens)
            logger.info("refreshed the Kakao token of oauth account %s", current.account.id)
            return refreshed

    async def _reload(self, target: _Target) -> _Target:
        account = await self._linked_accounts().linked_account(target.account.user_id, OAUTH_NAME)
        if account is None:
            raise _permanent(f"{target.address}: the Kakao account was unlinked")
        return _Target(target.address, account)

    async def _store(self, target: _Target, tokens: dict[str, Any]) -> _Target:
        expires_at = tokens.get("expires_at")
        refresh_token = tokens.get("refresh_token")
        account = await self._linked_accounts().save_tokens(
            target.account.id,
            access_token=tokens["access_token"],
            expires_at=expires_at if isinstance(expires_at, int) else None,
            # Kakao sends a new refresh token only when the old one is near its end.
            refresh_token=refresh_token if isinstance(refresh_token, str) else None,
        )
        if account is None:
            raise _permanent(f"{target.address}: the Kakao account was unlinked")
        return _Target(target.address, account)

    async def _request_tokens(self, address: str, refresh_token: str) -> dict[str, Any]:
        """Kakao sign-in's client refreshes the token (its app keys, its token endpoint)."""
        try:
            tokens: dict[str, Any] = await self.kakao.refresh_token(refresh_token)
        except RefreshTokenError as exc:
            response = exc.response
            if response is None:
                raise _retryable(
                    f"{address}: Kakao's token endpoint unreachable ({exc.__cause__!r})"
                ) from exc
            reason = _kakao_error(response)[1]
            if response.status_code >= 500 or response.status_code == 429:
                raise _retryable(f"{address}: token refresh failed, {reason}") from exc
            if response.status_code >= 400:
                raise _permanent(
                    f"{address}: Kakao refused to refresh the token ({reason}); "
                    "the user must sign in with Kakao again"
                ) from exc
            raise _retryable(f"{address}: Kakao's token endpoint sent no JSON") from exc
        if not isinstance(tokens.get("access_token"), str):
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
        except LinkedAccountsUnavailable as exc:
            return DeliveryResult.retryable(f"{target.address}: {exc}")
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

    def _linked_accounts(self) -> LinkedAccounts:
        if self._accounts is None:
            # Started with the service; a message before that waits for it.
            raise _retryable("KakaoTalk is not started yet")
        return self._accounts

    @staticmethod
    def _reasons(failures: list[DeliveryResult]) -> str:
        return "; ".join(failure.error or failure.outcome.value for failure in failures)
