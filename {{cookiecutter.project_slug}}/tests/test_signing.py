"""The signing scheme of CONTRACT.md: its test vector, reproduced by the client signer and
by the service's verifier, and the canonical string's rules."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.client.signing import SignedAuth
from app.core.errors import AppError
from app.signed_api.models import ApiKey
from app.signed_api.secret_cipher import cipher_for
from app.signed_api.signature import canonical_query, canonical_string, sign
from app.signed_api.verification import SignedRequest, authenticate_signed_request
from tests.support import create_user

# The CONTRACT.md test vector.
SECRET_KEY = "example-secret-key-0123456789abcdefghijkl"
METHOD = "POST"
PATH = "/api/v1/notifications"
QUERY = "dry_run=false&b=2&a=1"
TIMESTAMP = "1767225600"
NONCE = "n0nce-0123456789ab"
BODY = b'{"channel":"email","to":["a@example.com"],"subject":"Hi","text":"hello"}'
QUERY_LINE = "a=1&b=2&dry_run=false"
BODY_SHA256_LINE = "0463e16ac71e3257145d2ef6b0775e428d7b02467d60bc674322e1cea4296a60"
SIGNATURE = "T5bvkbSgwG8nMdlbpwpEJIjUH1kMrf+u18Mm0osgBsI="
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_the_canonical_string_of_the_vector_has_its_six_lines() -> None:
    text = canonical_string(METHOD, PATH, QUERY, TIMESTAMP, NONCE, BODY)
    assert text == "\n".join([METHOD, PATH, QUERY_LINE, TIMESTAMP, NONCE, BODY_SHA256_LINE])
    assert not text.endswith("\n")


def test_sign_reproduces_the_vector() -> None:
    signature = sign(
        SECRET_KEY,
        method=METHOD,
        path=PATH,
        query=QUERY,
        timestamp=TIMESTAMP,
        nonce=NONCE,
        body=BODY,
    )
    assert signature == SIGNATURE


def test_the_shipped_httpx_auth_reproduces_the_vector() -> None:
    auth = SignedAuth(
        "the-access-key", SECRET_KEY, clock=lambda: 1767225600.9, nonce_factory=lambda: NONCE
    )
    request = httpx.Request("POST", f"https://notify.example.com{PATH}?{QUERY}", content=BODY)

    signed = next(auth.sync_auth_flow(request))

    assert signed.headers["X-Api-Key"] == "the-access-key"
    assert signed.headers["X-Timestamp"] == TIMESTAMP
    assert signed.headers["X-Nonce"] == NONCE
    assert signed.headers["X-Signature"] == SIGNATURE


async def test_the_verifier_accepts_the_vector_and_nothing_else(app: FastAPI) -> None:
    user_id = await create_user(app)
    async with app.state.runtime.database.sessionmaker() as session:
        api_key = await ApiKey.create(
            session=session,
            commit=True,
            user_id=user_id,
            access_key="vector-access-key-0123456789",
            encrypted_secret=cipher_for(app.state.runtime.settings).encrypt(SECRET_KEY),
        )

    def request(signature: str, body: bytes = BODY) -> SignedRequest:
        async def read_body() -> bytes:
            return body

        return SignedRequest(
            method=METHOD,
            path=PATH,
            query=QUERY,
            headers={
                "X-Api-Key": api_key.access_key,
                "X-Timestamp": TIMESTAMP,
                "X-Nonce": NONCE,
                "X-Signature": signature,
            },
            client_address="203.0.113.10",
            read_body=read_body,
        )

    async def verify(signed: SignedRequest) -> int:
        caller = await authenticate_signed_request(
            signed,
            settings=app.state.runtime.settings,
            database=app.state.runtime.database,
            nonce_store=app.state.runtime.nonce_store,
            key_cache=app.state.runtime.key_cache,
            now=1767225600 + 5,
        )
        return caller.user_id

    with pytest.raises(AppError) as refused:
        await verify(request(SIGNATURE.replace("T5b", "T5c")))
    assert refused.value.code == "SIGNATURE_INVALID"
    with pytest.raises(AppError) as refused:
        await verify(request(SIGNATURE, body=BODY + b" "))
    assert refused.value.code == "SIGNATURE_INVALID"

    assert await verify(request(SIGNATURE)) == user_id


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("", ""),
        ("b=2&a=1", "a=1&b=2"),
        # Same name: sorted by value.
        ("tag=z&tag=a&tag=m", "tag=a&tag=m&tag=z"),
        # A space may be sent as %20 or +: both sign alike.
        ("q=a%20b", "q=a+b"),
        ("q=a+b", "q=a+b"),
        # Blank values are kept.
        ("flag&empty=", "empty=&flag="),
        # Reserved characters stay encoded; non-ASCII is UTF-8 percent-encoded.
        ("to=a%40example.com&x=%26%3D", "to=a%40example.com&x=%26%3D"),
        ("name=%ED%95%9C", "name=%ED%95%9C"),
    ],
)
def test_query_parameters_are_sorted_and_encoded_one_way(query: str, canonical: str) -> None:
    assert canonical_query(query) == canonical


def test_no_body_signs_the_hash_of_the_empty_string() -> None:
    assert hashlib.sha256(b"").hexdigest() == EMPTY_SHA256
    text = canonical_string("get", "/api/v1/notifications", "", "1", "n" * 16, b"")
    assert text.splitlines() == ["GET", "/api/v1/notifications", "", "1", "n" * 16, EMPTY_SHA256]


def test_every_part_changes_the_signature() -> None:
    parts: dict[str, Any] = {
        "method": "POST",
        "path": PATH,
        "query": QUERY,
        "timestamp": TIMESTAMP,
        "nonce": NONCE,
        "body": BODY,
    }
    changed = {
        "method": "PUT",
        "path": PATH + "/1",
        "query": QUERY + "&c=3",
        "timestamp": "1767225601",
        "nonce": NONCE + "x",
        "body": BODY[:-1],
    }
    signatures = {sign(SECRET_KEY, **parts)}
    for name, value in changed.items():
        signatures.add(sign(SECRET_KEY, **{**parts, name: value}))
    signatures.add(sign(SECRET_KEY + "x", **parts))
    assert len(signatures) == len(changed) + 2
