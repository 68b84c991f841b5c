"""The SES notifier against moto's SES server on 127.0.0.1, and a fake SES for its errors."""

from __future__ import annotations

import asyncio
import logging
import math
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from moto.server import ThreadedMotoServer

from app.core.config import Settings
from app.core.http import tls_context
from app.core.interfaces import DeliveryOutcome, Notifier, OutgoingMessage
from app.main import create_app
from app.plugins.ses.notifier import SesNotifier, aws_session
from app.plugins.ses.plugin import register_notifiers
from app.plugins.ses.settings import SesSettings
from app.plugins.ses.tests.fake_ses import FakeSes, SesError
from tests.fakes.server import LiveServer
from tests.fault_proxy import FaultProxy

SENDER = "My Service <no-reply@mail.example.com>"
SENDER_DOMAIN = "mail.example.com"
REGION = "eu-west-1"
ACCESS_KEY_ID = "AKIATESTSESNOTIFIER"
SECRET_ACCESS_KEY = "ses-test-secret-access-key-do-not-log-0123456789"

WELCOME = OutgoingMessage(
    channel="email",
    to=["jane@example.com", "joe@example.org"],
    subject="Welcome aboard",
    text="Hello Jane, welcome.",
    html="<p>Hello <b>Jane</b>, welcome.</p>",
    id="41",
)


@pytest.fixture(autouse=True)
def no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Neither the project's `.env` nor the shell may decide these tests.
    monkeypatch.setitem(SesSettings.model_config, "env_file", None)
    for name in [
        "SES_REGION",
        "SES_SENDER",
        "SES_CONFIGURATION_SET",
        "SES_ENDPOINT_URL",
        "SES_ACCESS_KEY_ID",
        "SES_SECRET_ACCESS_KEY",
        "SES_CONNECT_TIMEOUT_SECONDS",
        "SES_READ_TIMEOUT_SECONDS",
    ]:
        monkeypatch.delenv(name, raising=False)


def ses_settings(endpoint_url: str, **values: Any) -> SesSettings:
    defaults: dict[str, Any] = {
        "region": REGION,
        "sender": SENDER,
        "endpoint_url": endpoint_url,
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": SECRET_ACCESS_KEY,
    }
    return SesSettings(_env_file=None, **{**defaults, **values})


