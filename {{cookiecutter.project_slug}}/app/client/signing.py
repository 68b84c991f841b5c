"""`SignedAuth`: signs every request an httpx client sends with an API key.

    async with httpx.AsyncClient(
        base_url="https://notify.example.com", auth=SignedAuth(access_key, secret_key)
    ) as client:
        await client.post("/api/v1/notifications", json={...})

Each request is signed as it is sent, with the current time and a fresh nonce, over its
exact method, path, query and body bytes. Send a request again (a retry) through the
client, not by replaying its headers: the service refuses a nonce it has seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator

import httpx

from app.signed_api.signature import (
    API_KEY_HEADER,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    new_nonce,
    sign,
)


class SignedAuth(httpx.Auth):
    # httpx reads a streamed body into memory first, so its bytes can be hashed.
    requires_request_body = True

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        *,
        clock: Callable[[], float] = time.time,
        nonce_factory: Callable[[], str] = new_nonce,
    ) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.clock = clock
        self.nonce_factory = nonce_factory

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign_request(request)
        yield request

    def sign_request(self, request: httpx.Request) -> None:
        timestamp = str(int(self.clock()))
        nonce = self.nonce_factory()
        # The path as it goes on the wire (percent-encoded), without the query.
        path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        signature = sign(
            self.secret_key,
            method=request.method,
            path=path,
            query=request.url.query.decode("ascii"),
            timestamp=timestamp,
            nonce=nonce,
            body=request.content,
        )
        request.headers[API_KEY_HEADER] = self.access_key
        request.headers[TIMESTAMP_HEADER] = timestamp
        request.headers[NONCE_HEADER] = nonce
        request.headers[SIGNATURE_HEADER] = signature
