"""The request-signing scheme, shared by the service (to verify) and its clients (to sign).

Canonical string: six lines joined by "\\n", no trailing newline::

    METHOD        upper case
    PATH          the request path as sent (percent-encoded as on the wire)
    QUERY         parameters sorted by name then value, url-encoded, joined by "&"
    TIMESTAMP     the X-Timestamp value (Unix seconds)
    NONCE         the X-Nonce value
    BODY_SHA256   lowercase hex SHA-256 of the raw body bytes

X-Signature = base64 (standard, padded) of HMAC-SHA256(secret_key, canonical string).

This module depends on the standard library only, so client code can use it as it is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from urllib.parse import parse_qsl, urlencode

API_KEY_HEADER = "X-Api-Key"
TIMESTAMP_HEADER = "X-Timestamp"
NONCE_HEADER = "X-Nonce"
SIGNATURE_HEADER = "X-Signature"
SIGNATURE_HEADERS = (API_KEY_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER)

NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# Whole seconds, no sign: at most 12 digits so a huge value cannot cost anything to parse.
TIMESTAMP_PATTERN = re.compile(r"^[0-9]{1,12}$")
# 24 random bytes → 32 URL-safe characters, inside the 16-64 the scheme allows.
NONCE_BYTES = 24


def canonical_query(query: str) -> str:
    """`dry_run=false&b=2&a=1` → `a=1&b=2&dry_run=false`.

    Parameters are decoded, sorted by name then value, and encoded again, so `%20` and
    `+` (or any other spelling of the same value) sign alike.
    """
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode(sorted(pairs))


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def canonical_string(
    method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes
) -> str:
    return "\n".join(
        (method.upper(), path, canonical_query(query), timestamp, nonce, body_digest(body))
    )


def sign(
    secret_key: str,
    *,
    method: str,
    path: str,
    query: str,
    timestamp: str,
    nonce: str,
    body: bytes,
) -> str:
    """The X-Signature value for one request."""
    message = canonical_string(method, path, query, timestamp, nonce, body)
    digest = hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signatures_match(expected: str, given: str) -> bool:
    """Constant-time comparison, so timing reveals nothing about the expected signature."""
    return hmac.compare_digest(expected.encode("latin-1"), given.encode("latin-1", "replace"))


def new_nonce() -> str:
    return secrets.token_urlsafe(NONCE_BYTES)


def is_valid_nonce(nonce: str) -> bool:
    return NONCE_PATTERN.match(nonce) is not None


def is_valid_timestamp(timestamp: str) -> bool:
    return TIMESTAMP_PATTERN.match(timestamp) is not None
