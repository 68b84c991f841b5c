"""The SMTP notifier against a local aiosmtpd server: MIME, one connection, TLS, refusals."""

from __future__ import annotations

import asyncio
import logging
import math
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.config import Settings
from app.core.interfaces import DeliveryOutcome, Notifier, OutgoingMessage
from app.main import create_app
from app.plugins.smtp.notifier import SmtpNotifier
from app.plugins.smtp.plugin import register_notifiers
from app.plugins.smtp.settings import SmtpSecurity, SmtpSettings
from app.plugins.smtp.tests.local_smtp import (
    CertificateFiles,
    Inbox,
    LocalSmtpServer,
    PasswordCheck,
    free_port,
    make_certificates,
)

FROM = "My Service <no-reply@service.example.com>"
SMTP_USER = "mailer"
SMTP_PASSWORD = "smtp-test-password-do-not-log-0123456789"

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
    monkeypatch.setitem(SmtpSettings.model_config, "env_file", None)
    for field in SmtpSettings.model_fields:
        monkeypatch.delenv(f"SMTP_{field.upper()}", raising=False)


def smtp_settings(port: int, **values: Any) -> SmtpSettings:
    defaults: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": SmtpSecurity.NONE,
        "from_address": FROM,
        "read_timeout_seconds": 5,
    }
    return SmtpSettings(_env_file=None, **{**defaults, **values})


def message_to(address: str, subject: str = "Hi") -> OutgoingMessage:
    return OutgoingMessage(channel="email", to=[address], subject=subject, text="hello")


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def server(inbox: Inbox) -> Iterator[LocalSmtpServer]:
    with LocalSmtpServer(inbox) as running:
        yield running


@pytest.fixture
async def notifier(server: LocalSmtpServer) -> AsyncIterator[SmtpNotifier]:
    smtp = SmtpNotifier(smtp_settings(server.port))
    yield smtp
    await smtp.close()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    return make_certificates(tmp_path_factory.mktemp("smtp-tls"))


async def test_a_message_arrives_as_text_with_an_html_alternative(
    inbox: Inbox, notifier: SmtpNotifier
) -> None:
    result = await notifier.send(WELCOME)

    assert result.outcome is DeliveryOutcome.DELIVERED and result.error is None
    [received] = inbox.received
    assert received.mail_from == "no-reply@service.example.com"
    assert received.rcpt_tos == ["jane@example.com", "joe@example.org"]
    mail = received.message
    assert mail["From"] == FROM
    # Given several recipients at once, none sees the others (delivery sends one each).
    assert mail["To"] == "undisclosed-recipients:;"
    assert mail["Cc"] is None and mail["Bcc"] is None
    assert mail["Subject"] == "Welcome aboard"
    assert mail["Date"]
    assert mail["Message-ID"] == result.provider_message_id
    assert mail["X-Notification-ID"] == "41"
    assert mail.get_content_type() == "multipart/alternative"
    text, html = mail.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert text.get_content().strip() == "Hello Jane, welcome."
    assert html.get_content_type() == "text/html"
    assert html.get_content().strip() == "<p>Hello <b>Jane</b>, welcome.</p>"


async def test_a_text_only_message_is_a_single_text_part(
    inbox: Inbox, notifier: SmtpNotifier
) -> None:
    message = OutgoingMessage(
        channel="email", to=["ann@example.com"], subject="Café", text="Ça va? 안녕"
    )
    assert (await notifier.send(message)).outcome is DeliveryOutcome.DELIVERED
    mail = inbox.received[0].message
    assert mail.get_content_type() == "text/plain"
    assert mail["Subject"] == "Café"
    assert mail.get_content().strip() == "Ça va? 안녕"


async def test_an_html_only_message_is_a_single_html_part(
    inbox: Inbox, notifier: SmtpNotifier
) -> None:
    message = OutgoingMessage(channel="email", to=["ann@example.com"], html="<p>Hi</p>")
    assert (await notifier.send(message)).outcome is DeliveryOutcome.DELIVERED
    mail = inbox.received[0].message
    assert mail.get_content_type() == "text/html"
    assert mail.get_content().strip() == "<p>Hi</p>"


