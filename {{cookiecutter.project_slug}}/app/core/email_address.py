"""The one check of an email recipient, shared by every notifier of the email channel."""

from __future__ import annotations

from functools import lru_cache

from email_validator import EmailNotValidError, validate_email


# Checked once per distinct address: senders repeat their recipients, and the check is a
# good part of accepting a notification.
@lru_cache(maxsize=4096)
def email_address_problem(address: str) -> str | None:
    """Why `address` cannot receive email, or None when it can (syntax only: no DNS lookup,
    so accepting a notification never waits on the network)."""
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None
