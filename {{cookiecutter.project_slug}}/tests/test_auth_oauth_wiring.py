"""The provider-agnostic OAuth wiring, through stand-in providers registered as plugins.

The stand-in's client answers from memory, so these tests pin what core does with any
provider: routes, state and CSRF checks, linking rules, profile filling, error answers.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.accounts.auth_backends import AUTH_COOKIE_NAME
from app.accounts.models import OAuthAccount, User
from app.core.config import Settings
from tests.fakes.stand_in import StandInProvider, sign_in_with
from tests.support import (
    AUTH,
    ME,
    Mailbox,
    ServeApp,
    assert_error,
    bearer_of,
    build_app,
    login,
    register,
)

CSRF_COOKIE = "fastapiusersoauthcsrf"


def oauth_routes(provider: str) -> list[str]:
    return [
        f"{AUTH}/{provider}/{backend}/{step}"
        for backend in ("jwt", "cookie")
        for step in ("authorize", "callback")
    ]


@pytest.fixture(scope="module")
def module_stand_ins() -> dict[str, StandInProvider]:
    return {name: StandInProvider(name) for name in ("alpha", "beta")}


@pytest.fixture(scope="module")
def app_plugins(module_stand_ins: dict[str, StandInProvider]) -> list[object]:
    return [Mailbox(), *module_stand_ins.values()]


@pytest.fixture
def stand_ins(module_stand_ins: dict[str, StandInProvider]) -> dict[str, StandInProvider]:
    for provider in module_stand_ins.values():
        provider.client.forget()  # each test scripts its own answers
    return module_stand_ins


@pytest.fixture
def alpha(stand_ins: dict[str, StandInProvider]) -> StandInProvider:
    return stand_ins["alpha"]


@pytest.fixture
def beta(stand_ins: dict[str, StandInProvider]) -> StandInProvider:
    return stand_ins["beta"]


@pytest.fixture
def app(shared_app: FastAPI, stand_ins: dict[str, StandInProvider]) -> FastAPI:
    """The module's tests share one app, each on an empty database."""
    return shared_app


async def rows(app: FastAPI) -> tuple[int, int]:
    async with app.state.runtime.database.sessionmaker() as session:
        users = await session.scalar(select(func.count()).select_from(User))
        links = await session.scalar(select(func.count()).select_from(OAuthAccount))
    return users or 0, links or 0


async def test_an_unconfigured_provider_has_its_routes_answering_503(
    settings: Settings, serve: ServeApp
) -> None:
    service = build_app(settings, StandInProvider("dormant", is_configured=False))
    async with serve(service) as client:
        for route in oauth_routes("dormant"):
            response = await client.get(route, params={"code": "x"})

            body = assert_error(response, 503, "PROVIDER_NOT_CONFIGURED")
            assert body["detail"] == {"provider": "dormant"}
            assert "dormant" in body["message"]


async def test_authorize_sends_the_user_to_the_provider_with_state_and_a_csrf_cookie(
    client: httpx.AsyncClient, alpha: StandInProvider, settings: Settings
) -> None:
    response = await client.get(f"{AUTH}/alpha/jwt/authorize")

    assert response.status_code == 200
    url = urlsplit(response.json()["authorization_url"])
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://provider.invalid/authorize"
    assert query["redirect_uri"] == [f"{settings.public_base_url}/api/v1/auth/alpha/jwt/callback"]
    assert query["state"][0]
    assert query["scope"] == ["profile email"]
    assert CSRF_COOKIE in response.cookies


