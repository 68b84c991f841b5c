"""SNS messages are believed only when SNS signed them for one of the service's topics.

Signed by a fake SNS on 127.0.0.1 with a test certificate; the allowed-origin setting names
that fake, as it would name AWS's SNS hosts in production.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from app.plugins.ses.sns import (
    AWS_SNS_ORIGIN_PATTERN,
    CertificateStore,
    SnsPolicy,
    SnsRejected,
    SnsVerifier,
    allowed_url,
    canonical_string,
)
from app.plugins.ses.tests.fake_sns import (
    CERTIFICATE_PATH,
    TOPIC_ARN,
    FakeSns,
    SigningIdentity,
    hard_bounce,
    signing_identity,
)
from tests.fakes.server import LiveServer

MAX_AGE_SECONDS = 600


@pytest.fixture(scope="module")
def identity() -> SigningIdentity:
    return signing_identity()


@pytest.fixture(scope="module")
def stranger() -> SigningIdentity:
    """Someone else's key, with a certificate of its own."""
    return signing_identity("attacker.example")


@pytest.fixture
def sns(identity: SigningIdentity) -> Iterator[FakeSns]:
    fake = FakeSns(identity)
    with LiveServer(fake.app()) as server:
        fake.base_url = server.url
        yield fake


@pytest.fixture
def verifier(sns: FakeSns) -> SnsVerifier:
    policy = SnsPolicy.of(sns.origin_pattern, [TOPIC_ARN], MAX_AGE_SECONDS)
    return SnsVerifier(policy, CertificateStore(timeout_seconds=5))


def body(fields: dict[str, str]) -> bytes:
    return json.dumps(fields).encode()


async def rejected(verifier: SnsVerifier, fields: dict[str, str]) -> str:
    with pytest.raises(SnsRejected) as caught:
        await verifier.verify(body(fields))
    return str(caught.value)


@pytest.mark.parametrize("version", ["1", "2"])
async def test_a_message_sns_signed_is_believed(
    verifier: SnsVerifier, sns: FakeSns, version: str
) -> None:
    fields = sns.notification(hard_bounce("ann@example.com"), version=version)

    message = await verifier.verify(body(fields))

    assert message.type == "Notification"
    assert message.topic_arn == TOPIC_ARN
    assert json.loads(message.message)["bounce"]["bounceType"] == "Permanent"


async def test_the_certificate_is_fetched_once_for_many_messages(
    verifier: SnsVerifier, sns: FakeSns
) -> None:
    for _ in range(3):
        await verifier.verify(body(sns.notification(hard_bounce("ann@example.com"))))
    assert sns.certificate_fetches == 1


async def test_a_subject_is_signed_too(verifier: SnsVerifier, sns: FakeSns) -> None:
    fields = sns.notification("{}", subject="Amazon SES Email Event Notification")
    assert (await verifier.verify(body(fields))).subject == "Amazon SES Email Event Notification"

    fields["Subject"] = "Another subject"
    assert "signature" in await rejected(verifier, fields)


def test_the_canonical_string_follows_aws_field_order() -> None:
    fields = {
        "Type": "Notification",
        "TopicArn": TOPIC_ARN,
        "Timestamp": "2026-12-03T13:00:00.000Z",
        "MessageId": "m-1",
        "Message": "hello",
        "UnsubscribeURL": "not signed",
    }
    assert canonical_string(fields) == (
        b"Message\nhello\nMessageId\nm-1\nTimestamp\n2026-12-03T13:00:00.000Z\n"
        + f"TopicArn\n{TOPIC_ARN}\nType\nNotification\n".encode()
    )


# --- Forged, redirected, replayed and foreign messages are refused -------------------


@pytest.mark.parametrize("version", ["1", "2"])
async def test_a_message_changed_after_signing_is_refused(
    verifier: SnsVerifier, sns: FakeSns, version: str
) -> None:
    fields = sns.notification(hard_bounce("ann@example.com"), version=version)
    fields["Message"] = json.dumps(hard_bounce("victim@example.com"))

    assert "signature does not match" in await rejected(verifier, fields)


async def test_a_message_signed_by_another_key_is_refused(
    verifier: SnsVerifier, sns: FakeSns, stranger: SigningIdentity
) -> None:
    # Pointing at SNS's real certificate, signed with a key that is not SNS's.
    fields = sns.notification(hard_bounce("victim@example.com"), identity=stranger)

    assert "signature does not match" in await rejected(verifier, fields)


async def test_a_signature_for_the_other_version_is_refused(
    verifier: SnsVerifier, sns: FakeSns
) -> None:
    fields = sns.notification(hard_bounce("ann@example.com"), version="2")
    fields["SignatureVersion"] = "1"

    assert "signature does not match" in await rejected(verifier, fields)


async def test_an_unknown_signature_version_is_refused(verifier: SnsVerifier, sns: FakeSns) -> None:
    fields = sns.notification(hard_bounce("ann@example.com"))
    fields["SignatureVersion"] = "3"

    assert "SignatureVersion" in await rejected(verifier, fields)


