"""The account mails (email verification, password reset), sent through the email notifier."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import BackgroundTasks, Request

from app.core.config import Settings
from app.core.interfaces import DeliveryOutcome, OutgoingMessage
from app.core.logging import mask_email
from app.core.plugins import PluginRegistry

logger = logging.getLogger(__name__)

EMAIL_CHANNEL = "email"
# Where a request keeps the tasks that run after its answer is sent.
AFTER_ANSWER_STATE = "account_mails_after_answer"
VERIFY_EMAIL_PATH = "/verify-email"
RESET_PASSWORD_PATH = "/reset-password"  # noqa: S105 - a page, not a password


def public_link(settings: Settings, path: str, token: str) -> str:
    """A link for a mail: PUBLIC_BASE_URL + path + ?token=…, pointing at one of our pages."""
    return f"{settings.public_base_url.rstrip('/')}{path}?{urlencode({'token': token})}"


def verification_message(settings: Settings, email: str, token: str) -> OutgoingMessage:
    link = public_link(settings, VERIFY_EMAIL_PATH, token)
    hours = settings.verify_token_lifetime_seconds // 3600
    text = (
        f"Confirm your email address for {settings.project_name}:\n\n{link}\n\n"
        f"The link works for {hours} hours. If you did not sign up, ignore this mail."
    )
    return OutgoingMessage(
        channel=EMAIL_CHANNEL,
        to=[email],
        subject=f"Confirm your email address for {settings.project_name}",
        text=text,
        metadata={"kind": "verify-email"},
    )


def password_reset_message(settings: Settings, email: str, token: str) -> OutgoingMessage:
    link = public_link(settings, RESET_PASSWORD_PATH, token)
    minutes = settings.reset_password_token_lifetime_seconds // 60
    text = (
        f"Someone asked to reset the password of your {settings.project_name} account.\n\n"
        f"Choose a new password here:\n{link}\n\n"
        f"The link works for {minutes} minutes. If it was not you, ignore this mail: "
        "your password stays as it is."
    )
    return OutgoingMessage(
        channel=EMAIL_CHANNEL,
        to=[email],
        subject=f"Reset your {settings.project_name} password",
        text=text,
        metadata={"kind": "reset-password"},
    )


async def send_account_mail(plugins: PluginRegistry, message: OutgoingMessage) -> bool:
    """Send one account mail now; say whether it went out.

    A failure is logged, not raised: the request that caused the mail (register,
    forgot-password) must answer the same either way, and the user can ask again.
    """
    notifier = plugins.notifier_for(EMAIL_CHANNEL)
    recipient = mask_email(message.to[0])
    if notifier is None:
        logger.error("no %s notifier is installed: mail to %s not sent", EMAIL_CHANNEL, recipient)
        return False
    try:
        result = await notifier.send(message)
    except Exception:
        logger.exception("notifier %r failed to send mail to %s", notifier.name, recipient)
        return False
    if result.outcome is not DeliveryOutcome.DELIVERED:
        logger.error(
            "notifier %r did not deliver mail to %s: %s", notifier.name, recipient, result.error
        )
        return False
    return True


async def send_verification_mail(
    settings: Settings, plugins: PluginRegistry, email: str, token: str
) -> bool:
    return await send_account_mail(plugins, verification_message(settings, email, token))


async def send_password_reset_mail(
    settings: Settings, plugins: PluginRegistry, email: str, token: str
) -> bool:
    return await send_account_mail(plugins, password_reset_message(settings, email, token))


async def send_account_mails_after_answer(request: Request, background: BackgroundTasks) -> None:
    """A route dependency: account mails of this request go out after its answer.

    Sending can take seconds (SMTP, an API). Waiting for it would make forgot-password
    answer visibly slower for an address that has an account than for one that has not.
    """
    setattr(request.state, AFTER_ANSWER_STATE, background)


async def send_after_answer(
    request: Request | None, send: Callable[..., Awaitable[Any]], *args: Any
) -> None:
    """Run `send(*args)` after the answer where the route allows it, else now."""
    background: BackgroundTasks | None = (
        getattr(request.state, AFTER_ANSWER_STATE, None) if request is not None else None
    )
    if background is None:
        await send(*args)
    else:
        background.add_task(send, *args)
