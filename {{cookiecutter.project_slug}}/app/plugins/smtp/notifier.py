"""The SMTP notifier: MIME messages over one kept-open connection, guarded by a lock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from aiosmtplib import (
    SMTP,
    SMTPException,
    SMTPRecipientsRefused,
    SMTPResponse,
    SMTPResponseException,
)

from app.core.email_address import email_address_problem
from app.core.interfaces import DeliveryOutcome, DeliveryResult, OutgoingMessage, PluginPorts
from app.core.logging import PLUGINS_LOGGER
from app.plugins.smtp.settings import SmtpSecurity, SmtpSettings

logger = logging.getLogger(f"{PLUGINS_LOGGER}.smtp")

# The reply a server sends when it is about to close the connection.
SERVICE_CLOSING = 421


def build_email(message: OutgoingMessage, from_address: str) -> EmailMessage:
    """A MIME mail: text/plain, with the html as a multipart/alternative part when given."""
    email = EmailMessage()
    email["From"] = from_address
    # Delivery gives each recipient a mail of its own: To shows that one address. Given
    # several, they stay in the envelope only, so no recipient sees the others.
    email["To"] = message.to[0] if len(message.to) == 1 else "undisclosed-recipients:;"
    email["Subject"] = message.subject or ""
    email["Date"] = format_datetime(datetime.now(UTC))
    # An explicit domain: without one, make_msgid asks DNS for this host's name.
    domain = parseaddr(from_address)[1].rpartition("@")[2] or "localhost"
    email["Message-ID"] = make_msgid(domain=domain)
    if message.id:
        email["X-Notification-ID"] = message.id
    if message.text:
        email.set_content(message.text)
        if message.html:
            email.add_alternative(message.html, subtype="html")
    elif message.html:
        email.set_content(message.html, subtype="html")
    return email


def _is_transient(code: int) -> bool:
    return 400 <= code < 500


def classify_reply(exc: SMTPResponseException) -> DeliveryResult:
    """4xx: the server asks to try later; 5xx: it refuses for good."""
    reason = f"SMTP server answered {exc.code}: {exc.message}"
    if _is_transient(exc.code):
        return DeliveryResult.retryable(reason)
    return DeliveryResult.permanent(reason)


def classify_refused(exc: SMTPRecipientsRefused) -> DeliveryResult:
    """Every recipient refused: retryable when any refusal was temporary (nothing was sent)."""
    refusals = "; ".join(f"{r.recipient} ({r.code} {r.message})" for r in exc.recipients)
    reason = f"SMTP server refused every recipient: {refusals}"
    if any(_is_transient(refusal.code) for refusal in exc.recipients):
        return DeliveryResult.retryable(reason)
    return DeliveryResult.permanent(reason)


class _Client(SMTP):
    """aiosmtplib's client, noting when a message's DATA begins.

    Up to then nothing was handed over, and a lost connection or a timeout can be retried.
    From then on the server may have the mail even though its reply never came.
    """

    data_started = False

    async def data(self, message: str | bytes, **options: Any) -> SMTPResponse:
        self.data_started = True
        return await super().data(message, **options)


class SmtpNotifier:
    name = "smtp"
    channel = "email"
    is_stand_in = False

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        # How many connections were opened: one per batch of mail, not one per message.
        self.connections_opened = 0
        self._smtp: _Client | None = None
        # One message at a time on the one connection; SMTP cannot interleave them.
        self._lock = asyncio.Lock()
        self._last_used = 0.0

    @property
    def is_configured(self) -> bool:
        return self.settings.is_configured

    @property
    def is_connected(self) -> bool:
        return self._smtp is not None and self._smtp.is_connected

    def check_recipient(self, address: str) -> str | None:
        return email_address_problem(address)

    async def start(self, ports: PluginPorts) -> None:
        # No connection yet: the service must start while the mail server is away. The
        # first message opens it; later ones reuse it.
        logger.info(
            "SMTP mail goes to %s:%s (%s)",
            self.settings.host,
            self.settings.server_port,
            self.settings.security.value,
        )

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        if not self.is_configured:
            return DeliveryResult.permanent(
                "SMTP is not configured: set SMTP_HOST and SMTP_FROM_ADDRESS"
            )
        if not message.text and not message.html:
            return DeliveryResult.permanent("an email needs a text or an html body")
        try:
            email = build_email(message, self.settings.from_address)
        except ValueError as exc:  # e.g. a line break in the subject
            return DeliveryResult.permanent(f"the message cannot be sent as an email: {exc}")
        sender = parseaddr(self.settings.from_address)[1]
        async with self._lock:
            smtp: _Client | None = None
            try:
                smtp = await self._connection()
                smtp.data_started = False
                refused, _ = await smtp.send_message(
                    email, sender=sender, recipients=list(message.to)
                )
            except SMTPRecipientsRefused as exc:
                return classify_refused(exc)
            except SMTPResponseException as exc:
                if exc.code == SERVICE_CLOSING:
                    self._drop()
                return classify_reply(exc)
            except (SMTPException, OSError) as exc:  # disconnected, unreachable, timed out
                self._drop()
                if smtp is not None and smtp.data_started:
                    return self._unanswered(exc)
                return self._unreachable(exc)
            except asyncio.CancelledError:
                # Cut off mid-conversation (a caller's timeout): the connection's state is
                # unknown, so the next message gets a fresh one.
                self._drop()
                raise
            self._last_used = asyncio.get_running_loop().time()
        message_id = str(email["Message-ID"])
        if refused:
            # The others have it: sending again would give it to them twice.
            refusals = "; ".join(
                f"{to} ({reply.code} {reply.message})" for to, reply in refused.items()
            )
            return DeliveryResult(
                DeliveryOutcome.DELIVERED, message_id, error=f"not delivered to: {refusals}"
            )
        return DeliveryResult.delivered(message_id)

    async def close(self) -> None:
        """Say QUIT and close the connection (at shutdown)."""
        async with self._lock:
            smtp, self._smtp = self._smtp, None
            if smtp is None:
                return
            if smtp.is_connected:
                # The server may already be gone; closing is all that is left to do.
                with contextlib.suppress(SMTPException, OSError):
                    await smtp.quit()
            smtp.close()

    async def _connection(self) -> _Client:
        smtp = self._smtp
        if smtp is not None and smtp.is_connected:
            idle = asyncio.get_running_loop().time() - self._last_used
            if idle < self.settings.idle_check_seconds:
                return smtp
            try:
                await smtp.noop()
                return smtp
            except (SMTPException, OSError):
                logger.info("SMTP connection went stale while idle; reconnecting")
        self._drop()
        smtp = self._new_client()
        await smtp.connect(timeout=self.settings.connect_timeout_seconds)
        self._smtp = smtp
        self.connections_opened += 1
        logger.info(
            "SMTP connection open to %s:%s (%s)",
            self.settings.host,
            self.settings.server_port,
            self.settings.security.value,
        )
        return smtp

    def _new_client(self) -> _Client:
        settings = self.settings
        return _Client(
            hostname=settings.host,
            port=settings.server_port,
            username=settings.username or None,
            password=settings.password.get_secret_value() if settings.username else None,
            # Each command's reply; connecting has its own (see `_connection`).
            timeout=settings.read_timeout_seconds,
            use_tls=settings.security is SmtpSecurity.SSL,
            start_tls=settings.security is SmtpSecurity.STARTTLS,
            validate_certs=settings.validate_certs,
            cert_bundle=settings.ca_file or None,
        )

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def _unanswered(self, exc: Exception) -> DeliveryResult:
        where = f"{self.settings.host}:{self.settings.server_port}"
        return DeliveryResult.unknown(
            f"SMTP server {where} took the message data but did not confirm it: "
            f"{type(exc).__name__}: {exc}"
        )

    def _unreachable(self, exc: Exception) -> DeliveryResult:
        where = f"{self.settings.host}:{self.settings.server_port}"
        return DeliveryResult.retryable(
            f"SMTP server {where} unreachable: {type(exc).__name__}: {exc}"
        )
