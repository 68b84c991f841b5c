"""A stand-in OAuth provider that answers from memory, registered through the plugin manager
as an installed provider plugin would be: the service's own sign-in code runs unchanged.

For the wiring of any provider (routes, state and CSRF checks, linking rules, the sign-in
page); the flows over HTTP against a provider's own protocol use `tests/fakes/oauth_server.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from httpx_oauth.oauth2 import BaseOAuth2, GetAccessTokenError, OAuth2Token

from app.core.config import Settings
from app.core.hookspecs import hookimpl
from app.core.interfaces import SocialProfile
from tests.support import AUTH


class StandInOAuth2(BaseOAuth2[dict[str, Any]]):
    """An httpx-oauth client that answers from memory: code → token → profile JSON.

    `failures` makes a step fail the way a real client does (an httpx-oauth error).
    """

    def __init__(self, name: str) -> None:
        super().__init__(
            "stand-in-client-id",
            "stand-in-secret",
            "https://provider.invalid/authorize",
            "https://provider.invalid/token",
            name=name,
            base_scopes=["profile", "email"],
        )
        self.profiles: dict[str, dict[str, Any]] = {}
        self.failures: set[str] = set()
        self.token_requests: list[tuple[str, str]] = []

    def forget(self) -> None:
        """Back to no scripted answers, no failures and no requests seen."""
        self.profiles.clear()
        self.failures.clear()
        self.token_requests.clear()

    async def get_access_token(
        self, code: str, redirect_uri: str, code_verifier: str | None = None
    ) -> OAuth2Token:
        self.token_requests.append((code, redirect_uri))
        if "token" in self.failures:
            raise GetAccessTokenError("token endpoint answered 503")
        return OAuth2Token({"access_token": f"access-{code}", "expires_in": 3600})

    async def get_profile(self, token: str) -> dict[str, Any]:
        if "profile" in self.failures:
            raise httpx.ReadTimeout("profile endpoint timed out")
        return self.profiles[token.removeprefix("access-")]


@dataclass
class StandInProvider:
    """A provider plugin: its client, its mapping, and the `register_oauth_providers` hook.

    Profiles are given in the common shape already, so `map_profile` is a plain copy.
    """

    name: str = "standin"
    is_configured: bool = True
    client: StandInOAuth2 = field(init=False)

    def __post_init__(self) -> None:
        self.client = StandInOAuth2(self.name)

    def map_profile(self, profile: dict[str, Any]) -> SocialProfile:
        return SocialProfile(**profile)

    @hookimpl
    def register_oauth_providers(self, settings: Settings) -> Sequence[StandInProvider]:
        return [self]

    def will_answer(self, code: str, **profile: Any) -> None:
        """The person who consents with this code has this profile."""
        self.client.profiles[code] = profile


async def sign_in_with(
    client: httpx.AsyncClient, provider: str, code: str, backend: str = "jwt"
) -> httpx.Response:
    """authorize → (the user consents at the provider) → callback with the state and code."""
    authorize = await client.get(f"{AUTH}/{provider}/{backend}/authorize")
    assert authorize.status_code == 200, authorize.text
    state = parse_qs(urlsplit(authorize.json()["authorization_url"]).query)["state"][0]
    return await client.get(
        f"{AUTH}/{provider}/{backend}/callback", params={"code": code, "state": state}
    )
