"""SMTP: a mail the server may have taken is not sent again; recipients never see each other.

Driven through the signed API with the service's own delivery, against an aiosmtpd server on
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

from app.plugins.smtp.settings import SmtpSettings
from app.plugins.smtp.tests.local_smtp import Inbox, LocalSmtpServer, free_port
from tests.outbox_support import (
    ANN,
    BOB,
    CY,
    SENDER,
    assert_unknown,
    finished,
    listed,
    post_email,
    running,
    waiting_for_a_retry,
)
from tests.support import SettingsFactory

# SMTP's read timeout bounds every reply of the conversation (EHLO, MAIL, RCPT, DATA), not
# only the one a test holds back: the others must come within it even on a busy machine.
READ_TIMEOUT = "2"


@pytest.fixture(autouse=True)
def no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SmtpSettings.model_config, "env_file", None)
    for name in SmtpSettings.model_fields:
        monkeypatch.delenv(f"SMTP_{name.upper()}", raising=False)


def use_smtp(monkeypatch: pytest.MonkeyPatch, port: int, read_timeout: str = "10") -> None:
    for name, value in {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_SECURITY": "none",
        "SMTP_FROM_ADDRESS": SENDER,
        "SMTP_READ_TIMEOUT_SECONDS": read_timeout,
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def smtp_server(inbox: Inbox) -> Iterator[LocalSmtpServer]:
    with LocalSmtpServer(inbox) as server:
        yield server


async def test_smtp_replying_late_after_the_data_sends_once_and_ends_unknown(
    inbox: Inbox,
    smtp_server: LocalSmtpServer,
    make_settings: SettingsFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox.data_delay = math.inf  # the reply to the data is held until the server stops
    use_smtp(monkeypatch, smtp_server.port, read_timeout=READ_TIMEOUT)
    async with running(make_settings, attempts=4) as application:
        caller, notification_id = await post_email(application, [ANN])

        row = await finished(application, notification_id)

        assert_unknown(row)
        assert [received.rcpt_tos for received in inbox.received] == [[ANN]]
        assert [item["id"] for item in await listed(application, caller, "unknown")] == [
            notification_id
        ]


async def test_smtp_server_down_is_retried_and_delivered_once_back(
    inbox: Inbox, make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = LocalSmtpServer(inbox, port=free_port())
    use_smtp(monkeypatch, server.port)
    try:
        async with running(make_settings, attempts=100) as application:
            _, notification_id = await post_email(application, [ANN])
            await waiting_for_a_retry(application, notification_id, "unreachable")

            server.start()
            row = await finished(application, notification_id)

            assert row.status == "delivered", row.last_error
            assert row.attempts >= 2
            assert [received.rcpt_tos for received in inbox.received] == [[ANN]]
    finally:
        server.stop()


async def test_smtp_mails_each_recipient_alone_and_a_retry_skips_those_who_have_it(
    inbox: Inbox,
    smtp_server: LocalSmtpServer,
    make_settings: SettingsFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox.refuse[BOB] = "451 4.3.0 Try again later"
    use_smtp(monkeypatch, smtp_server.port)
    async with running(make_settings, attempts=100) as application:
        _, notification_id = await post_email(application, [ANN, BOB, CY])
        await waiting_for_a_retry(application, notification_id, "451")

        inbox.refuse.clear()
        row = await finished(application, notification_id)

        assert row.status == "delivered", row.last_error
        assert row.last_error is None
        mails = {received.rcpt_tos[0]: received for received in inbox.received}
        assert Counter(received.rcpt_tos[0] for received in inbox.received) == Counter(
            {ANN: 1, BOB: 1, CY: 1}
        )
        for address, received in mails.items():
            assert received.rcpt_tos == [address]
            assert received.message["To"] == address
            assert received.message["Cc"] is None and received.message["Bcc"] is None
