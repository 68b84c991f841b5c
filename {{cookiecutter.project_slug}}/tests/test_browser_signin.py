"""The sign-in page in a real browser: a provider's button, its consent page, back signed in.

Drives the system's chromium (never a downloaded one) with Playwright; the service and the
two provider-neutral fakes are real servers on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.browser import check_page, launch
from tests.fakes.oauth_server import FakeOAuthServer
from tests.fakes.server import LiveServer
from tests.support import SettingsFactory, build_app, reset_database


@pytest.fixture
def fakes(fake_alpha: FakeOAuthServer, fake_beta: FakeOAuthServer) -> dict[str, FakeOAuthServer]:
    """Both provider fakes, each person's photo served by the fake itself so the offline
    browser can load it."""
    for fake in (fake_alpha, fake_beta):
        fake.user = replace(fake.user, picture=fake.photo_url(f"{fake.name}.png"))
    return {fake.name: fake for fake in (fake_alpha, fake_beta)}


@pytest.fixture
async def live_service(
    fakes: dict[str, FakeOAuthServer],
    fake_provider_plugins: list[object],
    make_settings: SettingsFactory,
) -> AsyncIterator[str]:
    """The service under uvicorn on 127.0.0.1; its public URL is its own address."""
    server = LiveServer(lifespan="on")
    application = build_app(make_settings(public_base_url=server.url), *fake_provider_plugins)
    try:
        server.start(application)
        yield server.url
    finally:
        server.stop()
        await reset_database(application.state.runtime.database)


def button_label(fake: FakeOAuthServer) -> str:
    return f"Sign in with {fake.display_name}"


async def sign_in_through(page: Page, service_url: str, fake: FakeOAuthServer) -> None:
    await page.goto(f"{service_url}/")
    await page.get_by_role("link", name=button_label(fake)).click()
    await page.wait_for_url(f"{fake.base_url}/**")
    await expect(page.get_by_role("heading")).to_contain_text(fake.display_name)
    await page.get_by_role("button", name="Allow").click()
    await page.wait_for_url(f"{service_url}/")


@pytest.mark.parametrize("provider", ["alpha", "beta"])
async def test_sign_in_with_a_provider_button_in_a_real_browser(
    live_service: str, fakes: dict[str, FakeOAuthServer], provider: str
) -> None:
    fake = fakes[provider]
    name, email = fake.user.name, fake.user.email

    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await browser.new_page()
            await page.goto(f"{live_service}/")
            buttons = page.locator("a.provider")
            await expect(buttons).to_have_count(len(fakes))
            for each in fakes.values():
                await expect(page.get_by_role("link", name=button_label(each))).to_be_visible()

            await sign_in_through(page, live_service, fake)

            await expect(page.locator("#profile-name")).to_have_text(name)
            await expect(page.locator("#profile-email")).to_have_text(email)
            photo = page.locator("#profile img.avatar")
            await expect(photo).to_have_attribute("src", fake.photo_url(f"{provider}.png"))
            loaded_width = await photo.evaluate(
                "img => img.decode().then(() => img.naturalWidth, () => 0)"
            )
            assert loaded_width > 0
            await check_page(page)  # the signed-in view, photo and all
            await expect(page.locator("a.provider")).to_have_count(0)
        finally:
            await browser.close()
