"""The httpx-oauth Kakao client, with configurable endpoints and the full `/v2/user/me`."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

import httpx
from httpx_oauth.clients.kakao import KakaoOAuth2
from httpx_oauth.exceptions import GetProfileError
from httpx_oauth.oauth2 import OAuth2ClientAuthMethod

from app.core.http import outbound_client
from app.plugins.kakao.profile import kakao_account_id
from app.plugins.kakao.settings import KakaoSettings


class KakaoUserOAuth2(KakaoOAuth2):
    """Kakao sign-in whose profile is every field the user agreed to share."""

    def __init__(self, settings: KakaoSettings) -> None:
        super().__init__(
            settings.client_id, settings.client_secret.get_secret_value(), scopes=settings.scopes
        )
        # The parent hard-codes Kakao's URLs; the settings may point elsewhere (tests, proxies).
        self.authorize_endpoint = settings.authorize_url
        self.access_token_endpoint = settings.token_url
        self.refresh_token_endpoint = settings.token_url
        self.revoke_token_endpoint = settings.unlink_url
        self.profile_endpoint = settings.user_me_url
        self.timeout = settings.timeout_seconds

    def get_httpx_client(self) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
        return outbound_client(self.timeout)

    def build_request(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        *,
        auth_method: OAuth2ClientAuthMethod | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> tuple[httpx.Request, httpx.Auth | None]:
        if data is not None and auth_method == "client_secret_post" and not self.client_secret:
            # The client secret is optional at Kakao: send the REST API key, not an empty secret.
            form = {**data, "client_id": self.client_id}
            return client.build_request(method, url, data=form, headers=self.request_headers), None
        return super().build_request(client, method, url, auth_method=auth_method, data=data)

    async def get_profile(self, token: str) -> dict[str, Any]:
        """`/v2/user/me`; every failure (refusal, timeout, garbage) is a GetProfileError."""
        try:
            async with self.get_httpx_client() as client:
                response = await client.get(
                    self.profile_endpoint,
                    # Without property_keys Kakao sends every agreed field; images over https.
                    params={"secure_resource": "true"},
                    headers={**self.request_headers, "Authorization": f"Bearer {token}"},
                )
        except httpx.HTTPError as exc:
            raise GetProfileError(f"Kakao user API unreachable: {exc!r}") from exc
        if response.status_code >= 400:
            raise GetProfileError(
                f"Kakao user API answered {response.status_code}", response=response
            )
        try:
            profile = response.json()
        except json.JSONDecodeError as exc:
            raise GetProfileError("Kakao user API sent invalid JSON", response) from exc
        if not isinstance(profile, dict):
            raise GetProfileError("Kakao user API sent no user", response)
        try:
            kakao_account_id(profile)
        except ValueError as exc:
            raise GetProfileError("Kakao user API sent no user id", response) from exc
        return profile
