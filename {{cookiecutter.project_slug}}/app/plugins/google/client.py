"""The httpx-oauth Google client, with configurable endpoints and the People API profile."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import httpx
from httpx_oauth.clients.google import BASE_SCOPES, GoogleOAuth2
from httpx_oauth.exceptions import GetProfileError

from app.core.http import outbound_client
from app.plugins.google.settings import GoogleSettings

SCOPES = [
    *BASE_SCOPES,
    "https://www.googleapis.com/auth/user.birthday.read",
    "https://www.googleapis.com/auth/user.gender.read",
    "https://www.googleapis.com/auth/user.phonenumbers.read",
]
PERSON_FIELDS = "names,emailAddresses,photos,birthdays,genders,phoneNumbers"


class GooglePeopleOAuth2(GoogleOAuth2):
    """Google sign-in whose profile is the People API's `people/me`."""

    def __init__(self, settings: GoogleSettings) -> None:
        super().__init__(
            settings.client_id, settings.client_secret.get_secret_value(), scopes=SCOPES
        )
        # The parent hard-codes Google's URLs; the settings may point elsewhere (tests, proxies).
        self.authorize_endpoint = settings.authorize_url
        self.access_token_endpoint = settings.token_url
        self.refresh_token_endpoint = settings.token_url
        self.revoke_token_endpoint = settings.revoke_url
        self.profile_endpoint = f"{settings.people_api_url.rstrip('/')}/people/me"
        self.timeout = settings.timeout_seconds

    def get_httpx_client(self) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
        return outbound_client(self.timeout)

    async def get_profile(self, token: str) -> dict[str, Any]:
        """The People API person; every failure (refusal, timeout, garbage) is a GetProfileError."""
        try:
            async with self.get_httpx_client() as client:
                response = await client.get(
                    self.profile_endpoint,
                    params={"personFields": PERSON_FIELDS},
                    headers={**self.request_headers, "Authorization": f"Bearer {token}"},
                )
        except httpx.HTTPError as exc:
            raise GetProfileError(f"Google People API unreachable: {exc!r}") from exc
        if response.status_code >= 400:
            raise GetProfileError(
                f"Google People API answered {response.status_code}", response=response
            )
        try:
            profile = response.json()
        except json.JSONDecodeError as exc:
            raise GetProfileError("Google People API sent invalid JSON", response) from exc
        if not isinstance(profile, dict) or not isinstance(profile.get("resourceName"), str):
            raise GetProfileError("Google People API sent no resourceName", response)
        return profile
