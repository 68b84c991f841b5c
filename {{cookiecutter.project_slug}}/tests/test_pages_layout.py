"""How the pages look in a real browser, on a phone (375 px) and a desktop (1280 px).

For each combination of sign-in providers this project can have (none, each alone, both;
configured or not), the sign-in page has no overlapping controls, no sideways scrolling,
no button text spilling out of its button, and no serious accessibility finding (axe-core).
The same holds for the other pages and the account mails' HTML, in Korean and English.
Screenshots of the sign-in page go to the test output (pytest's temporary folder;
PAGE_SCREENSHOTS names another: `make screenshots` points it at the docs).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from app.accounts.mails import password_reset_message, verification_message
from app.core.plugins import builtin_plugin_names
from app.i18n import Language
from app.main import create_app
from tests.browser import HEIGHT, WIDTHS, check_page, launch
from tests.fakes.server import LiveServer
from tests.support import SettingsFactory, reset_database

# The settings that make each provider plugin configured (values the page never uses).
CREDENTIALS = {
    "google": {"GOOGLE_CLIENT_ID": "layout-test", "GOOGLE_CLIENT_SECRET": "layout-test"},
    "kakao": {"KAKAO_CLIENT_ID": "layout-test", "KAKAO_CLIENT_SECRET": "layout-test"},
}
# The sign-in provider plugins this project has.
PROVIDERS = [name for name in CREDENTIALS if name in builtin_plugin_names()]
# Leaving Kakao out leaves out the KakaoTalk notifier that needs it.
PLUGINS_OF = {"google": ["google"], "kakao": ["kakao", "kakaotalk"]}
# 44 px tall buttons (a comfortable touch target) and a little rounding.
ONE_LINE_BUTTON_HEIGHT = 46
BUTTON_LABEL = {"google": "Sign in with Google", "kakao": "Login with Kakao"}


@dataclass(frozen=True)
class Combination:
    """Which provider plugins are loaded, and which of them have their settings."""

    loaded: tuple[str, ...]
    configured: tuple[str, ...]

    @property
    def id(self) -> str:
        if not self.loaded:
            return "no-provider"
        return "+".join(
            f"{name}-{'configured' if name in self.configured else 'unconfigured'}"
            for name in self.loaded
        )


def combinations() -> list[Combination]:
    """none; each provider alone, configured and not; both, configured, not, and mixed."""
    found = [Combination((), ())]
    for name in PROVIDERS:
        found += [Combination((name,), (name,)), Combination((name,), ())]
    if len(PROVIDERS) > 1:
        both = tuple(PROVIDERS)
        found += [Combination(both, both), Combination(both, ()), Combination(both, both[:1])]
    return found


def screenshot_folder(request: pytest.FixtureRequest) -> Path:
    folder = os.environ.get("PAGE_SCREENSHOTS")
    if folder:
        path = Path(folder)
    else:
        path = request.config._tmp_path_factory.getbasetemp() / "screenshots"  # type: ignore[attr-defined]
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One chromium for the module; each check opens its own page (no shared cookies)."""
    async with async_playwright() as playwright:
        chromium = await launch(playwright)
        try:
            yield chromium
        finally:
            await chromium.close()


