"""Fixtures of the provider-neutral OAuth servers (`tests/fakes/oauth_server.py`), loaded
from `tests/conftest.py`.

Two providers, `alpha` and `beta`, each a real server on 127.0.0.1 for the whole session:
one person may sign in with both (linking, takeover), and a state issued for one must be
refused by the other. A module signs in through them by registering their plugins:

    @pytest.fixture(scope="module")
    def app_plugins(fake_provider_plugins: list[object]) -> list[object]:
        return fake_provider_plugins
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.fakes.oauth_server import FakeOAuthServer, FakeServerProvider, Person
from tests.fakes.server import LiveServer

# Who signs in at each provider unless a test says otherwise: two different people.
PEOPLE = {
    "alpha": Person(),
    "beta": Person(
        sub="7340012",
        email="gildong@example.org",
        name="홍길동",
        nickname="gildong",
        picture="https://images.example.org/gildong.jpg",
        gender="male",
        birthdate="1992-09-14",
        phone_number="+821055501234",
    ),
}


@pytest.fixture(scope="session")
def oauth_servers() -> Iterator[dict[str, FakeOAuthServer]]:
    with ExitStack() as stack:
        servers = {}
        for name, person in PEOPLE.items():
            fake = FakeOAuthServer(name, person)
            fake.base_url = stack.enter_context(LiveServer(fake.app(), on_stop=fake.close)).url
            servers[name] = fake
        yield servers


@pytest.fixture(scope="module")
def fake_provider_plugins(oauth_servers: dict[str, FakeOAuthServer]) -> list[object]:
    """The plugins of both providers, configured, for a module's `app_plugins`."""
    return [FakeServerProvider(server) for server in oauth_servers.values()]


@pytest.fixture
def fake_alpha(oauth_servers: dict[str, FakeOAuthServer]) -> FakeOAuthServer:
    """The alpha provider, back to cooperating and to its own person."""
    fake = oauth_servers["alpha"]
    fake.reset()
    return fake


@pytest.fixture
def fake_beta(oauth_servers: dict[str, FakeOAuthServer]) -> FakeOAuthServer:
    """The beta provider, back to cooperating and to its own person."""
    fake = oauth_servers["beta"]
    fake.reset()
    return fake