@pytest.mark.parametrize(
    "certificate_url",
    [
        # The attacker's own server, with a certificate for the attacker's key.
        "http://127.0.0.1:{attacker_port}" + CERTIFICATE_PATH,
        # The same server by another name.
        "http://localhost:{attacker_port}" + CERTIFICATE_PATH,
        # SNS's origin as the user part of a URL to another server.
        "http://127.0.0.1:{sns_port}@127.0.0.1:{attacker_port}" + CERTIFICATE_PATH,
        # SNS's origin as a path on another server.
        "http://127.0.0.1:{attacker_port}/127.0.0.1:{sns_port}" + CERTIFICATE_PATH,
    ],
    ids=["another-host", "another-name", "user-part", "path-part"],
)
async def test_a_certificate_off_the_sns_host_is_not_even_fetched(
    verifier: SnsVerifier, sns: FakeSns, stranger: SigningIdentity, certificate_url: str
) -> None:
    attacker = FakeSns(stranger)
    with LiveServer(attacker.app()) as server:
        attacker.base_url = server.url
        sns_port = sns.base_url.rsplit(":", 1)[1]
        url = certificate_url.format(attacker_port=server.port, sns_port=sns_port)
        fields = sns.notification(
            hard_bounce("victim@example.com"), identity=stranger, certificate_url=url
        )

        reason = await rejected(verifier, fields)

    assert "SigningCertURL" in reason
    assert attacker.certificate_fetches == 0
    assert sns.certificate_fetches == 0


async def test_a_certificate_url_that_is_not_a_pem_file_is_refused(
    verifier: SnsVerifier, sns: FakeSns
) -> None:
    fields = sns.notification("{}", certificate_url=f"{sns.base_url}/?Action=ConfirmSubscription")

    assert ".pem" in await rejected(verifier, fields)


async def test_a_message_for_another_topic_is_refused(verifier: SnsVerifier, sns: FakeSns) -> None:
    # Signed by SNS itself: anyone with an AWS account can have SNS sign for their topic.
    fields = sns.notification(
        hard_bounce("victim@example.com"), topic_arn="arn:aws:sns:eu-west-1:999999999999:theirs"
    )

    assert "topic" in await rejected(verifier, fields)
    assert sns.certificate_fetches == 0


async def test_an_old_message_replayed_is_refused(verifier: SnsVerifier, sns: FakeSns) -> None:
    sent = datetime.now(UTC) - timedelta(seconds=MAX_AGE_SECONDS + 60)
    fields = sns.notification(hard_bounce("ann@example.com"), timestamp=sent)

    assert "too old" in await rejected(verifier, fields)


async def test_a_message_from_the_future_is_refused(verifier: SnsVerifier, sns: FakeSns) -> None:
    fields = sns.notification(
        hard_bounce("ann@example.com"), timestamp=datetime.now(UTC) + timedelta(hours=1)
    )

    assert "future" in await rejected(verifier, fields)


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[]", b'{"Type": "Notification"}', b'{"Type": "Whatever"}'],
    ids=["not-json", "not-an-object", "no-fields", "unknown-type"],
)
async def test_what_is_not_an_sns_message_is_refused(verifier: SnsVerifier, payload: bytes) -> None:
    with pytest.raises(SnsRejected):
        await verifier.verify(payload)


async def test_a_subscribe_url_off_the_sns_host_is_refused(
    verifier: SnsVerifier, sns: FakeSns
) -> None:
    fields = sns.subscription_confirmation(
        subscribe_url="http://127.0.0.1:9/?Action=ConfirmSubscription&Token=x"
    )
    message = await verifier.verify(body(fields))  # signed, yet the link leads elsewhere

    with pytest.raises(SnsRejected, match="SubscribeURL"):
        verifier.subscribe_url(message)


async def test_a_subscribe_url_that_does_not_confirm_is_refused(
    verifier: SnsVerifier, sns: FakeSns
) -> None:
    fields = sns.subscription_confirmation(subscribe_url=f"{sns.base_url}/?Action=Publish")
    message = await verifier.verify(body(fields))

    with pytest.raises(SnsRejected, match="ConfirmSubscription"):
        verifier.subscribe_url(message)


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.ap-northeast-2.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
    ],
)
def test_the_default_pattern_admits_aws_sns_hosts(url: str) -> None:
    assert allowed_url(url, re.compile(AWS_SNS_ORIGIN_PATTERN), "SigningCertURL")


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
        "https://sns.us-east-1.amazonaws.com@evil.example/cert.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/cert.pem",
        "https://sqs.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
        "https://snsXus-east-1.amazonaws.com/cert.pem",
    ],
)
def test_the_default_pattern_refuses_lookalikes(url: str) -> None:
    with pytest.raises(SnsRejected):
        allowed_url(url, re.compile(AWS_SNS_ORIGIN_PATTERN), "SigningCertURL")
