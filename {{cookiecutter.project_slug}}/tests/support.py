"""What the tests share besides fixtures: settings and apps, the error shape, accounts, signed keys.

The fixtures that hand these out live in `tests/conftest.py`; plugins' own tests import
from here too.

app = build_app(build_test_settings(database_url), Mailbox())
await register(client, "ann@example.com"); headers = await bearer_for(client, "ann@example.com")
key = await issue_api_key(app, await create_user(app))
async with signed_client(app, key) as client:
    await client.post("/api/v1/notifications", json={...})
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import and_, delete, inspect, or_, select
from sqlalchemy.engine import Connection
from starlette.types import ASGIApp, Receive, Scope, Send

from app import PROJECT_SLUG
from app.accounts.models import User
from app.client.signing import SignedAuth
from app.core.config import Settings
from app.core.database import Database
from app.core.hookspecs import hookimpl
from app.core.interfaces import DeliveryResult, OutgoingMessage
from app.core.orm.base import Base, utcnow
from app.core.plugins import create_plugin_manager
from app.main import create_app
from app.notifications.models import Notification
from app.signed_api.keys import create_api_key
from app.signed_api.signature import new_nonce, sign

TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"
TEST_CLIENT_ADDRESS = "203.0.113.10"
# Production refuses to start without a long secret of its own for API keys and an https
# address; pass as `make_settings(**PRODUCTION)` (the test settings name the database).
PRODUCTION: dict[str, Any] = {
    "environment": "production",
    "api_key_encryption_key": "test-api-key-encryption-key-0123456789abcdef",
    "public_base_url": "https://service.example",
}

AUTH = "/api/v1/auth"
ME = "/api/v1/users/me"
PASSWORD = "correct horse battery staple"
LINK = re.compile(r"https?://\S+")

SettingsFactory = Callable[..., Settings]
ServeApp = Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]]


# --- settings and apps ---------------------------------------------------------------


def build_test_settings(default_database_url: str, **overrides: Any) -> Settings:
    """Settings for a test: the lane's database unless overridden, no `.env`, cheap hashing."""
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": default_database_url,
        "secret_key": TEST_SECRET_KEY,
        # Argon2 at its production cost takes a quarter second per hash; tests hash a lot.
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 64,
        # Tests sign in and register far more often than people do; tests/test_rate_limits.py
        # switches the limits on.
        "rate_limits_enabled": False,
        # Forgot-password's even answer time; tests/test_account_enumeration.py sets one.
        "account_mail_answer_seconds": 0,
        **overrides,
    }
    return Settings(_env_file=None, **values)


def build_app(settings: Settings, *plugins: object) -> FastAPI:
    """The service with extra plugin objects registered beside the built-in ones, as an
    installed plugin would be: the service's own code runs unchanged."""
    manager = create_plugin_manager(settings)
    for plugin in plugins:
        manager.register(plugin, name=f"test-{type(plugin).__name__}-{id(plugin)}")
    application = create_app(settings, plugin_manager=manager)
    application.add_middleware(AccountMailsDelivered, database=application.state.runtime.database)
    return application


# The routes that write account mails (register, forgot-password, an email change, ...).
ACCOUNT_MAIL_ROUTES = ("/api/v1/auth/", "/api/v1/users/")


class AccountMailsDelivered:
    """Returns from a request to an account route once no account mail is due or being sent.

    Account mails go out through the outbox after the answer; tests read the Mailbox right
    after a request, as a person reads the mail that followed it. A mail waiting for a
    retry is not waited for.
    """

    def __init__(self, app: ASGIApp, database: Database) -> None:
        self.app = app
        self.database = database

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http" and scope["path"].startswith(ACCOUNT_MAIL_ROUTES):
            deadline = time.monotonic() + 20
            while not await account_mails_settled(self.database):
                assert time.monotonic() < deadline, "account mails still unsent after 20 s"
                await asyncio.sleep(0.01)


async def account_mails_settled(database: Database) -> bool:
    """No account mail (a notification of the service's own) is due or being sent."""
    due = or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= utcnow())
    unsettled = or_(Notification.status == "sending", and_(Notification.status == "queued", due))
    async with database.engine.connect() as connection:
        found = await connection.scalar(
            select(Notification.id).where(Notification.user_id.is_(None), unsettled).limit(1)
        )
    return found is None


@asynccontextmanager
async def started(application: FastAPI) -> AsyncIterator[FastAPI]:
    """The app running (startup to shutdown), then its rows deleted for the next test."""
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        await reset_database(application.state.runtime.database)


