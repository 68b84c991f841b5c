"""Amazon SNS messages posted to the service, believed only once AWS's signature checks out.

How SNS signs (AWS's "Verifying the signatures of Amazon SNS messages"): the named fields
of the message, each as "Name\\nvalue\\n" in a fixed order, signed with RSA (PKCS #1 v1.5)
over SHA1 (SignatureVersion 1) or SHA256 (SignatureVersion 2) by the key of the
certificate at `SigningCertURL`. Anyone can post to the endpoint, and anyone can name a
certificate: only one served from SNS's own host is trusted, so the URL must match the
allowed pattern (by default AWS's SNS hosts over HTTPS) before it is fetched.

Checked before the certificate is fetched, so that a forged message costs no request:
the topic (only the configured ones), the message's age (an old one replayed is refused)
and the certificate URL.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from app.core.http import outbound_client

# The origin (scheme://host[:port]) SNS serves its certificates and subscription links
# from: HTTPS on sns.<region>.amazonaws.com (.com.cn in China's regions).
AWS_SNS_ORIGIN_PATTERN = r"https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?"

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"

# The fields each kind of message signs, in the order they are signed. A field a message
# lacks (Subject, often) is left out of the string.
_CONFIRMATION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIPTION_CONFIRMATION: _CONFIRMATION_FIELDS,
    UNSUBSCRIBE_CONFIRMATION: _CONFIRMATION_FIELDS,
}
# SignatureVersion → the digest signed. SHA1 is SNS's own choice for version 1; topics can
# be switched to version 2 (SHA256), and both arrive.
SIGNATURE_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "1": hashes.SHA1,
    "2": hashes.SHA256,
}
# A signing certificate is ~2 KB; a larger answer is not one.
MAX_CERTIFICATE_BYTES = 64 * 1024
# A message stamped this far ahead of the clock is refused as well (clocks drift a little).
ALLOWED_CLOCK_SKEW = timedelta(minutes=5)
CERTIFICATES_KEPT = 16


class SnsRejected(Exception):
    """The message is not one SNS sent for a topic this service listens to."""


class SubscriptionNotConfirmed(Exception):
    """SNS did not take the confirmation (unreachable, or an error answer)."""


@dataclass(frozen=True)
class SnsMessage:
    type: str
    message_id: str
    topic_arn: str
    message: str
    timestamp: datetime
    subject: str | None
    subscribe_url: str | None


def _text(fields: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = fields.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise SnsRejected(f"the message has no {name}")
    return value


def parse_timestamp(value: str) -> datetime:
    """SNS's ISO 8601 UTC time, e.g. 2026-12-03T13:30:00.123Z."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SnsRejected(f"the Timestamp {value!r} is not an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise SnsRejected(f"the Timestamp {value!r} has no time zone")
    return parsed.astimezone(UTC)


def canonical_string(fields: Mapping[str, Any]) -> bytes:
    """The bytes SNS signed: "Name\\nvalue\\n" for each signed field the message has."""
    message_type = fields.get("Type")
    names = SIGNED_FIELDS.get(message_type) if isinstance(message_type, str) else None
    if names is None:
        raise SnsRejected(f"unknown message Type {message_type!r}")
    parts = []
    for name in names:
        value = fields.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise SnsRejected(f"the message's {name} is not a string")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode()