async def test_many_messages_share_one_connection(inbox: Inbox, notifier: SmtpNotifier) -> None:
    for n in range(3):
        assert (await notifier.send(message_to(f"a{n}@example.com"))).outcome is (
            DeliveryOutcome.DELIVERED
        )
    burst = [notifier.send(message_to(f"b{n}@example.com", f"#{n}")) for n in range(12)]
    results = await asyncio.gather(*burst)

    assert all(result.outcome is DeliveryOutcome.DELIVERED for result in results)
    assert len(inbox.received) == 15
    assert notifier.connections_opened == 1
    assert len({received.peer for received in inbox.received}) == 1
    assert len({result.provider_message_id for result in results}) == 12


async def test_a_connection_the_server_dropped_is_replaced(inbox: Inbox) -> None:
    with LocalSmtpServer(inbox) as server:
        notifier = SmtpNotifier(smtp_settings(server.port))
        try:
            assert (await notifier.send(message_to("a@example.com"))).outcome is (
                DeliveryOutcome.DELIVERED
            )
            # Servers hang up on connections left idle for a while; this one does when told.
            server.hang_up()
            for _ in range(200):
                if not notifier.is_connected:
                    break
                await asyncio.sleep(0.05)
            assert not notifier.is_connected, "the client never saw the server hang up"
            assert (await notifier.send(message_to("b@example.com"))).outcome is (
                DeliveryOutcome.DELIVERED
            )
        finally:
            await notifier.close()
    assert notifier.connections_opened == 2
    assert [r.rcpt_tos for r in inbox.received] == [["a@example.com"], ["b@example.com"]]
    assert inbox.received[0].peer != inbox.received[1].peer


async def test_a_restarted_server_gets_a_new_connection(inbox: Inbox) -> None:
    server = LocalSmtpServer(inbox)
    server.start()
    notifier = SmtpNotifier(smtp_settings(server.port))
    try:
        assert (await notifier.send(message_to("a@example.com"))).outcome is (
            DeliveryOutcome.DELIVERED
        )
        server.stop()
        server.start()
        await asyncio.sleep(0.1)
        assert (await notifier.send(message_to("b@example.com"))).outcome is (
            DeliveryOutcome.DELIVERED
        )
    finally:
        await notifier.close()
        server.stop()
    assert notifier.connections_opened == 2
    assert len(inbox.received) == 2


async def test_an_idle_connection_is_checked_before_reuse(inbox: Inbox) -> None:
    with LocalSmtpServer(inbox) as server:
        notifier = SmtpNotifier(smtp_settings(server.port, idle_check_seconds=0.1))
        try:
            await notifier.send(message_to("a@example.com"))
            await asyncio.sleep(0.2)
            result = await notifier.send(message_to("b@example.com"))
        finally:
            await notifier.close()
    # The server still had it open: NOOP said so, and the same connection carried on.
    assert result.outcome is DeliveryOutcome.DELIVERED
    assert notifier.connections_opened == 1


async def test_a_send_cut_off_by_a_timeout_leaves_no_broken_connection(
    inbox: Inbox, notifier: SmtpNotifier
) -> None:
    inbox.data_delay = math.inf  # the server's reply to the data is held until it stops
    sending = asyncio.create_task(notifier.send(message_to("slow@example.com")))
    await wait_for_mail(inbox)
    # The caller gives up (a timeout cancels the send) while the server has the data.
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    assert not notifier.is_connected

    inbox.data_delay = 0.0
    result = await notifier.send(message_to("next@example.com"))
    assert result.outcome is DeliveryOutcome.DELIVERED
    assert notifier.connections_opened == 2
    assert ["next@example.com"] in [received.rcpt_tos for received in inbox.received]


