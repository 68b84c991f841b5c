"""What the service does alike for every sign-in provider: unconfigured, failing and
hanging providers, refused consent, codes without a state.

Against the provider-neutral fake (tests/fakes/fixtures.py); each provider plugin's own
tests check its client's answers to the same failures.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.fakes.base import Failure
from tests.fakes.flow import authorize, callback, consent, sign_in, stored_rows
from tests.fakes.oauth_server import FakeOAuthServer, FakeServerProvider
from tests.support import (
    AUTH,
    ServeApp,
    ServiceLog,
    SettingsFactory,
    assert_error,
    build_app,
)


@pytest.fixture(scope="module")
def app_plugins(fake_provider_plugins: list[object]) -> list[object]:
    return fake_provider_plugins


@pytest.fixture
def app(shared_app: FastAPI) -> FastAPI:
    """The module's tests share one app, each on an empty database."""
    return shared_app


async def test_unconfigured_provider_answers_503_and_is_logged_once(
    fake_alpha: FakeOAuthServer,
    make_settings: SettingsFactory,
    serve: ServeApp,
    service_log: ServiceLog,
) -> None:
    unconfigured_provider = fake_alpha.name
    application = build_app(make_settings(), FakeServerProvider(fake_alpha, configured=False))
    service_log.attach()

    async with serve(application) as client:
        for transport in ("jwt", "cookie"):
            for step in ("authorize", "callback"):
                response = await client.get(f"{AUTH}/{unconfigured_provider}/{transport}/{step}")
                body = assert_error(response, 503, "PROVIDER_NOT_CONFIGURED")
                assert body["detail"] == {"provider": unconfigured_provider}
        page = await client.get("/")

    assert f"{unconfigured_provider.capitalize()} sign-in: not set up" in page.text
    warnings = [
        line
        for line in service_log.text.splitlines()
        if f"'{unconfigured_provider}'" in line and "not configured" in line
    ]
    assert len(warnings) == 1
    assert fake_alpha.calls.authorize == 0


async def test_sign_in_page_has_a_button_per_configured_provider(
    client: httpx.AsyncClient, fake_alpha: FakeOAuthServer, fake_beta: FakeOAuthServer
) -> None:
    page = await client.get("/")

    assert page.status_code == 200
    for fake in (fake_alpha, fake_beta):
        assert f'href="{AUTH}/{fake.name}/cookie/authorize"' in page.text
        assert f"Sign in with {fake.display_name}" in page.text


TOKEN_FAILURES: list[Failure] = [400, 401, 500, 503, "malformed"]
PROFILE_FAILURES: list[Failure] = [401, 403, 500, "malformed"]


@pytest.mark.parametrize("failure", TOKEN_FAILURES, ids=str)
async def test_token_endpoint_failure_is_a_clean_502_and_creates_no_user(
    client: httpx.AsyncClient, app: FastAPI, fake_alpha: FakeOAuthServer, failure: Failure
) -> None:
    fake_alpha.token_failure = failure

    response = await sign_in(client, fake_alpha.name)

    body = assert_error(response, 502, "PROVIDER_ERROR")
    assert body["detail"]["provider"] == fake_alpha.name
    assert body["detail"]["step"] == "token"
    assert "Traceback" not in response.text
    assert fake_alpha.calls.profile == 0
    assert await stored_rows(app) == (0, 0)


@pytest.mark.parametrize("failure", PROFILE_FAILURES, ids=str)
@pytest.mark.parametrize("transport", ["jwt", "cookie"])
async def test_profile_failure_is_a_clean_502_and_creates_no_user(
    client: httpx.AsyncClient,
    app: FastAPI,
    fake_alpha: FakeOAuthServer,
    failure: Failure,
    transport: str,
) -> None:
    fake_alpha.profile_failure = failure

    response = await sign_in(client, fake_alpha.name, transport)

    body = assert_error(response, 502, "PROVIDER_ERROR")
    assert body["detail"]["step"] == "profile"
    assert "set-cookie" not in {key.lower() for key in response.headers if "auth" in key}
    assert await stored_rows(app) == (0, 0)


