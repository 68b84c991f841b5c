"""The Kakao client: endpoints from settings, the user API call, the token form, failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from httpx_oauth.exceptions import GetProfileError
from pydantic import SecretStr

from app.core.config import Settings
from app.plugins.kakao.client import KakaoUserOAuth2
from app.plugins.kakao.plugin import register_oauth_providers
from app.plugins.kakao.settings import KakaoSettings
from app.plugins.kakao.tests.test_profile import USER

Handler = Callable[[httpx.Request], httpx.Response]


def kakao_settings(**values: Any) -> KakaoSettings:
    defaults: dict[str, Any] = {
        "client_id": "rest-api-key",
        "authorize_url": "http://kauth.test/oauth/authorize",
        "token_url": "http://kauth.test/oauth/token",
        "user_me_url": "http://kapi.test/v2/user/me",
    }
    return KakaoSettings(_env_file=None, **{**defaults, **values})


def client_with(
    monkeypatch: pytest.MonkeyPatch, handler: Handler, **settings: Any
) -> KakaoUserOAuth2:
    client = KakaoUserOAuth2(kakao_settings(**settings))
    monkeypatch.setattr(
        client,
        "get_httpx_client",
        lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    return client


async def test_authorization_url_uses_configured_endpoint_and_scopes() -> None:
    client = KakaoUserOAuth2(kakao_settings(scopes="profile_nickname, account_email"))
    url = await client.get_authorization_url("http://app.test/callback", state="s1")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://kauth.test/oauth/authorize"
    assert query["client_id"] == ["rest-api-key"]
    assert query["scope"] == ["profile_nickname account_email"]


def test_default_scopes_cover_the_profile_fields() -> None:
    scopes = kakao_settings().scopes
    for scope in ("account_email", "gender", "birthday", "birthyear", "phone_number", "name"):
        assert scope in scopes
    assert "talk_message" not in scopes


def token_form(captured: list[httpx.Request]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(
            200, json={"token_type": "bearer", "access_token": "kakao-at", "expires_in": 21599}
        )

    return handler


async def test_token_request_leaves_out_an_unset_client_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    captured: list[httpx.Request] = []
    client = client_with(monkeypatch, token_form(captured))
    token = await client.get_access_token("code-1", "http://app.test/callback")
    assert token["access_token"] == "kakao-at"
    form = parse_qs(captured[0].content.decode())
    assert form["client_id"] == ["rest-api-key"]
    assert form["code"] == ["code-1"]
    assert "client_secret" not in form


async def test_token_request_sends_a_set_client_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    captured: list[httpx.Request] = []
    client = client_with(monkeypatch, token_form(captured), client_secret=SecretStr("s3cret"))
    await client.get_access_token("code-1", "http://app.test/callback")
    assert parse_qs(captured[0].content.decode())["client_secret"] == ["s3cret"]


async def test_profile_is_the_whole_user_me(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=USER)

    client = client_with(monkeypatch, handler)
    assert await client.get_profile("kakao-at") == USER
    assert str(seen[0].url).startswith("http://kapi.test/v2/user/me")
    # property_keys would narrow the answer to the listed keys only.
    assert "property_keys" not in seen[0].url.params
    assert seen[0].headers["Authorization"] == "Bearer kakao-at"


def refuse(request: httpx.Request) -> httpx.Response:
    return httpx.Response(401, json={"msg": "this access token does not exist", "code": -401})


def garbage(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"{not json")


def no_user(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"kakao_account": {}})


def time_out(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectTimeout("timed out", request=request)


@pytest.mark.parametrize("handler", [refuse, garbage, no_user, time_out])
async def test_every_user_api_failure_is_a_profile_error(
    monkeypatch: pytest.MonkeyPatch, handler: Handler
) -> None:
    client = client_with(monkeypatch, handler)
    with pytest.raises(GetProfileError):
        await client.get_profile("kakao-at")


def test_plugin_loads_unconfigured_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(KakaoSettings.model_config, "env_file", None)
    monkeypatch.delenv("KAKAO_CLIENT_ID", raising=False)
    [provider] = register_oauth_providers(Settings(_env_file=None))
    assert provider.name == "kakao"
    assert provider.is_configured is False


def test_plugin_is_configured_with_only_the_rest_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(KakaoSettings.model_config, "env_file", None)
    monkeypatch.setenv("KAKAO_CLIENT_ID", "rest-api-key")
    monkeypatch.delenv("KAKAO_CLIENT_SECRET", raising=False)
    [provider] = register_oauth_providers(Settings(_env_file=None))
    assert provider.is_configured is True
