"""The KakaoTalk notifier against a local fake of Kakao's API, with users in a real database."""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app import PROJECT_SLUG
from app.accounts.linked_accounts import DatabaseLinkedAccounts
from app.accounts.models import OAuthAccount, User
from app.core.config import Settings
from app.core.database import Database
from app.core.interfaces import (
    DeliveryOutcome,
    LinkedAccountsUnavailable,
    Notifier,
    OutgoingMessage,
    PluginPorts,
    Sender,
)
from app.main import create_app
from app.plugins.kakao.client import KakaoUserOAuth2
from app.plugins.kakao.settings import KakaoSettings
from app.plugins.kakao.tests.fake_kakao import CLIENT_ID, TALK_MESSAGE, TALK_SCOPES, FakeKakao
from app.plugins.kakaotalk.notifier import TEXT_LIMIT, KakaoTalkNotifier, memo_text
from app.plugins.kakaotalk.plugin import register_notifiers
from app.plugins.kakaotalk.settings import KakaoTalkSettings
from tests.support import reset_database

LINK = "https://service.example.com/inbox"
PUBLIC_URL = "https://service.example.com"

HELLO = OutgoingMessage(channel="kakaotalk", to=["jane@example.com"], subject="Hi", text="Hello")


@dataclass
class KakaoUser:
    user_id: int
    account_row_id: int
    kakao_id: str
    access_token: str
    refresh_token: str


@pytest.fixture(autouse=True)
def no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Neither the project's `.env` nor the shell may decide these tests.
    for settings in (KakaoTalkSettings, KakaoSettings):
        monkeypatch.setitem(settings.model_config, "env_file", None)
    for field in KakaoTalkSettings.model_fields:
        monkeypatch.delenv(f"KAKAOTALK_{field.upper()}", raising=False)
    for field in KakaoSettings.model_fields:
        monkeypatch.delenv(f"KAKAO_{field.upper()}", raising=False)


def talk_settings(url: str, **values: Any) -> KakaoTalkSettings:
    defaults: dict[str, Any] = {
        "api_base_url": url,
        "link_url": LINK,
        "read_timeout_seconds": 2,
    }
    return KakaoTalkSettings(_env_file=None, **{**defaults, **values})


def sign_in_client(url: str, client_secret: str = "") -> KakaoUserOAuth2:
    """Kakao sign-in's client, which refreshes the tokens, with its token endpoint at `url`."""
    settings = KakaoSettings(
        _env_file=None,
        client_id=CLIENT_ID,
        client_secret=client_secret,
        token_url=f"{url}/oauth/token",
        timeout_seconds=2,
    )
    return KakaoUserOAuth2(settings)


async def new_notifier(
    database: Database, url: str, *, client_secret: str = "", **values: Any
) -> KakaoTalkNotifier:
    notifier = KakaoTalkNotifier(
        talk_settings(url, **values),
        sign_in_client(url, client_secret),
        default_link_url=PUBLIC_URL,
    )
    await notifier.start(PluginPorts(linked_accounts=DatabaseLinkedAccounts(database)))
    return notifier


@pytest.fixture
async def notifier(database: Database, kakao: FakeKakao) -> AsyncIterator[KakaoTalkNotifier]:
    talk = await new_notifier(database, kakao.base_url)
    yield talk
    await talk.close()


async def add_user(
    database: Database,
    email: str,
    *,
    kakao: FakeKakao | None = None,
    expires_in: int = 3600,
    is_active: bool = True,
    provider: str = "kakao",
    talk_consent: bool = True,
) -> KakaoUser:
    """A user of the service; with `kakao`, linked to a Kakao account holding valid tokens
    (that agreed to KakaoTalk messages unless `talk_consent` is False)."""
    kakao_id = str(secrets.randbelow(10**9) + 10**9)
    scopes = TALK_SCOPES if talk_consent else TALK_SCOPES - {TALK_MESSAGE}
    access, refresh = kakao.issue(kakao_id, scopes) if kakao else ("unused", "unused")
    async with database.sessionmaker() as session:
        user = await User.create(
            session=session,
            email=email,
            hashed_password="not-a-real-hash",
            is_active=is_active,
            is_verified=True,
        )
        account_row_id = 0
        if kakao is not None or provider != "kakao":
            account = await OAuthAccount.create(
                session=session,
                oauth_name=provider,
                access_token=access,
                refresh_token=refresh,
                expires_at=int(time.time()) + expires_in,
                account_id=kakao_id,
                account_email=email,
                user_id=user.id,
            )
            account_row_id = account.id
        await session.commit()
        return KakaoUser(user.id, account_row_id, kakao_id, access, refresh)