@pytest.mark.parametrize("step", ["token", "profile"])
async def test_a_provider_that_does_not_answer_in_time_is_a_clean_502(
    client: httpx.AsyncClient, app: FastAPI, fake_alpha: FakeOAuthServer, step: str
) -> None:
    # The fake hangs 5 s; its plugin's client gives up after 2.5 s.
    if step == "token":
        fake_alpha.token_failure = "timeout"
    else:
        fake_alpha.profile_failure = "timeout"

    response = await sign_in(client, fake_alpha.name)

    body = assert_error(response, 502, "PROVIDER_ERROR")
    assert body["detail"]["step"] == step
    assert await stored_rows(app) == (0, 0)


async def test_sign_in_works_again_once_the_provider_recovers(
    client: httpx.AsyncClient, app: FastAPI, fake_alpha: FakeOAuthServer
) -> None:
    fake_alpha.profile_failure = 500
    assert (await sign_in(client, fake_alpha.name)).status_code == 502

    fake_alpha.profile_failure = None
    response = await sign_in(client, fake_alpha.name)

    assert response.status_code == 200, response.text
    assert await stored_rows(app) == (1, 1)


async def test_consent_refused_at_the_provider_is_a_400(
    client: httpx.AsyncClient, app: FastAPI, fake_alpha: FakeOAuthServer
) -> None:
    response = await sign_in(client, fake_alpha.name, button="deny")

    body = assert_error(response, 400, "OAUTH_AUTHORIZATION_FAILED")
    assert body["detail"]["error"] == "access_denied"
    assert fake_alpha.calls.token == 0
    assert await stored_rows(app) == (0, 0)


# Forged, expired, replayed and cross-provider states, and CSRF cookies that do not
# match: tests/test_oauth_callback_state.py.


async def test_callback_without_a_code_is_a_400(
    client: httpx.AsyncClient, fake_alpha: FakeOAuthServer
) -> None:
    redirect = httpx.URL(await consent(await authorize(client, fake_alpha.name, "jwt")))

    response = await client.get(redirect.path, params={"state": redirect.params["state"]})

    assert_error(response, 400, "OAUTH_CODE_MISSING")
    assert fake_alpha.calls.token == 0


async def test_a_used_code_cannot_sign_in_twice(
    client: httpx.AsyncClient, app: FastAPI, fake_alpha: FakeOAuthServer
) -> None:
    redirect = await consent(await authorize(client, fake_alpha.name, "jwt"))
    assert (await callback(client, redirect)).status_code == 200

    replay = await callback(client, redirect)

    # Refused for its spent state, before the code reaches the provider a second time.
    assert_error(replay, 400, "OAUTH_INVALID_STATE")
    assert fake_alpha.calls.token == 1
    assert await stored_rows(app) == (1, 1)


PAGE_VISIT = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.mark.parametrize(
    ("failure", "code", "words"),
    [
        ("token", "PROVIDER_ERROR", "did not answer"),
        ("deny", "OAUTH_AUTHORIZATION_FAILED", "cancelled"),
        ("forged", "OAUTH_INVALID_STATE", "took too long"),
    ],
)
async def test_a_browser_whose_sign_in_fails_lands_on_the_page_with_the_reason_in_words(
    client: httpx.AsyncClient,
    app: FastAPI,
    fake_alpha: FakeOAuthServer,
    failure: str,
    code: str,
    words: str,
) -> None:
    if failure == "token":
        fake_alpha.token_failure = 503
    redirect = await consent(
        await authorize(client, fake_alpha.name, "cookie"),
        "deny" if failure == "deny" else "allow",
    )
    if failure == "forged":
        client.cookies.clear()  # the callback arrives in a browser that did not start it

    response = await client.get(httpx.URL(redirect).raw_path.decode(), headers=PAGE_VISIT)

    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/?error={code}"
    assert "set-cookie" not in response.headers or "_auth=" not in response.headers["set-cookie"]
    page = await client.get(response.headers["location"], headers=PAGE_VISIT)
    assert page.status_code == 200
    assert words in page.text
    assert await stored_rows(app) == (0, 0)


async def test_api_clients_of_the_cookie_callback_still_get_the_error_as_json(
    client: httpx.AsyncClient, fake_alpha: FakeOAuthServer
) -> None:
    fake_alpha.token_failure = 503

    response = await sign_in(client, fake_alpha.name, "cookie")

    assert_error(response, 502, "PROVIDER_ERROR")