async def reset_database(database: Database) -> None:
    """Empty every table and close the connections, for the next test."""
    await empty_tables(database)
    await database.dispose()


async def empty_tables(database: Database) -> None:
    """Delete every row; the tables stay.

    Far cheaper than dropping and creating every table around each test, on database
    servers most of all.
    """
    async with database.engine.begin() as connection:
        await connection.run_sync(_delete_all_rows)


def _delete_all_rows(connection: Connection) -> None:
    existing = set(inspect(connection).get_table_names())
    for table in reversed(Base.metadata.sorted_tables):
        if table.name in existing:
            connection.execute(delete(table))


def client_of(
    application: FastAPI,
    *,
    client_address: str = TEST_CLIENT_ADDRESS,
    auth: httpx.Auth | None = None,
) -> httpx.AsyncClient:
    """An HTTP client into the in-process app, calling from `client_address`."""
    transport = httpx.ASGITransport(app=application, client=(client_address, 51000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", auth=auth)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class ServiceLog:
    """What the service's own log handler writes, as whoever reads the logs sees it."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def attach(self) -> None:
        """Call after `create_app()`, which installs the handler this reads from."""
        for handler in logging.getLogger(PROJECT_SLUG).handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(self.stream)

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The service's error shape, with this status and code."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "detail", "request_id"}
    assert body["code"] == code, body
    assert body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


# --- accounts --------------------------------------------------------------------------


class Mailbox:
    """A configured (not stand-in) email notifier that keeps what it is asked to send."""

    name = "mailbox"
    channel = "email"
    is_configured = True
    is_stand_in = False

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    def check_recipient(self, address: str) -> str | None:
        return None if "@" in address else "not an email address"

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        self.sent.append(message)
        return DeliveryResult.delivered(f"mailbox-{len(self.sent)}")

    @hookimpl
    def register_notifiers(self, settings: Settings) -> Sequence[Mailbox]:
        return [self]

    def to(self, address: str) -> list[OutgoingMessage]:
        return [message for message in self.sent if address in message.to]

    def last_link(self, address: str) -> str:
        messages = self.to(address)
        assert messages, f"no mail to {address}; sent: {self.sent}"
        match = LINK.search(messages[-1].text or "")
        assert match, messages[-1].text
        return match.group(0)


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def bearer_of(response: httpx.Response) -> dict[str, str]:
    """The Authorization header for the access token of a login or a sign-in."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    return {"Authorization": f"Bearer {body['access_token']}"}


async def register(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, **profile: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{AUTH}/register", json={"email": email, "password": password, **profile}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def login(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, backend: str = "jwt"
) -> httpx.Response:
    return await client.post(
        f"{AUTH}/{backend}/login", data={"username": email, "password": password}
    )


async def bearer_for(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> dict[str, str]:
    return bearer_of(await login(client, email, password))


async def verify_email(client: httpx.AsyncClient, mailbox: Mailbox, email: str) -> None:
    """Follow the link of the latest verification mail, as the address's owner does."""
    token = token_of(mailbox.last_link(email))
    response = await client.post(f"{AUTH}/verify", json={"token": token})
    assert response.status_code == 200, response.text


async def create_user(app: FastAPI, email: str = "caller@example.com") -> int:
    """A verified, active account that never signs in (it calls with API keys)."""
    database: Database = app.state.runtime.database
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


# --- API keys and signed requests -------------------------------------------------------


class SigningKey(Protocol):
    """An API key as its owner holds it: enough to sign requests."""

    @property
    def access_key(self) -> str: ...

    @property
    def secret_key(self) -> str: ...


@dataclass(frozen=True)
class IssuedKey:
    id: int
    access_key: str
    secret_key: str


async def issue_api_key(app: FastAPI, user_id: int, memo: str | None = None) -> IssuedKey:
    """A key made by the same service code the endpoint uses (limits included)."""
    runtime = app.state.runtime
    async with runtime.database.sessionmaker() as session:
        api_key, secret_key = await create_api_key(session, runtime.settings, user_id, memo)
        return IssuedKey(api_key.id, api_key.access_key, secret_key)


def signed_client(
    app: FastAPI, key: SigningKey, *, client_address: str = TEST_CLIENT_ADDRESS
) -> httpx.AsyncClient:
    """An HTTP client into `app` that signs with `key`, calling from `client_address`."""
    auth = SignedAuth(key.access_key, key.secret_key)
    return client_of(app, client_address=client_address, auth=auth)


def signature_headers(
    key: SigningKey,
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
