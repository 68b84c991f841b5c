"""A local Naver for tests: login/consent page, `/oauth2.0/token` and `/v1/nid/me`.

It speaks Naver's HTTP protocol as the plugin sees it: the authorize page sends the
browser back with `code` and `state`, the token endpoint takes a form and answers
`expires_in` as a string (and a refused code with `200 {"error": ...}`), and the
profile API wraps the member in `{"resultcode": "00", "message": "success",
"response": {...}}`. Tests turn the knobs (`withheld`, `token_failure`,
`profile_failure`) between requests; the fake reads them when a request arrives.
"""

from __future__ import annotations

import asyncio
import html
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from typing import Any, Literal
from urllib.parse import urlencode, urljoin

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

# A call that goes wrong: an HTTP status with Naver's error body, a connection that does
# not answer in time, a 200 whose body is not JSON, or a 200 that carries a refusal.
Failure = int | Literal["timeout", "malformed", "refused"]

AUTHORIZE_PATH = "/oauth2.0/authorize"
TOKEN_PATH = "/oauth2.0/token"
PROFILE_PATH = "/v1/nid/me"

# The consent items of the fake's application, as the consent page lists them. The user
# may untick the optional ones; "mobile" gives both `mobile` and `mobile_e164`.
CONSENT_ITEMS = {
    "nickname": "별명 (nickname)",
    "email": "이메일 주소 (email address)",
    "name": "이름 (name)",
    "profile_image": "프로필 사진 (profile photo)",
    "gender": "성별 (gender)",
    "age": "연령대 (age range)",
    "birthday": "생일 (birthday)",
    "birthyear": "출생연도 (birth year)",
    "mobile": "휴대전화번호 (mobile number)",
}
REQUIRED_ITEMS = frozenset({"nickname", "email"})


@dataclass(frozen=True)
class NaverMember:
    # Naver hands each application its own opaque id for a member.
    id: str = "32742776-xQWp3kZbJ9sY1vN0aH7mRt5LcE8uFgDi2oKz"
    nickname: str = "길동이"
    email: str = "gildong@naver.com"
    name: str = "홍길동"
    profile_image: str = "https://phinf.pstatic.net/contact/20240502_1/gildong.jpg"
    gender: str = "M"
    age: str = "30-39"
    birthday: str = "09-14"
    birthyear: str = "1992"
    mobile: str = "010-1234-5678"
    mobile_e164: str = "+821012345678"


def member_response(member: NaverMember, agreed: frozenset[str]) -> dict[str, Any]:
    """The `response` object: only the items the member agreed to share."""
    fields = asdict(member)
    shown = {"id"} | set(agreed)
    if "mobile" in agreed:
        shown.add("mobile_e164")
    return {key: value for key, value in fields.items() if key in shown}


@dataclass
class Grant:
    redirect_uri: str
    agreed: frozenset[str]
    member: NaverMember
    used: bool = False


@dataclass
class CallLog:
    authorize: int = 0
    token: int = 0
    profile: int = 0
    token_forms: list[dict[str, str]] = field(default_factory=list)


def json_response(body: Any, status_code: int = 200) -> Response:
    # Naver sends Korean text as UTF-8, not as \u escapes.
    return Response(
        json.dumps(body, ensure_ascii=False).encode(),
        status_code=status_code,
        media_type="application/json;charset=utf-8",
    )


PROFILE_ERRORS = {
    401: ("024", "Authentication failed / 인증에 실패했습니다."),
    403: ("403", "Forbidden / 호출 권한이 없습니다."),
    404: ("404", "Not Found / 검색 결과가 없습니다."),
}


