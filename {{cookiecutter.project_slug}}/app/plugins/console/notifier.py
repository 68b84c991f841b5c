"""A development stand-in for the email channel: writes each message to the log."""

from __future__ import annotations

import logging
import uuid

from app.core.email_address import email_address_problem
from app.core.interfaces import DeliveryResult, OutgoingMessage
from app.core.logging import PLUGINS_LOGGER

logger = logging.getLogger(f"{PLUGINS_LOGGER}.console")


class ConsoleNotifier:
    name = "console"
    channel = "email"
    is_stand_in = True

    def __init__(self, *, is_configured: bool = True) -> None:
        self.is_configured = is_configured

    def check_recipient(self, address: str) -> str | None:
        return email_address_problem(address)

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        if not self.is_configured:
            return DeliveryResult.permanent(
                "the console notifier does not deliver in production: configure a real "
                f"{self.channel} notifier"
            )
        message_id = f"console-{uuid.uuid4().hex}"
        logger.info(
            "%s to %s | subject: %s\n%s",
            self.channel,
            ", ".join(message.to),
            message.subject or "",
            message.text or message.html or "",
            extra={"notification_id": message.id, "provider_message_id": message_id},
        )
        return DeliveryResult.delivered(message_id)
