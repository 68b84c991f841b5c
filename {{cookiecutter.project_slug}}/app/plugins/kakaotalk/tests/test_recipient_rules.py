"""Whom an API key may send KakaoTalk messages to, through POST /api/v1/notifications.

A KakaoTalk message goes out with the recipient's own stored Kakao token, so a key reaches
only its owner's own linked Kakao account; an operator's key (a superuser's) reaches any
user with a linked Kakao account. Everything else, an unknown user included, is refused
at accept time with one code: the answer never tells whether a user exists.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select

from app.accounts.models import OAuthAccount, User
from app.core.database import Database
from app.core.interfaces import DeliveryOutcome, OutgoingMessage, Sender
from app.main import create_app
from app.notifications.models import Notification
from app.plugins.kakao.client import KakaoUserOAuth2
from app.plugins.kakao.settings import KakaoSettings
from app.plugins.kakao.tests.fake_kakao import FakeKakao
from app.plugins.kakaotalk.notifier import KakaoTalkNotifier
from app.plugins.kakaotalk.settings import KakaoTalkSettings
from app.signed_api.keys import create_api_key
from tests.outbox_support import FAST_DELIVERY, NOTIFICATIONS, Caller, wait_until
from tests.support import build_test_settings, signed_client, started

NOT_ALLOWED = "RECIPIENT_NOT_ALLOWED"


@dataclass
class Person:
    """A user of the service with an API key; `kakao_id` set when Kakao is linked."""

    caller: Caller
    email: str
    kakao_id: str | None

    @property
    def address(self) -> str:
        return f"user:{self.caller.user_id}"


@pytest.fixture(scope="module")
def talk_app(
    kakao_server: FakeKakao, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FastAPI]:
    """The service with KakaoTalk pointed at the fake (its settings are read at create_app),
    made once for the module and started per test on an empty database."""
    database_url = os.environ.get("TEST_DATABASE_URL") or (
        f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('talk') / 'rules.db'}"
    )
    with pytest.MonkeyPatch.context() as env:
        # Neither the shell nor the project's `.env` may decide these tests.
        for name in KakaoTalkSettings.model_fields:
            env.delenv(f"KAKAOTALK_{name.upper()}", raising=False)
        kakao_server.point_plugin_here(env)
        env.setenv("KAKAOTALK_API_BASE_URL", kakao_server.base_url)
        yield create_app(build_test_settings(database_url, **FAST_DELIVERY))


@pytest.fixture
async def service(talk_app: FastAPI, kakao: FakeKakao) -> AsyncIterator[FastAPI]:
    async with started(talk_app) as application:
        yield application


@pytest.fixture
def fake(kakao: FakeKakao) -> FakeKakao:
    return kakao


async def person(
    app: FastAPI,
    fake: FakeKakao,
    *,
    kakao: bool = True,
    superuser: bool = False,
    verified: bool = True,
) -> Person:
    """A user with an API key; with `kakao`, signed in with Kakao (valid tokens stored)."""
    database: Database = app.state.runtime.database
    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    kakao_id = str(secrets.randbelow(10**9) + 10**9) if kakao else None
    async with database.sessionmaker() as session:
        user = await User.create(
            session=session,
            email=email,
            hashed_password="not-used",
            is_active=True,
            is_verified=True,
            is_superuser=superuser,
        )
        if kakao_id is not None:
            access, refresh = fake.issue(kakao_id)
            await OAuthAccount.create(
                session=session,
                oauth_name="kakao",
                access_token=access,
                refresh_token=refresh,
                expires_at=int(time.time()) + 3600,
                account_id=kakao_id,
                account_email=email,
                user_id=user.id,
            )
        await session.commit()
        api_key, secret_key = await create_api_key(
            session, app.state.runtime.settings, user.id, "talk"
        )
        # Unverified after the key was made, as an email change leaves an account.
        user.is_verified = verified
        await session.commit()
    return Person(Caller(user.id, api_key.id, api_key.access_key, secret_key), email, kakao_id)


def talk(*recipients: str) -> dict[str, Any]:
    return {"channel": "kakaotalk", "to": list(recipients), "text": "Your parcel is here"}


async def stored(app: FastAPI) -> int:
    async with app.state.runtime.database.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Notification)) or 0)


async def send(app: FastAPI, sender: Person, *recipients: str) -> httpx.Response:
    async with signed_client(app, sender.caller) as client:
        return await client.post(NOTIFICATIONS, json=talk(*recipients))


async def delivered(app: FastAPI, sender: Person, notification_id: int) -> None:
    async with signed_client(app, sender.caller) as client:

        async def done() -> bool:
            response = await client.get(f"{NOTIFICATIONS}/{notification_id}")
            status = response.json()["status"]
            assert status != "failed", response.json()
            return bool(status == "delivered")

        await wait_until(done, 15, f"notification {notification_id} delivered")


def refusal(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "detail", "request_id"}
    assert body["code"] == NOT_ALLOWED, body
    return body


async def test_a_key_cannot_message_anyone_else_and_cannot_tell_who_exists(
    service: FastAPI, fake: FakeKakao
) -> None:
    mallory = await person(service, fake)
    victim = await person(service, fake)

    answers = [
        refusal(await send(service, mallory, recipient))
        for recipient in (victim.address, victim.email, "user:999999999", "nobody@example.com")
    ]

    # One answer for a linked user, an unknown id and an unknown email alike.
    assert len({(body["message"], repr(body["detail"])) for body in answers}) == 1
    assert answers[0]["detail"] == [{"index": 0}]
    assert await stored(service) == 0
    # Mallory's own message goes through and is the only one Kakao ever saw.
    own = await send(service, mallory, mallory.address)
    assert own.status_code == 202, own.text
    await delivered(service, mallory, own.json()["id"])
    assert [memo.kakao_id for memo in fake.memos] == [mallory.kakao_id]
    assert fake.memo_calls == 1


async def test_one_foreign_recipient_refuses_the_whole_message(
    service: FastAPI, fake: FakeKakao
) -> None:
    mallory = await person(service, fake)
    victim = await person(service, fake)

    body = refusal(await send(service, mallory, mallory.address, victim.email))

    assert body["detail"] == [{"index": 1}]
    assert await stored(service) == 0


@pytest.mark.parametrize("how", ["id", "email", "me"])
async def test_a_key_messages_its_owners_own_kakao_account(
    service: FastAPI, fake: FakeKakao, how: str
) -> None:
    jane = await person(service, fake)
    recipient = {"id": jane.address, "email": jane.email.upper(), "me": "me"}[how]

    response = await send(service, jane, recipient)

    assert response.status_code == 202, response.text
    assert response.json()["to"] == [recipient]
    await delivered(service, jane, response.json()["id"])
    [memo] = fake.memos
    assert memo.kakao_id == jane.kakao_id
    assert memo.template["text"] == "Your parcel is here"


async def test_an_owner_without_kakao_is_refused_like_anyone(
    service: FastAPI, fake: FakeKakao
) -> None:
    plain = await person(service, fake, kakao=False)
    for recipient in (plain.address, plain.email, "me"):
        refusal(await send(service, plain, recipient))
    assert await stored(service) == 0


async def test_an_operator_key_messages_any_linked_user(service: FastAPI, fake: FakeKakao) -> None:
    operator = await person(service, fake, superuser=True, kakao=False)
    jane = await person(service, fake)
    joe = await person(service, fake)

    response = await send(service, operator, jane.address, joe.email)

    assert response.status_code == 202, response.text
    await delivered(service, operator, response.json()["id"])
    assert {memo.kakao_id for memo in fake.memos} == {jane.kakao_id, joe.kakao_id}
    assert len(fake.memos) == 2


async def test_an_operator_is_refused_unknown_unlinked_and_unproven_recipients(
    service: FastAPI, fake: FakeKakao
) -> None:
    operator = await person(service, fake, superuser=True)
    plain = await person(service, fake, kakao=False)
    # An account whose email nobody proved: addressing that email must not reach it.
    squatter = await person(service, fake, verified=False)

    answers = [
        refusal(await send(service, operator, recipient))
        for recipient in ("user:999999999", plain.address, plain.email, squatter.email)
    ]

    assert len({body["message"] for body in answers}) == 1
    assert await stored(service) == 0
    assert fake.memo_calls == 0


async def test_delivery_checks_again_for_the_sender(service: FastAPI, fake: FakeKakao) -> None:
    """A message accepted earlier is sent only if the rule still allows it when it goes out."""
    operator = await person(service, fake, superuser=True)
    jane = await person(service, fake)
    [notifier] = service.state.runtime.plugins.notifiers["kakaotalk"]
    assert isinstance(notifier, KakaoTalkNotifier)
    message = OutgoingMessage(channel="kakaotalk", to=[jane.address], text="Hello")
    sender = Sender(user_id=operator.caller.user_id, is_superuser=True)
    assert await notifier.refused_recipients(sender, [jane.address]) == []

    # The operator role is taken away, then Jane unlinks Kakao, before the message goes.
    async with service.state.runtime.database.sessionmaker() as session:
        user = await session.get(User, operator.caller.user_id)
        assert user is not None
        user.is_superuser = False
        await session.commit()
    demoted = await notifier.send(_from(message, operator))
    assert demoted.outcome is DeliveryOutcome.PERMANENT
    assert demoted.error and "not allowed" in demoted.error

    async with service.state.runtime.database.sessionmaker() as session:
        await session.execute(
            delete(OAuthAccount).where(OAuthAccount.user_id == jane.caller.user_id)
        )
        await session.commit()
    own = OutgoingMessage(channel="kakaotalk", to=["me"], text="Hello")
    unlinked = await notifier.send(_from(own, jane))
    assert unlinked.outcome is DeliveryOutcome.PERMANENT
    assert fake.memo_calls == 0


def _from(message: OutgoingMessage, sender: Person) -> OutgoingMessage:
    return OutgoingMessage(
        channel=message.channel,
        to=message.to,
        text=message.text,
        sender_id=sender.caller.user_id,
    )


def test_me_is_a_valid_recipient() -> None:
    notifier = KakaoTalkNotifier(
        KakaoTalkSettings(_env_file=None),
        KakaoUserOAuth2(KakaoSettings(_env_file=None)),
        default_link_url="https://x",
    )
    assert notifier.check_recipient("me") is None
