"""Walking the OAuth flow as a browser would: authorize → consent page → callback → /users/me.

The service runs in-process (the test's `client`); the provider fake is a real server, so
its consent page is fetched and its form submitted over HTTP, like a browser does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.accounts.models import OAuthAccount, User
from app.core.http import tls_context
from tests.support import AUTH, ME, bearer_of


@dataclass
class ConsentForm:
    action: str = ""
    fields: list[tuple[str, str]] = field(default_factory=list)
    buttons: dict[str, tuple[str, str]] = field(default_factory=dict)


class _ConsentParser(HTMLParser):
    """Reads the consent page's form: what a browser would submit on a button press."""

    def __init__(self) -> None:
        super().__init__()
        self.form = ConsentForm()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.form.action = values.get("action", "")
        elif tag == "input":
            kind = values.get("type", "text")
            if kind == "hidden" or (kind == "checkbox" and "checked" in values):
                self.form.fields.append((values["name"], values.get("value", "on")))
        elif tag == "button" and "id" in values:
            self.form.buttons[values["id"]] = (values["name"], values["value"])


def read_consent_form(page: str) -> ConsentForm:
    parser = _ConsentParser()
    parser.feed(page)
    return parser.form


async def authorize(client: httpx.AsyncClient, provider: str, transport: str) -> str:
    response = await client.get(f"{AUTH}/{provider}/{transport}/authorize")
    assert response.status_code == 200, response.text
    url: str = response.json()["authorization_url"]
    return url


async def consent(authorization_url: str, button: str = "allow") -> str:
    """Open the provider's consent page, press a button; the redirect back to the service."""
    # The process's one TLS setup: a client of its own would load the CA bundle each time.
    async with httpx.AsyncClient(verify=tls_context()) as browser:
        page = await browser.get(authorization_url)
        assert page.status_code == 200, page.text
        form = read_consent_form(page.text)
        data: dict[str, list[str]] = {}
        for name, value in [*form.fields, form.buttons[button]]:
            data.setdefault(name, []).append(value)
        response = await browser.post(urljoin(authorization_url, form.action), data=data)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def path_of(url: str) -> str:
    """The path and query of a URL, to send to the in-process service whatever its host."""
    parsed = httpx.URL(url)
    return parsed.raw_path.decode()


async def callback(client: httpx.AsyncClient, redirect: str) -> httpx.Response:
    return await client.get(path_of(redirect))


async def sign_in(
    client: httpx.AsyncClient, provider: str, transport: str = "jwt", button: str = "allow"
) -> httpx.Response:
    """The whole browser round trip; the service's answer to the callback."""
    authorization_url = await authorize(client, provider, transport)
    return await callback(client, await consent(authorization_url, button))


async def me_after_sign_in(
    client: httpx.AsyncClient, provider: str, transport: str = "jwt"
) -> httpx.Response:
    """Sign in through the provider, then ask for the current user as that sign-in allows."""
    response = await sign_in(client, provider, transport)
    if transport == "jwt":
        return await client.get(ME, headers=bearer_of(response))
    assert response.status_code in (200, 204, 302, 303), response.text
    return await client.get(ME)


async def stored_rows(app: FastAPI) -> tuple[int, int]:
    """How many users and linked provider accounts the database holds."""
    async with app.state.runtime.database.sessionmaker() as session:
        users = await session.scalar(select(func.count()).select_from(User))
        links = await session.scalar(select(func.count()).select_from(OAuthAccount))
    return users or 0, links or 0
