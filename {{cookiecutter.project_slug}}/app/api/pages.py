"""The HTML pages: sign-in at `/`, and the pages the account mails link to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app.core.config import Settings
from app.core.plugins import PluginRegistry
from app.services.auth import AUTH_PREFIX, OptionalUser
from app.services.mail import RESET_PASSWORD_PATH, VERIFY_EMAIL_PATH

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "templates")

# Pages show account data or carry tokens in their URL: not cached, not framed, and the
# URL is not sent along to anything they load (a profile photo host, say).
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class ProviderButton:
    name: str
    label: str
    configured: bool


def provider_buttons(plugins: PluginRegistry, settings: Settings) -> list[ProviderButton]:
    """Configured providers get a button; unconfigured ones are shown greyed out in
    development (so a developer sees what is missing) and not at all in production."""
    buttons = []
    for name, provider in sorted(plugins.oauth_providers.items()):
        if not provider.is_configured and settings.is_production:
            continue
        label = getattr(provider, "display_name", None) or name.capitalize()
        buttons.append(ProviderButton(name, str(label), provider.is_configured))
    return buttons


def render(request: Request, template: str, **context: Any) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {"project_name": settings.project_name, "api": AUTH_PREFIX, **context},
        headers=PAGE_HEADERS,
    )


@router.get("/", response_class=HTMLResponse)
async def signin_page(request: Request, user: OptionalUser) -> HTMLResponse:
    providers = provider_buttons(request.app.state.plugins, request.app.state.settings)
    return render(request, "signin.html", user=user, providers=providers)


@router.get(VERIFY_EMAIL_PATH, response_class=HTMLResponse)
async def verify_email_page(request: Request, token: str = Query("")) -> HTMLResponse:
    # The token is confirmed by a click (a POST), not by opening the link: mail scanners
    # open links too.
    return render(request, "verify_email.html", token=token)


@router.get(RESET_PASSWORD_PATH, response_class=HTMLResponse)
async def reset_password_page(request: Request, token: str = Query("")) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    minimum = settings.password_min_length
    return render(request, "reset_password.html", token=token, password_min_length=minimum)