async def stored_account(database: Database, account_row_id: int) -> OAuthAccount:
    async with database.sessionmaker() as session:
        account = await session.get(OAuthAccount, account_row_id)
        assert account is not None
        return account


def message_to(*recipients: str, **values: Any) -> OutgoingMessage:
    return OutgoingMessage(
        channel="kakaotalk", to=list(recipients), **{"subject": "Hi", "text": "Hello", **values}
    )


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_a_memo_reaches_the_user_named_by_email_or_by_id(
    database: Database, kakao: FakeKakao, notifier: KakaoTalkNotifier
) -> None:
    jane = await add_user(database, "jane@example.com", kakao=kakao)

    by_email = await notifier.send(message_to("Jane@Example.com", subject="Order", text="Shipped"))
    by_id = await notifier.send(message_to(f"user:{jane.user_id}", subject=None, text="Arrived"))

    assert by_email.outcome is DeliveryOutcome.DELIVERED and by_email.error is None
    assert by_id.outcome is DeliveryOutcome.DELIVERED
    first, second = kakao.memos
    assert first.kakao_id == second.kakao_id == jane.kakao_id
    assert first.template == {
        "object_type": "text",
        "text": "Order\n\nShipped",
        "link": {"web_url": LINK, "mobile_web_url": LINK},
    }
    assert second.template["text"] == "Arrived"
    # A valid token is used as it is.
    assert kakao.calls.token_forms == []


async def test_button_title_and_a_per_message_link(database: Database, kakao: FakeKakao) -> None:
    await add_user(database, "jane@example.com", kakao=kakao)
    notifier = await new_notifier(database, kakao.base_url, button_title="View order")
    try:
        link = "https://service.example.com/orders/7"
        result = await notifier.send(message_to("jane@example.com", metadata={"link_url": link}))
    finally:
        await notifier.close()
    assert result.outcome is DeliveryOutcome.DELIVERED
    [memo] = kakao.memos
    assert memo.template["button_title"] == "View order"
    assert memo.template["link"] == {"web_url": link, "mobile_web_url": link}


def test_the_text_fits_kakaos_limit_and_html_becomes_text() -> None:
    long = memo_text(message_to("user:1", subject="S", text="x" * 500))
    assert len(long) == TEXT_LIMIT and long.startswith("S\n\nxxx") and long.endswith("…")
    html_only = OutgoingMessage(
        channel="kakaotalk", to=["user:1"], html="<p>Tom &amp; <b>Jerry</b></p>"
    )
    assert memo_text(html_only) == "Tom & Jerry"


async def test_an_expired_token_is_refreshed_stored_and_used(
    database: Database, kakao: FakeKakao, notifier: KakaoTalkNotifier
) -> None:
    jane = await add_user(database, "jane@example.com", kakao=kakao, expires_in=-30)

    result = await notifier.send(HELLO)

    assert result.outcome is DeliveryOutcome.DELIVERED
    [form] = kakao.calls.token_forms
    assert form == {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "refresh_token": jane.refresh_token,
    }
    account = await stored_account(database, jane.account_row_id)
    assert account.access_token != jane.access_token
    assert kakao.kakao_id_of(account.access_token) == jane.kakao_id
    assert account.expires_at is not None
    assert abs(account.expires_at - (time.time() + kakao.expires_in)) < 60
    # Kakao sent no new refresh token: the old one stays.
    assert account.refresh_token == jane.refresh_token
    [memo] = kakao.memos
    assert memo.kakao_id == jane.kakao_id


async def test_a_new_refresh_token_from_kakao_is_stored(
    database: Database, kakao: FakeKakao, notifier: KakaoTalkNotifier
) -> None:
    kakao.rotate_refresh_tokens = True
    jane = await add_user(database, "jane@example.com", kakao=kakao, expires_in=0)
    assert (await notifier.send(HELLO)).outcome is DeliveryOutcome.DELIVERED
    account = await stored_account(database, jane.account_row_id)
    assert account.refresh_token not in (None, jane.refresh_token)
    assert account.refresh_token in kakao.refresh_tokens


