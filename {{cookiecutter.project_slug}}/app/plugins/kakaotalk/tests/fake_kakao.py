"""A stand-in for Kakao's memo API and token endpoint, served on 127.0.0.1 by the tests.

It knows which access tokens are valid for which Kakao user, which users agreed to
`talk_message`, and keeps every memo it accepted. Tests turn its failure knobs.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.plugins.kakaotalk.notifier import MEMO_PATH, TOKEN_PATH
from tests.fakes.server import wait_unless

Failure = int | Literal["timeout"]


@dataclass
class Memo:
    kakao_id: str
    template: dict[str, Any]


@dataclass
class FakeKakaoTalk:
    client_id: str
    client_secret: str = ""
    expires_in: int = 21599
    # Kakao sends a new refresh token only when the old one is close to its end.
    rotate_refresh_tokens: bool = False
    memo_failure: Failure | None = None
    token_failure: Failure | None = None
    hang_seconds: float = 1.0
    # Seconds an accepted memo's answer takes: the memo is sent, the answer comes late.
    memo_delay_seconds: float = 0.0
    memos: list[Memo] = field(default_factory=list)
    token_forms: list[dict[str, str]] = field(default_factory=list)
    memo_calls: int = 0
    access_tokens: dict[str, str] = field(default_factory=dict)  # token → Kakao user id
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    without_consent: set[str] = field(default_factory=set)
    _closing: bool = False

    def close(self) -> None:
        """Send hanging answers at once: the server is stopping."""
        self._closing = True

    def issue(self, kakao_id: str) -> tuple[str, str]:
        """A valid access and refresh token for a Kakao user, as sign-in would store them."""
        access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self.access_tokens[access] = kakao_id
        self.refresh_tokens[refresh] = kakao_id
        return access, refresh

    def revoke(self, access_token: str) -> None:
        self.access_tokens.pop(access_token, None)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(MEMO_PATH, self._memo, methods=["POST"]),
                Route(TOKEN_PATH, self._token, methods=["POST"]),
            ]
        )

    async def _fail(self, failure: Failure) -> Response:
        if failure == "timeout":
            await wait_unless(self.hang_seconds, lambda: self._closing)
            return Response(status_code=504)
        return JSONResponse({"msg": "internal error", "code": -1}, status_code=failure)

    async def _memo(self, request: Request) -> Response:
        self.memo_calls += 1
        if self.memo_failure is not None:
            return await self._fail(self.memo_failure)
        authorization = request.headers.get("Authorization", "")
        kakao_id = self.access_tokens.get(authorization.removeprefix("Bearer "))
        if not authorization.startswith("Bearer ") or kakao_id is None:
            return JSONResponse(
                {"msg": "this access token does not exist", "code": -401}, status_code=401
            )
        if kakao_id in self.without_consent:
            return JSONResponse(
                {
                    "msg": "insufficient scopes.",
                    "code": -402,
                    "api_type": "TALK_MEMO_DEFAULT_SEND",
                    "required_scopes": ["talk_message"],
                },
                status_code=403,
            )
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return JSONResponse({"msg": "bad content type", "code": -2}, status_code=400)
        form = await request.form()
        try:
            template = json.loads(str(form["template_object"]))
        except (KeyError, ValueError):
            return JSONResponse({"msg": "template_object is invalid", "code": -2}, 400)
        if template.get("object_type") != "text" or "link" not in template:
            return JSONResponse({"msg": "template_object is invalid", "code": -2}, 400)
        self.memos.append(Memo(kakao_id=kakao_id, template=template))
        await wait_unless(self.memo_delay_seconds, lambda: self._closing)
        return JSONResponse({"result_code": 0})

    async def _token(self, request: Request) -> Response:
        form = {key: str(value) for key, value in (await request.form()).items()}
        self.token_forms.append(form)
        if self.token_failure is not None:
            return await self._fail(self.token_failure)
        secret_ok = not self.client_secret or form.get("client_secret") == self.client_secret
        if form.get("client_id") != self.client_id or not secret_ok:
            return JSONResponse(
                {
                    "error": "invalid_client",
                    "error_description": "Bad client credentials",
                    "error_code": "KOE010",
                },
                status_code=401,
            )
        if form.get("grant_type") != "refresh_token":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        kakao_id = self.refresh_tokens.get(form.get("refresh_token", ""))
        if kakao_id is None:
            return JSONResponse(
                {
                    "error": "invalid_grant",
                    "error_description": "refresh token not found",
                    "error_code": "KOE322",
                },
                status_code=400,
            )
        access = secrets.token_urlsafe(16)
        self.access_tokens[access] = kakao_id
        body: dict[str, Any] = {
            "token_type": "bearer",
            "access_token": access,
            "expires_in": self.expires_in,
        }
        if self.rotate_refresh_tokens:
            refresh = secrets.token_urlsafe(16)
            self.refresh_tokens[refresh] = kakao_id
            body.update(refresh_token=refresh, refresh_token_expires_in=5184000)
        return JSONResponse(body)
