"""The account mails (email verification, password reset), sent through the outbox.

Each is a plain-text and an HTML body with the same words, from the catalogue in app/i18n,
in the language of the request that caused it (the language picked on our pages, else
Accept-Language, else DEFAULT_LANGUAGE); its link opens our page in that language.

Each mail is a notification of the service's own (no account sent it, so no account's API
reads it), written in the transaction of the account change that caused it and delivered
like any other: by the email channel's notifier, with retries and a status. An operator
reads its body without the link's token (`without_tokens`).

Each recipient gets at most RATE_LIMIT_MAIL_PER_RECIPIENT of them: a backstop behind the
routes' own counts, which holds back (and logs) a mail without telling the caller, since
whether a mail is made at all depends on whether the address has an account.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html import escape
from urllib.parse import urlencode

from fastapi import Request

from app.core.config import Settings
from app.core.dependencies import runtime_of
from app.core.errors import AppError
from app.core.interfaces import OutgoingMessage
from app.core.logging import mask_email
from app.core.rate_limits import RateLimiter, RateLimitScope, mailbox_key
from app.i18n import LANGUAGE_PARAMETER, Language, request_language, translator
from app.notifications.models import Notification
from app.notifications.schemas import NotificationCreate
from app.notifications.service import NotificationService

logger = logging.getLogger(__name__)

EMAIL_CHANNEL = "email"
VERIFY_EMAIL_PATH = "/verify-email"
RESET_PASSWORD_PATH = "/reset-password"  # noqa: S105 - a page, not a password
# The query parameter of a mailed link that holds its secret.
TOKEN_PARAMETER = "token"  # noqa: S105 - a parameter's name


def public_link(settings: Settings, path: str, token: str, language: Language) -> str:
    """A link for a mail: PUBLIC_BASE_URL + path + ?token=…, pointing at one of our pages
    (in the mail's language)."""
    query = urlencode({TOKEN_PARAMETER: token, LANGUAGE_PARAMETER: language.value})
    return f"{settings.public_base_url.rstrip('/')}{path}?{query}"


@dataclass(frozen=True)
class AccountMail:
    """The words of one account mail, in one language."""

    language: Language
    subject: str
    intro: str
    action: str
    link: str
    expiry: str
    fallback: str
    footer: str

    def text(self) -> str:
        return (
            f"{self.intro}\n\n{self.action}:\n{self.link}\n\n{self.expiry}\n\n-- \n{self.footer}\n"
        )

    def html(self) -> str:
        """The same words as the text, in the pages' look. Inline styles: mail programs
        drop style sheets. Colours at WCAG AA contrast; no images, fonts or scripts."""
        e = {name: escape(str(value)) for name, value in vars(self).items()}
        return MAIL_HTML.format(**e)


MAIL_HTML = """<!doctype html>
<html lang="{language}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{subject}</title></head>
<body style="margin:0;padding:0;background:#f3f4f6;color:#1f1f1f;font-family:system-ui,\
-apple-system,'Segoe UI','Apple SD Gothic Neo','Malgun Gothic',sans-serif;font-size:16px;\
line-height:1.5;word-break:keep-all">
<div style="max-width:32rem;margin:0 auto;padding:24px 16px">
<div style="background:#ffffff;border:1px solid #d9dce1;border-radius:12px;padding:24px 20px">
<p style="margin:0 0 20px">{intro}</p>
<p style="margin:0 0 20px"><a href="{link}" style="display:inline-block;background:#1a4fc4;\
color:#ffffff;font-weight:600;text-decoration:none;padding:12px 20px;border-radius:8px">\
{action}</a></p>
<p style="margin:0 0 12px;color:#4d4d4d;font-size:15px">{expiry}</p>
<p style="margin:0;color:#4d4d4d;font-size:14px">{fallback}<br>
<a href="{link}" style="color:#1a4fc4;word-break:break-all">{link}</a></p>
</div>
<p style="margin:16px 0 0;color:#4d4d4d;font-size:13px;text-align:center">{footer}</p>
</div>
</body>
</html>
"""


def account_mail(
    settings: Settings, language: Language, kind: str, path: str, token: str, **values: object
) -> AccountMail:
    t = translator(language)
    project = settings.project_name
    return AccountMail(
        language=language,
        subject=t(f"mail.{kind}.subject", project=project),
        intro=t(f"mail.{kind}.intro", project=project),
        action=t(f"mail.{kind}.action"),
        link=public_link(settings, path, token, language),
        expiry=t(f"mail.{kind}.expiry", **values),
        fallback=t("mail.link_fallback"),
        footer=t("mail.footer", project=project),
    )


def email_message(to: str, mail: AccountMail, kind: str) -> OutgoingMessage:
    return OutgoingMessage(
        channel=EMAIL_CHANNEL,
        to=[to],
        subject=mail.subject,
        text=mail.text(),
        html=mail.html(),
        metadata={"kind": kind, "language": mail.language.value},
    )


def verification_message(
    settings: Settings, email: str, token: str, language: Language = Language.ENGLISH
) -> OutgoingMessage:
    hours = settings.verify_token_lifetime_seconds // 3600
    mail = account_mail(settings, language, "verify", VERIFY_EMAIL_PATH, token, hours=hours)
    return email_message(email, mail, "verify-email")


def password_reset_message(
    settings: Settings, email: str, token: str, language: Language = Language.ENGLISH
) -> OutgoingMessage:
    minutes = settings.reset_password_token_lifetime_seconds // 60
    mail = account_mail(settings, language, "reset", RESET_PASSWORD_PATH, token, minutes=minutes)
    return email_message(email, mail, "reset-password")


def mail_language(request: Request | None, settings: Settings) -> Language:
    """The language of the request that causes the mail (the language picked on our pages,
    else its Accept-Language), else the service's default."""
    if request is None:
        return settings.default_language
    return request_language(
        request.query_params, request.cookies, request.headers, settings.default_language
    )


class AccountMails:
    """The account mails of one request, into the outbox as notifications of the service's own.

    Each is written in the session's transaction (the caller commits it, with the account
    change that caused it) and then enqueued like any notification: delivered by the email
    channel's notifier, retried, its status kept.
    """

    def __init__(self, outbox: NotificationService, limiter: RateLimiter | None) -> None:
        self.outbox = outbox
        self.limiter = limiter

    async def add(self, message: OutgoingMessage) -> Notification | None:
        """Add the mail to the session, unless its recipient has had their share or it
        cannot be delivered (then say so in the log): None.

        Never raised: the request that caused the mail (register, forgot-password) must
        answer the same either way, and the user can ask again.
        """
        recipient = message.to[0]
        if self.limiter is not None and not await self.limiter.allows(
            RateLimitScope.MAIL_RECIPIENT, mailbox_key(recipient)
        ):
            logger.warning(
                "account mail to %s held back: RATE_LIMIT_MAIL_PER_RECIPIENT reached",
                mask_email(recipient),
            )
            return None
        payload = NotificationCreate(
            channel=message.channel,
            to=message.to,
            subject=message.subject,
            text=message.text,
            html=message.html,
            metadata=message.metadata,
        )
        try:
            return self.outbox.add_own_message(payload)
        except AppError as exc:
            logger.error("account mail to %s not sent: %s", mask_email(recipient), exc.message)
            return None

    async def enqueue(self, notification: Notification) -> None:
        """Hand a committed mail to delivery."""
        await self.outbox.enqueue_committed(notification)


async def answer_in_even_time(request: Request) -> AsyncIterator[None]:
    """A route dependency: the answer leaves ACCOUNT_MAIL_ANSWER_SECONDS after the request
    came in, whatever the route did.

    Forgot-password and request-verify-token write a mail only for an address that has an
    account; without this, the time that takes would tell which addresses have one.
    """
    clock = asyncio.get_running_loop()
    due = clock.time() + runtime_of(request).settings.account_mail_answer_seconds
    yield
    await asyncio.sleep(max(0.0, due - clock.time()))


# A secret link's token as it appears in a mail's text (`?token=…`) and HTML (`&amp;token=…`).
TOKEN_IN_LINK = re.compile(rf"([?&](?:amp;)?{TOKEN_PARAMETER}=)[^&\s\"'<>]+")
REDACTED = "REDACTED"


def without_tokens(body: str | None) -> str | None:
    """A mail's body as an operator may read it: each link's token replaced by REDACTED."""
    return None if body is None else TOKEN_IN_LINK.sub(rf"\g<1>{REDACTED}", body)
