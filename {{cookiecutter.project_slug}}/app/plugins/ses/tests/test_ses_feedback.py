"""SES's bounces and complaints, posted by SNS to /api/v1/ses/feedback, stop later mail.

A fake SNS on 127.0.0.1 signs the messages with a test certificate it serves itself (the
allowed-origin setting names it, as it names AWS's hosts in production); a fake SES takes
the mail. Everything is driven through the service's HTTP API.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.plugins.ses.routes import FEEDBACK_PATH
from app.plugins.ses.settings import SesSettings
from app.plugins.ses.tests.fake_ses import FakeSes
from app.plugins.ses.tests.fake_sns import (
    TOPIC_ARN,
    FakeSns,
    SigningIdentity,
    complaint,
    hard_bounce,
    signing_identity,
    soft_bounce,
)
from tests.fakes.server import LiveServer
from tests.support import (
    IssuedKey,
    SettingsFactory,
    build_app,
    client_of,
    create_user,
    issue_api_key,
    reset_database,
    signed_client,
)

NOTIFICATIONS = "/api/v1/notifications"
FINISHED = {"delivered", "failed", "unknown"}
ANN, BOB, CY, DAN = "ann@example.com", "bob@example.org", "cy@example.net", "dan@example.com"


@pytest.fixture(scope="module")
def identity() -> SigningIdentity:
    return signing_identity()


@pytest.fixture
def sns(identity: SigningIdentity) -> Iterator[FakeSns]:
    fake = FakeSns(identity)
    with LiveServer(fake.app()) as server:
        fake.base_url = server.url
        yield fake


@pytest.fixture
def ses() -> Iterator[tuple[FakeSes, str]]:
    fake = FakeSes()
    with LiveServer(fake.app(), on_stop=fake.close) as server:
        yield fake, server.url


@pytest.fixture
def ses_environment(
    monkeypatch: pytest.MonkeyPatch, sns: FakeSns, ses: tuple[FakeSes, str]
) -> dict[str, str]:
    for name in SesSettings.model_fields:
        monkeypatch.delenv(f"SES_{name.upper()}", raising=False)
    environment = {
        "SES_SENDER": "My Service <no-reply@mail.example.com>",
        "SES_REGION": "eu-west-1",
        "SES_ENDPOINT_URL": ses[1],
        "SES_ACCESS_KEY_ID": "AKIATESTFEEDBACK",
        "SES_SECRET_ACCESS_KEY": "ses-feedback-test-secret-0123456789",
        "SES_FEEDBACK_TOPIC_ARNS": TOPIC_ARN,
        "SES_SNS_ORIGIN_PATTERN": sns.origin_pattern,
        "SES_SNS_MAX_MESSAGE_AGE_SECONDS": "600",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return environment


@pytest.fixture
async def application(
    make_settings: SettingsFactory, ses_environment: dict[str, str]
) -> AsyncIterator[FastAPI]:
    app = build_app(make_settings(delivery_poll_seconds=0.05))
    try:
        async with app.router.lifespan_context(app):
            yield app
    finally:
        await reset_database(app.state.runtime.database)


async def post_sns(app: FastAPI, message: dict[str, str] | bytes) -> httpx.Response:
    """As SNS posts: JSON in a text/plain body, with its message-type header. Bytes are
    a raw delivery (the message itself, no envelope), which SNS marks with a header."""
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    headers = {"Content-Type": "text/plain; charset=UTF-8"}
    if isinstance(message, dict):
        headers["x-amz-sns-message-type"] = message.get("Type", "")
    else:
        headers["x-amz-sns-rawdelivery"] = "true"
    async with client_of(app) as client:
        return await client.post(FEEDBACK_PATH, content=body, headers=headers)


async def send_email(app: FastAPI, caller: IssuedKey, to: list[str]) -> dict[str, Any]:
    """Post an email notification and wait until delivery is done with it: its status."""
    async with signed_client(app, caller) as client:
        accepted = await client.post(
            NOTIFICATIONS, json={"channel": "email", "to": to, "subject": "Hi", "text": "hello"}
        )
        assert accepted.status_code == 202, accepted.text
        url = f"{NOTIFICATIONS}/{accepted.json()['id']}"
        async with asyncio.timeout(20):
            while True:
                answer: dict[str, Any] = (await client.get(url)).json()
                if answer["status"] in FINISHED:
                    return answer
                await asyncio.sleep(0.05)


def mailed(fake: FakeSes) -> list[str]:
    return [
        address for destination in fake.destinations() for address in destination["ToAddresses"]
    ]


async def caller_of(app: FastAPI) -> IssuedKey:
    return await issue_api_key(app, await create_user(app, "sender@example.com"))


async def test_the_subscription_is_confirmed_through_sns_own_link(
    application: FastAPI, sns: FakeSns
) -> None:
    confirmation = sns.subscription_confirmation()

    response = await post_sns(application, confirmation)

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "subscription confirmed"
    [visited] = sns.confirmations
    assert visited["Token"] == confirmation["Token"]
    assert visited["TopicArn"] == TOPIC_ARN


async def test_hard_bounces_and_complaints_stop_later_mail_to_those_addresses(
    application: FastAPI, sns: FakeSns, ses: tuple[FakeSes, str]
) -> None:
    fake_ses, _ = ses
    bounced = await post_sns(application, sns.notification(hard_bounce("Ann@Example.com")))
    complained = await post_sns(application, sns.notification(complaint(BOB), version="2"))
    softly = await post_sns(application, sns.notification(soft_bounce(CY)))
    assert [r.status_code for r in (bounced, complained, softly)] == [200, 200, 200]
    assert [r.json()["suppressed"] for r in (bounced, complained, softly)] == [1, 1, 0]
    # SNS may deliver a message twice: the address is listed once.
    again = await post_sns(application, sns.notification(hard_bounce(ANN)))
    assert again.json()["suppressed"] == 0

    answer = await send_email(application, await caller_of(application), [ANN, BOB, CY, DAN])

    assert sorted(mailed(fake_ses)) == sorted([CY, DAN])
    assert answer["status"] == "delivered"
    outcomes = {entry["address"]: entry for entry in answer["recipients"]}
    assert {address: entry["status"] for address, entry in outcomes.items()} == {
        ANN: "suppressed",
        BOB: "suppressed",
        CY: "delivered",
        DAN: "delivered",
    }
    assert "bounce" in outcomes[ANN]["error"] and "550 5.1.1" in outcomes[ANN]["error"]
    assert "complaint" in outcomes[BOB]["error"]
    assert outcomes[CY]["provider_message_id"]


async def test_a_notification_to_suppressed_addresses_only_fails_unsent(
    application: FastAPI, sns: FakeSns, ses: tuple[FakeSes, str]
) -> None:
    await post_sns(application, sns.notification(hard_bounce(ANN, BOB)))

    answer = await send_email(application, await caller_of(application), [ANN, BOB])

    assert answer["status"] == "failed"
    assert "every recipient is on the suppression list" in answer["last_error"]
    assert ses[0].requests == []


# --- What is not SNS's, or not for this service, changes nothing ----------------------


async def assert_nothing_suppressed(app: FastAPI, fake_ses: FakeSes, address: str) -> None:
    answer = await send_email(app, await caller_of(app), [address])
    assert answer["status"] == "delivered", answer
    assert mailed(fake_ses) == [address]


@pytest.mark.parametrize(
    "forge",
    ["altered", "foreign-key", "foreign-topic", "replayed", "off-host-certificate", "raw"],
)
async def test_a_forged_or_foreign_message_is_refused_and_suppresses_no_one(
    application: FastAPI,
    sns: FakeSns,
    ses: tuple[FakeSes, str],
    forge: str,
) -> None:
    stranger = signing_identity("attacker.example")
    message: dict[str, str] | bytes
    if forge == "altered":
        message = sns.notification(hard_bounce("someone@example.com"))
        message["Message"] = json.dumps(hard_bounce(ANN))
    elif forge == "foreign-key":
        message = sns.notification(hard_bounce(ANN), identity=stranger)
    elif forge == "foreign-topic":
        message = sns.notification(
            hard_bounce(ANN), topic_arn="arn:aws:sns:eu-west-1:999999999999:theirs"
        )
    elif forge == "replayed":
        message = sns.notification(
            hard_bounce(ANN), timestamp=datetime.now(UTC) - timedelta(hours=2)
        )
    elif forge == "off-host-certificate":
        message = sns.notification(
            hard_bounce(ANN), identity=stranger, certificate_url="http://localhost:9/cert.pem"
        )
    else:  # raw message delivery: SES's JSON itself, unsigned
        message = json.dumps(hard_bounce(ANN)).encode()

    response = await post_sns(application, message)

    assert response.status_code == 403, response.text
    assert response.json()["code"] == "SNS_MESSAGE_REJECTED"
    if forge == "raw":
        assert "raw message delivery" in response.json()["message"]
    await assert_nothing_suppressed(application, ses[0], ANN)


async def test_a_confirmation_leading_off_the_sns_host_is_not_followed(
    application: FastAPI, sns: FakeSns
) -> None:
    elsewhere = FakeSns(sns.identity)
    with LiveServer(elsewhere.app()) as server:
        elsewhere.base_url = server.url
        confirmation = sns.subscription_confirmation(
            subscribe_url=f"{server.url}/?Action=ConfirmSubscription&Token=t"
        )

        response = await post_sns(application, confirmation)

    assert response.status_code == 403
    assert "SubscribeURL" in response.json()["message"]
    assert elsewhere.confirmations == [] and sns.confirmations == []


async def test_without_topics_the_endpoint_says_it_is_not_configured(
    make_settings: SettingsFactory,
    ses_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    sns: FakeSns,
) -> None:
    monkeypatch.delenv("SES_FEEDBACK_TOPIC_ARNS")
    app = build_app(make_settings())

    response = await post_sns(app, sns.notification(hard_bounce(ANN)))

    assert response.status_code == 503
    assert response.json()["code"] == "SES_FEEDBACK_NOT_CONFIGURED"
    assert "SES_FEEDBACK_TOPIC_ARNS" in response.json()["message"]
