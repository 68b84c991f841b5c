"""What SES reports about sent mail (the `Message` of an SNS notification), read for the
addresses that must not be mailed again: hard bounces and complaints.

SES sends the same JSON two ways: an identity's feedback notifications name the kind in
`notificationType`, a configuration set's event publishing in `eventType`. A soft
(Transient) or Undetermined bounce suppresses no one: the address may work tomorrow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from app.core.interfaces import SuppressionReason

# Room for the provider's diagnostic in the stored detail.
DETAIL_LENGTH = 500


@dataclass(frozen=True)
class Feedback:
    """One address SES says must not be mailed again, and why."""

    address: str  # lower-case
    reason: SuppressionReason
    detail: str


def normalised_address(value: str) -> str:
    """The bare address, lower-case (SES may write `"Name" <a@example.com>`)."""
    return parseaddr(value)[1].strip().lower()


def _detail(*parts: object) -> str:
    text = "; ".join(str(part) for part in parts if part)
    return text[:DETAIL_LENGTH]


def _notification_id(mail: dict[str, Any]) -> str | None:
    """The notification the mail was sent for: the notifier tags each mail with its id."""
    tags = mail.get("tags")
    values = tags.get("notification_id") if isinstance(tags, dict) else None
    return str(values[0]) if isinstance(values, list) and values else None


def _object(event: dict[str, Any], name: str) -> dict[str, Any]:
    value = event.get(name)
    return value if isinstance(value, dict) else {}


def _addresses(entries: Any) -> list[str]:
    if not isinstance(entries, list):
        return []
    addresses = (
        normalised_address(entry.get("emailAddress", ""))
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("emailAddress"), str)
    )
    return [address for address in addresses if "@" in address]


def read_feedback(message: str) -> tuple[str, list[Feedback]]:
    """(what SES reported, the addresses to suppress) for one SES event's JSON.

    Anything else (a delivery, an open, JSON that is not SES's) suppresses no one.
    """
    try:
        event = json.loads(message)
    except json.JSONDecodeError:
        return "not an SES event", []
    if not isinstance(event, dict):
        return "not an SES event", []
    kind = str(event.get("notificationType") or event.get("eventType") or "unknown")
    mail = _object(event, "mail")
    notification_id = _notification_id(mail)
    source = _detail(
        f"SES message {mail.get('messageId')}" if mail.get("messageId") else None,
        f"notification {notification_id}" if notification_id else None,
    )
    if kind == "Bounce":
        bounce = _object(event, "bounce")
        bounce_type = bounce.get("bounceType")
        if bounce_type != "Permanent":
            return f"a {str(bounce_type).lower()} bounce", []
        recipients = bounce.get("bouncedRecipients")
        diagnostics = {
            normalised_address(entry.get("emailAddress", "")): entry.get("diagnosticCode")
            for entry in recipients or []
            if isinstance(entry, dict) and isinstance(entry.get("emailAddress"), str)
        }
        return "a hard bounce", [
            Feedback(
                address,
                SuppressionReason.BOUNCE,
                _detail(
                    f"Permanent/{bounce.get('bounceSubType') or 'General'}",
                    diagnostics.get(address),
                    source,
                ),
            )
            for address in _addresses(recipients)
        ]
    if kind == "Complaint":
        complaint = _object(event, "complaint")
        feedback_type = complaint.get("complaintFeedbackType") or "complaint"
        return "a complaint", [
            Feedback(address, SuppressionReason.COMPLAINT, _detail(feedback_type, source))
            for address in _addresses(complaint.get("complainedRecipients"))
        ]
    return f"a {kind} event", []
