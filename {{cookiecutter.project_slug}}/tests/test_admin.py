"""/api/v1/admin: what an operator (a superuser) sees and does, and that nobody else can.

Alice and Bob are ordinary verified users; Olga is the operator, promoted by the same
service code `create-superuser --promote` runs (tests/test_cli_operator.py drives the
command itself).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.admin.service import promote_user
from app.core.database import Database
from tests.support import (
    IssuedKey,
    Mailbox,
    ServeApp,
    assert_error,
    bearer_for,
    register,
    signed_client,
    verify_email,
)

ADMIN = "/api/v1/admin"
KEYS = "/api/v1/users/me/api-keys"
NOTIFICATIONS = "/api/v1/notifications"
SECRET_FIELDS = {"secret_key", "encrypted_secret", "hashed_password"}


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    ids: dict[str, int]
    bearers: dict[str, dict[str, str]]

    async def create_key(self, name: str) -> IssuedKey:
        response = await self.client.post(KEYS, json={}, headers=self.bearers[name])
        assert response.status_code == 201, response.text
        body = response.json()
        return IssuedKey(body["id"], body["access_key"], body["secret_key"])

    async def as_operator(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.request(
            method, f"{ADMIN}{path}", headers=self.bearers["olga"], **kwargs
        )

    async def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.as_operator(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()


async def send(app: FastAPI, key: IssuedKey, to: str = "someone@example.com") -> httpx.Response:
    async with signed_client(app, key) as client:
        return await client.post(
            NOTIFICATIONS, json={"channel": "email", "to": [to], "subject": "Hi", "text": "hello"}
        )


@pytest.fixture(scope="module")
def app_plugins(module_mailbox: Mailbox) -> list[object]:
    return [module_mailbox]


@pytest.fixture
async def service(module_app: FastAPI, mailbox: Mailbox, serve: ServeApp) -> AsyncIterator[Service]:
    async with serve(module_app) as client:
        ids: dict[str, int] = {}
        bearers: dict[str, dict[str, str]] = {}
        for name in ("alice", "bob", "olga"):
            email = f"{name}@example.com"
            ids[name] = (await register(client, email))["id"]
            await verify_email(client, mailbox, email)
            bearers[name] = await bearer_for(client, email)
        database: Database = module_app.state.runtime.database
        async with database.sessionmaker() as session:
            await promote_user(session, "OLGA@example.com")
        yield Service(module_app, client, ids, bearers)


def admin_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every operator route the API documents, its path parameters filled with 1."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        if path.startswith(ADMIN):
            filled = re.sub(r"\{[a-z_]+\}", "1", path)
            found += [(method.upper(), filled) for method in operations]
    return found


async def test_only_a_superuser_gets_past_any_operator_route(service: Service) -> None:
    routes = admin_routes(service.app)
    assert len(routes) == 7, routes
    for method, path in routes:
        anonymous = await service.client.request(method, path)
        assert_error(anonymous, 401, "UNAUTHORIZED")
        ordinary = await service.client.request(method, path, headers=service.bearers["alice"])
        assert_error(ordinary, 403, "FORBIDDEN")
    # Nothing the refused calls asked for happened.
    users = await service.ok("GET", "/users")
    assert all(user["is_active"] for user in users["items"])


async def test_the_operator_lists_users_filtered_by_part_of_the_email(service: Service) -> None:
    everyone = await service.ok("GET", "/users")
    assert [user["email"] for user in everyone["items"]] == [
        "alice@example.com",
        "bob@example.com",
        "olga@example.com",
    ]
    assert everyone["total"] == 3
    olga = everyone["items"][2]
    assert olga["is_superuser"] is True and olga["is_verified"] is True
    assert not SECRET_FIELDS & set(olga)

    found = await service.ok("GET", "/users", params={"email": "BO"})
    assert [user["email"] for user in found["items"]] == ["bob@example.com"]
    # The filter is text, not a pattern.
    assert (await service.ok("GET", "/users", params={"email": "%"}))["total"] == 0

    second = await service.ok("GET", "/users", params={"page": 2, "size": 2})
    assert [user["email"] for user in second["items"]] == ["olga@example.com"]
    assert (second["total"], second["pages"]) == (3, 2)


async def test_a_deactivated_user_loses_sessions_and_keys_until_reactivated(
    service: Service,
) -> None:
    key = await service.create_key("bob")
    bob = service.ids["bob"]

    deactivated = await service.ok("POST", f"/users/{bob}/deactivate")
    assert deactivated["is_active"] is False

    me = await service.client.get("/api/v1/users/me", headers=service.bearers["bob"])
    assert_error(me, 401, "UNAUTHORIZED")
    assert_error(await send(service.app, key), 403, "ACCOUNT_INACTIVE")

    reactivated = await service.ok("POST", f"/users/{bob}/reactivate")
    assert reactivated["is_active"] is True
    # The key works again; the sessions from before do not come back.
    assert (await send(service.app, key)).status_code == 202
    me = await service.client.get("/api/v1/users/me", headers=service.bearers["bob"])
    assert_error(me, 401, "UNAUTHORIZED")
    assert (
        await service.client.get(
            "/api/v1/users/me", headers=await bearer_for(service.client, "bob@example.com")
        )
    ).status_code == 200


async def test_the_operator_cannot_deactivate_their_own_account(service: Service) -> None:
    response = await service.as_operator("POST", f"/users/{service.ids['olga']}/deactivate")
    assert_error(response, 409, "CANNOT_DEACTIVATE_SELF")
    assert_error(
        await service.as_operator("POST", "/users/999999/deactivate"), 404, "USER_NOT_FOUND"
    )


async def test_the_operator_lists_any_key_and_stops_it_for_good(service: Service) -> None:
    alice_key = await service.create_key("alice")
    bob_key = await service.create_key("bob")

    listed = await service.ok("GET", "/api-keys")
    assert [(key["id"], key["user_id"]) for key in listed["items"]] == [
        (alice_key.id, service.ids["alice"]),
        (bob_key.id, service.ids["bob"]),
    ]
    assert all(not SECRET_FIELDS & set(key) for key in listed["items"])
    only_bob = await service.ok("GET", "/api-keys", params={"user_id": service.ids["bob"]})
    assert [key["id"] for key in only_bob["items"]] == [bob_key.id]

    stopped = await service.ok("POST", f"/api-keys/{bob_key.id}/stop")
    assert stopped["status"] == "stopped" and stopped["deleted_at"] is not None

    assert_error(await send(service.app, bob_key), 401, "API_KEY_INACTIVE")
    # Its owner cannot start it again.
    restart = await service.client.patch(
        f"{KEYS}/{bob_key.id}", json={"status": "active"}, headers=service.bearers["bob"]
    )
    assert_error(restart, 404, "API_KEY_NOT_FOUND")
    assert_error(await send(service.app, bob_key), 401, "API_KEY_INACTIVE")
    # The other user's key is untouched.
    assert (await send(service.app, alice_key)).status_code == 202
    assert_error(
        await service.as_operator("POST", "/api-keys/999999/stop"), 404, "API_KEY_NOT_FOUND"
    )


async def test_the_operator_reads_any_notification(service: Service) -> None:
    alice_sent = await send(service.app, await service.create_key("alice"), "a@example.com")
    bob_sent = await send(service.app, await service.create_key("bob"), "b@example.com")
    assert alice_sent.status_code == bob_sent.status_code == 202
    alice_id, bob_id = alice_sent.json()["id"], bob_sent.json()["id"]

    everything = await service.ok("GET", "/notifications")
    # The service's own account mails (each sign-up's verification) are no one's.
    mails = [item for item in everything["items"] if item["user_id"] is None]
    assert len(mails) == len(service.ids) and {mail["api_key_id"] for mail in mails} == {None}
    sent = [item["id"] for item in everything["items"] if item["user_id"] is not None]
    assert sent == [bob_id, alice_id]
    assert everything["items"][0]["user_id"] == service.ids["bob"]
    assert "text" not in everything["items"][0]

    only_alice = await service.ok("GET", "/notifications", params={"user_id": service.ids["alice"]})
    assert [item["id"] for item in only_alice["items"]] == [alice_id]
    assert (await service.ok("GET", "/notifications", params={"channel": "sms"}))["total"] == 0
    by_channel = await service.ok("GET", "/notifications", params={"channel": "email"})
    assert by_channel["total"] == 2 + len(mails)
    assert (await service.ok("GET", "/notifications", params={"status": "failed"}))["total"] == 0

    one = await service.ok("GET", f"/notifications/{alice_id}")
    assert one["to"] == ["a@example.com"] and one["text"] == "hello"
    assert one["user_id"] == service.ids["alice"]
    missing = await service.as_operator("GET", "/notifications/999999")
    assert_error(missing, 404, "NOTIFICATION_NOT_FOUND")

    # Bob's own signed API still shows him only his.
    async with signed_client(service.app, await service.create_key("bob")) as client:
        assert (await client.get(f"{NOTIFICATIONS}/{alice_id}")).status_code == 404
