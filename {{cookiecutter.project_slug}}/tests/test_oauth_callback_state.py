"""A forged OAuth callback is refused before the provider hears of it.

A callback must carry the state this service issued at authorize: signed with its secret,
not expired, never used before, for this provider and this backend, and matched by the
CSRF cookie the authorize step set in the same browser. Anything else is a 400
OAUTH_INVALID_STATE, and the code it carries is never sent to the provider: a forged
callback cannot spend someone's code, and a provider that is down cannot turn a forged
request into a 502. Each test counts the token requests the provider fake received.

Against the two provider-neutral fakes, alpha and beta (tests/fakes/fixtures.py).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.accounts.auth_backends import AUTH_COOKIE_NAME
from app.accounts.models import OAuthState
from tests.fakes.flow import authorize, consent, path_of, stored_rows
from tests.fakes.oauth_server import FakeOAuthServer
from tests.support import (
    TEST_SECRET_KEY,
    ServeApp,
    ServiceLog,
    SettingsFactory,
    assert_error,
    build_app,
)

CSRF_COOKIE = "fastapiusersoauthcsrf"
INVALID_STATE = "OAUTH_INVALID_STATE"


@pytest.fixture(scope="module")
def app_plugins(fake_provider_plugins: list[object]) -> list[object]:
    return fake_provider_plugins


@pytest.fixture
def app(shared_app: FastAPI) -> FastAPI:
    """The module's tests share one app, each on an empty database."""
    return shared_app


@dataclass(frozen=True)
class Consented:
    """A sign-in the provider has agreed to: the callback it sends the browser back with."""

    callback: str  # path and query: code and state
    csrf: str  # the CSRF cookie the authorize step set

    @property
    def state(self) -> str:
        return dict(parse_qsl(urlsplit(self.callback).query))["state"]

    def with_state(self, state: str | None) -> str:
        parts = urlsplit(self.callback)
        query = {key: value for key, value in parse_qsl(parts.query) if key != "state"}
        if state is not None:
            query["state"] = state
        return f"{parts.path}?{urlencode(query)}"


async def consented(client: httpx.AsyncClient, provider: str, transport: str) -> Consented:
    redirect = await consent(await authorize(client, provider, transport))
    return Consented(path_of(redirect), client.cookies[CSRF_COOKIE])


async def call_back(client: httpx.AsyncClient, path: str, csrf: str | None) -> httpx.Response:
    """The callback from a browser holding exactly this CSRF cookie (or none)."""
    client.cookies.clear()
    if csrf is not None:
        client.cookies.set(CSRF_COOKIE, csrf)
    return await client.get(path)


def resigned(state: str, **changes: object) -> str:
    """The state with some claims changed, signed again with the service's own secret."""
    algorithm = jwt.get_unverified_header(state)["alg"]
    claims = jwt.decode(state, options={"verify_signature": False})
    return jwt.encode({**claims, **changes}, TEST_SECRET_KEY, algorithm=algorithm)


def with_signature_changed(state: str) -> str:
    header, payload, signature = state.split(".")
    # A middle character: the last one may carry padding bits that decode to the same bytes.
    middle = len(signature) // 2
    swapped = "A" if signature[middle] != "A" else "B"
    return ".".join([header, payload, signature[:middle] + swapped + signature[middle + 1 :]])


def with_payload_changed(state: str) -> str:
    header, payload, signature = state.split(".")
    middle = len(payload) // 2
    swapped = "A" if payload[middle] != "A" else "B"
    return ".".join([header, payload[:middle] + swapped + payload[middle + 1 :], signature])


def signed_elsewhere(state: str) -> str:
    claims = jwt.decode(state, options={"verify_signature": False})
    return jwt.encode(claims, "someone-elses-secret-" * 3, algorithm="HS256")


def unsigned(state: str) -> str:
    claims = jwt.decode(state, options={"verify_signature": False})
    return jwt.encode(claims, key="", algorithm="none")


def assert_refused_before_the_provider(
    response: httpx.Response, fake: FakeOAuthServer, token_requests: int = 0
) -> None:
    body = assert_error(response, 400, INVALID_STATE)
    # fastapi-users' clients read this detail string.
    assert body["detail"] == INVALID_STATE
    assert fake.calls.token == token_requests
    if not token_requests:
        assert fake.calls.profile == 0
    assert AUTH_COOKIE_NAME not in response.cookies