class FakeNaver:
    client_id = "fake-naver-client-id"
    client_secret = "fake-naver-client-secret"

    def __init__(self, member: NaverMember | None = None) -> None:
        self.default_member = member or NaverMember()
        self.base_url = ""  # set once the fake is served
        self.reset()

    def reset(self) -> None:
        """Back to a cooperative Naver and a member who agrees to every item."""
        self.member = self.default_member
        self.withheld: set[str] = set()
        self.token_failure: Failure | None = None
        self.profile_failure: Failure | None = None
        # A "timeout" keeps the caller waiting this long (the client gives up sooner).
        self.hang_seconds = 5.0
        self.calls = CallLog()
        self._pending: dict[str, tuple[str, str]] = {}
        self._codes: dict[str, Grant] = {}
        self._tokens: dict[str, Grant] = {}
        self._closing = False

    def close(self) -> None:
        """Let hanging requests end, so the server stops at once."""
        self._closing = True

    def env(self, base_url: str) -> dict[str, str]:
        """The plugin's settings that point it at this fake."""
        return {
            "NAVER_CLIENT_ID": self.client_id,
            "NAVER_CLIENT_SECRET": self.client_secret,
            "NAVER_AUTHORIZE_URL": f"{base_url}{AUTHORIZE_PATH}",
            "NAVER_TOKEN_URL": f"{base_url}{TOKEN_PATH}",
            "NAVER_PROFILE_URL": f"{base_url}{PROFILE_PATH}",
            # Generous: a loaded test machine must not turn a normal call into a timeout.
            "NAVER_TIMEOUT_SECONDS": "2.5",
        }

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(AUTHORIZE_PATH, self._authorize, methods=["GET", "POST"]),
                Route(f"{AUTHORIZE_PATH}/consent", self._consent, methods=["POST"]),
                Route(TOKEN_PATH, self._token, methods=["GET", "POST"]),
                Route(PROFILE_PATH, self._profile, methods=["GET", "POST"]),
            ]
        )

    # --- login and consent ------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        self.calls.authorize += 1
        query = request.query_params
        if query.get("client_id") != self.client_id:
            return HTMLResponse("<h1>잘못된 client_id 입니다 (invalid client)</h1>", 400)
        # Naver requires `state`: it is the service's defence against forged callbacks.
        if query.get("response_type") != "code" or not query.get("redirect_uri"):
            return HTMLResponse("<h1>invalid_request</h1>", status_code=400)
        if not query.get("state"):
            return HTMLResponse("<h1>state 값이 없습니다 (state missing)</h1>", 400)
        request_id = secrets.token_urlsafe(12)
        self._pending[request_id] = (query["redirect_uri"], query["state"])
        return HTMLResponse(self._consent_page(request_id))

    def _consent_page(self, request_id: str) -> str:
        items = []
        for item, label in CONSENT_ITEMS.items():
            if item in REQUIRED_ITEMS:
                items.append(
                    f'<li><input type="hidden" name="item" value="{item}">'
                    f"[필수] {html.escape(label)}</li>"
                )
            else:
                checked = "" if item in self.withheld else " checked"
                items.append(
                    f'<li><label><input type="checkbox" name="item" value="{item}"{checked}>'
                    f" [선택] {html.escape(label)}</label></li>"
                )
        return (
            "<!doctype html><html lang='ko'><head><meta charset='utf-8'>"
            "<title>네이버 로그인</title></head><body>"
            "<h1>NAVER</h1><p>The service asks to see:</p>"
            f'<form method="post" action="{AUTHORIZE_PATH}/consent">'
            f'<input type="hidden" name="request_id" value="{request_id}">'
            f"<ul>{''.join(items)}</ul>"
            '<button type="submit" name="decision" value="agree" id="agree">동의하기</button> '
            '<button type="submit" name="decision" value="cancel" id="cancel">취소</button>'
            "</form></body></html>"
        )

    async def _consent(self, request: Request) -> Response:
        form = await request.form()
        pending = self._pending.pop(str(form.get("request_id", "")), None)
        if pending is None:
            return HTMLResponse("<h1>This login request has expired</h1>", status_code=400)
        redirect_uri, state = pending
        params = {"state": state}
        if form.get("decision") == "agree":
            ticked = {str(value) for value in form.getlist("item")}
            agreed = frozenset((ticked | REQUIRED_ITEMS) & set(CONSENT_ITEMS))
            code = secrets.token_urlsafe(12)
            self._codes[code] = Grant(redirect_uri, agreed, self.member)
            params["code"] = code
        else:
            params.update(error="access_denied", error_description="Canceled By User")
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{separator}{urlencode(params)}", 302)

    # --- token and profile ------------------------------------------------------------

    async def _fail(self, failure: Failure, error: Response) -> Response:
        if failure == "timeout":
            waited = 0.0
            while waited < self.hang_seconds and not self._closing:
                await asyncio.sleep(0.05)
                waited += 0.05
            return Response(status_code=504)
        if failure == "malformed":
            return Response(b"<html><body>Service Unavailable", media_type="application/json")
        return error

    async def _token(self, request: Request) -> Response:
        self.calls.token += 1
        # Naver takes the parameters as a form or in the query string.
        params = dict(request.query_params)
        if request.method == "POST":
            params.update({key: str(value) for key, value in (await request.form()).items()})
        self.calls.token_forms.append(params)
        if self.token_failure is not None:
            status = self.token_failure if isinstance(self.token_failure, int) else 200
            error = json_response(
                {"error": "server_error", "error_description": "temporary error"}, status
            )
            return await self._fail(self.token_failure, error)
        # Naver answers a refused token request with 200 and an error body.
        if params.get("grant_type") != "authorization_code":
            return self._token_error("unsupported_grant_type", "grant_type is not supported")
        if (
            params.get("client_id") != self.client_id
            or params.get("client_secret") != self.client_secret
        ):
            return self._token_error("invalid_client", "client authentication failed")
        grant = self._codes.get(params.get("code", ""))
        if grant is None or grant.used:
            return self._token_error("invalid_request", "no valid data in session")
        grant.used = True
        access_token = secrets.token_urlsafe(24)
        self._tokens[access_token] = grant
        return json_response(
            {
                "access_token": access_token,
                "refresh_token": secrets.token_urlsafe(24),
                "token_type": "bearer",
                "expires_in": "3600",
            }
        )

    @staticmethod
    def _token_error(error: str, description: str) -> Response:
        return json_response({"error": error, "error_description": description})

    @staticmethod
    def _profile_error(status: int) -> Response:
        code, message = PROFILE_ERRORS.get(status, ("500", "Internal Server Error"))
        return json_response({"resultcode": code, "message": message}, status)

    async def _profile(self, request: Request) -> Response:
        self.calls.profile += 1
        authorization = request.headers.get("Authorization", "")
        if not authorization:
            body = {"resultcode": "028", "message": "Authentication header not exists"}
            return json_response(body, 401)
        grant = None
        if authorization.lower().startswith("bearer "):
            grant = self._tokens.get(authorization[7:])
        if grant is None:
            return self._profile_error(401)
        if self.profile_failure is not None:
            failure = self.profile_failure
            if failure == "refused":
                # A refusal in a 200: only the resultcode says it.
                return json_response({"resultcode": "024", "message": "Authentication failed"})
            status = failure if isinstance(failure, int) else 500
            return await self._fail(failure, self._profile_error(status))
        return json_response(
            {
                "resultcode": "00",
                "message": "success",
                "response": member_response(grant.member, grant.agreed),
            }
        )


