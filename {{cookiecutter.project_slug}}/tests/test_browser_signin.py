"""The sign-in page in a real browser: a provider's button, its consent page, back signed in.

Drives the system's chromium (never a downloaded one) with Playwright; the service and the
provider fakes are real servers on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest
from playwright.async_api import Page, async_playwright, expect

from app.core.config import Settings
from app.main import create_app
from tests.browser import check_page, launch
from tests.conftest import reset_database
from tests.fakes.base import FakeOAuthProvider
from tests.fakes.fixtures import PROVIDERS
from tests.fakes.server import LiveServer

# Each provider's button, worded after the provider's own guidelines.
BUTTON_LABEL = {"google": "Sign in with Google", "kakao": "Login with Kakao"}
# What each provider's fake user looks like on the page once signed in.
SIGNED_IN_AS = {
    "google": ("Jane Doe", "jane.doe@gmail.com"),
    "kakao": ("홍길동", "gildong@kakao.com"),
}


@pytest.fixture
def every_provider_fake(request: pytest.FixtureRequest) -> dict[str, FakeOAuthProvider]:
    """All the project's provider fakes, each plugin pointed at its fake, each photo served
    by the fake itself so the offline browser can load it."""
    fakes: dict[str, FakeOAuthProvider] = {
        name: request.getfixturevalue(f"fake_{name}") for name in PROVIDERS
    }
    for name, fake in fakes.items():
        photo = fake.photo_url(f"{name}.png")
        if name == "google":
            fake.user = replace(fake.user, photo_url=photo)
        else:
            fake.user = replace(fake.user, profile_image_url=photo)
    return fakes


@pytest.fixture
async def live_service(
    every_provider_fake: dict[str, FakeOAuthProvider], make_settings: Callable[..., Settings]
) -> AsyncIterator[str]:
    """The service under uvicorn on 127.0.0.1; its public URL is its own address."""
    server = LiveServer(lifespan="on")
    application = create_app(make_settings(public_base_url=server.url))
    try:
        server.start(application)
        yield server.url
    finally:
        server.stop()
        await reset_database(application.state.database)


async def sign_in_through(page: Page, service_url: str, fake: FakeOAuthProvider) -> None:
    await page.goto(f"{service_url}/")
    await page.get_by_role("link", name=BUTTON_LABEL[fake.name]).click()
    await page.wait_for_url(f"{fake.base_url}/**")
    await expect(page.get_by_role("heading")).to_contain_text(fake.display_name)
    await page.get_by_role("button", name="Allow").click()
    await page.wait_for_url(f"{service_url}/")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_sign_in_with_a_provider_button_in_a_real_browser(
    live_service: str, every_provider_fake: dict[str, FakeOAuthProvider], provider: str
) -> None:
    fake = every_provider_fake[provider]
    name, email = SIGNED_IN_AS[provider]

    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await browser.new_page()
            await page.goto(f"{live_service}/")
            buttons = page.locator("a.provider")
            await expect(buttons).to_have_count(len(every_provider_fake))
            for each in every_provider_fake.values():
                await expect(page.get_by_role("link", name=BUTTON_LABEL[each.name])).to_be_visible()

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