@pytest.mark.parametrize("transport", ["jwt", "cookie"])
async def test_a_callback_without_a_state_is_refused(
    client: httpx.AsyncClient, app: FastAPI, fake_alpha: FakeOAuthServer, transport: str
) -> None:
    signed_in = await consented(client, fake_alpha.name, transport)

    response = await call_back(client, signed_in.with_state(None), signed_in.csrf)

    assert_refused_before_the_provider(response, fake_alpha)
    assert await stored_rows(app) == (0, 0)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(with_signature_changed, id="signature-changed"),
        pytest.param(with_payload_changed, id="payload-changed"),
        pytest.param(signed_elsewhere, id="another-secret"),
        pytest.param(unsigned, id="alg-none"),
        # Our secret, but for another purpose (fastapi-users' own state audience).
        pytest.param(lambda state: resigned(state, aud="fastapi-users:oauth-state"), id="audience"),
        pytest.param(lambda state: "not-a-token", id="garbage"),
    ],
)
async def test_a_state_this_service_did_not_issue_is_refused(
    client: httpx.AsyncClient,
    app: FastAPI,
    fake_alpha: FakeOAuthServer,
    forge: Callable[[str], str],
) -> None:
    signed_in = await consented(client, fake_alpha.name, "jwt")

    response = await call_back(client, signed_in.with_state(forge(signed_in.state)), signed_in.csrf)

    assert_refused_before_the_provider(response, fake_alpha)
    assert await stored_rows(app) == (0, 0)


async def test_an_expired_state_is_refused(
    client: httpx.AsyncClient, app: FastAPI, fake_alpha: FakeOAuthServer
) -> None:
    signed_in = await consented(client, fake_alpha.name, "jwt")

    expired = resigned(signed_in.state, exp=int(time.time()) - 60)
    response = await call_back(client, signed_in.with_state(expired), signed_in.csrf)

    assert_refused_before_the_provider(response, fake_alpha)
    assert await stored_rows(app) == (0, 0)


@pytest.mark.parametrize("transport", ["jwt", "cookie"])
async def test_a_state_is_used_once_even_with_its_csrf_cookie(
    client: httpx.AsyncClient,
    app: FastAPI,
    fake_alpha: FakeOAuthServer,
    transport: str,
    service_log: ServiceLog,
) -> None:
    service_log.attach()
    signed_in = await consented(client, fake_alpha.name, transport)
    first = await call_back(client, signed_in.callback, signed_in.csrf)
    assert first.status_code in (200, 303), first.text
    assert fake_alpha.calls.token == 1
    # The spent state's cookie is cleared; the replay below brings it back on purpose.
    assert any(
        header.startswith(f'{CSRF_COOKIE}="";') and "Max-Age=0" in header
        for header in first.headers.get_list("set-cookie")
    ), first.headers

    replay = await call_back(client, signed_in.callback, signed_in.csrf)

    assert_refused_before_the_provider(replay, fake_alpha, token_requests=1)
    assert await stored_rows(app) == (1, 1)
    # A replay is worth a warning, not an error with a database traceback.
    assert "WARNING" in service_log.text and "replayed callback" in service_log.text
    assert "ERROR" not in service_log.text and "IntegrityError" not in service_log.text


async def test_a_state_issued_for_another_provider_is_refused(
    client: httpx.AsyncClient,
    app: FastAPI,
    fake_alpha: FakeOAuthServer,
    fake_beta: FakeOAuthServer,
) -> None:
    # The victim's code comes from this provider; the state and its matching cookie come
    # from the authorize step of another one.
    signed_in = await consented(client, fake_alpha.name, "jwt")
    other_state = await consented(client, fake_beta.name, "jwt")

    response = await call_back(client, signed_in.with_state(other_state.state), other_state.csrf)

    assert_refused_before_the_provider(response, fake_alpha)
    assert fake_beta.calls.token == 0
    assert await stored_rows(app) == (0, 0)


async def test_a_state_claiming_another_provider_is_refused(
    client: httpx.AsyncClient, app: FastAPI, fake_alpha: FakeOAuthServer
) -> None:
    signed_in = await consented(client, fake_alpha.name, "jwt")

    claimed = resigned(signed_in.state, provider="elsewhere")
    response = await call_back(client, signed_in.with_state(claimed), signed_in.csrf)

    assert_refused_before_the_provider(response, fake_alpha)
    assert await stored_rows(app) == (0, 0)


@pytest.mark.parametrize(("issued_for", "used_at"), [("cookie", "jwt"), ("jwt", "cookie")])
async def test_a_state_issued_for_the_other_backend_is_refused(
    client: httpx.AsyncClient,
    app: FastAPI,
    fake_alpha: FakeOAuthServer,
    issued_for: str,
    used_at: str,
) -> None:
    signed_in = await consented(client, fake_alpha.name, used_at)
    other_backend = await consented(client, fake_alpha.name, issued_for)

    response = await call_back(
        client, signed_in.with_state(other_backend.state), other_backend.csrf
    )

    assert_refused_before_the_provider(response, fake_alpha)
    assert await stored_rows(app) == (0, 0)


