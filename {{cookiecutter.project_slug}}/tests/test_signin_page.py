"""The sign-in page at `/`: provider buttons, the email/password form, the signed-in view."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest
from fastapi import FastAPI

from tests.fakes.stand_in import StandInProvider, sign_in_with
from tests.support import (
    AUTH,
    ME,
    Mailbox,
    ServeApp,
    SettingsFactory,
    build_app,
    login,
    register,
)


class PageParser(HTMLParser):
    """What a browser would offer: links, forms, buttons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}
        self.disabled: list[str] = []
        self.forms: dict[str, tuple[str, str]] = {}
        self.inputs: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag == "a" and "data-provider" in values:
            self.links[values["data-provider"]] = values["href"]
        elif tag == "button" and "data-provider" in values and "disabled" in values:
            self.disabled.append(values["data-provider"])
        elif tag == "form":
            self.forms[values.get("id", "")] = (
                values.get("method", "get"),
                values.get("action", ""),
            )
        elif tag == "input":
            self.inputs.append(values.get("name", ""))
        elif tag == "img":
            self.images.append(values["src"])


def parse(page: httpx.Response) -> PageParser:
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    parser = PageParser()
    parser.feed(page.text)
    return parser


@pytest.fixture(scope="module")
def module_providers() -> list[StandInProvider]:
    return [StandInProvider("alpha"), StandInProvider("omega", is_configured=False)]


@pytest.fixture(scope="module")
def app_plugins(module_providers: list[StandInProvider]) -> list[object]:
    return [Mailbox(), *module_providers]


@pytest.fixture
def providers(module_providers: list[StandInProvider]) -> list[StandInProvider]:
    for provider in module_providers:
        provider.client.forget()  # each test scripts its own answers
    return module_providers


@pytest.fixture
def app(shared_app: FastAPI, providers: list[StandInProvider]) -> FastAPI:
    """The module's tests share one app, each on an empty database."""
    return shared_app


async def test_the_page_offers_each_configured_provider_and_the_password_form(
    client: httpx.AsyncClient,
) -> None:
    page = parse(await client.get("/"))

    assert page.links["alpha"] == f"{AUTH}/alpha/cookie/authorize"
    assert "Sign in with Alpha" in (await client.get("/")).text
    assert page.forms["password-signin"] == ("post", f"{AUTH}/cookie/login")
    assert {"username", "password"} <= set(page.inputs)
    assert "signout" not in page.forms


async def test_an_unconfigured_provider_is_shown_disabled_in_development_only(
    client: httpx.AsyncClient, make_settings: SettingsFactory, serve: ServeApp
) -> None:
    development = parse(await client.get("/"))
    assert "omega" not in development.links
    assert "omega" in development.disabled

    production = make_settings(
        environment="production",
        secret_key="a-production-secret-key-of-enough-length-0123",
        api_key_encryption_key="a-production-encryption-key-of-enough-length",
        public_base_url="https://service.example",
    )
    providers = [StandInProvider("alpha"), StandInProvider("omega", is_configured=False)]
    async with serve(build_app(production, *providers)) as prod_client:
        page = parse(await prod_client.get("/"))
    assert "alpha" in page.links
    assert page.disabled == []


async def test_the_provider_button_starts_the_cookie_flow(
    client: httpx.AsyncClient, providers: list[StandInProvider]
) -> None:
    link = parse(await client.get("/")).links["alpha"]

    response = await client.get(link)

    assert response.status_code == 200
    assert response.json()["authorization_url"].startswith("https://provider.invalid/authorize?")


async def test_signed_in_with_a_cookie_the_page_shows_the_user_and_a_sign_out_button(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "jisoo@example.com", name="Jisoo Lee")
    await login(client, "jisoo@example.com", backend="cookie")
    await client.patch(ME, json={"profile_image_url": "https://img.example.com/jisoo.png"})

    response = await client.get("/")

    page = parse(response)
    assert "Jisoo Lee" in response.text
    assert "jisoo@example.com" in response.text
    assert page.images == ["https://img.example.com/jisoo.png"]
    assert page.forms["signout"] == ("post", f"{AUTH}/cookie/logout")
    assert "password-signin" not in page.forms
    assert response.headers["cache-control"] == "no-store"


async def test_after_a_provider_sign_in_the_page_names_the_provider(
    client: httpx.AsyncClient, providers: list[StandInProvider]
) -> None:
    providers[0].will_answer(
        "c1", account_id="a-1", email="min@example.com", email_verified=True, nickname="minnie"
    )

    await sign_in_with(client, "alpha", "c1", backend="cookie")

    text = (await client.get("/")).text
    assert "minnie" in text
    assert "Signed in with Alpha" in text


async def test_signing_out_brings_the_form_back(client: httpx.AsyncClient) -> None:
    await register(client, "out@example.com")
    await login(client, "out@example.com", backend="cookie")
    assert "signout" in parse(await client.get("/")).forms

    await client.post(f"{AUTH}/cookie/logout")

    assert "password-signin" in parse(await client.get("/")).forms


async def test_page_text_from_users_is_escaped(client: httpx.AsyncClient) -> None:
    await register(client, "xss@example.com", name="<script>alert(1)</script>")
    await login(client, "xss@example.com", backend="cookie")

    text = (await client.get("/")).text

    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


async def test_pages_send_a_strict_content_security_policy(client: httpx.AsyncClient) -> None:
    for path in ("/", "/verify-email?token=t", "/reset-password?token=t"):
        response = await client.get(path)

        policy = dict(
            part.strip().split(" ", 1)
            for part in response.headers["content-security-policy"].split(";")
        )
        assert policy["default-src"] == "'self'"
        assert policy["script-src"] == "'self'"
        assert policy["style-src"] == "'self'"
        assert policy["frame-ancestors"] == "'none'"
        assert "unsafe-inline" not in response.headers["content-security-policy"]
        # Nothing inline for the policy to refuse: style and script are the service's files.
        assert "<style" not in response.text
        assert "style=" not in response.text
        assert "<script>" not in response.text
        assert "onclick" not in response.text


async def test_the_pages_style_and_script_are_served_by_the_service(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get("/")).text
    for path, kind in (("/static/pages.css", "text/css"), ("/static/pages.js", "javascript")):
        assert path in page
        response = await client.get(path)
        assert response.status_code == 200
        assert kind in response.headers["content-type"]
    assert (await client.get("/static/../main.py")).status_code == 404


async def test_a_provider_failure_named_in_the_address_is_explained_in_words(
    client: httpx.AsyncClient,
) -> None:
    english = await client.get("/", params={"error": "PROVIDER_ERROR"})
    korean = await client.get("/", params={"error": "PROVIDER_ERROR", "lang": "ko"})
    made_up = await client.get("/", params={"error": "<b>your account is locked</b>"})

    assert "The sign-in service did not answer" in english.text
    assert "로그인 서비스가 응답하지 않습니다" in korean.text
    assert made_up.status_code == 200
    assert "your account is locked" not in made_up.text