async def test_a_token_kakao_rejects_is_refreshed_once_and_sent_again(
    database: Database, kakao: FakeKakao, notifier: KakaoTalkNotifier
) -> None:
    jane = await add_user(database, "jane@example.com", kakao=kakao)
    kakao.revoke(jane.access_token)

    result = await notifier.send(HELLO)

    assert result.outcome is DeliveryOutcome.DELIVERED
    assert kakao.memo_calls == 2
    assert len(kakao.calls.token_forms) == 1
    assert len(kakao.memos) == 1
    account = await stored_account(database, jane.account_row_id)
    assert kakao.kakao_id_of(account.access_token) == jane.kakao_id


async def test_a_refresh_token_kakao_no_longer_knows_is_permanent(
    database: Database, kakao: FakeKakao, notifier: KakaoTalkNotifier
) -> None:
    jane = await add_user(database, "jane@example.com", kakao=kakao, expires_in=-30)
    kakao.refresh_tokens.clear()

    result = await notifier.send(HELLO)

    assert result.outcome is DeliveryOutcome.PERMANENT
    assert result.error and "sign in with Kakao again" in result.error
    assert kakao.memo_calls == 0
    account = await stored_account(database, jane.account_row_id)
    assert account.access_token == jane.access_token


async def test_the_client_secret_goes_with_the_refresh_when_set(
    database: Database, kakao: FakeKakao
) -> None:
    kakao.client_secret = "kakao-client-secret"
    kakao.client_secret_required = True
    await add_user(database, "jane@example.com", kakao=kakao, expires_in=-30)
    notifier = await new_notifier(database, kakao.base_url, client_secret="kakao-client-secret")
    try:
        assert (await notifier.send(HELLO)).outcome is DeliveryOutcome.DELIVERED
    finally:
        await notifier.close()
    assert kakao.calls.token_forms[0]["client_secret"] == "kakao-client-secret"


async def test_a_user_without_the_talk_message_consent_is_permanent(
    database: Database, kakao: FakeKakao, notifier: KakaoTalkNotifier
) -> None:
    await add_user(database, "jane@example.com", kakao=kakao, talk_consent=False)

    result = await notifier.send(HELLO)

    assert result.outcome is DeliveryOutcome.PERMANENT
    assert result.error and "has not agreed to talk_message" in result.error
    assert kakao.memos == []


async def test_recipients_who_cannot_get_kakaotalk_are_permanent(
    database: Database, kakao: FakeKakao, notifier: KakaoTalkNotifier
) -> None:
    plain = await add_user(database, "plain@example.com")
    google = await add_user(database, "google@example.com", provider="google")
    gone = await add_user(database, "gone@example.com", kakao=kakao, is_active=False)
    cases = {
        "nobody@example.com": "no such user",
        "user:987654321": "no such user",
        f"user:{plain.user_id}": "not signed in with Kakao",
        "google@example.com": "not signed in with Kakao",
        f"user:{gone.user_id}": "deactivated",
    }
    assert google.user_id
    for recipient, reason in cases.items():
        result = await notifier.send(message_to(recipient))
        assert result.outcome is DeliveryOutcome.PERMANENT, recipient
        assert result.error and reason in result.error and recipient in result.error
    assert kakao.memo_calls == 0


@pytest.mark.parametrize("failure", [500, 503])
async def test_kakao_failing_is_retryable(
    database: Database, kakao: FakeKakao, failure: int
) -> None:
    await add_user(database, "jane@example.com", kakao=kakao)
    kakao.memo_failure = failure
    notifier = await new_notifier(database, kakao.base_url, read_timeout_seconds=0.3)
    try:
        result = await notifier.send(HELLO)
    finally:
        await notifier.close()
    assert result.outcome is DeliveryOutcome.RETRYABLE
    assert result.error and "jane@example.com" in result.error


async def test_a_memo_answered_after_the_read_timeout_is_unknown_and_sent_once(
    database: Database, kakao: FakeKakao
) -> None:
    # Kakao shows the memo, but its answer comes after the client stopped waiting.
    jane = await add_user(database, "jane@example.com", kakao=kakao)
    kakao.memo_delay_seconds = 1.0
    notifier = await new_notifier(database, kakao.base_url, read_timeout_seconds=0.3)
    try:
        result = await notifier.send(HELLO)
    finally:
        await notifier.close()
    assert result.outcome is DeliveryOutcome.UNKNOWN
    assert result.error and "jane@example.com" in result.error
    assert [memo.kakao_id for memo in kakao.memos] == [jane.kakao_id]
    assert kakao.memo_calls == 1


