"""Fixtures of the provider fakes, loaded from `tests/conftest.py`.

Each provider's fake module holds its own fixtures; a provider left out of the project
takes its fake, and so its fixtures, along with it.
"""

from __future__ import annotations

import importlib.util

import pytest

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
