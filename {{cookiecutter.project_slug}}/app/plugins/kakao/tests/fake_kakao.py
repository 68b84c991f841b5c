"""A local Kakao, one server for every Kakao plugin's tests: kauth's consent page and token
endpoint (authorization code and refresh grants), kapi's `/v2/user/me` and the KakaoTalk
"send to me" memo API.

Tokens are Kakao's: an access token stands for one Kakao user and the consent items that
user agreed to; a refresh token gets a new access token for the same. Tests turn the
failure knobs of the base class (`token_failure`, `profile_failure`) and the memo API's
(`memo_failure`, `memo_delay_seconds`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.base import Failure, FakeOAuthProvider, Grant, json_response
from tests.fakes.server import LiveServer, wait_unless

# The app's REST API key the fake knows; "Client Secret" is off unless a test turns it on.
CLIENT_ID = "fake-rest-api-key"
MEMO_PATH = "/v2/api/talk/memo/default/send"
TALK_MESSAGE = "talk_message"
# A sign-in that agreed to the profile and to KakaoTalk messages, as `issue` hands out.
TALK_SCOPES = frozenset({"profile_nickname", "account_email", TALK_MESSAGE})
REFRESH_TOKEN_EXPIRES_IN = 5183999


@dataclass(frozen=True)
class KakaoUser:
    id: int = 3141592653
    nickname: str = "길동이"
    # None: the user kept Kakao's stand-in picture.
    profile_image_url: str | None = "http://k.kakaocdn.net/dn/bXyZ/img_640x640.jpg"
    email: str = "gildong@kakao.com"
    is_email_valid: bool = True
    is_email_verified: bool = True
    name: str = "홍길동"
    gender: str = "male"
    birthyear: str = "1992"
    birthday: str = "0914"
    birthday_type: str = "SOLAR"
    phone_number: str = "+82 10-1234-5678"


def user_me(user: KakaoUser, scopes: frozenset[str], *, secure: bool) -> dict[str, Any]:
    """`/v2/user/me` as Kakao answers it: fields without agreement say `*_needs_agreement`."""
    image = user.profile_image_url or "http://img1.kakaocdn.net/thumb/default.jpg"
    if secure and ".kakaocdn.net/" in image:
        # secure_resource=true: Kakao hands out its CDN's images over https.
        image = image.replace("http://", "https://", 1)
    account: dict[str, Any] = {}
    profile: dict[str, Any] = {}
    account["profile_nickname_needs_agreement"] = "profile_nickname" not in scopes
    if "profile_nickname" in scopes:
        profile.update(nickname=user.nickname, is_default_nickname=False)
    account["profile_image_needs_agreement"] = "profile_image" not in scopes
    if "profile_image" in scopes:
        profile.update(
            thumbnail_image_url=image.replace("640x640", "110x110"),
            profile_image_url=image,
            is_default_image=user.profile_image_url is None,
        )
    if profile:
        account["profile"] = profile
    account["has_email"] = True
    account["email_needs_agreement"] = "account_email" not in scopes
    if "account_email" in scopes:
        account.update(
            is_email_valid=user.is_email_valid,
            is_email_verified=user.is_email_verified,
            email=user.email,
        )
    account["name_needs_agreement"] = "name" not in scopes
    if "name" in scopes:
        account["name"] = user.name
    account["has_birthyear"] = True
    account["birthyear_needs_agreement"] = "birthyear" not in scopes
    if "birthyear" in scopes:
        account["birthyear"] = user.birthyear
    account["has_birthday"] = True
    account["birthday_needs_agreement"] = "birthday" not in scopes
    if "birthday" in scopes:
        account.update(
            birthday=user.birthday, birthday_type=user.birthday_type, is_leap_month=False
        )
    account["has_gender"] = True
    account["gender_needs_agreement"] = "gender" not in scopes
    if "gender" in scopes:
        account["gender"] = user.gender
    account["has_phone_number"] = True
    account["phone_number_needs_agreement"] = "phone_number" not in scopes
    if "phone_number" in scopes:
        account["phone_number"] = user.phone_number
    body: dict[str, Any] = {"id": user.id, "connected_at": "2024-05-02T08:13:21Z"}
    properties = {}
    if "profile_nickname" in scopes:
        properties["nickname"] = user.nickname
    if "profile_image" in scopes:
        properties["profile_image"] = image
        properties["thumbnail_image"] = image.replace("640x640", "110x110")
    if properties:
        body["properties"] = properties
    body["kakao_account"] = account
    return body


@dataclass
class Memo:
    """A memo Kakao accepted: the Kakao user it went to, and its template."""

    kakao_id: str
    template: dict[str, Any]


class FakeKakao(FakeOAuthProvider):
    name = "kakao"
    display_name = "Kakao"
    authorize_path = "/oauth/authorize"
    token_path = "/oauth/token"
    profile_path = "/v2/user/me"
    profile_methods = ("GET", "POST")
    required_scopes = frozenset({"profile_nickname"})
    # "Client Secret" is off unless the app switched it on.
    client_secret_required = False
    env_left_unset = ("KAKAO_CLIENT_SECRET", "KAKAO_SCOPES")

    def __init__(self) -> None:
        super().__init__(client_id=CLIENT_ID, client_secret="", user=KakaoUser())

    def reset(self) -> None:
        super().reset()
        self.expires_in = 21599
        # Kakao sends a new refresh token only when the old one is close to its end.
        self.rotate_refresh_tokens = False
        self.refresh_tokens: dict[str, Grant] = {}
        self.memo_failure: Failure | None = None
        # Seconds an accepted memo's answer takes: the memo is sent, the answer comes late.
        self.memo_delay_seconds = 0.0
        self.memo_calls = 0
        self.memos: list[Memo] = []

    # --- what tests ask of it ---------------------------------------------------------

    def issue(self, kakao_id: str, scopes: frozenset[str] = TALK_SCOPES) -> tuple[str, str]:
        """A valid access and refresh token of a Kakao user, as a sign-in would store them."""
        grant = Grant(redirect_uri="", scopes=scopes, user=KakaoUser(id=int(kakao_id)))
        access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self._tokens[access] = grant
        self.refresh_tokens[refresh] = grant
        return access, refresh

    def revoke(self, access_token: str) -> None:
        """The access token stops working (revoked, or expired before its time)."""
        self._tokens.pop(access_token, None)

    def kakao_id_of(self, access_token: str) -> str | None:
        """The Kakao user a valid access token stands for; None for an unknown one."""
        grant = self._tokens.get(access_token)
        return None if grant is None else str(grant.user.id)

    def env(self) -> dict[str, str]:
        return {
            "KAKAO_CLIENT_ID": self.client_id,
            "KAKAO_AUTHORIZE_URL": f"{self.base_url}{self.authorize_path}",
            "KAKAO_TOKEN_URL": f"{self.base_url}{self.token_path}",
            "KAKAO_USER_ME_URL": f"{self.base_url}{self.profile_path}",
            "KAKAO_UNLINK_URL": f"{self.base_url}/v1/user/unlink",
            "KAKAO_TIMEOUT_SECONDS": "2.5",
        }

    # --- what the base class asks -------------------------------------------------------

    def scope_labels(self) -> Mapping[str, str]:
        return {
            "profile_nickname": "닉네임 (nickname)",
            "profile_image": "프로필 사진 (profile picture)",
            "account_email": "카카오계정(이메일) (email)",
            "name": "이름 (name)",
            "gender": "성별 (gender)",
            "birthday": "생일 (birthday)",
            "birthyear": "출생 연도 (birth year)",
            "phone_number": "카카오계정(전화번호) (phone number)",
            TALK_MESSAGE: "카카오톡 메시지 전송 (send you KakaoTalk messages)",
        }

    def denied_params(self) -> dict[str, str]:
        return {"error": "access_denied", "error_description": "User denied access"}

    def token_body(self, access_token: str, grant: Grant) -> dict[str, Any]:
        refresh = secrets.token_urlsafe(16)
        self.refresh_tokens[refresh] = grant
        return {
            "token_type": "bearer",
            "access_token": access_token,
            "expires_in": self.expires_in,
            "refresh_token": refresh,
            "refresh_token_expires_in": REFRESH_TOKEN_EXPIRES_IN,
            "scope": " ".join(sorted(grant.scopes)),
        }

    def token_error(self, status: int, error: str, description: str) -> Response:
        codes = {"invalid_grant": "KOE320", "invalid_client": "KOE010"}
        body = {"error": error, "error_description": description}
        if error in codes:
            body["error_code"] = codes[error]
        return json_response(body, status)

    def profile_error(self, status: int) -> Response:
        errors = {
            401: {"msg": "this access token does not exist", "code": -401},
            403: {"msg": "[KakaoAccount] insufficient scopes.", "code": -402},
        }
        return json_response(errors.get(status, {"msg": "internal error", "code": -1}), status)

    def profile_body(self, request: Request, grant: Grant) -> Response:
        secure = request.query_params.get("secure_resource") == "true"
        return json_response(user_me(grant.user, grant.scopes, secure=secure))

    # --- the ASGI app: the base's routes, the refresh grant and the memo API -------------

    def app(self) -> Starlette:
        app = super().app()
        app.router.routes.append(Route(MEMO_PATH, self._memo, methods=["POST"]))
        return app

    async def _token(self, request: Request) -> Response:
        form = await request.form()
        if form.get("grant_type") != "refresh_token":
            return await super()._token(request)
        self.calls.token += 1
        fields = {key: str(value) for key, value in form.items()}
        self.calls.token_forms.append(fields)
        if self.token_failure is not None:
            status = self.token_failure if isinstance(self.token_failure, int) else 500
            error = self.token_error(status, "server_error", "Internal error, try again later")
            return await self._fail(self.token_failure, error)
        secret_ok = fields.get("client_secret") == self.client_secret or (
            not self.client_secret_required and "client_secret" not in fields
        )
        if fields.get("client_id") != self.client_id or not secret_ok:
            return self.token_error(401, "invalid_client", "Bad client credentials")
        grant = self.refresh_tokens.get(fields.get("refresh_token", ""))
        if grant is None:
            return json_response(
                {
                    "error": "invalid_grant",
                    "error_description": "refresh token not found",
                    "error_code": "KOE322",
                },
                400,
            )
        access = secrets.token_urlsafe(16)
        self._tokens[access] = grant
        body: dict[str, Any] = {
            "token_type": "bearer",
            "access_token": access,
            "expires_in": self.expires_in,
        }
        if self.rotate_refresh_tokens:
            refresh = secrets.token_urlsafe(16)
            self.refresh_tokens[refresh] = grant
            body.update(refresh_token=refresh, refresh_token_expires_in=REFRESH_TOKEN_EXPIRES_IN)
        return json_response(body)

    async def _memo(self, request: Request) -> Response:
        self.memo_calls += 1
        if self.memo_failure is not None:
            status = self.memo_failure if isinstance(self.memo_failure, int) else 500
            error = json_response({"msg": "internal error", "code": -1}, status)
            return await self._fail(self.memo_failure, error)
        authorization = request.headers.get("Authorization", "")
        grant = None
        if authorization.startswith("Bearer "):
            grant = self._tokens.get(authorization.removeprefix("Bearer "))
        if grant is None:
            return json_response({"msg": "this access token does not exist", "code": -401}, 401)
        if TALK_MESSAGE not in grant.scopes:
            return json_response(
                {
                    "msg": "insufficient scopes.",
                    "code": -402,
                    "api_type": "TALK_MEMO_DEFAULT_SEND",
                    "required_scopes": [TALK_MESSAGE],
                },
                403,
            )
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return json_response({"msg": "bad content type", "code": -2}, 400)
        form = await request.form()
        try:
            template = json.loads(str(form["template_object"]))
        except (KeyError, ValueError):
            return json_response({"msg": "template_object is invalid", "code": -2}, 400)
        if template.get("object_type") != "text" or "link" not in template:
            return json_response({"msg": "template_object is invalid", "code": -2}, 400)
        self.memos.append(Memo(kakao_id=str(grant.user.id), template=template))
        await wait_unless(self.memo_delay_seconds, lambda: self._closing)
        return json_response({"result_code": 0})


@contextmanager
def serving_fake_kakao() -> Iterator[FakeKakao]:
    """The fake, served on 127.0.0.1 until the block ends."""
    fake = FakeKakao()
    with LiveServer(fake.app(), on_stop=fake.close) as server:
        fake.base_url = server.url
        yield fake
