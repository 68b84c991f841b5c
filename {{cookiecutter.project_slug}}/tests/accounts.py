"""Helpers for the accounts tests: a mailbox notifier, a stand-in OAuth provider, sign-in calls.

Both the mailbox and the stand-in provider are registered through the plugin manager,
as an installed plugin would be: the service's own code runs unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI
from httpx_oauth.oauth2 import BaseOAuth2, GetAccessTokenError, OAuth2Token

from app.core.config import Settings
from app.core.hookspecs import hookimpl
from app.core.interfaces import DeliveryResult, OutgoingMessage, SocialProfile
from app.core.plugins import create_plugin_manager
from app.main import create_app

AUTH = "/api/v1/auth"
ME = "/api/v1/users/me"
PASSWORD = "correct horse battery staple"
LINK = re.compile(r"https?://\S+")


def build_app(settings: Settings, *plugins: object) -> FastAPI:
    """The service with extra plugin objects registered beside the built-in ones."""
    manager = create_plugin_manager(settings)
    for plugin in plugins:
        manager.register(plugin, name=f"test-{getattr(plugin, 'name', id(plugin))}")
    return create_app(settings, plugin_manager=manager)


class Mailbox:
    """A configured (not stand-in) email notifier that keeps what it is asked to send."""

    name = "mailbox"
    channel = "email"
    is_configured = True
    is_stand_in = False

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    def check_recipient(self, address: str) -> str | None:
        return None if "@" in address else "not an email address"

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        self.sent.append(message)
        return DeliveryResult.delivered(f"mailbox-{len(self.sent)}")

    @hookimpl
    def register_notifiers(self, settings: Settings) -> Sequence[Mailbox]:
        return [self]

    def to(self, address: str) -> list[OutgoingMessage]:
        return [message for message in self.sent if address in message.to]

    def last_link(self, address: str) -> str:
        messages = self.to(address)
        assert messages, f"no mail to {address}; sent: {self.sent}"
        match = LINK.search(messages[-1].text or "")
        assert match, messages[-1].text
        return match.group(0)


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


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


def bearer_of(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def register(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, **profile: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{AUTH}/register", json={"email": email, "password": password, **profile}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def login(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, backend: str = "jwt"
) -> httpx.Response:
    return await client.post(
        f"{AUTH}/{backend}/login", data={"username": email, "password": password}
    )


async def bearer_for(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> dict[str, str]:
    return bearer_of(await login(client, email, password))


async def verify_email(client: httpx.AsyncClient, mailbox: Mailbox, email: str) -> None:
    """Follow the link of the latest verification mail, as the address's owner does."""
    token = token_of(mailbox.last_link(email))
    response = await client.post(f"{AUTH}/verify", json={"token": token})
    assert response.status_code == 200, response.text


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The service's error shape, with this status and code."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "detail", "request_id"}
    assert body["code"] == code
    assert body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body