@pytest.mark.parametrize(
    "csrf",
    [
        pytest.param(None, id="no-csrf-cookie"),
        pytest.param(secrets.token_urlsafe(32), id="another-csrf-cookie"),
        pytest.param("", id="empty-csrf-cookie"),
    ],
)
async def test_a_state_without_its_own_csrf_cookie_is_refused(
    client: httpx.AsyncClient, app: FastAPI, fake_alpha: FakeOAuthServer, csrf: str | None
) -> None:
    # A callback started in another browser (the attacker's), delivered to the victim's.
    signed_in = await consented(client, fake_alpha.name, "cookie")

    response = await call_back(client, signed_in.callback, csrf)

    assert_refused_before_the_provider(response, fake_alpha)
    assert await stored_rows(app) == (0, 0)


async def test_a_refused_callback_leaves_the_state_usable_by_its_own_browser(
    client: httpx.AsyncClient, fake_alpha: FakeOAuthServer
) -> None:
    # Someone who saw the callback URL but not the cookie cannot burn the sign-in.
    signed_in = await consented(client, fake_alpha.name, "jwt")
    forged = await call_back(client, signed_in.callback, secrets.token_urlsafe(32))
    assert_refused_before_the_provider(forged, fake_alpha)

    response = await call_back(client, signed_in.callback, signed_in.csrf)

    assert response.status_code == 200, response.text
    assert fake_alpha.calls.token == 1


@pytest.mark.parametrize("failure", [503, 400])
async def test_a_forged_callback_while_the_provider_is_down_is_a_400_not_a_502(
    client: httpx.AsyncClient, app: FastAPI, fake_alpha: FakeOAuthServer, failure: int
) -> None:
    signed_in = await consented(client, fake_alpha.name, "jwt")
    fake_alpha.token_failure = failure

    missing_state = await call_back(client, signed_in.with_state(None), signed_in.csrf)
    wrong_cookie = await call_back(client, signed_in.callback, secrets.token_urlsafe(32))

    assert_refused_before_the_provider(missing_state, fake_alpha)
    assert_refused_before_the_provider(wrong_cookie, fake_alpha)
    assert await stored_rows(app) == (0, 0)


async def test_the_csrf_cookie_is_http_only_same_site_and_lives_as_long_as_the_state(
    fake_alpha: FakeOAuthServer,
    make_settings: SettingsFactory,
    serve: ServeApp,
    fake_provider_plugins: list[object],
) -> None:
    application = build_app(make_settings(oauth_state_lifetime_seconds=120), *fake_provider_plugins)
    async with serve(application) as client:
        response = await client.get(f"/api/v1/auth/{fake_alpha.name}/cookie/authorize")

    cookie = next(
        header
        for header in response.headers.get_list("set-cookie")
        if header.startswith(f"{CSRF_COOKIE}=")
    )
    attributes = dict(
        (part.strip().partition("=")[0].lower(), part.strip().partition("=")[2])
        for part in cookie.split(";")[1:]
    )
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "lax"
    assert attributes["max-age"] == "120"
    state = parse_qsl(urlsplit(response.json()["authorization_url"]).query)
    claims = jwt.decode(dict(state)["state"], options={"verify_signature": False})
    assert 0 < claims["exp"] - time.time() <= 120


async def test_two_copies_of_one_callback_at_once_sign_in_once(
    client: httpx.AsyncClient, app: FastAPI, fake_alpha: FakeOAuthServer
) -> None:
    signed_in = await consented(client, fake_alpha.name, "jwt")
    client.cookies.clear()
    client.cookies.set(CSRF_COOKIE, signed_in.csrf)

    answers = await asyncio.gather(*(client.get(signed_in.callback) for _ in range(2)))

    assert sorted(answer.status_code for answer in answers) == [200, 400]
    refused = next(answer for answer in answers if answer.status_code == 400)
    assert_error(refused, 400, INVALID_STATE)
    assert fake_alpha.calls.token == 1
    assert await stored_rows(app) == (1, 1)


async def test_used_states_are_forgotten_once_expired(
    fake_alpha: FakeOAuthServer,
    make_settings: SettingsFactory,
    serve: ServeApp,
    fake_provider_plugins: list[object],
) -> None:
    application = build_app(make_settings(), *fake_provider_plugins)
    async with serve(application) as client:
        long_gone = datetime.now(UTC) - timedelta(hours=1)
        async with application.state.runtime.database.sessionmaker() as session:
            session.add(OAuthState(jti="used-long-ago", expires_at=long_gone))
            await session.commit()

        signed_in = await consented(client, fake_alpha.name, "jwt")
        assert (await call_back(client, signed_in.callback, signed_in.csrf)).status_code == 200

        async with application.state.runtime.database.sessionmaker() as session:
            kept = list(await session.scalars(select(OAuthState.jti)))
    # The sign-in's own state stays until it expires, so a replay is still refused.
    assert kept == [jwt.decode(signed_in.state, options={"verify_signature": False})["jti"]]