async def test_starttls_with_login(inbox: Inbox, certificates: CertificateFiles) -> None:
    tls = LocalSmtpServer(
        inbox,
        tls_context=certificates.server_context(),
        require_starttls=True,
        auth_required=True,
        authenticator=PasswordCheck(SMTP_USER, SMTP_PASSWORD),
    )
    with tls:
        notifier = SmtpNotifier(
            smtp_settings(
                tls.port,
                security=SmtpSecurity.STARTTLS,
                ca_file=str(certificates.ca_file),
                username=SMTP_USER,
                password=SMTP_PASSWORD,
            )
        )
        try:
            results = [await notifier.send(message_to(f"u{n}@example.com")) for n in range(3)]
        finally:
            await notifier.close()
    assert [result.outcome for result in results] == [DeliveryOutcome.DELIVERED] * 3
    assert all(received.over_tls for received in inbox.received)
    assert {received.login for received in inbox.received} == {SMTP_USER}
    assert notifier.connections_opened == 1
    assert inbox.quits == 1


async def test_a_wrong_password_is_permanent(inbox: Inbox, certificates: CertificateFiles) -> None:
    tls = LocalSmtpServer(
        inbox,
        tls_context=certificates.server_context(),
        auth_required=True,
        authenticator=PasswordCheck(SMTP_USER, SMTP_PASSWORD),
    )
    with tls:
        notifier = SmtpNotifier(
            smtp_settings(
                tls.port,
                security=SmtpSecurity.STARTTLS,
                ca_file=str(certificates.ca_file),
                username=SMTP_USER,
                password="not-the-password",
            )
        )
        try:
            result = await notifier.send(WELCOME)
        finally:
            await notifier.close()
    assert result.outcome is DeliveryOutcome.PERMANENT
    assert result.error and "535" in result.error
    assert inbox.received == []


async def test_an_untrusted_certificate_is_refused(
    inbox: Inbox, certificates: CertificateFiles
) -> None:
    with LocalSmtpServer(inbox, tls_context=certificates.server_context()) as tls:
        # No ca_file: the test CA is unknown, so the server's certificate is not believed.
        notifier = SmtpNotifier(smtp_settings(tls.port, security=SmtpSecurity.STARTTLS))
        try:
            result = await notifier.send(WELCOME)
        finally:
            await notifier.close()
    assert result.outcome is DeliveryOutcome.RETRYABLE
    assert result.error and "certificate" in result.error.lower()
    assert inbox.received == []


async def test_security_none_does_not_upgrade(inbox: Inbox, certificates: CertificateFiles) -> None:
    tls = LocalSmtpServer(inbox, tls_context=certificates.server_context(), require_starttls=True)
    with tls:
        notifier = SmtpNotifier(smtp_settings(tls.port, security=SmtpSecurity.NONE))
        try:
            result = await notifier.send(WELCOME)
        finally:
            await notifier.close()
    # The server insists on STARTTLS (530), which a plain-text setting will not do.
    assert result.outcome is DeliveryOutcome.PERMANENT
    assert result.error and "530" in result.error
    assert inbox.received == []


async def test_implicit_tls(inbox: Inbox, certificates: CertificateFiles) -> None:
    with LocalSmtpServer(inbox, ssl_context=certificates.server_context()) as tls:
        notifier = SmtpNotifier(
            smtp_settings(tls.port, security=SmtpSecurity.SSL, ca_file=str(certificates.ca_file))
        )
        try:
            result = await notifier.send(WELCOME)
        finally:
            await notifier.close()
    assert result.outcome is DeliveryOutcome.DELIVERED
    [received] = inbox.received
    assert received.message["Subject"] == "Welcome aboard"


async def test_a_refused_recipient_is_permanent(inbox: Inbox, notifier: SmtpNotifier) -> None:
    inbox.refuse["ghost@example.com"] = "550 5.1.1 No such user"
    result = await notifier.send(message_to("ghost@example.com"))
    assert result.outcome is DeliveryOutcome.PERMANENT
    assert result.error and "550" in result.error and "ghost@example.com" in result.error
    assert inbox.received == []
    # The connection is still good for the next message.
    assert (await notifier.send(message_to("jane@example.com"))).outcome is (
        DeliveryOutcome.DELIVERED
    )
    assert notifier.connections_opened == 1


