"""The Google client: endpoints from settings, the People API call, and its failures."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from httpx_oauth.exceptions import GetProfileError
from pydantic import SecretStr

from app.core.config import Settings
from app.plugins.google.client import GooglePeopleOAuth2
from app.plugins.google.plugin import register_oauth_providers
from app.plugins.google.settings import GoogleSettings
from app.plugins.google.tests.test_profile import PERSON

Handler = Callable[[httpx.Request], httpx.Response]


def google_settings(**values: Any) -> GoogleSettings:
    defaults: dict[str, Any] = {
        "client_id": "client-123.apps.googleusercontent.com",
        "client_secret": SecretStr("GOCSPX-secret"),
        "authorize_url": "http://accounts.test/o/oauth2/v2/auth",
        "token_url": "http://oauth2.test/token",
        "people_api_url": "http://people.test/v1/",
    }
    return GoogleSettings(_env_file=None, **{**defaults, **values})


def client_with(monkeypatch: pytest.MonkeyPatch, handler: Handler) -> GooglePeopleOAuth2:
    client = GooglePeopleOAuth2(google_settings())
    monkeypatch.setattr(
        client,
        "get_httpx_client",
        lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    return client


async def test_authorization_url_uses_configured_endpoint_and_asks_for_profile_scopes() -> None:
    client = GooglePeopleOAuth2(google_settings())
    url = await client.get_authorization_url("http://app.test/callback", state="s1")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://accounts.test/o/oauth2/v2/auth"
    assert query["client_id"] == ["client-123.apps.googleusercontent.com"]
    scopes = query["scope"][0].split(" ")
    for scope in ("user.birthday.read", "user.gender.read", "user.phonenumbers.read"):
        assert f"https://www.googleapis.com/auth/{scope}" in scopes


async def test_profile_comes_from_people_me_with_every_person_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=PERSON)

    client = client_with(monkeypatch, handler)
    assert await client.get_profile("ya29.token") == PERSON
    request = seen[0]
    assert str(request.url).startswith("http://people.test/v1/people/me?")
    assert request.url.params["personFields"] == (
        "names,emailAddresses,photos,birthdays,genders,phoneNumbers"
    )
    assert request.headers["Authorization"] == "Bearer ya29.token"


def refuse(request: httpx.Request) -> httpx.Response:
    body = {"error": {"code": 403, "message": "insufficient scopes", "status": "PERMISSION_DENIED"}}
    return httpx.Response(403, json=body)


def garbage(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"<html>not json</html>")


def no_person(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=json.dumps({"etag": "x"}).encode())


def time_out(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


@pytest.mark.parametrize("handler", [refuse, garbage, no_person, time_out])
async def test_every_people_api_failure_is_a_profile_error(
    monkeypatch: pytest.MonkeyPatch, handler: Handler
) -> None:
    client = client_with(monkeypatch, handler)
    with pytest.raises(GetProfileError):
        await client.get_profile("ya29.token")


def test_plugin_loads_unconfigured_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(GoogleSettings.model_config, "env_file", None)
    for name in ("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    [provider] = register_oauth_providers(Settings(_env_file=None))
    assert provider.name == "google"
    assert provider.is_configured is False


def test_plugin_reads_credentials_and_endpoints_from_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(GoogleSettings.model_config, "env_file", None)
    monkeypatch.setenv("GOOGLE_CLIENT_ID", "id-1")
    monkeypatch.setenv("GOOGLE_CLIENT_SECRET", "secret-1")
    monkeypatch.setenv("GOOGLE_TOKEN_URL", "http://127.0.0.1:9/token")
    [provider] = register_oauth_providers(Settings(_env_file=None))
    assert provider.is_configured is True
    assert provider.client.access_token_endpoint == "http://127.0.0.1:9/token"
