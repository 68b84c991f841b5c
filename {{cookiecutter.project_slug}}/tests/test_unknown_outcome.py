"""A provider that may have sent a message is not asked to send it again; several
recipients never see each other.

Driven through the signed API with the service's own delivery, against local stand-ins
on 127.0.0.1: a fake SES, an aiosmtpd server and a fake of Kakao's memo API. A timeout
after the request reached the provider leaves the outcome unknown: the notification ends
`unknown` after one send, for an operator to decide. A provider refusing connections
(nothing was sent) is retried until it is back. Email to several addresses goes out as
one mail per address, and a retry after a partial failure sends only to those who do not
have it yet.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI

from app.core.database import Database
from app.main import create_app
from app.models.notification import Notification
from app.models.oauth_account import OAuthAccount
from app.plugins.kakaotalk.settings import KakaoTalkSettings
from app.plugins.kakaotalk.tests.fake_kakao import FakeKakaoTalk
from app.plugins.ses.settings import SesSettings
from app.plugins.ses.tests.fake_ses import FakeSes, SesError
from app.plugins.smtp.settings import SmtpSettings
from app.plugins.smtp.tests.local_smtp import Inbox, LocalSmtpServer, free_port
from tests.conftest import SettingsFactory, reset_database
from tests.fakes.server import LiveServer
from tests.outbox_support import (
    FAST_DELIVERY,
    NOTIFICATIONS,
    Caller,
    all_finished,
    email,
    new_caller,
    rows,
    signed_client,
    wait_until,
)

SENDER = "My Service <no-reply@mail.example.com>"
# Short, so that a provider answering after 1 s is past it. Set only where a slow answer
# is the point: elsewhere a busy machine must not turn a normal answer into an unknown.
READ_TIMEOUT = "0.5"
SLOW_ANSWER_SECONDS = 1.0
ANN, BOB, CY = "ann@example.com", "bob@example.org", "cy@example.net"


@pytest.fixture(autouse=True)
def no_outside_mail_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    plugins = ((SesSettings, "SES_"), (SmtpSettings, "SMTP_"), (KakaoTalkSettings, "KAKAOTALK_"))
    for settings_class, prefix in plugins:
        monkeypatch.setitem(settings_class.model_config, "env_file", None)
        for name in settings_class.model_fields:
            monkeypatch.delenv(f"{prefix}{name.upper()}", raising=False)


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


def use_smtp(monkeypatch: pytest.MonkeyPatch, port: int, read_timeout: str = "10") -> None:
    for name, value in {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_SECURITY": "none",
        "SMTP_FROM_ADDRESS": SENDER,
        "SMTP_READ_TIMEOUT_SECONDS": read_timeout,
    }.items():
        monkeypatch.setenv(name, value)


@asynccontextmanager
async def running(make_settings: SettingsFactory, attempts: int) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(max_delivery_attempts=attempts, **FAST_DELIVERY))
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        await reset_database(application.state.database)


async def post_email(application: FastAPI, to: list[str]) -> tuple[Caller, int]:
    caller = await new_caller(application)
    async with signed_client(application, caller) as client:
        response = await client.post(NOTIFICATIONS, json=email(to=to))
    assert response.status_code == 202, response.text
    notification_id: int = response.json()["id"]
    return caller, notification_id


async def finished(application: FastAPI, notification_id: int) -> Notification:
    database: Database = application.state.database
    await wait_until(lambda: all_finished(database, [notification_id]), 20, "finished")
    return (await rows(database, [notification_id]))[notification_id]


async def waiting_for_a_retry(application: FastAPI, notification_id: int, reason: str) -> None:
    """Until the row is back in the queue after a failed attempt that names `reason`."""
    database: Database = application.state.database

    async def retrying() -> bool:
        row = (await rows(database, [notification_id]))[notification_id]
        return row.status == "queued" and row.attempts >= 1 and reason in (row.last_error or "")

    await wait_until(retrying, 20, f"queued again after {reason!r}")


async def listed(application: FastAPI, caller: Caller, status: str) -> list[Any]:
    """The caller's notifications with `?status=`, through the signed API."""
    async with signed_client(application, caller) as client:
        response = await client.get(NOTIFICATIONS, params={"status": status})
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


