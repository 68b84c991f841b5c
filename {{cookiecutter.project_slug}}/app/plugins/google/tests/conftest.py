"""The local Google the plugin's tests sign in with, and the module app pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.plugins.google.tests.fake_google import FakeGoogle
from tests.fakes.server import LiveServer


@pytest.fixture(scope="session")
def google_server() -> Iterator[tuple[FakeGoogle, LiveServer]]:
    fake = FakeGoogle()
    with LiveServer(fake.app(), on_stop=fake.close) as server:
        fake.base_url = server.url
        yield fake, server


@pytest.fixture
def fake_google(
    google_server: tuple[FakeGoogle, LiveServer], monkeypatch: pytest.MonkeyPatch
) -> FakeGoogle:
    """The fake, reset, with the Google plugin's settings pointing at it (not at `.env`)."""
    fake, _ = google_server
    fake.reset()
    fake.point_plugin_here(monkeypatch)
    return fake


@pytest.fixture
def unconfigured_google(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Google plugin with no credentials, whatever `.env` or the environment hold."""
    for key in ("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="module")
def app_environment(google_server: tuple[FakeGoogle, LiveServer]) -> dict[str, str]:
    """The module's app (`shared_app`) signs in with Google at the fake."""
    fake, _ = google_server
    fake.reset()
    return fake.env()