async def test_kakao_refusing_connections_is_retryable(
    database: Database, kakao: FakeKakao
) -> None:
    await add_user(database, "jane@example.com", kakao=kakao)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
        notifier = await new_notifier(database, url, connect_timeout_seconds=0.5)
        try:
            result = await notifier.send(HELLO)
        finally:
            await notifier.close()
    assert result.outcome is DeliveryOutcome.RETRYABLE
    assert result.error and "unreachable" in result.error


async def test_a_failing_token_endpoint_is_retryable(
    database: Database, kakao: FakeKakao, notifier: KakaoTalkNotifier
) -> None:
    jane = await add_user(database, "jane@example.com", kakao=kakao, expires_in=-30)
    kakao.token_failure = 503

    result = await notifier.send(HELLO)

    assert result.outcome is DeliveryOutcome.RETRYABLE
    assert kakao.memo_calls == 0
    account = await stored_account(database, jane.account_row_id)
    assert account.access_token == jane.access_token


async def test_kakao_down_is_retryable(database: Database, kakao: FakeKakao) -> None:
    await add_user(database, "jane@example.com", kakao=kakao)
    notifier = await new_notifier(database, f"http://127.0.0.1:{closed_port()}")
    try:
        result = await notifier.send(HELLO)
    finally:
        await notifier.close()
    assert result.outcome is DeliveryOutcome.RETRYABLE
    assert result.error and "unreachable" in result.error


async def test_the_accounts_out_of_reach_are_retryable_and_nothing_is_sent(
    kakao: FakeKakao, tmp_path: Path
) -> None:
    # A database file in a folder that does not exist: every query fails.
    away = Database(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'talk.db'}")
    notifier = await new_notifier(away, kakao.base_url)
    try:
        result = await notifier.send(message_to("me", sender_id=1))
        # Accepting a notification neither allows nor refuses it: the request fails instead.
        with pytest.raises(LinkedAccountsUnavailable):
            await notifier.refused_recipients(Sender(user_id=1), ["me"])
    finally:
        await notifier.close()
        await away.dispose()
    assert result.outcome is DeliveryOutcome.RETRYABLE
    assert result.error and "database unavailable" in result.error
    assert kakao.memo_calls == 0


async def test_several_recipients(
    database: Database, kakao: FakeKakao, notifier: KakaoTalkNotifier
) -> None:
    jane = await add_user(database, "jane@example.com", kakao=kakao)
    joe = await add_user(database, "joe@example.com", kakao=kakao)

    both = await notifier.send(message_to("jane@example.com", f"user:{joe.user_id}"))
    assert both.outcome is DeliveryOutcome.DELIVERED and both.error is None
    assert sorted(memo.kakao_id for memo in kakao.memos) == sorted([jane.kakao_id, joe.kakao_id])

    # Jane has it; sending again would repeat it to her, so the miss is only reported.
    partly = await notifier.send(message_to("jane@example.com", "nobody@example.com"))
    assert partly.outcome is DeliveryOutcome.DELIVERED
    assert partly.error and "nobody@example.com" in partly.error and "jane" not in partly.error

    nobody = await notifier.send(message_to("nobody@example.com", "user:987654321"))
    assert nobody.outcome is DeliveryOutcome.PERMANENT
    assert nobody.error and "nobody@example.com" in nobody.error
    assert "user:987654321" in nobody.error


async def test_a_lookup_failure_worth_retrying_sends_to_nobody(
    database: Database, kakao: FakeKakao, notifier: KakaoTalkNotifier
) -> None:
    await add_user(database, "jane@example.com", kakao=kakao)
    await add_user(database, "late@example.com", kakao=kakao, expires_in=-30)
    kakao.token_failure = 500

    result = await notifier.send(message_to("jane@example.com", "late@example.com"))

    # Nobody got it yet, so the whole message can safely be tried again later.
    assert result.outcome is DeliveryOutcome.RETRYABLE
    assert kakao.memo_calls == 0


