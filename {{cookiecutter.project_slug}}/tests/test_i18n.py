"""Korean and English: a complete catalogue; pages and mails in the visitor's language."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.accounts.mails import password_reset_message, verification_message
from app.accounts.routes.pages import BRANDED_PROVIDERS
from app.i18n import CATALOGUES, Language, from_accept_language, negotiate, translator
from tests.fakes.stand_in import StandInProvider
from tests.support import (
    AUTH,
    Mailbox,
    ServeApp,
    SettingsFactory,
    build_app,
    register,
)

APP = Path(__file__).resolve().parents[1] / "app"
# How templates and the pages' script name catalogue keys.
TEMPLATE_KEY = re.compile(r"""\bt\(\s*["']([\w.]+)["']""")
SCRIPT_KEY = re.compile(r"""\bsay\(\s*"([\w.]+)"\s*[,)]""")
SCRIPT_MESSAGES = re.compile(r'<script type="application/json" id="page-messages">(.*?)</script>')


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_is_in_every_language_with_the_same_placeholders() -> None:
    english = CATALOGUES[Language.ENGLISH]
    for language, catalogue in CATALOGUES.items():
        assert set(catalogue) == set(english), (
            f"{language.value}: missing {sorted(set(english) - set(catalogue))}, "
            f"extra {sorted(set(catalogue) - set(english))}"
        )
        for key, text in catalogue.items():
            assert text.strip(), f"{language.value}: {key} is empty"
            assert placeholders(text) == placeholders(english[key]), (language.value, key)


def test_every_key_the_templates_and_the_script_use_is_in_the_catalogue() -> None:
    used = set()
    for template in (APP / "templates").glob("*.html"):
        used |= set(TEMPLATE_KEY.findall(template.read_text(encoding="utf-8")))
    used |= set(SCRIPT_KEY.findall((APP / "static" / "pages.js").read_text(encoding="utf-8")))
    used |= {f"signin.provider.{brand}" for brand in BRANDED_PROVIDERS}
    used |= {f"provider.{brand}" for brand in BRANDED_PROVIDERS}
    assert len(used) > 20  # the patterns do find the keys
    for catalogue in CATALOGUES.values():
        assert used - set(catalogue) == set()


def test_an_unknown_key_fails_loudly_instead_of_showing_the_key() -> None:
    with pytest.raises(KeyError):
        translator(Language.KOREAN)("signin.no-such-key")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", Language.KOREAN),
        ("en-US,en;q=0.9,ko;q=0.8", Language.ENGLISH),
        ("fr-FR, ko;q=0.5, en;q=0.4", Language.KOREAN),
        ("en;q=0.2, ko;q=0.9", Language.KOREAN),
        ("ko;q=0, en;q=0.1", Language.ENGLISH),
        ("fr, de", None),
        ("ko;q=not-a-number, en", Language.ENGLISH),
        ("", None),
    ],
)
def test_accept_language_picks_the_most_wanted_language_we_speak(
    header: str, expected: Language | None
) -> None:
    assert from_accept_language(header) == expected


def test_lang_parameter_wins_then_the_header_then_the_default() -> None:
    assert negotiate("ko", "en", Language.ENGLISH) is Language.KOREAN
    assert negotiate("xx", "ko", Language.ENGLISH) is Language.KOREAN
    assert negotiate(None, "fr", Language.KOREAN) is Language.KOREAN


def test_both_account_mails_render_in_both_languages(make_settings: SettingsFactory) -> None:
    settings = make_settings(public_base_url="https://accounts.example.com")
    for language in Language:
        for build in (verification_message, password_reset_message):
            message = build(settings, "jisoo@example.com", "tok", language)
            assert message.subject and message.text and message.html
            assert f"lang={language.value}" in message.text
            assert f'<html lang="{language.value}">' in message.html
            assert settings.project_name in message.subject


@pytest.fixture(scope="module")
def app_settings() -> dict[str, Any]:
    return {"disabled_plugins": STAND_IN_FOR}


@pytest.fixture(scope="module")
def app_plugins(module_mailbox: Mailbox) -> list[object]:
    # Stand-ins under the branded providers' names, whichever plugins this project has.
    providers = (StandInProvider("google"), StandInProvider("kakao", is_configured=False))
    return [module_mailbox, *providers]


@pytest.fixture
def app(shared_app: FastAPI, mailbox: Mailbox) -> FastAPI:
    """The module's tests share one app, each on an empty database and an empty mailbox."""
    return shared_app


