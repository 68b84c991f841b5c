"""A stand-in for Amazon SNS: messages signed as SNS signs them, with a test certificate
served over HTTP on 127.0.0.1, and the ConfirmSubscription link a subscription is confirmed by.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.plugins.ses.sns import SIGNATURE_HASHES, canonical_string

REGION = "eu-west-1"
ACCOUNT = "123456789012"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:ses-feedback"
CERTIFICATE_PATH = "/SimpleNotificationService-0000000000000000000000.pem"


@dataclass(frozen=True)
class SigningIdentity:
    key: rsa.RSAPrivateKey
    certificate_pem: bytes


def signing_identity(common_name: str = "sns.amazonaws.com") -> SigningIdentity:
    """A fresh key and a self-signed certificate for it, valid around now."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return SigningIdentity(key, certificate.public_bytes(serialization.Encoding.PEM))


def sns_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


@dataclass
class FakeSns:
    """Serves its certificate and confirmation link; signs the messages a test sends."""

    identity: SigningIdentity
    base_url: str = ""  # set once the server's address is known
    certificate_fetches: int = 0
    # The query of each ConfirmSubscription request: each is a confirmed subscription.
    confirmations: list[dict[str, str]] = field(default_factory=list)
    _tokens: itertools.count[int] = field(default_factory=itertools.count)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(CERTIFICATE_PATH, self._certificate, methods=["GET"]),
                Route("/", self._action, methods=["GET"]),
            ]
        )

    @property
    def origin_pattern(self) -> str:
        """The allowed-origin setting that admits this fake (and nothing else)."""
        return re.escape(self.base_url)

    @property
    def certificate_url(self) -> str:
        return f"{self.base_url}{CERTIFICATE_PATH}"

    async def _certificate(self, request: Request) -> Response:
        self.certificate_fetches += 1
        return Response(self.identity.certificate_pem, media_type="application/x-x509-ca-cert")

    async def _action(self, request: Request) -> Response:
        if request.query_params.get("Action") != "ConfirmSubscription":
            return Response("<ErrorResponse/>", status_code=400, media_type="text/xml")
        self.confirmations.append(dict(request.query_params))
        arn = f"{request.query_params.get('TopicArn')}:{uuid.uuid4()}"
        body = (
            '<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
            f"<ConfirmSubscriptionResult><SubscriptionArn>{arn}</SubscriptionArn>"
            "</ConfirmSubscriptionResult></ConfirmSubscriptionResponse>"
        )
        return Response(body, media_type="text/xml")

    def signed(
        self,
        fields: dict[str, str],
        *,
        version: str = "1",
        identity: SigningIdentity | None = None,
        certificate_url: str | None = None,
    ) -> dict[str, str]:
        """`fields` with SignatureVersion, Signature and SigningCertURL added, as SNS sends."""
        key = (identity or self.identity).key
        signature = key.sign(
            canonical_string(fields), padding.PKCS1v15(), SIGNATURE_HASHES[version]()
        )
        return {
            **fields,
            "SignatureVersion": version,
            "Signature": base64.b64encode(signature).decode(),
            "SigningCertURL": certificate_url or self.certificate_url,
        }

    def notification(
        self,
        message: dict[str, Any] | str,
        *,
        topic_arn: str = TOPIC_ARN,
        timestamp: datetime | None = None,
        subject: str | None = None,
        **signing: Any,
    ) -> dict[str, str]:
        fields = {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": topic_arn,
            "Message": message if isinstance(message, str) else json.dumps(message),
            "Timestamp": sns_timestamp(timestamp or datetime.now(UTC)),
            "UnsubscribeURL": f"{self.base_url}/?Action=Unsubscribe&SubscriptionArn={topic_arn}:x",
        }
        if subject is not None:
            fields["Subject"] = subject
        return self.signed(fields, **signing)

    def subscription_confirmation(
        self,
        *,
        topic_arn: str = TOPIC_ARN,
        subscribe_url: str | None = None,
        timestamp: datetime | None = None,
        **signing: Any,
    ) -> dict[str, str]:
        token = f"token-{next(self._tokens)}"
        fields = {
            "Type": "SubscriptionConfirmation",
            "MessageId": str(uuid.uuid4()),
            "Token": token,
            "TopicArn": topic_arn,
            "Message": f"You have chosen to subscribe to the topic {topic_arn}.",
            "SubscribeURL": subscribe_url
            or f"{self.base_url}/?Action=ConfirmSubscription&TopicArn={topic_arn}&Token={token}",
            "Timestamp": sns_timestamp(timestamp or datetime.now(UTC)),
        }
        return self.signed(fields, **signing)


def hard_bounce(*addresses: str, notification_id: str = "1") -> dict[str, Any]:
    """SES's notification of a permanent bounce, as its feedback notifications word it."""
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": address,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
                for address in addresses
            ],
            "timestamp": sns_timestamp(datetime.now(UTC)),
            "feedbackId": f"feedback-{uuid.uuid4()}",
        },
        "mail": _mail(addresses, notification_id),
    }


def soft_bounce(*addresses: str) -> dict[str, Any]:
    event = hard_bounce(*addresses)
    event["bounce"]["bounceType"] = "Transient"
    event["bounce"]["bounceSubType"] = "MailboxFull"
    return event


def complaint(*addresses: str, notification_id: str = "1") -> dict[str, Any]:
    """A complaint, as a configuration set's event publishing words it (`eventType`)."""
    return {
        "eventType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": address} for address in addresses],
            "timestamp": sns_timestamp(datetime.now(UTC)),
            "feedbackId": f"feedback-{uuid.uuid4()}",
            "complaintFeedbackType": "abuse",
        },
        "mail": _mail(addresses, notification_id),
    }


def _mail(addresses: tuple[str, ...], notification_id: str) -> dict[str, Any]:
    return {
        "timestamp": sns_timestamp(datetime.now(UTC)),
        "messageId": f"0100018c-{uuid.uuid4()}-000000",
        "source": "no-reply@mail.example.com",
        "destination": list(addresses),
        "tags": {"notification_id": [notification_id]},
    }
