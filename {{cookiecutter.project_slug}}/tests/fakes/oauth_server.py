"""A provider-neutral OAuth2 provider, and the plugin that signs in through it.

The server speaks the plain protocol: the authorization-code grant (RFC 6749) and an
OpenID-style userinfo endpoint (`sub`, `email`, `email_verified`, `name`, ... by scope),
refusing bad tokens as RFC 6750 says. The plugin registers it through the plugin manager
as an installed provider plugin would be, so the security tests of the sign-in (state,
CSRF, linking, takeover) run in every project, whichever provider plugins it has.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_oauth.exceptions import GetProfileError
from httpx_oauth.oauth2 import BaseOAuth2
from starlette.requests import Request
from starlette.responses import Response

from app.core.config import Settings
from app.core.hookspecs import hookimpl
from app.core.http import outbound_client
from app.core.interfaces import SocialProfile
from tests.fakes.base import FakeOAuthProvider, Grant, json_response

SCOPES = ("openid", "profile", "email", "phone")
# The userinfo claims each scope releases (OpenID Connect Core, 5.4).
CLAIMS_OF_SCOPE = {
    "profile": ("name", "nickname", "picture", "gender", "birthdate"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number",),
}


@dataclass(frozen=True)
class Person:
    """The provider's account of one person; None: the provider has no such claim."""

    sub: str = "248289761001"
    email: str = "jane.doe@example.com"
    email_verified: bool = True
    name: str | None = "Jane Doe"
    nickname: str | None = None
    picture: str | None = "https://images.example.com/jane.jpg"
    gender: str | None = "female"
    # YYYY-MM-DD; 0000-MM-DD when the person hides the year.
    birthdate: str | None = "1990-03-14"
    phone_number: str | None = "+821012345678"


def userinfo(person: Person, scopes: frozenset[str]) -> dict[str, Any]:
    """The claims the granted scopes release; `sub` always."""
    claims: dict[str, Any] = {"sub": person.sub}
    for scope, names in CLAIMS_OF_SCOPE.items():
        if scope in scopes:
            claims.update(
                (name, getattr(person, name)) for name in names if getattr(person, name) is not None
            )
    return claims


class FakeOAuthServer(FakeOAuthProvider):
    authorize_path = "/authorize"
    token_path = "/token"
    profile_path = "/userinfo"
    required_scopes = frozenset({"openid"})

    def __init__(self, name: str, person: Person) -> None:
        super().__init__(client_id=f"{name}-client", client_secret=f"{name}-secret", user=person)
        self.name = name
        self.display_name = name.capitalize()

    def scope_labels(self) -> Mapping[str, str]:
        return {
            "openid": "Who you are",
            "profile": "Your name, picture, gender and birthday",
            "email": "Your email address",
            "phone": "Your phone number",
        }

    def token_body(self, access_token: str, grant: Grant) -> dict[str, Any]:
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": " ".join(sorted(grant.scopes)),
        }

    def token_error(self, status: int, error: str, description: str) -> Response:
        return json_response({"error": error, "error_description": description}, status)

    def profile_error(self, status: int) -> Response:
        error = {401: "invalid_token", 403: "insufficient_scope"}.get(status, "server_error")
        response = json_response({"error": error}, status)
        if status in (401, 403):
            response.headers["WWW-Authenticate"] = f'Bearer error="{error}"'
        return response

    def profile_body(self, request: Request, grant: Grant) -> Response:
        return json_response(userinfo(grant.user, grant.scopes))


class FakeServerOAuth2(BaseOAuth2[dict[str, Any]]):
    """An httpx-oauth client of the fake server: its endpoints, its userinfo as the profile."""

    def __init__(self, server: FakeOAuthServer, timeout_seconds: float) -> None:
        super().__init__(
            server.client_id,
            server.client_secret,
            f"{server.base_url}{server.authorize_path}",
            f"{server.base_url}{server.token_path}",
            name=server.name,
            base_scopes=list(SCOPES),
        )
        self.userinfo_endpoint = f"{server.base_url}{server.profile_path}"
        self.timeout = timeout_seconds

    def get_httpx_client(self) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
        return outbound_client(self.timeout)

    async def get_profile(self, token: str) -> dict[str, Any]:
        async with self.get_httpx_client() as client:
            response = await client.get(
                self.userinfo_endpoint,
                headers={**self.request_headers, "Authorization": f"Bearer {token}"},
            )
        if response.status_code >= 400:
            raise GetProfileError(f"userinfo answered {response.status_code}", response)
        profile: dict[str, Any] = response.json()
        return profile


def birth(birthdate: Any) -> tuple[int | None, str | None]:
    """`1990-03-14` → (1990, "03-14"); year 0000 is a hidden year."""
    if not isinstance(birthdate, str) or len(birthdate) != 10:
        return None, None
    year, month_day = birthdate[:4], birthdate[5:]
    return (int(year) or None) if year.isdigit() else None, month_day


class FakeServerProvider:
    """The provider plugin of a `FakeOAuthServer`: client, profile mapping and hook."""

    def __init__(
        self, server: FakeOAuthServer, *, configured: bool = True, timeout_seconds: float = 2.5
    ) -> None:
        self.name = server.name
        self.display_name = server.display_name
        self.is_configured = configured
        # A provider that hangs is given up on after this long: short, so tests are, yet
        # long enough that a busy machine's normal answers come in time.
        self.client = FakeServerOAuth2(server, timeout_seconds)

    def map_profile(self, profile: dict[str, Any]) -> SocialProfile:
        birthyear, birthday = birth(profile.get("birthdate"))
        return SocialProfile(
            account_id=str(profile["sub"]),
            email=profile.get("email"),
            email_verified=profile.get("email_verified") is True,
            name=profile.get("name"),
            nickname=profile.get("nickname"),
            profile_image_url=profile.get("picture"),
            gender=profile.get("gender"),
            birthyear=birthyear,
            birthday=birthday,
            phone_number=profile.get("phone_number"),
        )

    @hookimpl
    def register_oauth_providers(self, settings: Settings) -> Sequence[FakeServerProvider]:
        return [self]
