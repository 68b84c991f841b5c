"""What every OAuth provider fake shares: the consent page, codes, tokens and failure knobs.

A subclass says what its provider's token and profile answers look like. Tests turn the
knobs (`withheld`, `token_failure`, `profile_failure`) between requests; the fake reads
them when a request arrives.
"""

from __future__ import annotations

import html
import json
import secrets
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.fakes.server import wait_unless

# A provider call that goes wrong: an HTTP status with the provider's error body, a
# connection that never answers in time, or a 200 whose body is not JSON.
Failure = int | Literal["timeout", "malformed"]


@dataclass
class PendingAuthorization:
    redirect_uri: str
    state: str | None
    scopes: list[str]


@dataclass
class Grant:
    """What an authorization code or an access token stands for."""

    redirect_uri: str
    scopes: frozenset[str]
    user: Any
    used: bool = False


@dataclass
class CallLog:
    authorize: int = 0
    token: int = 0
    profile: int = 0
    token_forms: list[dict[str, str]] = field(default_factory=list)


class FakeOAuthProvider:
    name: str
    display_name: str
    authorize_path: str
    token_path: str
    profile_path: str
    profile_methods: tuple[str, ...] = ("GET",)
    # Scopes a user cannot untick on the consent page.
    required_scopes: frozenset[str] = frozenset()
    client_secret_required = True
    # Settings of the plugin that the fake's `env()` leaves to their defaults.
    env_left_unset: tuple[str, ...] = ()

    def __init__(self, *, client_id: str, client_secret: str, user: Any) -> None:
        self._registered = (client_id, client_secret)
        self.default_user = user
        # Where the fake is served; set once its server runs.
        self.base_url = ""
        self.reset()

    def reset(self) -> None:
        """Back to a cooperative provider and a user who has agreed to nothing yet."""
        self.client_id, self.client_secret = self._registered
        self.client_secret_required = type(self).client_secret_required
        self.user: Any = self.default_user
        self.withheld: set[str] = set()
        self.granted: set[str] = set()
        self.token_failure: Failure | None = None
        self.profile_failure: Failure | None = None
        # A "timeout" keeps the caller waiting this long (the client gives up sooner).
        self.hang_seconds = 5.0
        self.calls = CallLog()
        self._pending: dict[str, PendingAuthorization] = {}
        self._codes: dict[str, Grant] = {}
        self._tokens: dict[str, Grant] = {}
        self._closing = False

    def point_plugin_here(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The plugin's settings (read from the environment) pointing at this fake."""
        for key in self.env_left_unset:
            monkeypatch.delenv(key, raising=False)
        for key, value in self.env().items():
            monkeypatch.setenv(key, value)

    def close(self) -> None:
        """Let hanging requests end, so the server stops at once."""
        self._closing = True

    # --- what a subclass provides ---------------------------------------------------

    def scope_labels(self) -> Mapping[str, str]:
        """The consent page's line for each scope."""
        raise NotImplementedError

    def token_body(self, access_token: str, grant: Grant) -> dict[str, Any]:
        raise NotImplementedError

    def token_error(self, status: int, error: str, description: str) -> Response:
        raise NotImplementedError

    def profile_error(self, status: int) -> Response:
        raise NotImplementedError

    def profile_body(self, request: Request, grant: Grant) -> Response:
        raise NotImplementedError

    def denied_params(self) -> dict[str, str]:
        return {"error": "access_denied"}

    # --- the ASGI app ---------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(self.authorize_path, self._authorize, methods=["GET"]),
                Route(f"{self.authorize_path}/consent", self._consent, methods=["POST"]),
                Route(self.token_path, self._token, methods=["POST"]),
                Route(self.profile_path, self._profile, methods=list(self.profile_methods)),
                Route("/photos/{name}", self._photo, methods=["GET"]),
            ]
        )

    def photo_url(self, name: str = "me.png") -> str:
        """A profile photo this fake serves itself, so a browser can load it offline."""
        return f"{self.base_url}/photos/{name}"

    async def _photo(self, request: Request) -> Response:
        return Response(solid_png(48, 48, (66, 133, 244)), media_type="image/png")

    def env(self) -> dict[str, str]:
        """The plugin settings that point the service at this fake (at `base_url`)."""
        raise NotImplementedError

    async def _authorize(self, request: Request) -> Response:
        self.calls.authorize += 1
        query = request.query_params
        if query.get("client_id") != self.client_id:
            return HTMLResponse("<h1>Error 401: invalid_client</h1>", status_code=401)
        if query.get("response_type") != "code" or not query.get("redirect_uri"):
            return HTMLResponse("<h1>Error 400: invalid_request</h1>", status_code=400)
        scopes = [scope for scope in query.get("scope", "").split(" ") if scope]
        request_id = secrets.token_urlsafe(12)
        self._pending[request_id] = PendingAuthorization(
            redirect_uri=query["redirect_uri"], state=query.get("state"), scopes=scopes
        )
        return HTMLResponse(self._consent_page(request_id, scopes))

    def _consent_page(self, request_id: str, scopes: list[str]) -> str:
        labels = self.scope_labels()
        items = []
        for scope in scopes:
            label = html.escape(labels.get(scope, scope))
            if scope in self.required_scopes:
                items.append(
                    f'<li><input type="hidden" name="scope" value="{html.escape(scope)}">'
                    f"{label} (required)</li>"
                )
            else:
                checked = "" if scope in self.withheld else " checked"
                items.append(
                    f'<li><label><input type="checkbox" name="scope" value="{html.escape(scope)}"'
                    f"{checked}> {label}</label></li>"
                )
        return (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.display_name)} - consent</title></head><body>"
            f"<h1>Sign in with {html.escape(self.display_name)}</h1>"
            "<p>The service asks to see:</p>"
            f'<form method="post" action="{self.authorize_path}/consent">'
            f'<input type="hidden" name="request_id" value="{request_id}">'
            f"<ul>{''.join(items)}</ul>"
            '<button type="submit" name="decision" value="allow" id="allow">Allow</button> '
            '<button type="submit" name="decision" value="deny" id="deny">Cancel</button>'
            "</form></body></html>"
        )

    async def _consent(self, request: Request) -> Response:
        form = await request.form()
        pending = self._pending.pop(str(form.get("request_id", "")), None)
        if pending is None:
            return HTMLResponse("<h1>This consent request has expired</h1>", status_code=400)
        params: dict[str, str] = {}
        if form.get("decision") == "allow":
            ticked = {str(value) for value in form.getlist("scope")}
            # Like the real providers, consent adds to what was granted before.
            self.granted |= ticked & set(pending.scopes)
            code = secrets.token_urlsafe(16)
            self._codes[code] = Grant(
                redirect_uri=pending.redirect_uri,
                scopes=frozenset(self.granted),
                user=self.user,
            )
            params["code"] = code
        else:
            params.update(self.denied_params())
        if pending.state is not None:
            params["state"] = pending.state
        separator = "&" if "?" in pending.redirect_uri else "?"
        return RedirectResponse(
            f"{pending.redirect_uri}{separator}{urlencode(params)}", status_code=302
        )

    async def _fail(self, failure: Failure, error: Response) -> Response:
        if failure == "timeout":
            await wait_unless(self.hang_seconds, lambda: self._closing)
            return Response(status_code=504)
        if failure == "malformed":
            return Response(b"<html><body>Temporarily unavailable", media_type="application/json")
        return error

    async def _token(self, request: Request) -> Response:
        self.calls.token += 1
        form = {key: str(value) for key, value in (await request.form()).items()}
        self.calls.token_forms.append(form)
        if self.token_failure is not None:
            status = self.token_failure if isinstance(self.token_failure, int) else 500
            error = self.token_error(status, *self._token_error_text(status))
            return await self._fail(self.token_failure, error)
        if form.get("grant_type") != "authorization_code":
            return self.token_error(400, "unsupported_grant_type", "grant_type is not supported")
        secret_ok = form.get("client_secret") == self.client_secret or (
            not self.client_secret_required and "client_secret" not in form
        )
        if form.get("client_id") != self.client_id or not secret_ok:
            return self.token_error(401, "invalid_client", "Bad client credentials")
        grant = self._codes.get(form.get("code", ""))
        if grant is None or grant.used:
            return self.token_error(400, "invalid_grant", "authorization code not found")
        grant.used = True
        if form.get("redirect_uri") != grant.redirect_uri:
            return self.token_error(400, "invalid_grant", "redirect_uri mismatch")
        access_token = secrets.token_urlsafe(24)
        self._tokens[access_token] = grant
        return JSONResponse(self.token_body(access_token, grant))

    @staticmethod
    def _token_error_text(status: int) -> tuple[str, str]:
        if status == 400:
            return "invalid_grant", "Bad Request"
        if status == 401:
            return "invalid_client", "Unauthorized"
        return "server_error", "Internal error, try again later"

    async def _profile(self, request: Request) -> Response:
        self.calls.profile += 1
        authorization = request.headers.get("Authorization", "")
        grant = None
        if authorization.lower().startswith("bearer "):
            grant = self._tokens.get(authorization[7:])
        if grant is None:
            return self.profile_error(401)
        if self.profile_failure is not None:
            status = self.profile_failure if isinstance(self.profile_failure, int) else 500
            return await self._fail(self.profile_failure, self.profile_error(status))
        return self.profile_body(request, grant)


def json_response(body: Any, status_code: int = 200) -> Response:
    # ensure_ascii=False as the real APIs do: Korean names arrive as UTF-8, not \u escapes.
    return Response(
        json.dumps(body, ensure_ascii=False).encode(),
        status_code=status_code,
        media_type="application/json; charset=utf-8",
    )


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A one-colour PNG image, built by hand (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )
