"""The HTML pages: sign-in at `/`, and the pages the account mails link to.

Each page speaks the visitor's language (`?lang=`, else Accept-Language, else
DEFAULT_LANGUAGE) with words from the catalogue in app/i18n, and runs under a strict
Content-Security-Policy: its style and script are files of the service (app/static).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app.accounts.auth_backends import AUTH_PREFIX, OptionalUser
from app.accounts.mails import RESET_PASSWORD_PATH, VERIFY_EMAIL_PATH
from app.core.config import Settings
from app.core.dependencies import runtime_of
from app.core.plugins import PluginRegistry
from app.i18n import (
    CATALOGUES,
    LANGUAGE_COOKIE,
    LANGUAGE_COOKIE_SECONDS,
    LANGUAGE_PARAMETER,
    Language,
    Translate,
    parse_language,
    request_language,
    translator,
)

APP_DIR = Path(__file__).resolve().parents[2]
TEMPLATES = Jinja2Templates(directory=APP_DIR / "templates")
STATIC_DIR = APP_DIR / "static"
STATIC_PATH = "/static"

# Providers whose own button guidelines the page follows (colours, symbol, wording); any
# other provider plugin gets a plain button.
BRANDED_PROVIDERS = frozenset({"google", "kakao"})
# What the page's script may say: sent along as data, in the page's language.
SCRIPT_MESSAGE_PREFIXES = ("error.", "status.")

# Pages show account data or carry tokens in their URL: not cached, not framed, and the
# URL is not sent along to anything they load (a profile photo host, say).
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Vary": "Accept-Language, Cookie",
}

router = APIRouter(include_in_schema=False)


def content_security_policy(settings: Settings) -> str:
    """Only the service's own style, script and requests; nothing may frame the pages.

    Profile photos come from the providers' image hosts (https). Outside production a
    plain-http photo host is allowed too (a local stand-in provider, say).
    """
    images = "'self' data: https:" if settings.is_production else "'self' data: https: http:"
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            "connect-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        )
    )


@dataclass(frozen=True)
class ProviderButton:
    name: str
    label: str
    configured: bool
    brand: str


def provider_buttons(
    plugins: PluginRegistry, settings: Settings, t: Translate
) -> list[ProviderButton]:
    """Configured providers get a button; unconfigured ones are shown as a disabled line in
    development (so a developer sees what is missing) and not at all in production, where
    the log says at startup which plugin lacks its settings."""
    buttons = []
    for name, provider in sorted(plugins.oauth_providers.items()):
        if not provider.is_configured and settings.is_production:
            continue
        brand = name if name in BRANDED_PROVIDERS else "other"
        display_name = str(getattr(provider, "display_name", None) or name.capitalize())
        if brand != "other":
            display_name = t(f"provider.{brand}")
        if not provider.is_configured:
            label = t("signin.provider.not_configured", provider=display_name)
        elif brand == "other":
            label = t("signin.provider.other", provider=display_name)
        else:
            label = t(f"signin.provider.{brand}")
        buttons.append(ProviderButton(name, label, provider.is_configured, brand))
    return buttons


def page_language(request: Request) -> Language:
    settings: Settings = runtime_of(request).settings
    return request_language(
        request.query_params, request.cookies, request.headers, settings.default_language
    )


def remember_language(request: Request, response: HTMLResponse) -> None:
    """A `?lang=` pick is kept in a cookie: the page after a provider's sign-in, and the
    mails this page asks for, are in the language the person chose."""
    picked = parse_language(request.query_params.get(LANGUAGE_PARAMETER))
    if picked is None or picked.value == request.cookies.get(LANGUAGE_COOKIE):
        return
    settings: Settings = runtime_of(request).settings
    response.set_cookie(
        LANGUAGE_COOKIE,
        picked.value,
        max_age=LANGUAGE_COOKIE_SECONDS,
        path="/",
        secure=settings.auth_cookie_is_secure,
        httponly=True,
        samesite="lax",
    )


def language_links(request: Request) -> list[dict[str, str]]:
    """This page in each language (its token and other parameters kept)."""
    links = []
    for language in Language:
        query = request.url.include_query_params(**{LANGUAGE_PARAMETER: language.value}).query
        links.append(
            {
                "code": language.value,
                "name": CATALOGUES[language]["language.name"],
                "href": f"{request.url.path}?{query}",
            }
        )
    return links


def error_message(t: Translate, code: str | None, settings: Settings) -> str | None:
    """`/?error=CODE` shows the catalogue's words for a known code, nothing for others (so
    the URL cannot put text of its choice on the page)."""
    key = f"error.{code}"
    if not code or key not in CATALOGUES[Language.ENGLISH]:
        return None
    return t(key, minimum=settings.password_min_length)


def render(request: Request, template: str, **context: Any) -> HTMLResponse:
    settings: Settings = runtime_of(request).settings
    language = page_language(request)
    t = translator(language)
    script_messages = {
        key: t(key, minimum=settings.password_min_length, email="{email}")
        for key in CATALOGUES[language]
        if key.startswith(SCRIPT_MESSAGE_PREFIXES)
    }
    signin_href = f"/?{LANGUAGE_PARAMETER}={language.value}"
    values = {
        "project_name": settings.project_name,
        "api": AUTH_PREFIX,
        "lang": language.value,
        "languages": language_links(request),
        "t": t,
        "script_messages": script_messages,
        "signin_href": signin_href,
        "password_min_length": settings.password_min_length,
    }
    headers = {
        **PAGE_HEADERS,
        "Content-Language": language.value,
        "Content-Security-Policy": content_security_policy(settings),
    }
    response = TEMPLATES.TemplateResponse(request, template, {**values, **context}, headers=headers)
    remember_language(request, response)
    return response


@router.get("/", response_class=HTMLResponse)
async def signin_page(
    request: Request, user: OptionalUser, error: str | None = None
) -> HTMLResponse:
    settings: Settings = runtime_of(request).settings
    t = translator(page_language(request))
    providers = provider_buttons(runtime_of(request).plugins, settings, t)
    message = error_message(t, error, settings)
    return render(request, "signin.html", user=user, providers=providers, error_message=message)


@router.get(VERIFY_EMAIL_PATH, response_class=HTMLResponse)
async def verify_email_page(request: Request, token: str = Query("")) -> HTMLResponse:
    # The token is confirmed by a click (a POST), not by opening the link: mail scanners
    # open links too.
    return render(request, "verify_email.html", token=token)


@router.get(RESET_PASSWORD_PATH, response_class=HTMLResponse)
async def reset_password_page(request: Request, token: str = Query("")) -> HTMLResponse:
    return render(request, "reset_password.html", token=token)
