"""The Naver client against the local fake: endpoints from settings, the token form, failures."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from app.core.config import Settings
from fake_naver import Failure, FakeNaver, press
from httpx_oauth.exceptions import GetIdEmailError, GetProfileError
from httpx_oauth.oauth2 import GetAccessTokenError

from plugkit_naver.client import NaverUserOAuth2
from plugkit_naver.plugin import register_oauth_providers
from plugkit_naver.settings import NaverSettings

CALLBACK = "http://127.0.0.1:8000/api/v1/auth/naver/jwt/callback"


def naver_client(fake: FakeNaver, **values: Any) -> NaverUserOAuth2:
    env = {
        key.removeprefix("NAVER_").lower(): value for key, value in fake.env(fake.base_url).items()
    }
    return NaverUserOAuth2(NaverSettings(_env_file=None, **{**env, **values}))


async def access_token(fake: FakeNaver, client: NaverUserOAuth2) -> str:
    """A real code from the fake's login page, exchanged for a token."""
    url = await client.get_authorization_url(CALLBACK, state="state-1")
    code = parse_qs(urlsplit(await press(url)).query)["code"][0]
    token = await client.get_access_token(code, CALLBACK)
    return str(token["access_token"])


async def test_authorization_url_is_the_configured_endpoint_with_client_id_and_state(
    fake_naver: FakeNaver,
) -> None:
    url = await naver_client(fake_naver).get_authorization_url(CALLBACK, state="state-1")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert (
        f"{parts.scheme}://{parts.netloc}{parts.path}"
        == f"{fake_naver.base_url}/oauth2.0/authorize"
    )
    assert query["client_id"] == ["fake-naver-client-id"]
    assert query["response_type"] == ["code"]
    assert query["state"] == ["state-1"]
    assert query["redirect_uri"] == [CALLBACK]


async def test_the_login_page_sends_the_browser_back_with_code_and_state(
    fake_naver: FakeNaver,
) -> None:
    url = await naver_client(fake_naver).get_authorization_url(CALLBACK, state="state-1")
    back = urlsplit(await press(url))
    assert f"{back.scheme}://{back.netloc}{back.path}" == CALLBACK
    assert parse_qs(back.query)["state"] == ["state-1"]
    assert parse_qs(back.query)["code"]


async def test_token_request_sends_the_client_credentials_and_reads_a_string_expiry(
    fake_naver: FakeNaver,
) -> None:
    client = naver_client(fake_naver)
    url = await client.get_authorization_url(CALLBACK, state="state-1")
    code = parse_qs(urlsplit(await press(url)).query)["code"][0]

    token = await client.get_access_token(code, CALLBACK)

    [form] = fake_naver.calls.token_forms
    assert (form["grant_type"], form["code"]) == ("authorization_code", code)
    assert form["client_id"] == "fake-naver-client-id"
    assert form["client_secret"] == "fake-naver-client-secret"
    # Naver sends expires_in as "3600", a string.
    assert token["expires_at"] == pytest.approx(time.time() + 3600, abs=60)


async def test_the_profile_is_the_member_and_the_id_and_email_come_from_it(
    fake_naver: FakeNaver,
) -> None:
    client = naver_client(fake_naver)
    token = await access_token(fake_naver, client)

    member = await client.get_profile(token)
    assert member["id"] == fake_naver.member.id
    assert member["mobile_e164"] == "+821012345678"
    assert await client.get_id_email(token) == (fake_naver.member.id, "gildong@naver.com")


async def test_a_reused_code_is_refused_though_naver_answers_200(fake_naver: FakeNaver) -> None:
    client = naver_client(fake_naver)
    url = await client.get_authorization_url(CALLBACK, state="state-1")
    code = parse_qs(urlsplit(await press(url)).query)["code"][0]
    await client.get_access_token(code, CALLBACK)

    with pytest.raises(GetAccessTokenError, match="no valid data in session"):
        await client.get_access_token(code, CALLBACK)


@pytest.mark.parametrize("failure", [500, "refused", "malformed", "timeout"])
async def test_every_token_failure_is_a_token_error(
    fake_naver: FakeNaver, failure: Failure
) -> None:
    client = naver_client(fake_naver, timeout_seconds=2)
    url = await client.get_authorization_url(CALLBACK, state="state-1")
    code = parse_qs(urlsplit(await press(url)).query)["code"][0]
    fake_naver.token_failure = failure

    with pytest.raises(GetAccessTokenError):
        await client.get_access_token(code, CALLBACK)


@pytest.mark.parametrize("failure", [500, 403, "refused", "malformed", "timeout"])
async def test_every_profile_failure_is_a_profile_error(
    fake_naver: FakeNaver, failure: Failure
) -> None:
    client = naver_client(fake_naver, timeout_seconds=2)
    token = await access_token(fake_naver, client)
    fake_naver.profile_failure = failure

    with pytest.raises(GetProfileError):
        await client.get_profile(token)
    with pytest.raises(GetIdEmailError):
        await client.get_id_email(token)


async def test_an_unknown_access_token_is_a_profile_error(fake_naver: FakeNaver) -> None:
    with pytest.raises(GetProfileError, match="401"):
        await naver_client(fake_naver).get_profile("not-a-token")


def test_the_plugin_loads_unconfigured_without_credentials(unconfigured_naver: None) -> None:
    [provider] = register_oauth_providers(Settings(_env_file=None))
    assert (provider.name, provider.client.name) == ("naver", "naver")
    assert provider.is_configured is False


def test_the_client_id_alone_does_not_configure_it(
    unconfigured_naver: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NAVER_CLIENT_ID", "fake-naver-client-id")
    [provider] = register_oauth_providers(Settings(_env_file=None))
    assert provider.is_configured is False
    monkeypatch.setenv("NAVER_CLIENT_SECRET", "fake-naver-client-secret")
    [provider] = register_oauth_providers(Settings(_env_file=None))
    assert provider.is_configured is True