def assert_unknown(row: Notification) -> None:
    assert row.status == "unknown", (row.status, row.last_error)
    assert row.attempts == 1
    assert row.delivered_at is None
    assert row.next_attempt_at is None
    assert "unknown" in (row.last_error or "")


# --- SES -------------------------------------------------------------------------------


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
    fake.delay_seconds = SLOW_ANSWER_SECONDS
    use_ses(monkeypatch, server.url, read_timeout=READ_TIMEOUT)
    async with running(make_settings, attempts=4) as application:
        caller, notification_id = await post_email(application, [ANN])

        row = await finished(application, notification_id)

        assert_unknown(row)
        # SES took the mail, once: neither the AWS client nor the outbox asked again.
        await wait_until(lambda: len(fake.accepted) == 1, 5, "the mail taken by SES")
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


# --- SMTP ------------------------------------------------------------------------------


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
    inbox.data_delay = SLOW_ANSWER_SECONDS
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


# --- KakaoTalk --------------------------------------------------------------------------

KAKAO_CLIENT_ID = "unknown-outcome-rest-api-key"


@pytest.fixture
def fake_kakao(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKakaoTalk]:
    fake = FakeKakaoTalk(client_id=KAKAO_CLIENT_ID)
    with LiveServer(fake.app(), on_stop=fake.close) as server:
        for name, value in {
            "KAKAOTALK_CLIENT_ID": KAKAO_CLIENT_ID,
            "KAKAOTALK_API_BASE_URL": server.url,
            "KAKAOTALK_AUTH_BASE_URL": server.url,
        }.items():
            monkeypatch.setenv(name, value)
        yield fake


async def post_memo_to_self(application: FastAPI, kakao: FakeKakaoTalk) -> tuple[Caller, int]:
    """A caller whose account is linked to Kakao sends a KakaoTalk message to itself."""
    caller = await new_caller(application)
    access, refresh = kakao.issue("4200000001")
    database: Database = application.state.database
    async with database.sessionmaker() as session:
        await OAuthAccount.create(
            session=session,
            oauth_name="kakao",
            access_token=access,
            refresh_token=refresh,
            expires_at=int(time.time()) + 3600,
            account_id="4200000001",
            account_email=f"kakao-{caller.user_id}@example.com",
            user_id=caller.user_id,
        )
        await session.commit()
    message = {"channel": "kakaotalk", "to": [f"user:{caller.user_id}"], "text": "hello"}
    async with signed_client(application, caller) as client:
        response = await client.post(NOTIFICATIONS, json=message)
    assert response.status_code == 202, response.text
    notification_id: int = response.json()["id"]
    return caller, notification_id


async def test_kakao_answering_after_the_read_timeout_sends_once_and_ends_unknown(
    fake_kakao: FakeKakaoTalk, make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_kakao.memo_delay_seconds = SLOW_ANSWER_SECONDS
    monkeypatch.setenv("KAKAOTALK_READ_TIMEOUT_SECONDS", READ_TIMEOUT)
    async with running(make_settings, attempts=4) as application:
        caller, notification_id = await post_memo_to_self(application, fake_kakao)

        row = await finished(application, notification_id)

        assert_unknown(row)
        assert [memo.kakao_id for memo in fake_kakao.memos] == ["4200000001"]
        assert fake_kakao.memo_calls == 1
        assert [item["id"] for item in await listed(application, caller, "unknown")] == [
            notification_id
        ]


async def test_kakao_failing_before_the_memo_is_retried_until_delivered_once(
    fake_kakao: FakeKakaoTalk, make_settings: SettingsFactory
) -> None:
    fake_kakao.memo_failure = 503
    async with running(make_settings, attempts=100) as application:
        _, notification_id = await post_memo_to_self(application, fake_kakao)
        await waiting_for_a_retry(application, notification_id, "HTTP 503")

        fake_kakao.memo_failure = None
        row = await finished(application, notification_id)

        assert row.status == "delivered", row.last_error
        assert row.attempts >= 2
        assert [memo.kakao_id for memo in fake_kakao.memos] == ["4200000001"]