async def test_jwt_callback_signs_in_a_new_user_with_the_provider_profile(
    client: httpx.AsyncClient, alpha: StandInProvider, settings: Settings
) -> None:
    alpha.will_answer(
        "c1",
        account_id="a-1",
        email="ha@example.com",
        email_verified=True,
        name="Ha Eun",
        nickname="haeun",
        profile_image_url="https://img.example.com/ha.png",
        gender="female",
        birthyear=1995,
        birthday="07-21",
        phone_number="+821055556666",
    )

    response = await sign_in_with(client, "alpha", "c1")

    me = (await client.get(ME, headers=bearer_of(response))).json()
    assert me["email"] == "ha@example.com"
    assert me["is_verified"] is True
    assert (me["name"], me["nickname"], me["gender"]) == ("Ha Eun", "haeun", "female")
    assert (me["birthyear"], me["birthday"]) == (1995, "07-21")
    assert me["phone_number"] == "+821055556666"
    assert me["profile_image_url"] == "https://img.example.com/ha.png"
    assert me["social_accounts"] == [
        {"provider": "alpha", "account_id": "a-1", "account_email": "ha@example.com"}
    ]
    # The code is exchanged with the redirect URI the provider was given.
    assert alpha.client.token_requests == [
        ("c1", f"{settings.public_base_url}/api/v1/auth/alpha/jwt/callback")
    ]


async def test_cookie_callback_sets_the_cookie_and_goes_to_the_sign_in_page(
    client: httpx.AsyncClient, alpha: StandInProvider
) -> None:
    alpha.will_answer(
        "c1", account_id="a-1", email="web@example.com", email_verified=True, name="Web User"
    )

    response = await sign_in_with(client, "alpha", "c1", backend="cookie")

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert AUTH_COOKIE_NAME in response.cookies
    page = await client.get("/")
    assert "Web User" in page.text


async def test_signing_in_again_is_the_same_user_and_the_same_link(
    client: httpx.AsyncClient, alpha: StandInProvider, app: FastAPI
) -> None:
    alpha.will_answer("c1", account_id="a-1", email="same@example.com", email_verified=True)
    alpha.will_answer("c2", account_id="a-1", email="same@example.com", email_verified=True)

    first = await client.get(ME, headers=bearer_of(await sign_in_with(client, "alpha", "c1")))
    second = await client.get(ME, headers=bearer_of(await sign_in_with(client, "alpha", "c2")))

    assert first.json()["id"] == second.json()["id"]
    assert await rows(app) == (1, 1)


async def test_a_null_from_the_provider_keeps_the_value_and_a_later_grant_fills_in(
    client: httpx.AsyncClient, alpha: StandInProvider
) -> None:
    alpha.will_answer(
        "c1",
        account_id="a-1",
        email="grant@example.com",
        email_verified=True,
        name="First Name",
        birthday="01-02",
    )
    headers = bearer_of(await sign_in_with(client, "alpha", "c1"))
    await client.patch(ME, headers=headers, json={"nickname": "chosen by me"})
    # Next time the user withholds the birthday but grants the phone number; the
    # provider's name changed, and it sends a nickname of its own.
    alpha.will_answer(
        "c2",
        account_id="a-1",
        email="grant@example.com",
        email_verified=True,
        name="Other Name",
        nickname="provider nick",
        phone_number="+14155550100",
    )

    me = (await client.get(ME, headers=bearer_of(await sign_in_with(client, "alpha", "c2")))).json()

    assert me["birthday"] == "01-02"
    assert me["phone_number"] == "+14155550100"
    assert me["name"] == "First Name"
    assert me["nickname"] == "chosen by me"


async def test_a_profile_value_that_does_not_fit_is_dropped_not_fatal(
    client: httpx.AsyncClient, alpha: StandInProvider
) -> None:
    alpha.will_answer(
        "c1",
        account_id="a-1",
        email="odd@example.com",
        email_verified=True,
        name="Odd Values",
        gender="unspecified",
        phone_number="010-1234-5678",
        birthday="02-30",
    )

    me = (await client.get(ME, headers=bearer_of(await sign_in_with(client, "alpha", "c1")))).json()

    assert me["name"] == "Odd Values"
    assert (me["gender"], me["phone_number"], me["birthday"]) == (None, None, None)