async def test_a_temporarily_refused_recipient_is_retryable(
    inbox: Inbox, notifier: SmtpNotifier
) -> None:
    inbox.refuse["busy@example.com"] = "450 4.2.1 Mailbox busy, try later"
    result = await notifier.send(message_to("busy@example.com"))
    assert result.outcome is DeliveryOutcome.RETRYABLE
    assert result.error and "450" in result.error


async def test_one_refused_recipient_of_two_is_reported_not_resent(
    inbox: Inbox, notifier: SmtpNotifier
) -> None:
    inbox.refuse["joe@example.org"] = "550 5.1.1 No such user"
    result = await notifier.send(WELCOME)
    # Jane has it; a retry would mail her twice.
    assert result.outcome is DeliveryOutcome.DELIVERED
    assert result.error and "joe@example.org" in result.error and "550" in result.error
    [received] = inbox.received
    assert received.rcpt_tos == ["jane@example.com"]


async def test_a_reply_that_never_comes_after_the_data_is_unknown(
    inbox: Inbox, server: LocalSmtpServer
) -> None:
    # The reply to the data never comes (held until the server stops). The read timeout
    # bounds every reply of the conversation, and the others must come within it even on
    # a busy machine: 2 s, not a fraction of one.
    inbox.data_delay = math.inf
    notifier = SmtpNotifier(smtp_settings(server.port, read_timeout_seconds=2))
    try:
        async with asyncio.timeout(60):  # a client that waited for the reply fails here
            result = await notifier.send(message_to("slow@example.com"))
    finally:
        await notifier.close()
    # The server has the mail; its "250" came too late: sending again would be a second mail.
    assert result.outcome is DeliveryOutcome.UNKNOWN
    assert result.error and "did not confirm" in result.error
    assert [received.rcpt_tos for received in inbox.received] == [["slow@example.com"]]


async def test_a_connection_dropped_after_the_data_is_unknown(
    inbox: Inbox, server: LocalSmtpServer
) -> None:
    # The reply is held until the server stops and the client would wait for it far longer
    # than the test runs: only the dropped connection can end the send.
    inbox.data_delay = math.inf
    notifier = SmtpNotifier(smtp_settings(server.port, read_timeout_seconds=3600))
    try:
        sending = asyncio.create_task(notifier.send(message_to("cut@example.com")))
        await wait_for_mail(inbox)
        server.hang_up()  # the server has the mail; the connection goes before its reply
        async with asyncio.timeout(60):
            result = await sending
    finally:
        await notifier.close()
    assert result.outcome is DeliveryOutcome.UNKNOWN
    assert result.error and "timed out" not in result.error.lower()
    assert len(inbox.received) == 1


