"""The account mails (email verification, password reset), sent through the email notifier.

Each is a plain-text and an HTML body with the same words, from the catalogue in app/i18n,
in the language of the request that caused it (the language picked on our pages, else
Accept-Language, else DEFAULT_LANGUAGE); its link opens our page in that language.

Each recipient gets at most RATE_LIMIT_MAIL_PER_RECIPIENT of them: a backstop behind the
routes' own counts, which holds back (and logs) a mail without telling the caller, since
whether a mail is made at all depends on whether the address has an account.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import escape
from urllib.parse import urlencode

from fastapi import BackgroundTasks, Request

from app.core.config import Settings
from app.core.interfaces import DeliveryOutcome, OutgoingMessage
from app.core.logging import mask_email
from app.core.plugins import PluginRegistry
from app.core.rate_limits import RateLimiter, RateLimitScope, mailbox_key
from app.i18n import LANGUAGE_PARAMETER, Language, request_language, translator

logger = logging.getLogger(__name__)

EMAIL_CHANNEL = "email"
# Where a request keeps the tasks that run after its answer is sent.
AFTER_ANSWER_STATE = "account_mails_after_answer"
VERIFY_EMAIL_PATH = "/verify-email"
RESET_PASSWORD_PATH = "/reset-password"  # noqa: S105 - a page, not a password

# send_verification_mail, send_password_reset_mail:
# (settings, plugins, email, token, language) → sent?
AccountMailSender = Callable[[Settings, PluginRegistry, str, str, Language], Awaitable[bool]]


def public_link(settings: Settings, path: str, token: str, language: Language) -> str:
    """A link for a mail: PUBLIC_BASE_URL + path + ?token=…, pointing at one of our pages
    (in the mail's language)."""
    query = urlencode({"token": token, LANGUAGE_PARAMETER: language.value})
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
    settings: Settings, plugins: PluginRegistry, email: str, token: str, language: Language
) -> bool:
    message = verification_message(settings, email, token, language)
    return await send_account_mail(plugins, message)


async def send_password_reset_mail(
    settings: Settings, plugins: PluginRegistry, email: str, token: str, language: Language
) -> bool:
    message = password_reset_message(settings, email, token, language)
    return await send_account_mail(plugins, message)


async def send_account_mails_after_answer(request: Request, background: BackgroundTasks) -> None:
    """A route dependency: account mails of this request go out after its answer.

    Sending can take seconds (SMTP, an API). Waiting for it would make forgot-password
    answer visibly slower for an address that has an account than for one that has not.
    """
    setattr(request.state, AFTER_ANSWER_STATE, background)


async def send_after_answer(
    request: Request | None,
    send: AccountMailSender,
    settings: Settings,
    plugins: PluginRegistry,
    email: str,
    token: str,
) -> None:
    """Send an account mail after the answer where the route allows it, else now."""
    limiter: RateLimiter | None = None
    background: BackgroundTasks | None = None
    if request is not None:
        limiter = request.app.state.rate_limiter
        background = getattr(request.state, AFTER_ANSWER_STATE, None)
    language = mail_language(request, settings)
    arguments = (limiter, send, settings, plugins, email, token, language)
    if background is None:
        await send_within_cap(*arguments)
    else:
        background.add_task(send_within_cap, *arguments)


async def send_within_cap(
    limiter: RateLimiter | None,
    send: AccountMailSender,
    settings: Settings,
    plugins: PluginRegistry,
    email: str,
    token: str,
    language: Language,
) -> bool:
    """`send` the mail unless its recipient has had their share (then say so in the log)."""
    if limiter is not None and not await limiter.allows(
        RateLimitScope.MAIL_RECIPIENT, mailbox_key(email)
    ):
        logger.warning(
            "account mail to %s held back: RATE_LIMIT_MAIL_PER_RECIPIENT reached",
            mask_email(email),
        )
        return False
    return await send(settings, plugins, email, token, language)
