"""A local Kakao: consent page, kauth token endpoint and kapi's `/v2/user/me`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from tests.fakes.base import FakeOAuthProvider, Grant, json_response
from tests.fakes.server import LiveServer


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
        super().__init__(client_id="fake-rest-api-key", client_secret="", user=KakaoUser())

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
        }

    def denied_params(self) -> dict[str, str]:
        return {"error": "access_denied", "error_description": "User denied access"}

    def env(self) -> dict[str, str]:
        return {
            "KAKAO_CLIENT_ID": self.client_id,
            "KAKAO_AUTHORIZE_URL": f"{self.base_url}{self.authorize_path}",
            "KAKAO_TOKEN_URL": f"{self.base_url}{self.token_path}",
            "KAKAO_USER_ME_URL": f"{self.base_url}{self.profile_path}",
            "KAKAO_UNLINK_URL": f"{self.base_url}/v1/user/unlink",
            "KAKAO_TIMEOUT_SECONDS": "2.5",
        }

    def token_body(self, access_token: str, grant: Grant) -> dict[str, Any]:
        return {
            "token_type": "bearer",
            "access_token": access_token,
            "expires_in": 21599,
            "refresh_token": f"refresh-{access_token}",
            "refresh_token_expires_in": 5183999,
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


@pytest.fixture(scope="session")
def kakao_server() -> Iterator[tuple[FakeKakao, LiveServer]]:
    fake = FakeKakao()
    with LiveServer(fake.app(), on_stop=fake.close) as server:
        fake.base_url = server.url
        yield fake, server


@pytest.fixture
def fake_kakao(
    kakao_server: tuple[FakeKakao, LiveServer], monkeypatch: pytest.MonkeyPatch
) -> FakeKakao:
    """The fake, reset, with the Kakao plugin's settings pointing at it (not at `.env`)."""
    fake, _ = kakao_server
    fake.reset()
    fake.point_plugin_here(monkeypatch)
    return fake


@pytest.fixture
def unconfigured_kakao(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Kakao plugin with no credentials, whatever `.env` or the environment hold."""
    for key in ("KAKAO_CLIENT_ID", "KAKAO_CLIENT_SECRET"):
        monkeypatch.delenv(key, raising=False)