class MotoSes:
    """moto's SES server, spoken to through its own HTTP API only."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def reset(self) -> None:
        async with httpx.AsyncClient(verify=tls_context()) as client:
            (await client.post(f"{self.url}/moto-api/reset")).raise_for_status()

    async def verify_identity(self, identity: str) -> None:
        async with aws_session().client(
            "sesv2",
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        ) as sesv2:
            await sesv2.create_email_identity(EmailIdentity=identity)

    async def sent_messages(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(verify=tls_context()) as client:
            response = await client.get(f"{self.url}/moto-api/data.json")
        response.raise_for_status()
        messages: list[dict[str, Any]] = response.json()["ses"]["Message"]
        return messages


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
async def moto(moto_url: str) -> MotoSes:
    ses = MotoSes(moto_url)
    await ses.reset()
    await ses.verify_identity(SENDER_DOMAIN)
    return ses


@pytest.fixture
async def notifier(moto: MotoSes) -> AsyncIterator[SesNotifier]:
    ses = SesNotifier(ses_settings(moto.url))
    await ses.open()
    yield ses
    await ses.close()


@pytest.fixture
def fake_ses() -> Iterator[tuple[FakeSes, str]]:
    fake = FakeSes()
    with LiveServer(fake.app(), on_stop=fake.close) as server:
        yield fake, server.url


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_a_message_reaches_ses_with_its_subject_body_and_recipients(
    moto: MotoSes, notifier: SesNotifier
) -> None:
    result = await notifier.send(WELCOME)

    assert result.outcome is DeliveryOutcome.DELIVERED
    [sent] = await moto.sent_messages()
    assert result.provider_message_id == sent["id"]
    assert sent["source"] == SENDER
    assert sent["subject"] == "Welcome aboard"
    assert sent["destinations"] == {"BccAddresses": ["jane@example.com", "joe@example.org"]}
    # moto keeps the html part when there is one.
    assert sent["body"] == "<p>Hello <b>Jane</b>, welcome.</p>"


async def test_a_text_only_message_keeps_its_text(moto: MotoSes, notifier: SesNotifier) -> None:
    message = OutgoingMessage(channel="email", to=["ann@example.com"], subject="Code", text="1234")
    result = await notifier.send(message)
    assert result.outcome is DeliveryOutcome.DELIVERED
    [sent] = await moto.sent_messages()
    assert (sent["subject"], sent["body"]) == ("Code", "1234")
    assert sent["destinations"] == {"ToAddresses": ["ann@example.com"]}


async def test_one_client_serves_every_send(moto: MotoSes, notifier: SesNotifier) -> None:
    client = notifier.client
    assert client is not None and notifier.clients_created == 1

    messages = [
        OutgoingMessage(channel="email", to=[f"user{n}@example.com"], subject=f"#{n}", text="hi")
        for n in range(30)
    ]
    results = await asyncio.gather(*(notifier.send(message) for message in messages))

    assert all(result.outcome is DeliveryOutcome.DELIVERED for result in results)
    assert notifier.client is client and notifier.clients_created == 1
    sent = await moto.sent_messages()
    assert sorted(message["subject"] for message in sent) == sorted(f"#{n}" for n in range(30))
    assert len({result.provider_message_id for result in results}) == 30


async def test_without_startup_the_first_sends_open_one_client(moto: MotoSes) -> None:
    notifier = SesNotifier(ses_settings(moto.url))
    assert notifier.client is None
    try:
        results = await asyncio.gather(*(notifier.send(WELCOME) for _ in range(5)))
        assert all(result.outcome is DeliveryOutcome.DELIVERED for result in results)
        assert notifier.clients_created == 1
    finally:
        await notifier.close()
    assert notifier.client is None
    assert len(await moto.sent_messages()) == 5


async def test_an_unverified_sender_is_a_permanent_failure(moto: MotoSes) -> None:
    notifier = SesNotifier(ses_settings(moto.url, sender="someone@unverified.example.net"))
    try:
        result = await notifier.send(WELCOME)
    finally:
        await notifier.close()
    assert result.outcome is DeliveryOutcome.PERMANENT
    assert result.error and "MessageRejected" in result.error
    assert await moto.sent_messages() == []


async def test_the_app_opens_the_client_at_startup_and_closes_it_at_shutdown(
    moto: MotoSes, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SES_SENDER", SENDER)
    monkeypatch.setenv("SES_REGION", REGION)
    monkeypatch.setenv("SES_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("SES_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("SES_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    settings = Settings(
        _env_file=None,
        environment="test",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ses.db'}",
        secret_key="ses-plugin-test-secret-key-0123456789abcdef",
    )
    app = create_app(settings)
    [notifier] = [
        n for n in app.state.runtime.plugins.notifiers["email"] if isinstance(n, SesNotifier)
    ]
    assert notifier in app.state.runtime.plugins.notifiers["email"]
    assert notifier.client is None

    async with app.router.lifespan_context(app):
        assert notifier.clients_created == 1
        client = notifier.client
        for n in range(3):
            message = OutgoingMessage(
                channel="email", to=["a@example.com"], subject=f"#{n}", text="."
            )
            assert (await notifier.send(message)).outcome is DeliveryOutcome.DELIVERED
        assert notifier.client is client and notifier.clients_created == 1

    assert notifier.client is None
    assert len(await moto.sent_messages()) == 3
    await app.state.runtime.database.dispose()


def test_without_a_sender_it_loads_but_is_not_configured() -> None:
    [notifier] = register_notifiers(settings=Settings(_env_file=None))
    assert isinstance(notifier, Notifier)
    assert (notifier.name, notifier.channel) == ("ses", "email")
    assert notifier.is_configured is False and notifier.is_stand_in is False


async def test_an_unconfigured_notifier_fails_permanently_without_calling_ses() -> None:
    notifier = SesNotifier(SesSettings(_env_file=None))
    result = await notifier.send(WELCOME)
    assert result.outcome is DeliveryOutcome.PERMANENT
    assert result.error and "SES_SENDER" in result.error
    assert notifier.clients_created == 0


def test_recipients_must_be_email_addresses() -> None:
    notifier = SesNotifier(SesSettings(_env_file=None))
    assert notifier.check_recipient("jane@example.com") is None
    for bad in ["jane", "jane@", "@example.com", "jane@exa mple.com", ""]:
        assert notifier.check_recipient(bad), bad


async def test_the_request_carries_the_configuration_set_and_both_bodies(
    fake_ses: tuple[FakeSes, str],
) -> None:
    fake, url = fake_ses
    notifier = SesNotifier(ses_settings(url, configuration_set="transactional"))
    try:
        result = await notifier.send(WELCOME)
    finally:
        await notifier.close()
    assert result.outcome is DeliveryOutcome.DELIVERED
    assert result.provider_message_id == "fake-0"
    [request] = fake.requests
    assert request["FromEmailAddress"] == SENDER
    assert request["ConfigurationSetName"] == "transactional"
    # Given several recipients at once, none sees the others (delivery sends one each).
    assert request["Destination"] == {"BccAddresses": ["jane@example.com", "joe@example.org"]}
    simple = request["Content"]["Simple"]
    assert simple["Subject"]["Data"] == "Welcome aboard"
    assert simple["Body"]["Text"]["Data"] == "Hello Jane, welcome."
    assert simple["Body"]["Html"]["Data"] == "<p>Hello <b>Jane</b>, welcome.</p>"
    assert request["EmailTags"] == [{"Name": "notification_id", "Value": "41"}]


async def test_no_configuration_set_is_sent_when_none_is_set(
    fake_ses: tuple[FakeSes, str],
) -> None:
    fake, url = fake_ses
    notifier = SesNotifier(ses_settings(url))
    try:
        await notifier.send(WELCOME)
    finally:
        await notifier.close()
    assert "ConfigurationSetName" not in fake.requests[0]


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (SesError(429, "TooManyRequestsException"), DeliveryOutcome.RETRYABLE),
        (SesError(400, "Throttling"), DeliveryOutcome.RETRYABLE),
        (SesError(400, "LimitExceededException"), DeliveryOutcome.RETRYABLE),
        (SesError(500, "InternalFailure"), DeliveryOutcome.RETRYABLE),
        (SesError(503, None), DeliveryOutcome.RETRYABLE),
        (SesError(400, "MessageRejected"), DeliveryOutcome.PERMANENT),
        (SesError(400, "MailFromDomainNotVerifiedException"), DeliveryOutcome.PERMANENT),
        (SesError(400, "BadRequestException"), DeliveryOutcome.PERMANENT),
        (SesError(403, "AccessDeniedException"), DeliveryOutcome.PERMANENT),
        (SesError(404, "NotFoundException"), DeliveryOutcome.PERMANENT),
    ],
    ids=lambda value: str(value.code or value.status) if isinstance(value, SesError) else value,
)
async def test_ses_errors_map_to_retryable_or_permanent(
    fake_ses: tuple[FakeSes, str], error: SesError, outcome: DeliveryOutcome
) -> None:
    fake, url = fake_ses
    fake.error = error
    notifier = SesNotifier(ses_settings(url))
    try:
        result = await notifier.send(WELCOME)
    finally:
        await notifier.close()
    assert result.outcome is outcome
    assert result.provider_message_id is None
    assert result.error and str(error.status) in result.error
    if error.code:
        assert error.code in result.error
    # One call per send: retrying, with backoff, is the delivery queue's job.
    assert len(fake.requests) == 1


async def test_a_slow_ses_is_an_unknown_outcome_asked_once(
    fake_ses: tuple[FakeSes, str],
) -> None:
    fake, url = fake_ses
    # Its answer comes only when its server stops, after the test: only the client's read
    # timeout can end the send, however slow the machine.
    fake.delay_seconds = math.inf
    notifier = SesNotifier(ses_settings(url, read_timeout_seconds=0.3))
    await notifier.open()
    try:
        started = asyncio.get_running_loop().time()
        async with asyncio.timeout(60):  # a client that waited for the answer fails here
            result = await notifier.send(WELCOME)
        waited = asyncio.get_running_loop().time() - started
    finally:
        await notifier.close()
    # SES had the request: it may have sent the mail, so the outcome is unknown, and the
    # AWS client did not ask a second time.
    assert result.outcome is DeliveryOutcome.UNKNOWN
    assert result.error and "timeout" in result.error.lower()
    await wait_for(lambda: len(fake.requests) >= 1)  # the fake's thread may lag the client
    assert len(fake.requests) == 1
    # The 0.3 s asked for ended it, not the default 10 s (the slack is for a busy machine).
    assert waited < 5


async def test_a_connection_dropped_after_the_request_is_an_unknown_outcome() -> None:
    # SES holds its answer until its server stops, and the client would wait for it far
    # longer than the test runs: only the dropped connection can end the send.
    fake = FakeSes(delay_seconds=math.inf)
    with LiveServer(fake.app(), on_stop=fake.close) as server:
        proxy = FaultProxy("127.0.0.1", server.port)
        await proxy.start()
        notifier = SesNotifier(
            ses_settings(f"http://127.0.0.1:{proxy.port}", read_timeout_seconds=3600)
        )
        try:
            sending = asyncio.create_task(notifier.send(WELCOME))
            await wait_for(lambda: len(fake.accepted) == 1)
            proxy.cut_connections()  # SES has the mail; its answer never comes
            async with asyncio.timeout(60):
                result = await sending
        finally:
            await notifier.close()
            await proxy.close()
    assert result.outcome is DeliveryOutcome.UNKNOWN
    assert result.error and "timeout" not in result.error.lower()
    assert len(fake.requests) == 1


async def wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.01)


async def test_an_endpoint_that_is_down_is_retryable() -> None:
    notifier = SesNotifier(ses_settings(f"http://127.0.0.1:{closed_port()}"))
    try:
        result = await notifier.send(WELCOME)
    finally:
        await notifier.close()
    assert result.outcome is DeliveryOutcome.RETRYABLE
    assert result.error and "unreachable" in result.error


async def test_the_same_client_delivers_again_once_ses_recovers(
    fake_ses: tuple[FakeSes, str],
) -> None:
    fake, url = fake_ses
    notifier = SesNotifier(ses_settings(url))
    await notifier.open()
    try:
        fake.error = SesError(503, None)
        assert (await notifier.send(WELCOME)).outcome is DeliveryOutcome.RETRYABLE
        fake.error = None
        assert (await notifier.send(WELCOME)).outcome is DeliveryOutcome.DELIVERED
        assert notifier.clients_created == 1
    finally:
        await notifier.close()


async def test_secrets_stay_out_of_the_logs(
    moto: MotoSes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        notifier = SesNotifier(ses_settings(moto.url))
        await notifier.open()
        try:
            assert (await notifier.send(WELCOME)).outcome is DeliveryOutcome.DELIVERED
        finally:
            await notifier.close()
    assert "SES client ready" in caplog.text
    assert SECRET_ACCESS_KEY not in caplog.text
