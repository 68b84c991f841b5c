"""Account mails are notifications of the service's own: written with the request that
causes them, delivered (and retried) like any other, and their secret links shown to no one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from starlette.types import Message, Receive, Scope, Send

from app.accounts.models import User
from app.admin.service import promote_user
from app.core.database import Database
from app.core.interfaces import DeliveryResult, OutgoingMessage
from app.notifications.models import Notification
from tests.outbox_support import FAST_DELIVERY, wait_until
from tests.support import (
    AUTH,
    TEST_CLIENT_ADDRESS,
    Mailbox,
    ServeApp,
    bearer_for,
    build_app,
    build_test_settings,
    create_user,
    issue_api_key,
    register,
    signed_client,
    token_of,
    verify_email,
)

NOTIFICATIONS = "/api/v1/notifications"
ADMIN_NOTIFICATIONS = "/api/v1/admin/notifications"


class FlakyMailbox(Mailbox):
    """A mail provider whose first answer is "try again later" (a throttle, a 5xx)."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        if self.refused == 0:
            self.refused += 1
            return DeliveryResult.retryable("421 service not available, try again later")
        return await super().send(message)


async def account_mails(database: Database) -> list[Notification]:
    async with database.sessionmaker() as session:
        found = await session.scalars(
            select(Notification).where(Notification.user_id.is_(None)).order_by(Notification.id)
        )
        return list(found)


@pytest.fixture
def app(database_url: str, mailbox: Mailbox) -> FastAPI:
    return build_app(build_test_settings(database_url), mailbox)


@pytest.fixture
async def client(app: FastAPI, serve: ServeApp) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(app) as client:
        yield client


async def test_a_verification_mail_the_provider_first_refuses_arrives_on_a_retry(
    database_url: str, serve: ServeApp
) -> None:
    mailbox = FlakyMailbox()
    application = build_app(build_test_settings(database_url, **FAST_DELIVERY), mailbox)
    async with serve(application) as client:
        await register(client, "patient@example.com")
        await wait_until(lambda: mailbox.to("patient@example.com"), 20, "mailed on a retry")
        database = application.state.runtime.database

        async def recorded() -> bool:
            # The mail arrives before its outcome is written down.
            return all(row.status != "sending" for row in await account_mails(database))

        await wait_until(recorded, 20, "the outcome recorded")
        [row] = await account_mails(database)
        assert (mailbox.refused, row.status, row.attempts) == (1, "delivered", 2)
        # The link of the mail that arrived works.
        await verify_email(client, mailbox, "patient@example.com")


async def test_an_account_mail_is_a_committed_outbox_row_before_the_answer_leaves(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    """Whatever happens to the process after the answer, the mail is on record (the
    dispatcher of the next start delivers what is left), and so is the account with it."""
    database: Database = app.state.runtime.database
    # Path → the account mails' (recipients, sender) and the users' emails, as committed
    # when the answer started.
    at_answer: dict[str, tuple[list[tuple[list[str], int | None]], list[str]]] = {}

    async def reading_rows_at_answer(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_after_reading(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Another connection sees only what is committed.
                async with database.engine.connect() as connection:
                    mails = await connection.execute(
                        select(Notification.recipients, Notification.user_id)
                        .where(Notification.api_key_id.is_(None))
                        .order_by(Notification.id)
                    )
                    users = await connection.scalars(select(User.__table__.c.email))
                    at_answer[scope["path"]] = ([tuple(row) for row in mails], list(users))
            await send(message)

        await app(scope, receive, send_after_reading)

    transport = httpx.ASGITransport(app=reading_rows_at_answer, client=(TEST_CLIENT_ADDRESS, 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as watched:
        await register(watched, "early@example.com")
        forgot = await watched.post(f"{AUTH}/forgot-password", json={"email": "early@example.com"})
        assert forgot.status_code == 202

    mail = (["early@example.com"], None)
    # The new account and its verification mail were committed together.
    assert at_answer[f"{AUTH}/register"] == ([mail], ["early@example.com"])
    assert at_answer[f"{AUTH}/forgot-password"] == ([mail, mail], ["early@example.com"])
    assert [row.status for row in await account_mails(database)] == ["delivered", "delivered"]
    assert len(mailbox.to("early@example.com")) == 2


async def test_no_answer_shows_a_mailed_token_to_other_users_the_account_or_the_operator(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client, "olga@example.com")
    await verify_email(client, mailbox, "olga@example.com")
    async with app.state.runtime.database.sessionmaker() as session:
        await promote_user(session, "olga@example.com")
    operator = await bearer_for(client, "olga@example.com")
    alice = (await register(client, "alice@example.com"))["id"]
    await verify_email(client, mailbox, "alice@example.com")
    await client.post(f"{AUTH}/forgot-password", json={"email": "alice@example.com"})
    reset_mail = mailbox.to("alice@example.com")[-1]
    token = token_of(mailbox.last_link("alice@example.com"))
    [*_, reset_row] = await account_mails(app.state.runtime.database)
    assert reset_row.recipients == ["alice@example.com"]

    answers: list[httpx.Response] = []
    # Another account's API key, and Alice's own (a changed email's verification mail
    # goes to an address the account has not proven).
    for user_id in (await create_user(app, "bob@example.com"), alice):
        async with signed_client(app, await issue_api_key(app, user_id)) as signed:
            answers += [
                await signed.get(f"{NOTIFICATIONS}/{reset_row.id}"),
                await signed.get(NOTIFICATIONS),
            ]
    assert [answer.status_code for answer in answers] == [404, 200] * 2
    assert all(answer.json().get("items", []) == [] for answer in answers)

    listed = await client.get(ADMIN_NOTIFICATIONS, headers=operator)
    read = await client.get(f"{ADMIN_NOTIFICATIONS}/{reset_row.id}", headers=operator)
    answers += [listed, read]
    assert reset_row.id in [item["id"] for item in listed.json()["items"]]
    shown = read.json()
    assert (shown["user_id"], shown["api_key_id"], shown["status"]) == (None, None, "delivered")
    # The operator reads the mail that went out, its link's secret blanked out.
    assert shown["subject"] == reset_mail.subject
    assert shown["text"] == (reset_mail.text or "").replace(token, "REDACTED")
    assert shown["html"] == (reset_mail.html or "").replace(token, "REDACTED")
    assert "token=REDACTED" in shown["text"]
    for answer in answers:
        assert token not in answer.text
        assert token not in json.dumps(answer.json())