def allowed_url(url: str, origin_pattern: re.Pattern[str], what: str) -> httpx.URL:
    """`url` when its origin matches the pattern; SnsRejected otherwise.

    Parsed the way httpx will fetch it, so that the host checked is the host asked: in
    `https://sns.us-east-1.amazonaws.com@elsewhere/` that is `elsewhere`.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise SnsRejected(f"the {what} is not a URL") from exc
    port = f":{parsed.port}" if parsed.port is not None else ""
    origin = f"{parsed.scheme}://{parsed.host}{port}"
    if not origin_pattern.fullmatch(origin):
        raise SnsRejected(f"the {what} {url!r} is not on an allowed SNS host")
    return parsed


@dataclass(frozen=True)
class SnsPolicy:
    """What the endpoint accepts: SNS's own hosts, the service's topics, recent messages."""

    origin_pattern: re.Pattern[str]
    topic_arns: frozenset[str]
    max_age: timedelta

    @classmethod
    def of(cls, origin_pattern: str, topic_arns: list[str], max_age_seconds: float) -> SnsPolicy:
        return cls(
            origin_pattern=re.compile(origin_pattern),
            topic_arns=frozenset(topic_arns),
            max_age=timedelta(seconds=max_age_seconds),
        )


class CertificateStore:
    """Signing certificates by URL, each fetched once: SNS signs with few keys."""

    def __init__(self, timeout_seconds: float) -> None:
        self._timeout = timeout_seconds
        self._keys: OrderedDict[str, rsa.RSAPublicKey] = OrderedDict()

    @property
    def timeout_seconds(self) -> float:
        return self._timeout

    async def public_key(self, url: httpx.URL, now: datetime) -> rsa.RSAPublicKey:
        key = self._keys.get(str(url))
        if key is None:
            key = await self._fetch(url, now)
            self._keys[str(url)] = key
            while len(self._keys) > CERTIFICATES_KEPT:
                self._keys.popitem(last=False)
        return key

    async def _fetch(self, url: httpx.URL, now: datetime) -> rsa.RSAPublicKey:
        try:
            # A redirect is not followed: it could lead off SNS's host. A client per fetch:
            # each certificate is fetched once per process.
            async with (
                outbound_client(self._timeout) as client,
                client.stream("GET", url, follow_redirects=False) as response,
            ):
                if response.status_code != 200:
                    raise SnsRejected(
                        f"the signing certificate could not be fetched "
                        f"(HTTP {response.status_code})"
                    )
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_CERTIFICATE_BYTES:
                        raise SnsRejected("the signing certificate is too large")
        except httpx.HTTPError as exc:
            raise SnsRejected(f"the signing certificate could not be fetched: {exc}") from exc
        try:
            certificate = x509.load_pem_x509_certificate(body)
        except ValueError as exc:
            raise SnsRejected("the signing certificate is not a PEM certificate") from exc
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise SnsRejected("the signing certificate is not valid now")
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SnsRejected("the signing certificate's key is not an RSA key")
        return key


class SnsVerifier:
    def __init__(self, policy: SnsPolicy, certificates: CertificateStore) -> None:
        self.policy = policy
        self.certificates = certificates

    async def verify(self, body: bytes, now: datetime | None = None) -> SnsMessage:
        """The message in `body` once every check passed; SnsRejected naming the first
        that failed."""
        now = now or datetime.now(UTC)
        try:
            fields = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SnsRejected("the body is not an SNS message (JSON expected)") from exc
        if not isinstance(fields, dict):
            raise SnsRejected("the body is not an SNS message (a JSON object expected)")
        signed = canonical_string(fields)
        message = SnsMessage(
            type=str(fields["Type"]),
            message_id=str(_text(fields, "MessageId")),
            topic_arn=str(_text(fields, "TopicArn")),
            message=str(_text(fields, "Message")),
            timestamp=parse_timestamp(str(_text(fields, "Timestamp"))),
            subject=_text(fields, "Subject", required=False),
            subscribe_url=_text(
                fields, "SubscribeURL", required=message_type_confirms(fields["Type"])
            ),
        )
        if message.topic_arn not in self.policy.topic_arns:
            raise SnsRejected(f"the topic {message.topic_arn!r} is not one this service takes")
        if message.timestamp < now - self.policy.max_age:
            raise SnsRejected(f"the message is too old (sent {message.timestamp.isoformat()})")
        if message.timestamp > now + ALLOWED_CLOCK_SKEW:
            raise SnsRejected(f"the message is from the future ({message.timestamp.isoformat()})")
        version = _text(fields, "SignatureVersion")
        hash_type = SIGNATURE_HASHES.get(str(version))
        if hash_type is None:
            raise SnsRejected(f"unknown SignatureVersion {version!r}")
        try:
            signature = base64.b64decode(str(_text(fields, "Signature")), validate=True)
        except binascii.Error as exc:
            raise SnsRejected("the Signature is not base64") from exc
        certificate_url = allowed_url(
            str(_text(fields, "SigningCertURL")), self.policy.origin_pattern, "SigningCertURL"
        )
        if not certificate_url.path.endswith(".pem"):
            raise SnsRejected("the SigningCertURL does not name a .pem certificate")
        key = await self.certificates.public_key(certificate_url, now)
        try:
            key.verify(signature, signed, padding.PKCS1v15(), hash_type())
        except InvalidSignature as exc:
            raise SnsRejected("the signature does not match the message") from exc
        return message

    def subscribe_url(self, message: SnsMessage) -> httpx.URL:
        """Where to confirm a subscription: SNS's own ConfirmSubscription link only."""
        url = allowed_url(message.subscribe_url or "", self.policy.origin_pattern, "SubscribeURL")
        if url.params.get("Action") != "ConfirmSubscription":
            raise SnsRejected("the SubscribeURL is not a ConfirmSubscription link")
        return url

    async def confirm_subscription(self, message: SnsMessage) -> None:
        """Visit the message's ConfirmSubscription link, as SNS asks; SnsRejected when the
        link is not SNS's, SubscriptionNotConfirmed when SNS does not take it."""
        url = self.subscribe_url(message)
        try:
            async with outbound_client(self.certificates.timeout_seconds) as client:
                response = await client.get(url, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise SubscriptionNotConfirmed(f"SNS could not be reached: {exc}") from exc
        if response.status_code != 200:
            raise SubscriptionNotConfirmed(f"SNS answered HTTP {response.status_code}")


def message_type_confirms(message_type: Any) -> bool:
    return message_type in (SUBSCRIPTION_CONFIRMATION, UNSUBSCRIBE_CONFIRMATION)
