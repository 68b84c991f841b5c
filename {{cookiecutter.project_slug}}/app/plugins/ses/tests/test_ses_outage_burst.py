"""SES unreachable and then throttling during a burst: the outbox retries, and every
notification goes out exactly once when SES is back.

(A mail whose answer is lost mid-flight ends `unknown` rather than being sent again:
SendEmail has no idempotency key. The outage here refuses connections, so nothing is in
flight, and every notification can be delivered; tests/test_unknown_outcome.py covers
answers that never come.)"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from app.main import create_app
from app.plugins.ses.settings import SesSettings
from app.plugins.ses.tests.fake_ses import FakeSes, SesError
from tests.fakes.server import LiveServer
from tests.fault_proxy import FaultProxy
from tests.outbox_support import (
    FAST_DELIVERY,
    all_finished,
    email,
    new_caller,
    post_all,
    rows,
    statuses,
    wait_until,
)
from tests.support import build_test_settings, reset_database, signed_client

BURST = 60


@pytest.fixture
def fake_ses() -> Iterator[tuple[FakeSes, LiveServer]]:
    fake = FakeSes()
    with LiveServer(fake.app(), on_stop=fake.close) as server:
        yield fake, server


@pytest.fixture
async def ses_proxy(fake_ses: tuple[FakeSes, LiveServer]) -> AsyncIterator[FaultProxy]:
    """The way to SES, which the test can cut as an outage would."""
    proxy = FaultProxy("127.0.0.1", fake_ses[1].port)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture(autouse=True)
def ses_behind_the_proxy(ses_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SesSettings.model_config, "env_file", None)
    for name, value in {
        "SES_SENDER": "My Service <no-reply@mail.example.com>",
        "SES_REGION": "eu-west-1",
        "SES_ENDPOINT_URL": f"http://127.0.0.1:{ses_proxy.port}",
        "SES_ACCESS_KEY_ID": "AKIATESTSESOUTAGE",
        "SES_SECRET_ACCESS_KEY": "ses-outage-test-secret-0123456789",
    }.items():
        monkeypatch.setenv(name, value)


async def test_a_burst_through_throttling_and_an_outage_is_delivered_once(
    fake_ses: tuple[FakeSes, LiveServer], ses_proxy: FaultProxy, tmp_path: Path
) -> None:
    fake, _ = fake_ses
    database_url = os.environ.get("TEST_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp_path}/ses.db"
    settings = build_test_settings(database_url, max_delivery_attempts=100, **FAST_DELIVERY)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        database = application.state.runtime.database
        caller = await new_caller(application)
        await ses_proxy.cut()  # SES unreachable: connections refused
        async with signed_client(application, caller) as signed:
            payloads = [email(to=f"user{n}@example.com", subject=f"n{n}") for n in range(BURST)]
            ids = await post_all(signed, payloads)

        async def all_refused() -> bool:
            found = (await rows(database, ids)).values()
            return all("unreachable" in (row.last_error or "") for row in found)

        await wait_until(all_refused, 30, "every notification refused while SES is away")
        assert fake.requests == []

        fake.error = SesError(400, "TooManyRequestsException", "Maximum sending rate exceeded.")
        await ses_proxy.restore()
        await wait_until(lambda: len(fake.requests) >= BURST, 30, "throttled attempts")
        assert fake.accepted == []
        assert "delivered" not in await statuses(database, ids)

        fake.error = None

        await wait_until(lambda: all_finished(database, ids), 60, "all delivered")
        assert await statuses(database, ids) == {"delivered": BURST}
        sent = Counter(request["Content"]["Simple"]["Subject"]["Data"] for request in fake.accepted)
        assert set(sent) == {f"n{n}" for n in range(BURST)}
        assert max(sent.values()) == 1, "a mail went out twice"
    await reset_database(database)