async def test_the_same_verified_email_through_two_providers_is_one_user(
    client: httpx.AsyncClient, alpha: StandInProvider, beta: StandInProvider, app: FastAPI
) -> None:
    alpha.will_answer(
        "c1",
        account_id="a-1",
        email="Both@Example.com",
        email_verified=True,
        name="Both",
        gender="male",
    )
    beta.will_answer(
        "c1",
        account_id="b-9",
        email="both@example.com",
        email_verified=True,
        nickname="bothy",
        birthyear=1988,
    )
    await sign_in_with(client, "alpha", "c1")

    me = (await client.get(ME, headers=bearer_of(await sign_in_with(client, "beta", "c1")))).json()

    assert await rows(app) == (1, 2)
    assert sorted(me["social_accounts"], key=lambda account: account["provider"]) == [
        {"provider": "alpha", "account_id": "a-1", "account_email": "Both@Example.com"},
        {"provider": "beta", "account_id": "b-9", "account_email": "both@example.com"},
    ]
    assert (me["name"], me["nickname"], me["gender"], me["birthyear"]) == (
        "Both",
        "bothy",
        "male",
        1988,
    )


async def test_a_verified_provider_email_links_to_the_password_account(
    client: httpx.AsyncClient, alpha: StandInProvider, app: FastAPI
) -> None:
    registered = await register(client, "owner@example.com")
    alpha.will_answer("c1", account_id="a-1", email="owner@example.com", email_verified=True)

    me = (await client.get(ME, headers=bearer_of(await sign_in_with(client, "alpha", "c1")))).json()

    assert me["id"] == registered["id"]
    assert [account["provider"] for account in me["social_accounts"]] == ["alpha"]
    assert await rows(app) == (1, 1)


async def test_linking_revokes_the_password_of_an_unproven_sign_up(
    client: httpx.AsyncClient, alpha: StandInProvider
) -> None:
    # Someone registered the address first but never proved it; then its owner arrives
    # through a provider that verified it: the earlier password must not open the account.
    await register(client, "victim@example.com")
    alpha.will_answer("c1", account_id="a-1", email="victim@example.com", email_verified=True)

    me = (await client.get(ME, headers=bearer_of(await sign_in_with(client, "alpha", "c1")))).json()

    assert me["is_verified"] is True
    assert_error(await login(client, "victim@example.com"), 400, "LOGIN_BAD_CREDENTIALS")


async def test_an_unverified_email_of_an_existing_user_is_refused(
    client: httpx.AsyncClient, alpha: StandInProvider, app: FastAPI
) -> None:
    await register(client, "mine@example.com")
    alpha.will_answer("c1", account_id="a-1", email="mine@example.com", email_verified=False)

    response = await sign_in_with(client, "alpha", "c1")

    assert_error(response, 400, "OAUTH_USER_ALREADY_EXISTS")
    assert await rows(app) == (1, 0)


async def test_an_unverified_new_email_makes_an_unverified_user(
    client: httpx.AsyncClient, alpha: StandInProvider
) -> None:
    alpha.will_answer("c1", account_id="a-1", email="fresh@example.com", email_verified=False)

    me = (await client.get(ME, headers=bearer_of(await sign_in_with(client, "alpha", "c1")))).json()

    assert me["is_verified"] is False


async def test_a_profile_without_an_email_is_refused(
    client: httpx.AsyncClient, alpha: StandInProvider
) -> None:
    alpha.will_answer("c1", account_id="a-1", email=None, name="No Mail")

    assert_error(await sign_in_with(client, "alpha", "c1"), 400, "OAUTH_NOT_AVAILABLE_EMAIL")


@pytest.mark.parametrize(("failure", "step"), [("token", "token"), ("profile", "profile")])
async def test_a_failing_provider_is_a_502_not_a_500(
    client: httpx.AsyncClient, alpha: StandInProvider, app: FastAPI, failure: str, step: str
) -> None:
    alpha.will_answer("c1", account_id="a-1", email="down@example.com", email_verified=True)
    alpha.client.failures.add(failure)

    response = await sign_in_with(client, "alpha", "c1")

    body = assert_error(response, 502, "PROVIDER_ERROR")
    assert body["detail"]["provider"] == "alpha"
    assert body["detail"]["step"] == step
    assert await rows(app) == (0, 0)


