"""Provider-agnostic OAuth: guarding provider calls, fetching and applying the social profile.

Nothing here imports httpx-oauth, so core imports without it: only a provider plugin
brings its client; the routes (`app.accounts.routes.oauth`) use it through `GuardedOAuthClient`.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from app.accounts.schemas import PROFILE_FIELD_NAMES, ProfileFields
from app.core.config import Settings
from app.core.errors import AppError, ServiceUnavailableError
from app.core.interfaces import OAuthProvider, SocialProfile
from app.core.plugins import PluginLoadError

if TYPE_CHECKING:
    from httpx_oauth.oauth2 import OAuth2Token

    from app.accounts.models import User

logger = logging.getLogger(__name__)

PROVIDER_NOT_CONFIGURED = "PROVIDER_NOT_CONFIGURED"
PROVIDER_ERROR = "PROVIDER_ERROR"
OAUTH_AUTHORIZATION_FAILED = "OAUTH_AUTHORIZATION_FAILED"

# The profile fetched while fastapi-users asked for the account id and email, kept for
# the user manager's `oauth_callback` in the same request, so one sign-in costs one
# profile call and the id, email and `email_verified` all come from one answer.
_fetched_profile: ContextVar[tuple[str, SocialProfile] | None] = ContextVar(
    "oauth_fetched_profile", default=None
)


class ProviderError(AppError):
    """The provider failed us (error status, timeout, unreadable answer): 502, never 500."""

    status_code = 502
    code = PROVIDER_ERROR


def provider_not_configured(provider_name: str) -> ServiceUnavailableError:
    return ServiceUnavailableError(
        f"Sign-in with {provider_name} is not configured on this service: "
        "its client id and secret are not set.",
        code=PROVIDER_NOT_CONFIGURED,
        detail={"provider": provider_name},
    )


def provider_error(provider_name: str, step: str, exc: BaseException) -> ProviderError:
    response = getattr(exc, "response", None)
    upstream_status = getattr(response, "status_code", None)
    logger.warning(
        "%s %s call failed: %s: %s (upstream status %s)",
        provider_name,
        step,
        type(exc).__name__,
        exc,
        upstream_status or "-",
    )
    return ProviderError(
        f"{provider_name} did not complete the {step} step of the sign-in; try again later.",
        detail={"provider": provider_name, "step": step, "upstream_status": upstream_status},
    )


def authorization_failed(provider_name: str, error: str, description: str | None) -> AppError:
    """The provider sent the user back with `?error=…` (e.g. consent refused)."""
    return AppError(
        f"Sign-in with {provider_name} did not complete: {description or error}.",
        code=OAUTH_AUTHORIZATION_FAILED,
        status_code=400,
        detail={"provider": provider_name, "error": error, "error_description": description},
    )


async def fetch_social_profile(provider: OAuthProvider, access_token: str) -> SocialProfile:
    """`client.get_profile(token)` mapped by the provider; any failure is a ProviderError."""
    try:
        raw_profile = await provider.client.get_profile(access_token)
    except Exception as exc:
        raise provider_error(provider.name, "profile", exc) from exc
    try:
        profile = provider.map_profile(raw_profile)
    except Exception as exc:
        raise provider_error(provider.name, "profile", exc) from exc
    if not profile.account_id:
        raise provider_error(provider.name, "profile", ValueError("no account id in the profile"))
    return profile


def remember_profile(access_token: str, profile: SocialProfile) -> None:
    _fetched_profile.set((access_token, profile))


def take_remembered_profile(access_token: str) -> SocialProfile | None:
    remembered = _fetched_profile.get()
    if remembered is None or remembered[0] != access_token:
        return None
    _fetched_profile.set(None)
    return remembered[1]


class GuardedOAuthClient:
    """Wraps a provider's httpx-oauth client for the sign-in routes (`app.accounts.routes.oauth`).

    - Whatever the provider's client raises (error status, timeout, malformed JSON)
      becomes 502 PROVIDER_ERROR instead of a 500.
    - The account id and email come from `get_profile` + `map_profile`, the same
      mapping the user manager applies, so a provider need not implement `get_id_email`.
    """

    def __init__(self, provider: OAuthProvider) -> None:
        self.provider = provider
        self.client = provider.client
        self.name: str = provider.client.name

    async def get_authorization_url(
        self, redirect_uri: str, state: str, scope: list[str] | None = None
    ) -> str:
        try:
            url: str = await self.client.get_authorization_url(redirect_uri, state, scope)
        except Exception as exc:
            raise provider_error(self.provider.name, "authorize", exc) from exc
        return url

    async def get_access_token(self, code: str, redirect_uri: str) -> OAuth2Token:
        try:
            return await self.client.get_access_token(code, redirect_uri)
        except Exception as exc:
            raise provider_error(self.provider.name, "token", exc) from exc

    async def get_id_email(self, token: str) -> tuple[str, str | None]:
        profile = await fetch_social_profile(self.provider, token)
        remember_profile(token, profile)
        return profile.account_id, profile.email


def check_provider_names(providers: dict[str, OAuthProvider]) -> None:
    """The client's name is what linked accounts store, so it must be the provider's name."""
    for name, provider in providers.items():
        if provider.is_configured and provider.client.name != name:
            raise PluginLoadError(
                f"OAuth provider {name!r} has an httpx-oauth client named "
                f"{provider.client.name!r}: give the client the provider's name."
            )


def callback_url(settings: Settings, auth_prefix: str, provider_name: str, backend: str) -> str:
    """The redirect URI to register at the provider: fixed by PUBLIC_BASE_URL, not the request."""
    base = settings.public_base_url.rstrip("/")
    return f"{base}{auth_prefix}/{provider_name}/{backend}/callback"


def valid_profile_values(provider_name: str, profile: SocialProfile) -> dict[str, Any]:
    """The profile's non-null common fields that pass our own validation.

    A value that does not fit (a phone number that is not E.164, an unknown gender) is
    dropped with a warning instead of failing the sign-in.
    """
    values: dict[str, Any] = {}
    for field in PROFILE_FIELD_NAMES:
        value = getattr(profile, field, None)
        if value is None:
            continue
        try:
            checked = ProfileFields.model_validate({field: value})
        except ValidationError:
            logger.warning(
                "%s profile: %s does not fit our format; not stored", provider_name, field
            )
            continue
        values[field] = getattr(checked, field)
    return values


def profile_changes(user: User, provider_name: str, profile: SocialProfile) -> dict[str, Any]:
    """What a sign-in adds to the user: only the fields the user does not have yet.

    A null from the provider never erases a stored value (consent can be partial or
    withdrawn), and a value we already have is not overwritten: the user may have
    edited it, and a second provider must not flip it back and forth.
    """
    return {
        field: value
        for field, value in valid_profile_values(provider_name, profile).items()
        if getattr(user, field) is None
    }