@contextmanager
def provider_settings(combination: Combination) -> Iterator[list[str]]:
    """The environment the provider plugins read, for this combination; the plugins to
    leave out (disabled_plugins)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, values in CREDENTIALS.items():
            for key, value in values.items():
                if name in combination.configured:
                    monkeypatch.setenv(key, value)
                else:
                    monkeypatch.delenv(key, raising=False)
        left_out = [
            plugin
            for name, plugins in PLUGINS_OF.items()
            if name not in combination.loaded
            for plugin in plugins
        ]
        yield left_out


async def open_page(browser: Browser, url: str, width: int, language: str = "en") -> Page:
    page = await browser.new_page(
        viewport={"width": width, "height": HEIGHT},
        locale={"en": "en-US", "ko": "ko-KR"}[language],
        extra_http_headers={"Accept-Language": language},
    )
    await page.goto(url)
    await page.wait_for_load_state("load")
    return page


@pytest.mark.parametrize("combination", combinations(), ids=lambda c: c.id)
async def test_sign_in_page_lays_out_cleanly_for_every_provider_combination(
    browser: Browser,
    make_settings: SettingsFactory,
    combination: Combination,
) -> None:
    with provider_settings(combination) as left_out:
        server = LiveServer(lifespan="on")
        application = create_app(
            make_settings(public_base_url=server.url, disabled_plugins=left_out)
        )
    server.start(application)
    try:
        for width in WIDTHS:
            page = await open_page(browser, f"{server.url}/", width)
            for name in combination.loaded:
                button = page.locator(f'[data-provider="{name}"]')
                await expect(button).to_have_count(1)
                if name in combination.configured:
                    await expect(button).to_have_text(BUTTON_LABEL[name])
                    await expect(button).to_be_enabled()
                else:
                    await expect(button).to_be_disabled()
                    await expect(button).to_contain_text("not set up")
                    # One line, as tall as a working button: it never pushes the page about.
                    box = await button.bounding_box()
                    assert box and box["height"] <= ONE_LINE_BUTTON_HEIGHT, box
            await expect(page.locator("[data-provider]")).to_have_count(len(combination.loaded))
            await check_page(page)
            await page.close()
    finally:
        server.stop()
        await reset_database(application.state.runtime.database)


async def test_every_page_in_both_languages_lays_out_cleanly_and_signs_in_with_words(
    browser: Browser, make_settings: SettingsFactory
) -> None:
    """Verify-email, reset-password, the signed-in view and the errors, at both widths."""
    server = LiveServer(lifespan="on")
    # Three sign-ins a minute: the third wrong password meets the limit.
    limited = {"rate_limits_enabled": True, "rate_limit_login": "2/minute"}
    application = create_app(make_settings(public_base_url=server.url, **limited))
    server.start(application)
    try:
        for language in ("en", "ko"):
            for width in WIDTHS:
                for path in ("/verify-email?token=t", "/reset-password?token=t"):
                    page = await open_page(browser, f"{server.url}{path}", width, language)
                    await expect(page.locator("html")).to_have_attribute("lang", language)
                    await check_page(page)
                    await page.close()

        page = await open_page(browser, f"{server.url}/", 375, "ko")
        await page.get_by_label("이메일 주소").fill("minji@example.com")
        await page.get_by_label("비밀번호", exact=True).fill("not the right passphrase")
        await page.get_by_role("button", name="로그인", exact=True).click()
        await expect(page.get_by_role("alert")).to_have_text(
            "이메일 주소 또는 비밀번호가 올바르지 않습니다."
        )
        await check_page(page)

        await page.get_by_role("button", name="계정 만들기").click()
        await expect(page.locator("#profile-email")).to_have_text("minji@example.com")
        await expect(page.locator("#unverified")).to_contain_text("이메일 주소가 아직 확인되지")
        for width in WIDTHS:
            await page.set_viewport_size({"width": width, "height": HEIGHT})
            await check_page(page)
        await page.get_by_role("button", name="확인 메일 다시 보내기").click()
        await expect(page.get_by_role("status")).to_have_text(
            "minji@example.com 주소로 확인 메일을 다시 보냈습니다."
        )

        await page.get_by_role("button", name="로그아웃").click()
        await page.get_by_label("이메일 주소").fill("minji@example.com")
        await page.get_by_label("비밀번호", exact=True).fill("a wrong passphrase again")
        await page.get_by_role("button", name="로그인", exact=True).click()
        await expect(page.get_by_role("alert")).to_have_text(
            "짧은 시간에 너무 많이 시도했습니다. 몇 분 뒤에 다시 시도해 주세요."
        )
        await page.close()
    finally:
        server.stop()
        await reset_database(application.state.runtime.database)


@pytest.mark.parametrize("language", ["en", "ko"])
async def test_sign_in_page_screenshots(
    browser: Browser, make_settings: SettingsFactory, request: pytest.FixtureRequest, language: str
) -> None:
    """Every provider of the project shown, configured, as people will see the page."""
    loaded = tuple(PROVIDERS)
    combination = Combination(loaded, loaded)
    with provider_settings(combination) as left_out:
        server = LiveServer(lifespan="on")
        application = create_app(
            make_settings(public_base_url=server.url, disabled_plugins=left_out)
        )
    server.start(application)
    folder = screenshot_folder(request)
    try:
        for width in WIDTHS:
            page = await open_page(browser, f"{server.url}/", width, language)
            path = folder / f"signin-{language}-{width}.png"
            await page.screenshot(path=str(path), full_page=True)
            assert path.stat().st_size > 1000
            await page.close()
    finally:
        server.stop()
        await reset_database(application.state.runtime.database)


async def test_account_mails_html_reads_well_on_a_phone_in_both_languages(
    browser: Browser, make_settings: SettingsFactory
) -> None:
    settings = make_settings(public_base_url="https://accounts.example.com")
    page = await browser.new_page(viewport={"width": WIDTHS[0], "height": HEIGHT})
    try:
        for language in Language:
            for build in (verification_message, password_reset_message):
                message = build(settings, "jisoo@example.com", "a.token", language)
                assert message.html
                await page.set_content(message.html)
                await expect(page.get_by_role("link").first).to_have_attribute(
                    "href", re.compile(r"^https://accounts\.example\.com/.*lang=" + language)
                )
                await check_page(page)
    finally:
        await page.close()