# --- the browser's part ----------------------------------------------------------------


class _ConsentForm(HTMLParser):
    """What a browser would submit from the consent page on a button press."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: list[tuple[str, str]] = []
        self.buttons: dict[str, tuple[str, str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.action = values.get("action", "")
        elif tag == "input":
            kind = values.get("type", "text")
            if kind == "hidden" or (kind == "checkbox" and "checked" in values):
                self.fields.append((values["name"], values.get("value", "on")))
        elif tag == "button" and "id" in values:
            self.buttons[values["id"]] = (values["name"], values["value"])


async def press(authorization_url: str, button: str = "agree") -> str:
    """Open Naver's page, press a button there; the URL it sends the browser back to."""
    async with httpx.AsyncClient() as browser:
        page = await browser.get(authorization_url)
        assert page.status_code == 200, page.text
        form = _ConsentForm()
        form.feed(page.text)
        data: dict[str, list[str]] = {}
        for name, value in [*form.fields, form.buttons[button]]:
            data.setdefault(name, []).append(value)
        response = await browser.post(urljoin(authorization_url, form.action), data=data)
    assert response.status_code == 302, response.text
    return response.headers["location"]


# --- serving ---------------------------------------------------------------------------


@contextmanager
def serve(app: ASGIApp, *, on_stop: Callable[[], None] | None = None) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1, on a free port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the fake Naver did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        if on_stop is not None:
            on_stop()
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
