"""Email verification and password reset: the mails, their links, and the tokens in them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from tests.support import (
    AUTH,
    LINK,
    ME,
    Mailbox,
    ServeApp,
    ServiceLog,
    assert_error,
    bearer_for,
    build_app,
    build_test_settings,
    login,
    register,
    token_of,
)

PUBLIC_BASE_URL = "https://accounts.example.com"


@pytest.fixture(scope="module")
def module_mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture(scope="module")
def mails_app(database_url: str, module_mailbox: Mailbox) -> FastAPI:
    """One app for the module; each test starts it on an empty database."""
    settings = build_test_settings(
        database_url, public_base_url=PUBLIC_BASE_URL, auth_cookie_secure=False
    )
    return build_app(settings, module_mailbox)


@pytest.fixture
def mailbox(module_mailbox: Mailbox) -> Mailbox:
    module_mailbox.sent.clear()  # each test sees only its own mails
    return module_mailbox


@pytest.fixture
async def client(
    mails_app: FastAPI, serve: ServeApp, mailbox: Mailbox
) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(mails_app) as client:
        yield client


async def test_register_mails_a_verification_link_to_the_public_site(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client, "new@example.com")

    [mail] = mailbox.to("new@example.com")
    assert mail.channel == "email"
    assert mail.subject and "Confirm" in mail.subject
    assert mailbox.last_link("new@example.com").startswith(f"{PUBLIC_BASE_URL}/verify-email?token=")


async def test_the_verification_token_verifies_the_user_once(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client, "verify@example.com")
    token = token_of(mailbox.last_link("verify@example.com"))

    response = await client.post(f"{AUTH}/verify", json={"token": token})

    assert response.status_code == 200, response.text
    assert response.json()["is_verified"] is True
    me = await client.get(ME, headers=await bearer_for(client, "verify@example.com"))
    assert me.json()["is_verified"] is True
    again = await client.post(f"{AUTH}/verify", json={"token": token})
    assert_error(again, 400, "VERIFY_USER_ALREADY_VERIFIED")


async def test_a_tampered_verification_token_is_refused(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client, "tamper@example.com")
    token = token_of(mailbox.last_link("tamper@example.com"))

    response = await client.post(f"{AUTH}/verify", json={"token": token[:-4] + "AAAA"})

    assert_error(response, 400, "VERIFY_USER_BAD_TOKEN")


async def test_request_verify_token_sends_a_new_mail_to_unverified_users_only(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client, "again@example.com")

    request_again = f"{AUTH}/request-verify-token"

    response = await client.post(request_again, json={"email": "again@example.com"})
    unknown = await client.post(request_again, json={"email": "who@example.com"})

    assert (response.status_code, unknown.status_code) == (202, 202)
    assert len(mailbox.to("again@example.com")) == 2
    assert mailbox.to("who@example.com") == []
    latest_token = token_of(mailbox.last_link("again@example.com"))
    assert (await client.post(f"{AUTH}/verify", json={"token": latest_token})).status_code == 200
    await client.post(request_again, json={"email": "again@example.com"})
    assert len(mailbox.to("again@example.com")) == 2


async def test_forgot_password_mails_a_reset_link_whose_token_sets_a_new_password(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client, "forgot@example.com")

    response = await client.post(f"{AUTH}/forgot-password", json={"email": "forgot@example.com"})

    assert response.status_code == 202
    link = mailbox.last_link("forgot@example.com")
    assert link.startswith(f"{PUBLIC_BASE_URL}/reset-password?token=")
    reset = await client.post(
        f"{AUTH}/reset-password",
        json={"token": token_of(link), "password": "a brand new passphrase"},
    )
    assert reset.status_code == 200, reset.text
    assert (await login(client, "forgot@example.com", "a brand new passphrase")).status_code == 200
    assert_error(await login(client, "forgot@example.com"), 400, "LOGIN_BAD_CREDENTIALS")


async def test_a_reset_token_works_only_once(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    await register(client, "once@example.com")
    await client.post(f"{AUTH}/forgot-password", json={"email": "once@example.com"})
    token = token_of(mailbox.last_link("once@example.com"))
    first = await client.post(
        f"{AUTH}/reset-password", json={"token": token, "password": "first new passphrase"}
    )
    assert first.status_code == 200

    second = await client.post(
        f"{AUTH}/reset-password", json={"token": token, "password": "second new passphrase"}
    )

    assert_error(second, 400, "RESET_PASSWORD_BAD_TOKEN")


async def test_reset_refuses_a_weak_password(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    await register(client, "weak@example.com")
    await client.post(f"{AUTH}/forgot-password", json={"email": "weak@example.com"})
    token = token_of(mailbox.last_link("weak@example.com"))

    response = await client.post(f"{AUTH}/reset-password", json={"token": token, "password": "abc"})

    assert_error(response, 400, "RESET_PASSWORD_INVALID_PASSWORD")


async def test_forgot_password_answers_the_same_for_an_unknown_email(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    response = await client.post(f"{AUTH}/forgot-password", json={"email": "ghost@example.com"})

    assert response.status_code == 202
    assert response.json() is None
    assert mailbox.sent == []


async def test_the_mailed_links_open_pages_of_the_service(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client, "pages@example.com")
    await client.post(f"{AUTH}/forgot-password", json={"email": "pages@example.com"})
    mails = mailbox.to("pages@example.com")
    assert len(mails) == 2

    for mail in mails:
        link = httpx.URL(_link_in(mail.text))
        page = await client.get(link.raw_path.decode())
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert f'value="{token_of(str(link))}"' in page.text
        assert page.headers["referrer-policy"] == "no-referrer"


def _link_in(text: str | None) -> str:
    return next(word for word in (text or "").split() if word.startswith(PUBLIC_BASE_URL))


async def test_without_a_real_email_notifier_the_console_one_logs_the_link(
    settings: Settings, serve: ServeApp, service_log: ServiceLog
) -> None:
    service = build_app(settings)
    service_log.attach()
    async with serve(service) as client:
        await register(client, "console@example.com")

    assert "email to console@example.com" in service_log.text
    assert f"{settings.public_base_url}/verify-email?token=" in service_log.text


async def test_each_account_mail_has_an_html_body_with_the_text_bodys_link_and_nothing_remote(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client, "html@example.com")
    await client.post(f"{AUTH}/forgot-password", json={"email": "html@example.com"})

    for mail in mailbox.to("html@example.com"):
        link = LINK.search(mail.text or "")
        assert link and mail.html
        assert f'href="{link.group(0).replace("&", "&amp;")}"' in mail.html
        # Mail programs block remote content and scripts: the mail needs none.
        for remote in ("<img", "<script", "src=", "<link", "@import", "url("):
            assert remote not in mail.html
        assert mail.html.count("href=") == 2  # the button and the copyable link
