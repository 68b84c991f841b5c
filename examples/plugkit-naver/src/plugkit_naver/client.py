"""httpx-oauth's Naver client, with endpoints from settings and Naver's answers checked.

Every failure is an httpx-oauth error (`GetAccessTokenError`, `GetProfileError`,
`GetIdEmailError`), which the service turns into `502 PROVIDER_ERROR`.
"""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
from httpx_oauth.clients.naver import NaverOAuth2
from httpx_oauth.exceptions import GetIdEmailError, GetProfileError
from httpx_oauth.oauth2 import OAuth2RequestError

from plugkit_naver.profile import naver_account_id
from plugkit_naver.settings import NaverSettings

SUCCESS = "00"


class NaverUserOAuth2(NaverOAuth2):
    """Sign in with Naver; the profile is the member's `response` object of `/v1/nid/me`."""

    def __init__(self, settings: NaverSettings) -> None:
        super().__init__(settings.client_id, settings.client_secret.get_secret_value())
        # The parent hard-codes Naver's URLs; the settings may point elsewhere (tests, proxies).
        self.authorize_endpoint = settings.authorize_url
        self.access_token_endpoint = settings.token_url
        self.refresh_token_endpoint = settings.token_url
        self.revoke_token_endpoint = settings.token_url
        self.profile_endpoint = settings.profile_url
        self.timeout = settings.timeout_seconds

    def get_httpx_client(self) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
        return httpx.AsyncClient(timeout=self.timeout)

    def get_json(
        self, response: httpx.Response, *, exc_class: type[OAuth2RequestError]
    ) -> dict[str, Any]:
        """The token answer; Naver refuses a code with `200 {"error": ...}`, not an error status."""
        data: Any = super().get_json(response, exc_class=exc_class)
        if not isinstance(data, dict):
            raise exc_class("Naver token endpoint sent no token", response)
        if "error" in data or not data.get("access_token"):
            error = data.get("error", "no access_token")
            description = data.get("error_description", "")
            raise exc_class(f"Naver refused the token request: {error} {description}", response)
        return data

    async def get_profile(self, token: str) -> dict[str, Any]:
        """The member profile; any failure (refusal, timeout, garbage) is a GetProfileError."""
        try:
            async with self.get_httpx_client() as client:
                response = await client.get(
                    self.profile_endpoint,
                    headers={**self.request_headers, "Authorization": f"Bearer {token}"},
                )
        except httpx.HTTPError as exc:
            raise GetProfileError(f"Naver profile API unreachable: {exc!r}") from exc
        if response.status_code >= 400:
            raise GetProfileError(
                f"Naver profile API answered {response.status_code}", response=response
            )
        try:
            body = response.json()
        except ValueError as exc:  # not JSON, or not even text
            raise GetProfileError("Naver profile API sent invalid JSON", response) from exc
        if not isinstance(body, dict):
            raise GetProfileError("Naver profile API sent no result", response)
        # A refusal may still come as a result object: "resultcode" other than "00".
        if body.get("resultcode") != SUCCESS:
            raise GetProfileError(
                f"Naver profile API refused: resultcode {body.get('resultcode')!r}, "
                f"{body.get('message')!r}",
                response,
            )
        user = body.get("response")
        if not isinstance(user, dict):
            raise GetProfileError("Naver profile API sent no member", response)
        try:
            naver_account_id(user)
        except ValueError as exc:
            raise GetProfileError("Naver profile API sent no member id", response) from exc
        return user

    async def get_id_email(self, token: str) -> tuple[str, str | None]:
        try:
            user = await self.get_profile(token)
        except GetProfileError as exc:
            raise GetIdEmailError(exc.message, exc.response) from exc
        email = user.get("email")
        return naver_account_id(user), email if isinstance(email, str) and email else None
