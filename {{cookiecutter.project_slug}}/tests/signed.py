"""Helpers for tests of the signed API: a user with an API key, and clients that sign.

user_id = await create_user(app)
key = await issue_api_key(app, user_id)
async with signed_client(app, key) as client:
    await client.post("/api/v1/notifications", json={...})
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from app.accounts.models import User
from app.client.signing import SignedAuth
from app.core.database import Database
from app.signed_api.keys import create_api_key
from app.signed_api.signature import new_nonce, sign
from tests.conftest import TEST_CLIENT_ADDRESS


@dataclass(frozen=True)
class IssuedKey:
    id: int
    access_key: str
    secret_key: str


async def create_user(app: FastAPI, email: str = "caller@example.com") -> int:
    database: Database = app.state.database
    async with database.sessionmaker() as session:
        user = await User.create(
            session=session,
            commit=True,
            email=email,
            hashed_password="not-a-password-hash",
            is_active=True,
            is_verified=True,
        )
        return user.id


async def issue_api_key(app: FastAPI, user_id: int, memo: str | None = None) -> IssuedKey:
    """A key made by the same service code the endpoint uses (limits included)."""
    database: Database = app.state.database
    async with database.sessionmaker() as session:
        api_key, secret_key = await create_api_key(session, app.state.settings, user_id, memo)
        return IssuedKey(api_key.id, api_key.access_key, secret_key)


def signed_client(
    app: FastAPI, key: IssuedKey, *, client_address: str = TEST_CLIENT_ADDRESS
) -> httpx.AsyncClient:
    """An HTTP client into `app` that signs with `key`, calling from `client_address`."""
    transport = httpx.ASGITransport(app=app, client=(client_address, 51000))
    return httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        auth=SignedAuth(key.access_key, key.secret_key),
    )


def signature_headers(
    key: IssuedKey,
    method: str,
    path: str,
    *,
    query: str = "",
    body: bytes = b"",
    timestamp: int | None = None,
    nonce: str | None = None,
    secret_key: str | None = None,
) -> dict[str, str]:
    """The four headers, built by hand so a test can sign one thing and send another."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or new_nonce()
    signature = sign(
        secret_key or key.secret_key,
        method=method,
        path=path,
        query=query,
        timestamp=stamp,
        nonce=nonce,
        body=body,
    )
    return {
        "X-Api-Key": key.access_key,
        "X-Timestamp": stamp,
        "X-Nonce": nonce,
        "X-Signature": signature,
    }


def without(headers: Mapping[str, str], name: str) -> dict[str, Any]:
    return {key: value for key, value in headers.items() if key != name}
