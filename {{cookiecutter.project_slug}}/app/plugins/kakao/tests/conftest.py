"""The local Kakao the plugin's tests sign in with, and the module app pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.plugins.kakao.tests.fake_kakao import FakeKakao, serving_fake_kakao


@pytest.fixture(scope="session")
def kakao_server() -> Iterator[FakeKakao]:
    with serving_fake_kakao() as fake:
        yield fake


@pytest.fixture
def fake_kakao(kakao_server: FakeKakao, monkeypatch: pytest.MonkeyPatch) -> FakeKakao:
    """The fake, reset, with the Kakao plugin's settings pointing at it (not at `.env`)."""
    kakao_server.reset()
    kakao_server.point_plugin_here(monkeypatch)
    return kakao_server


@pytest.fixture(scope="module")
def app_environment(kakao_server: FakeKakao) -> dict[str, str]:
    """The module's app (`shared_app`) signs in with Kakao at the fake."""
    kakao_server.reset()
    return kakao_server.env()