async def wait_for_mail(inbox: Inbox, seconds: float = 30.0) -> None:
    """Until the server has a message's data (its reply to the data may still be held)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not inbox.received:
        assert asyncio.get_running_loop().time() < deadline, "the mail never arrived"
        await asyncio.sleep(0.01)


async def test_a_refusal_before_the_data_stays_retryable(
    inbox: Inbox, notifier: SmtpNotifier
) -> None:
    inbox.refuse["later@example.com"] = "451 4.3.0 Try again later"
    result = await notifier.send(message_to("later@example.com"))
    assert result.outcome is DeliveryOutcome.RETRYABLE
    assert inbox.received == []


async def test_a_server_that_is_down_is_retryable() -> None:
    notifier = SmtpNotifier(smtp_settings(free_port()))
    result = await notifier.send(WELCOME)
    assert result.outcome is DeliveryOutcome.RETRYABLE
    assert result.error and "unreachable" in result.error
    assert not notifier.is_connected


async def test_a_server_that_never_answers_times_out_as_retryable() -> None:
    # Accepts the TCP connection (the kernel does) but never says hello.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        notifier = SmtpNotifier(smtp_settings(silent.getsockname()[1], connect_timeout_seconds=0.3))
        started = asyncio.get_running_loop().time()
        result = await notifier.send(WELCOME)
        waited = asyncio.get_running_loop().time() - started
    assert result.outcome is DeliveryOutcome.RETRYABLE
    # The 0.3 s asked for ended it, not the default 10 s (the slack is for a busy machine).
    assert waited < 5


async def test_a_line_break_in_the_subject_is_refused_before_sending(
    inbox: Inbox, notifier: SmtpNotifier
) -> None:
    message = OutgoingMessage(
        channel="email", to=["a@example.com"], subject="Hi\r\nBcc: all@example.com", text="x"
    )
    result = await notifier.send(message)
    assert result.outcome is DeliveryOutcome.PERMANENT
    assert inbox.received == []


def test_without_host_and_sender_it_loads_but_is_not_configured() -> None:
    [notifier] = register_notifiers(settings=Settings(_env_file=None))
    assert isinstance(notifier, Notifier)
    assert (notifier.name, notifier.channel) == ("smtp", "email")
    assert notifier.is_configured is False and notifier.is_stand_in is False
    host_only = SmtpSettings(_env_file=None, host="mail.example.com")
    assert SmtpNotifier(host_only).is_configured is False


async def test_an_unconfigured_notifier_fails_permanently() -> None:
    result = await SmtpNotifier(SmtpSettings(_env_file=None)).send(WELCOME)
    assert result.outcome is DeliveryOutcome.PERMANENT
    assert result.error and "SMTP_HOST" in result.error


def test_the_port_follows_the_security_unless_set() -> None:
    assert SmtpSettings(_env_file=None, security="none").server_port == 25
    assert SmtpSettings(_env_file=None, security="starttls").server_port == 587
    assert SmtpSettings(_env_file=None, security="ssl").server_port == 465
    assert SmtpSettings(_env_file=None, security="ssl", port=2465).server_port == 2465


def test_recipients_must_be_email_addresses() -> None:
    notifier = SmtpNotifier(SmtpSettings(_env_file=None))
    assert notifier.check_recipient("jane@example.com") is None
    for bad in ["jane", "jane@", "@example.com", "jane@exa mple.com"]:
        assert notifier.check_recipient(bad), bad


async def test_the_app_closes_the_connection_at_shutdown(
    inbox: Inbox, server: LocalSmtpServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(server.port))
    monkeypatch.setenv("SMTP_SECURITY", "none")
    monkeypatch.setenv("SMTP_FROM_ADDRESS", FROM)
    settings = Settings(
        _env_file=None,
        environment="test",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'smtp.db'}",
        secret_key="smtp-plugin-test-secret-key-0123456789abcdef",
    )
    app = create_app(settings)
    [notifier] = [
        n for n in app.state.runtime.plugins.notifiers["email"] if isinstance(n, SmtpNotifier)
    ]
    assert notifier in app.state.runtime.plugins.notifiers["email"]

    async with app.router.lifespan_context(app):
        # The service starts without connecting; the first message connects.
        assert not notifier.is_connected
        for n in range(3):
            assert (await notifier.send(message_to(f"u{n}@example.com"))).outcome is (
                DeliveryOutcome.DELIVERED
            )
        assert notifier.is_connected

    assert not notifier.is_connected
    assert notifier.connections_opened == 1
    assert inbox.quits == 1
    await app.state.runtime.database.dispose()


async def test_the_password_stays_out_of_the_logs(
    inbox: Inbox, certificates: CertificateFiles, caplog: pytest.LogCaptureFixture
) -> None:
    tls = LocalSmtpServer(
        inbox,
        tls_context=certificates.server_context(),
        auth_required=True,
        authenticator=PasswordCheck(SMTP_USER, SMTP_PASSWORD),
    )
    with caplog.at_level(logging.DEBUG), tls:
        notifier = SmtpNotifier(
            smtp_settings(
                tls.port,
                security=SmtpSecurity.STARTTLS,
                ca_file=str(certificates.ca_file),
                username=SMTP_USER,
                password=SMTP_PASSWORD,
            )
        )
        try:
            assert (await notifier.send(WELCOME)).outcome is DeliveryOutcome.DELIVERED
        finally:
            await notifier.close()
    assert "SMTP connection open" in caplog.text
    assert SMTP_PASSWORD not in caplog.text
