"""/users/me refuses every sign-in token it did not issue as it is: 401 in the error shape."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from app.accounts.auth_backends import AUTH_COOKIE_NAME
from tests.support import ME, TEST_SECRET_KEY, assert_error, bearer_for, login, register

AUDIENCE = "fastapi-users:auth"


@pytest.fixture
def app(shared_app: FastAPI) -> FastAPI:
    """The module's tests share one app, each on an empty database."""
    return shared_app


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(user_id: int, **changes: Any) -> dict[str, Any]:
    return {"sub": str(user_id), "aud": AUDIENCE, "exp": int(time.time()) + 600, **changes}


def forged_tokens(user_id: int) -> dict[str, str]:
    return {
        "expired": jwt.encode(
            claims(user_id, exp=int(time.time()) - 60), TEST_SECRET_KEY, algorithm="HS256"
        ),
        "wrong audience": jwt.encode(
            claims(user_id, aud="someone-else"), TEST_SECRET_KEY, algorithm="HS256"
        ),
        "wrong signature": jwt.encode(
            claims(user_id), "another-secret-that-is-long-enough-000000", algorithm="HS256"
        ),
        # Unsigned: a verifier that believed the header's "alg" would accept it.
        "alg none": f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(claims(user_id))}.",
    }


async def me_with_cookie(client: httpx.AsyncClient, cookie: str) -> httpx.Response:
    client.cookies.clear()
    client.cookies.set(AUTH_COOKIE_NAME, cookie)
    return await client.get(ME)


@pytest.fixture
async def user_id(client: httpx.AsyncClient) -> int:
    created = await register(client, "holder@example.com")
    # The genuine token works, so a refusal below is about the forgery alone.
    me = await client.get(ME, headers=await bearer_for(client, "holder@example.com"))
    assert me.status_code == 200, me.text
    user: int = created["id"]
    return user


@pytest.mark.parametrize("kind", ["expired", "wrong audience", "wrong signature", "alg none"])
async def test_a_forged_bearer_token_is_refused(
    client: httpx.AsyncClient, user_id: int, kind: str
) -> None:
    token = forged_tokens(user_id)[kind]
    response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 401, "UNAUTHORIZED")


async def test_a_tampered_cookie_is_refused(client: httpx.AsyncClient, user_id: int) -> None:
    signed_in = await login(client, "holder@example.com", backend="cookie")
    assert signed_in.status_code == 204, signed_in.text
    cookie = signed_in.cookies[AUTH_COOKIE_NAME]
    assert (await me_with_cookie(client, cookie)).status_code == 200

    header, payload, signature = cookie.split(".")
    raised = b64url({**json.loads(base64.urlsafe_b64decode(payload + "==")), "sub": "999999"})
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for tampered in (f"{header}.{raised}.{signature}", f"{header}.{payload}.{flipped}"):
        assert_error(await me_with_cookie(client, tampered), 401, "UNAUTHORIZED")
    for token in forged_tokens(user_id).values():
        assert_error(await me_with_cookie(client, token), 401, "UNAUTHORIZED")