async def test_a_tampered_state_is_refused(
    client: httpx.AsyncClient, alpha: StandInProvider
) -> None:
    alpha.will_answer("c1", account_id="a-1", email="s@example.com", email_verified=True)
    await client.get(f"{AUTH}/alpha/jwt/authorize")

    response = await client.get(
        f"{AUTH}/alpha/jwt/callback", params={"code": "c1", "state": "not.a.jwt"}
    )

    body = assert_error(response, 400, "OAUTH_INVALID_STATE")
    assert body["detail"] == "OAUTH_INVALID_STATE"
    # Refused before the code went to the provider.
    assert alpha.client.token_requests == []


async def test_a_state_without_its_csrf_cookie_is_refused(
    client: httpx.AsyncClient, alpha: StandInProvider
) -> None:
    alpha.will_answer("c1", account_id="a-1", email="s@example.com", email_verified=True)
    authorize = await client.get(f"{AUTH}/alpha/jwt/authorize")
    state = parse_qs(urlsplit(authorize.json()["authorization_url"]).query)["state"][0]

    client.cookies.set(CSRF_COOKIE, "someone-elses-csrf-token")
    mismatched = await client.get(
        f"{AUTH}/alpha/jwt/callback", params={"code": "c1", "state": state}
    )
    client.cookies.clear()
    missing = await client.get(f"{AUTH}/alpha/jwt/callback", params={"code": "c1", "state": state})

    assert_error(mismatched, 400, "OAUTH_INVALID_STATE")
    assert_error(missing, 400, "OAUTH_INVALID_STATE")
    assert alpha.client.token_requests == []


async def test_a_state_from_another_provider_is_refused_before_either_is_called(
    client: httpx.AsyncClient, alpha: StandInProvider, beta: StandInProvider, app: FastAPI
) -> None:
    beta.will_answer("c1", account_id="b-1", email="s@example.com", email_verified=True)
    authorize = await client.get(f"{AUTH}/alpha/jwt/authorize")
    alpha_state = parse_qs(urlsplit(authorize.json()["authorization_url"]).query)["state"][0]

    # The browser holds alpha's CSRF cookie; the state matches it, but is not beta's.
    response = await client.get(
        f"{AUTH}/beta/jwt/callback", params={"code": "c1", "state": alpha_state}
    )

    assert_error(response, 400, "OAUTH_INVALID_STATE")
    assert (alpha.client.token_requests, beta.client.token_requests) == ([], [])
    assert await rows(app) == (0, 0)


async def test_consent_refused_at_the_provider_is_a_clear_400(client: httpx.AsyncClient) -> None:
    response = await client.get(
        f"{AUTH}/alpha/cookie/callback",
        params={"error": "access_denied", "error_description": "User denied access"},
    )

    body = assert_error(response, 400, "OAUTH_AUTHORIZATION_FAILED")
    assert body["detail"]["error"] == "access_denied"


async def test_a_long_provider_token_is_stored_whole(
    client: httpx.AsyncClient, alpha: StandInProvider, app: FastAPI
) -> None:
    long_code = "L" * 3000
    alpha.will_answer(long_code, account_id="a-1", email="long@example.com", email_verified=True)

    response = await sign_in_with(client, "alpha", long_code)

    assert response.status_code == 200, response.text
    async with app.state.runtime.database.sessionmaker() as session:
        token = await session.scalar(select(OAuthAccount.access_token))
    assert token == f"access-{long_code}"


async def test_a_client_named_unlike_its_provider_is_refused_at_startup(
    settings: Settings,
) -> None:
    provider = StandInProvider("gamma")
    provider.client.name = "delta"

    with pytest.raises(RuntimeError, match="give the client the provider's name"):
        build_app(settings, provider)
