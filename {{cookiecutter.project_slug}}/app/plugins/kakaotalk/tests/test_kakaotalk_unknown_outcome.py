"""KakaoTalk: a memo Kakao may have sent is not sent again.

Driven through the signed API with the service's own delivery, against a fake of Kakao's memo API on
127.0.0.1. A timeout after the request reached the provider leaves the outcome unknown: the
notification ends `unknown` after one send, for an operator to decide. A provider failing
before anything was sent is retried until it is back.
"""

from __future__ import annotations

import time

import pytest
from fastapi import FastAPI

from app.accounts.models import OAuthAccount
from app.core.database import Database
from app.plugins.kakao.settings import KakaoSettings
from app.plugins.kakao.tests.fake_kakao import FakeKakao
from app.plugins.kakaotalk.settings import KakaoTalkSettings
from tests.outbox_support import (
    NOTIFICATIONS,
    READ_TIMEOUT,
    SLOW_ANSWER_SECONDS,
    Caller,
    assert_unknown,
    finished,
    listed,
    new_caller,
    running,
    waiting_for_a_retry,
)
from tests.support import SettingsFactory, signed_client


@pytest.fixture(autouse=True)
def no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for settings in (KakaoTalkSettings, KakaoSettings):
        monkeypatch.setitem(settings.model_config, "env_file", None)
    for name in KakaoTalkSettings.model_fields:
        monkeypatch.delenv(f"KAKAOTALK_{name.upper()}", raising=False)


@pytest.fixture
def fake_kakao(kakao: FakeKakao, monkeypatch: pytest.MonkeyPatch) -> FakeKakao:
    """Kakao sign-in and KakaoTalk, as the apps the tests start read them, pointed at the fake."""
    kakao.point_plugin_here(monkeypatch)
    monkeypatch.setenv("KAKAOTALK_API_BASE_URL", kakao.base_url)
    return kakao


async def post_memo_to_self(application: FastAPI, kakao: FakeKakao) -> tuple[Caller, int]:
    """A caller whose account is linked to Kakao sends a KakaoTalk message to itself."""
    caller = await new_caller(application)
    access, refresh = kakao.issue("4200000001")
    database: Database = application.state.runtime.database
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
    fake_kakao: FakeKakao, make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
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
    fake_kakao: FakeKakao, make_settings: SettingsFactory
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