async def test_concurrent_sends_refresh_a_token_once(
    database: Database, kakao: FakeKakao, notifier: KakaoTalkNotifier
) -> None:
    await add_user(database, "jane@example.com", kakao=kakao, expires_in=-30)

    results = await asyncio.gather(*(notifier.send(HELLO) for _ in range(5)))

    assert all(result.outcome is DeliveryOutcome.DELIVERED for result in results)
    assert len(kakao.calls.token_forms) == 1
    assert len(kakao.memos) == 5
    assert notifier.clients_created == 1


def test_recipient_syntax() -> None:
    notifier = KakaoTalkNotifier(
        KakaoTalkSettings(_env_file=None),
        KakaoUserOAuth2(KakaoSettings(_env_file=None)),
        default_link_url=PUBLIC_URL,
    )
    for good in ["user:1", "user:42", "jane@example.com"]:
        assert notifier.check_recipient(good) is None, good
    for bad in ["user:", "user:abc", "user:0", "user:-3", "jane", "01012345678", ""]:
        assert notifier.check_recipient(bad), bad


def test_the_app_keys_and_token_endpoint_are_kakao_sign_ins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAKAO_CLIENT_ID", "sign-in-key")
    monkeypatch.setenv("KAKAO_CLIENT_SECRET", "sign-in-secret")
    monkeypatch.setenv("KAKAO_TOKEN_URL", "https://kauth.example.com/oauth/token")
    [notifier] = register_notifiers(settings=Settings(_env_file=None))
    assert isinstance(notifier, KakaoTalkNotifier) and notifier.is_configured
    client = notifier.kakao
    assert (client.client_id, client.client_secret) == ("sign-in-key", "sign-in-secret")
    assert client.refresh_token_endpoint == "https://kauth.example.com/oauth/token"


async def test_unconfigured_it_loads_and_fails_permanently() -> None:
    [notifier] = register_notifiers(settings=Settings(_env_file=None))
    assert isinstance(notifier, Notifier)
    assert (notifier.name, notifier.channel) == ("kakaotalk", "kakaotalk")
    assert notifier.is_configured is False and notifier.is_stand_in is False
    result = await notifier.send(HELLO)
    assert result.outcome is DeliveryOutcome.PERMANENT
    assert result.error and "KAKAO_CLIENT_ID" in result.error


async def test_the_app_wires_the_notifier_to_its_database(
    database_url: str, kakao: FakeKakao, monkeypatch: pytest.MonkeyPatch
) -> None:
    kakao.point_plugin_here(monkeypatch)
    monkeypatch.setenv("KAKAOTALK_API_BASE_URL", kakao.base_url)
    settings = Settings(
        _env_file=None,
        environment="test",
        database_url=database_url,
        secret_key="kakaotalk-plugin-test-secret-0123456789abcdef",
        public_base_url=PUBLIC_URL,
    )
    app = create_app(settings)
    database: Database = app.state.runtime.database
    [notifier] = app.state.runtime.plugins.notifiers["kakaotalk"]
    assert isinstance(notifier, KakaoTalkNotifier)
    try:
        async with app.router.lifespan_context(app):
            assert app.state.runtime.plugins.notifier_for("kakaotalk") is notifier
            assert notifier.http_client is not None
            await add_user(database, "jane@example.com", kakao=kakao, expires_in=-30)
            result = await notifier.send(HELLO)
            assert result.outcome is DeliveryOutcome.DELIVERED
        assert notifier.http_client is None
        [memo] = kakao.memos
        # Without KAKAOTALK_LINK_URL the button leads to the service itself.
        assert memo.template["link"]["web_url"] == PUBLIC_URL
    finally:
        await reset_database(database)


async def test_tokens_stay_out_of_the_logs(
    database: Database,
    kakao: FakeKakao,
    notifier: KakaoTalkNotifier,
    caplog: pytest.LogCaptureFixture,
) -> None:
    jane = await add_user(database, "jane@example.com", kakao=kakao, expires_in=-30)
    # The service's own loggers and the HTTP client's, at their most talkative.
    with (
        caplog.at_level(logging.DEBUG, logger=PROJECT_SLUG),
        caplog.at_level(logging.DEBUG, logger="httpx"),
        caplog.at_level(logging.DEBUG, logger="httpcore"),
    ):
        assert (await notifier.send(HELLO)).outcome is DeliveryOutcome.DELIVERED
    account = await stored_account(database, jane.account_row_id)
    assert "refreshed the Kakao token" in caplog.text
    for token in (jane.access_token, jane.refresh_token, account.access_token):
        assert token not in caplog.text
