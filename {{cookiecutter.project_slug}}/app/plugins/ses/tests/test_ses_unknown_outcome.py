"""SES: a mail SES may have sent is not sent again; recipients never see each other.

Driven through the signed API with the service's own delivery, against a fake SES on
127.0.0.1. A timeout after the request reached the provider leaves the outcome unknown: the
notification ends `unknown` after one send, for an operator to decide. A provider failing
before anything was sent is retried until it is back. Email to several
addresses goes out as one mail per address, and a retry after a partial failure sends
only to those who do not have it yet.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator

import pytest

from app.plugins.ses.settings import SesSettings
from app.plugins.ses.tests.fake_ses import FakeSes, SesError
from tests.fakes.server import LiveServer
from tests.outbox_support import (
    ANN,
    BOB,
    CY,
    READ_TIMEOUT,
    SENDER,
    assert_unknown,
    finished,
    listed,
    post_email,
    running,
    wait_until,
    waiting_for_a_retry,
)
from tests.support import SettingsFactory


@pytest.fixture(autouse=True)
def no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SesSettings.model_config, "env_file", None)
    for name in SesSettings.model_fields:
        monkeypatch.delenv(f"SES_{name.upper()}", raising=False)


def use_ses(monkeypatch: pytest.MonkeyPatch, url: str, read_timeout: str = "10") -> None:
    for name, value in {
        "SES_SENDER": SENDER,
        "SES_REGION": "eu-west-1",
        "SES_ENDPOINT_URL": url,
        "SES_ACCESS_KEY_ID": "AKIATESTUNKNOWN",
        "SES_SECRET_ACCESS_KEY": "ses-unknown-outcome-test-secret-0123456789",
        "SES_READ_TIMEOUT_SECONDS": read_timeout,
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def fake_ses() -> Iterator[tuple[FakeSes, LiveServer]]:
    fake = FakeSes()
    with LiveServer(fake.app(), on_stop=fake.close) as server:
        yield fake, server


async def test_ses_answering_after_the_read_timeout_sends_once_and_ends_unknown(
    fake_ses: tuple[FakeSes, LiveServer],
    make_settings: SettingsFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, server = fake_ses
    # SES takes the mail and answers only when its server stops: however slow the machine,
    # the answer cannot beat the read timeout (the only wait it bounds is for this answer).
    fake.delay_seconds = math.inf
    use_ses(monkeypatch, server.url, read_timeout=READ_TIMEOUT)
    async with running(make_settings, attempts=4) as application:
        caller, notification_id = await post_email(application, [ANN])

        row = await finished(application, notification_id)

        assert_unknown(row)
        # SES took the mail, once: neither the AWS client nor the outbox asked again.
        await wait_until(lambda: len(fake.accepted) == 1, 20, "the mail taken by SES")
        assert len(fake.requests) == 1
        [listed_row] = await listed(application, caller, "unknown")
        assert (listed_row["id"], listed_row["status"]) == (notification_id, "unknown")


async def test_ses_refusing_connections_is_retried_and_delivered_once_back(
    make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeSes()
    # Bound but not listening: connections are refused until the server starts.
    server = LiveServer(fake.app(), on_stop=fake.close)
    use_ses(monkeypatch, server.url)
    try:
        async with running(make_settings, attempts=100) as application:
            _, notification_id = await post_email(application, [ANN])
            await waiting_for_a_retry(application, notification_id, "unreachable")
            assert fake.requests == []

            server.start()
            row = await finished(application, notification_id)

            assert row.status == "delivered", row.last_error
            assert row.attempts >= 2
            assert row.provider_message_id == "fake-0"
            assert len(fake.accepted) == 1
    finally:
        server.stop()


async def test_ses_mails_each_recipient_alone_and_a_retry_skips_those_who_have_it(
    fake_ses: tuple[FakeSes, LiveServer],
    make_settings: SettingsFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, server = fake_ses
    fake.errors_for[BOB] = SesError(400, "TooManyRequestsException", "Maximum sending rate")
    use_ses(monkeypatch, server.url)
    async with running(make_settings, attempts=100) as application:
        _, notification_id = await post_email(application, [ANN, BOB, CY])
        await waiting_for_a_retry(application, notification_id, "TooManyRequestsException")

        fake.errors_for.clear()
        row = await finished(application, notification_id)

        assert row.status == "delivered", row.last_error
        assert row.last_error is None
        # One mail per address, each showing only its own recipient.
        assert sorted(map(str, fake.destinations())) == sorted(
            str({"ToAddresses": [address]}) for address in (ANN, BOB, CY)
        )
        # Ann and Cy had theirs after the first attempt: the retries were Bob's alone.
        asked = Counter(
            address
            for request in fake.requests
            for addresses in request["Destination"].values()
            for address in addresses
        )
        assert asked[ANN] == 1 and asked[CY] == 1 and asked[BOB] >= 2
