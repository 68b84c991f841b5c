"""The SES notifier: one aioboto3 `sesv2` client per process, reused for every message."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from contextlib import AsyncExitStack
from functools import lru_cache
from typing import Any

import aioboto3
from aiobotocore.config import AioConfig
from aiohttp import ClientConnectorError
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    HTTPClientError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from app.core.email_address import email_address_problem
from app.core.interfaces import DeliveryResult, OutgoingMessage, PluginPorts
from app.core.logging import PLUGINS_LOGGER
from app.plugins.ses.settings import SesSettings

logger = logging.getLogger(f"{PLUGINS_LOGGER}.ses")

CHARSET = "UTF-8"
# Trying again later can succeed: SES is throttling or its sending quota is used up for now.
RETRYABLE_ERROR_CODES = frozenset(
    {
        "TooManyRequestsException",
        "Throttling",
        "ThrottlingException",
        "LimitExceededException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# SES tags allow only these characters; a notification id that fits becomes a tag, so that
# SES events (bounces, complaints) can be matched to the notification.
TAG_VALUE = re.compile(r"^[A-Za-z0-9_.@-]{1,256}$")


@lru_cache(maxsize=1)
def aws_session() -> aioboto3.Session:
    """One AWS session per process, shared by every client.

    A session reads the SDK's service descriptions once (~0.1 s); a fresh one per client
    read them again. Region and credentials are given per client, never set on the session.
    """
    return aioboto3.Session()


def classify_client_error(exc: ClientError) -> DeliveryResult:
    """SES's answer → retryable (throttling, 5xx) or permanent (rejected mail, other 4xx)."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "Unknown")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    reason = f"SES {code} (HTTP {status}): {error.get('Message') or 'no message'}"
    if code in RETRYABLE_ERROR_CODES or status == 429 or (status or 0) >= 500:
        return DeliveryResult.retryable(reason)
    return DeliveryResult.permanent(reason)


def _reset_after_sending(exc: BotoConnectionError) -> bool:
    """An EndpointConnectionError from a connection that was open (reset mid-request), not
    from one that could not be made: the request may have reached SES."""
    if not isinstance(exc, EndpointConnectionError):
        return False
    cause = exc.kwargs.get("error")
    return cause is not None and not isinstance(cause, ClientConnectorError | socket.gaierror)


def classify_transport_error(exc: Exception) -> DeliveryResult:
    """Where the request got to decides.

    Not connected (refused, connect timeout, TLS): nothing was sent → retryable. Sent, but
    no answer (read timeout, connection dropped): SES may have taken the mail → unknown,
    for SendEmail has no idempotency key and a second call is a second mail. A local fault
    (no credentials, a bad parameter) → permanent.
    """
    described = f"{type(exc).__name__}: {exc}"
    # botocore's ConnectionError covers refused, unresolvable, connect timeout, TLS, proxy,
    # and (as EndpointConnectionError) a connection reset while waiting for the answer.
    if isinstance(exc, BotoConnectionError) and not _reset_after_sending(exc):
        return DeliveryResult.retryable(f"SES unreachable: {described}")
    if isinstance(exc, BotoConnectionError | HTTPClientError | TimeoutError):
        return DeliveryResult.unknown(f"SES took the request but did not answer: {described}")
    if isinstance(exc, OSError):
        return DeliveryResult.retryable(f"SES unreachable: {described}")
    return DeliveryResult.permanent(f"SES request failed: {described}")


class SesNotifier:
    name = "ses"
    channel = "email"
    is_stand_in = False

    def __init__(self, settings: SesSettings) -> None:
        self.settings = settings
        # How many clients this notifier has opened; one per process is the design.
        self.clients_created = 0
        self._client: Any = None
        self._exit_stack: AsyncExitStack | None = None
        self._starting = asyncio.Lock()

    @property
    def is_configured(self) -> bool:
        return self.settings.is_configured

    @property
    def client(self) -> Any:
        """The open `sesv2` client, or None before `start()` and after `close()`."""
        return self._client

    def check_recipient(self, address: str) -> str | None:
        return email_address_problem(address)

    async def start(self, ports: PluginPorts) -> None:
        # Opened once here, at startup, and reused by every send of this process.
        await self.open()

    async def open(self) -> None:
        """Open the client (once; later calls keep it)."""
        async with self._starting:
            if self._client is not None:
                return
            stack = AsyncExitStack()
            config = AioConfig(
                connect_timeout=self.settings.connect_timeout_seconds,
                read_timeout=self.settings.read_timeout_seconds,
                # One HTTP request per send, always: the client would repeat a request whose
                # answer timed out, and SES may have sent that mail already. Retrying is the
                # delivery queue's job, which knows when a repeat is safe.
                retries={"mode": "standard", "total_max_attempts": 1},
                max_pool_connections=self.settings.max_connections,
            )
            client_context = aws_session().client(
                "sesv2",
                region_name=self.settings.region,
                endpoint_url=self.settings.endpoint_url or None,
                config=config,
                **self._credentials(),
            )
            self._client = await stack.enter_async_context(client_context)
            self._exit_stack = stack
            self.clients_created += 1
            logger.info(
                "SES client ready (region %s, endpoint %s)",
                self.settings.region,
                self.settings.endpoint_url or "AWS",
            )

    async def close(self) -> None:
        stack, self._exit_stack, self._client = self._exit_stack, None, None
        if stack is not None:
            await stack.aclose()

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        if not self.is_configured:
            return DeliveryResult.permanent("SES is not configured: set SES_SENDER")
        if not message.text and not message.html:
            return DeliveryResult.permanent("an email needs a text or an html body")
        try:
            if self._client is None:
                # A notifier that was never started (a test, a bare script) opens it on first use.
                await self.open()
            response = await self._client.send_email(**self.request_for(message))
        except ClientError as exc:
            return classify_client_error(exc)
        except (BotoCoreError, OSError) as exc:  # OSError covers TimeoutError
            return classify_transport_error(exc)
        return DeliveryResult.delivered(str(response["MessageId"]))

    def request_for(self, message: OutgoingMessage) -> dict[str, Any]:
        """The `SendEmail` parameters for one message, simple content.

        Delivery gives each recipient a message of its own, so one address goes in To.
        Given several, they go in Bcc: no recipient sees the others.
        """
        body: dict[str, Any] = {}
        if message.text:
            body["Text"] = {"Data": message.text, "Charset": CHARSET}
        if message.html:
            body["Html"] = {"Data": message.html, "Charset": CHARSET}
        request: dict[str, Any] = {
            "FromEmailAddress": self.settings.sender,
            "Destination": (
                {"ToAddresses": list(message.to)}
                if len(message.to) == 1
                else {"BccAddresses": list(message.to)}
            ),
            "Content": {
                "Simple": {
                    "Subject": {"Data": message.subject or "", "Charset": CHARSET},
                    "Body": body,
                }
            },
        }
        if self.settings.configuration_set:
            request["ConfigurationSetName"] = self.settings.configuration_set
        if message.id and TAG_VALUE.match(message.id):
            request["EmailTags"] = [{"Name": "notification_id", "Value": message.id}]
        return request

    def _credentials(self) -> dict[str, str]:
        if not self.settings.access_key_id:
            return {}
        return {
            "aws_access_key_id": self.settings.access_key_id,
            "aws_secret_access_key": self.settings.secret_access_key.get_secret_value(),
        }