STAND_IN_FOR = ["google", "kakao", "kakaotalk"]
PAGES = ("/", "/verify-email?token=t", "/reset-password?token=t")
KOREAN = {"/": "Google 계정으로 로그인", "/verify-email?token=t": "이메일 주소 확인하기"}
ENGLISH = {"/": "Sign in with Google", "/verify-email?token=t": "Confirm my email address"}


@pytest.mark.parametrize("path", PAGES)
async def test_each_page_follows_accept_language(client: httpx.AsyncClient, path: str) -> None:
    korean = await client.get(path, headers={"Accept-Language": "ko-KR,ko;q=0.9,en;q=0.8"})
    english = await client.get(path, headers={"Accept-Language": "en-US,en;q=0.9"})

    assert '<html lang="ko">' in korean.text
    assert korean.headers["content-language"] == "ko"
    assert "accept-language" in korean.headers["vary"].lower()
    assert '<html lang="en">' in english.text
    if path in KOREAN:
        assert KOREAN[path] in korean.text
        assert ENGLISH[path] in english.text
        assert ENGLISH[path] not in korean.text


async def test_lang_parameter_overrides_the_browser(client: httpx.AsyncClient) -> None:
    response = await client.get("/?lang=ko", headers={"Accept-Language": "en"})

    assert '<html lang="ko">' in response.text
    assert "카카오 로그인: 설정 안 됨" in response.text
    assert "이메일 주소" in response.text


async def test_an_unknown_lang_falls_back_to_the_browser_and_is_not_echoed(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/?lang=<x>", headers={"Accept-Language": "ko"})

    assert response.status_code == 200
    assert '<html lang="ko">' in response.text
    assert "<x>" not in response.text


async def test_default_language_setting_applies_without_a_preference(
    make_settings: SettingsFactory, serve: ServeApp
) -> None:
    settings = make_settings(default_language="ko", disabled_plugins=STAND_IN_FOR)
    async with serve(build_app(settings, StandInProvider("google"))) as client:
        plain = await client.get("/")
        asked = await client.get("/", headers={"Accept-Language": "en"})

    assert '<html lang="ko">' in plain.text
    assert '<html lang="en">' in asked.text


async def test_the_language_switch_keeps_the_token_of_a_mailed_link(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/reset-password?token=abc.def", headers={"Accept-Language": "en"})

    assert 'href="/reset-password?token=abc.def&amp;lang=ko"' in response.text


async def test_the_pages_script_gets_its_words_in_the_page_language(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/?lang=ko")

    match = SCRIPT_MESSAGES.search(response.text)
    assert match
    words = json.loads(match.group(1))
    assert words["error.LOGIN_BAD_CREDENTIALS"] == "이메일 주소 또는 비밀번호가 올바르지 않습니다."
    assert words["error.RATE_LIMITED"].startswith("짧은 시간에 너무 많이 시도했습니다")
    assert "{email}" in words["status.reset_sent"]  # the script fills it in


async def test_account_mails_follow_the_language_of_the_request_that_caused_them(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    client.headers["Accept-Language"] = "ko-KR,ko;q=0.9"
    await register(client, "minji@example.com")
    await client.post(f"{AUTH}/forgot-password", json={"email": "minji@example.com"})
    client.headers["Accept-Language"] = "en"
    await register(client, "alex@example.com")

    verify, reset = mailbox.to("minji@example.com")
    assert verify.subject and verify.subject.endswith("이메일 주소를 확인해 주세요")
    assert verify.text and "이메일 주소 확인하기" in verify.text
    assert verify.html and '<html lang="ko">' in verify.html
    assert "lang=ko" in (verify.text or "")
    assert reset.text and "비밀번호 재설정이 요청되었습니다" in reset.text
    [english] = mailbox.to("alex@example.com")
    assert english.subject and english.subject.startswith("Confirm your email address")
    assert english.text and "lang=en" in english.text


async def test_a_picked_language_is_remembered_for_later_pages_and_mails(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    client.headers["Accept-Language"] = "en"
    picked = await client.get("/?lang=ko")
    assert "lang=ko" in picked.headers["set-cookie"]
    assert "httponly" in picked.headers["set-cookie"].lower()

    later = await client.get("/")  # back from a provider's sign-in, say
    await register(client, "remembered@example.com")

    assert '<html lang="ko">' in later.text
    [mail] = mailbox.to("remembered@example.com")
    assert mail.subject and mail.subject.endswith("이메일 주소를 확인해 주세요")
    switched = await client.get("/?lang=en")
    assert '<html lang="en">' in switched.text
    assert '<html lang="en">' in (await client.get("/")).text
