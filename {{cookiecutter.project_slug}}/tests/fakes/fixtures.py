"""Fixtures of the provider fakes, loaded from `tests/conftest.py`.

Each provider's fake module holds its own fixtures; a provider left out of the project
takes its fake, and so its fixtures, along with it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import FastAPI

from app.main import create_app
from tests.conftest import build_test_settings, started
from tests.fakes.base import FakeOAuthProvider

PROVIDER_FAKES = ("tests.fakes.google", "tests.fakes.kakao")

pytest_plugins = [
    module for module in PROVIDER_FAKES if importlib.util.find_spec(module) is not None
]
# The providers whose fakes (and plugins) this project has.
PROVIDERS = [module.rsplit(".", 1)[-1] for module in pytest_plugins]


@pytest.fixture(params=PROVIDERS)
def provider_fake(request: pytest.FixtureRequest) -> FakeOAuthProvider:
    """Each provider fake of the project in turn, its plugin pointed at it."""
    fake: FakeOAuthProvider = request.getfixturevalue(f"fake_{request.param}")
    return fake


@pytest.fixture(params=PROVIDERS)
def unconfigured_provider(request: pytest.FixtureRequest) -> str:
    """Each provider plugin of the project in turn, without credentials."""
    request.getfixturevalue(f"unconfigured_{request.param}")
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def providers_service(request: pytest.FixtureRequest, database_url: str) -> Iterator[FastAPI]:
    """One app for a test module, every provider plugin pointed at its fake.

    Building an app and resolving its routes costs more than most sign-in tests do; the
    module's tests each start this one on an empty database instead (`providers_app`).
    """
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in PROVIDERS:
            fake, _ = request.getfixturevalue(f"{name}_server")
            fake.reset()  # not configured with what the previous test left in its knobs
            fake.point_plugin_here(monkeypatch)
        yield create_app(build_test_settings(database_url))


@pytest.fixture
async def providers_app(providers_service: FastAPI) -> AsyncIterator[FastAPI]:
    """The module's app, started for one test on an empty database."""
    async with started(providers_service) as application:
        yield application
