"""/api/v1/users/me/api-keys: creating keys, their limits, status, whitelists, and secrets
kept encrypted at rest."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from app.core.config import InsecureSettingsError
from app.signed_api.models import ApiKey
from app.signed_api.schemas import WhitelistEntryCreate
from app.signed_api.secret_cipher import SecretCipher, SecretUnreadableError, cipher_for
from tests.support import (
    PRODUCTION,
    Mailbox,
    ServeApp,
    SettingsFactory,
    assert_error,
    bearer_for,
    build_app,
    register,
    verify_email,
)

KEYS = "/api/v1/users/me/api-keys"
URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")
KEY_FIELDS = {"id", "access_key", "memo", "status", "created_at", "whitelist"}
CREATED_FIELDS = {"id", "access_key", "secret_key", "memo", "status", "created_at"}
ENTRY_FIELDS = {"id", "ip_address", "created_at"}


class Service:
    """The running service, a client, and the bearer headers of two users."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client
        self.alice: dict[str, str] = {}
        self.bob: dict[str, str] = {}

    async def create_key(self, user: dict[str, str], memo: str | None = None) -> dict[str, Any]:
        payload = {} if memo is None else {"memo": memo}
        response = await self.client.post(KEYS, json=payload, headers=user)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def keys(self, user: dict[str, str]) -> list[dict[str, Any]]:
        response = await self.client.get(KEYS, headers=user)
        assert response.status_code == 200, response.text
        body: list[dict[str, Any]] = response.json()
        return body

    async def set_status(self, user: dict[str, str], key_id: int, status: str) -> httpx.Response:
        return await self.client.patch(f"{KEYS}/{key_id}", json={"status": status}, headers=user)

    async def add_entry(self, user: dict[str, str], key_id: int, address: str) -> httpx.Response:
        return await self.client.post(
            f"{KEYS}/{key_id}/whitelist", json={"ip_address": address}, headers=user
        )


@asynccontextmanager
async def start(app: FastAPI, serve: ServeApp, mailbox: Mailbox) -> AsyncIterator[Service]:
    async with serve(app) as client:
        service = Service(app, client)
        for name in ("alice", "bob"):
            email = f"{name}@example.com"
            await register(client, email)
            await verify_email(client, mailbox, email)  # keys need a verified account
            setattr(service, name, await bearer_for(client, email))
        yield service


@pytest.fixture(scope="module")
def app_plugins(module_mailbox: Mailbox) -> list[object]:
    return [module_mailbox]


@pytest.fixture
async def service(module_app: FastAPI, mailbox: Mailbox, serve: ServeApp) -> AsyncIterator[Service]:
    async with start(module_app, serve, mailbox) as running:
        yield running


@pytest.fixture
async def small_limits(make_settings: SettingsFactory, serve: ServeApp) -> AsyncIterator[Service]:
    settings = make_settings(max_active_api_keys=1, max_whitelist_entries=2)
    mailbox = Mailbox()
    async with start(build_app(settings, mailbox), serve, mailbox) as running:
        yield running


# -- keys ------------------------------------------------------------------------------


async def test_creating_a_key_shows_its_secret_once(service: Service) -> None:
    created = await service.create_key(service.alice, memo="billing worker")

    assert set(created) == CREATED_FIELDS
    assert created["memo"] == "billing worker"
    assert created["status"] == "active"
    assert URL_SAFE.match(created["access_key"]) and len(created["access_key"]) >= 32
    assert URL_SAFE.match(created["secret_key"]) and len(created["secret_key"]) >= 40

    listed = await service.keys(service.alice)
    assert [set(key) for key in listed] == [KEY_FIELDS]
    assert listed[0] == {
        "id": created["id"],
        "access_key": created["access_key"],
        "memo": "billing worker",
        "status": "active",
        "created_at": created["created_at"],
        "whitelist": [],
    }
    assert created["secret_key"] not in str(listed)


async def test_a_key_can_be_created_without_a_body(service: Service) -> None:
    response = await service.client.post(KEYS, headers=service.alice)
    assert response.status_code == 201, response.text
    assert response.json()["memo"] is None


async def test_every_key_is_different(service: Service) -> None:
    first = await service.create_key(service.alice)
    second = await service.create_key(service.alice)
    assert first["access_key"] != second["access_key"]
    assert first["secret_key"] != second["secret_key"]


async def test_the_secret_is_stored_encrypted(service: Service) -> None:
    created = await service.create_key(service.alice)
    async with service.app.state.runtime.database.sessionmaker() as session:
        row = await ApiKey.get(created["id"], session=session)
    assert created["secret_key"] not in row.encrypted_secret
    assert (
        cipher_for(service.app.state.runtime.settings).decrypt(row.encrypted_secret)
        == (created["secret_key"])
    )
    # Another encryption key cannot read it.
    with pytest.raises(SecretUnreadableError):
        SecretCipher(("another-encryption-key-" * 2,)).decrypt(row.encrypted_secret)


async def test_a_memo_longer_than_255_characters_is_refused(service: Service) -> None:
    response = await service.client.post(KEYS, json={"memo": "m" * 256}, headers=service.alice)
    assert_error(response, 422, "VALIDATION_ERROR")


async def test_only_signed_in_users_reach_keys(service: Service) -> None:
    for method, path in [
        ("GET", KEYS),
        ("POST", KEYS),
        ("PATCH", f"{KEYS}/1"),
        ("DELETE", f"{KEYS}/1"),
        ("GET", f"{KEYS}/1/whitelist"),
        ("POST", f"{KEYS}/1/whitelist"),
        ("DELETE", f"{KEYS}/1/whitelist/1"),
    ]:
        response = await service.client.request(method, path, json={})
        assert_error(response, 401, "UNAUTHORIZED")


async def test_the_memo_and_status_can_be_changed(service: Service) -> None:
    created = await service.create_key(service.alice, memo="old")
    path = f"{KEYS}/{created['id']}"

    renamed = await service.client.patch(path, json={"memo": "new"}, headers=service.alice)
    stopped = await service.set_status(service.alice, created["id"], "stopped")
    cleared = await service.client.patch(path, json={"memo": None}, headers=service.alice)

    assert renamed.status_code == 200, renamed.text
    assert set(renamed.json()) == KEY_FIELDS
    assert (renamed.json()["memo"], renamed.json()["status"]) == ("new", "active")
    assert (stopped.json()["memo"], stopped.json()["status"]) == ("new", "stopped")
    assert (cleared.json()["memo"], cleared.json()["status"]) == (None, "stopped")
    assert "secret_key" not in renamed.json()


async def test_only_memo_and_a_known_status_can_be_sent(service: Service) -> None:
    created = await service.create_key(service.alice)
    for changes in (
        {"status": "paused"},
        {"status": None},
        {"secret_key": "mine"},
        {"access_key": "mine"},
    ):
        response = await service.client.patch(
            f"{KEYS}/{created['id']}", json=changes, headers=service.alice
        )
        assert_error(response, 422, "VALIDATION_ERROR")


async def test_a_deleted_key_is_gone_for_its_owner(service: Service) -> None:
    kept = await service.create_key(service.alice)
    deleted = await service.create_key(service.alice)

    response = await service.client.delete(f"{KEYS}/{deleted['id']}", headers=service.alice)
    assert response.status_code == 204
    assert [key["id"] for key in await service.keys(service.alice)] == [kept["id"]]
    for response in (
        await service.set_status(service.alice, deleted["id"], "active"),
        await service.client.delete(f"{KEYS}/{deleted['id']}", headers=service.alice),
        await service.client.get(f"{KEYS}/{deleted['id']}/whitelist", headers=service.alice),
    ):
        assert_error(response, 404, "API_KEY_NOT_FOUND")
    # Its secret is not kept either.
    async with service.app.state.runtime.database.sessionmaker() as session:
        row = await ApiKey.get(deleted["id"], session=session)
    assert row.encrypted_secret == ""


async def test_a_user_reaches_only_their_own_keys(service: Service) -> None:
    mine = await service.create_key(service.alice)
    entry = (await service.add_entry(service.alice, mine["id"], "203.0.113.7")).json()
    key_path = f"{KEYS}/{mine['id']}"

    assert await service.keys(service.bob) == []
    attempts = [
        await service.client.patch(key_path, json={"memo": "bob's"}, headers=service.bob),
        await service.set_status(service.bob, mine["id"], "stopped"),
        await service.client.delete(key_path, headers=service.bob),
        await service.client.get(f"{key_path}/whitelist", headers=service.bob),
        await service.add_entry(service.bob, mine["id"], "198.51.100.1"),
        await service.client.delete(f"{key_path}/whitelist/{entry['id']}", headers=service.bob),
    ]
    for response in attempts:
        assert_error(response, 404, "API_KEY_NOT_FOUND")

    [unchanged] = await service.keys(service.alice)
    assert unchanged["status"] == "active" and unchanged["memo"] is None
    assert [item["ip_address"] for item in unchanged["whitelist"]] == ["203.0.113.7"]


async def test_an_unknown_key_id_is_not_found(service: Service) -> None:
    response = await service.client.patch(f"{KEYS}/999999", json={}, headers=service.alice)
    assert_error(response, 404, "API_KEY_NOT_FOUND")


# -- the active key limit --------------------------------------------------------------


async def test_at_most_three_keys_by_default_stopped_ones_included(service: Service) -> None:
    keys = [await service.create_key(service.alice) for _ in range(3)]

    refused = await service.client.post(KEYS, json={}, headers=service.alice)
    body = assert_error(refused, 409, "API_KEY_LIMIT_REACHED")
    assert body["detail"] == {"limit": 3, "keys": 3}

    # Another user has their own three.
    await service.create_key(service.bob)

    # A stopped key still counts: stopping one does not make room for a fourth.
    assert (await service.set_status(service.alice, keys[0]["id"], "stopped")).status_code == 200
    assert_error(
        await service.client.post(KEYS, headers=service.alice), 409, "API_KEY_LIMIT_REACHED"
    )
    # A deleted one does not.
    deleted = await service.client.delete(f"{KEYS}/{keys[2]['id']}", headers=service.alice)
    assert deleted.status_code == 204
    fourth = await service.create_key(service.alice)

    # Starting the stopped key again is allowed: it was counted all along.
    assert (await service.set_status(service.alice, keys[0]["id"], "active")).status_code == 200
    statuses = {key["id"]: key["status"] for key in await service.keys(service.alice)}
    assert statuses == {keys[0]["id"]: "active", keys[1]["id"]: "active", fourth["id"]: "active"}

    # A key already active may be "activated" again, and stopped keys may be edited.
    assert (await service.set_status(service.alice, keys[1]["id"], "active")).status_code == 200
    assert (await service.set_status(service.alice, keys[1]["id"], "stopped")).status_code == 200
    memo = await service.client.patch(
        f"{KEYS}/{keys[1]['id']}", json={"memo": "spare"}, headers=service.alice
    )
    assert memo.status_code == 200, memo.text


async def test_stopping_keys_never_yields_more_keys_than_the_limit(service: Service) -> None:
    made = 0
    for _ in range(8):
        response = await service.client.post(KEYS, json={}, headers=service.alice)
        if response.status_code == 201:
            made += 1
            await service.set_status(service.alice, response.json()["id"], "stopped")

    assert made == 3
    assert len(await service.keys(service.alice)) == 3


async def test_the_limits_hold_when_requests_race(service: Service) -> None:
    creates = await asyncio.gather(
        *(service.client.post(KEYS, json={}, headers=service.alice) for _ in range(6))
    )
    assert sorted(response.status_code for response in creates) == [201] * 3 + [409] * 3
    assert len(await service.keys(service.alice)) == 3

    key_id = next(response.json()["id"] for response in creates if response.status_code == 201)
    adds = await asyncio.gather(
        *(service.add_entry(service.alice, key_id, f"198.51.100.{last}") for last in range(12))
    )
    assert sorted(response.status_code for response in adds) == [201] * 10 + [409] * 2
    listed = await service.client.get(f"{KEYS}/{key_id}/whitelist", headers=service.alice)
    assert len(listed.json()) == 10


async def test_the_key_limit_follows_the_setting(small_limits: Service) -> None:
    service = small_limits
    first = await service.create_key(service.alice)
    refused = await service.client.post(KEYS, headers=service.alice)
    assert_error(refused, 409, "API_KEY_LIMIT_REACHED")
    await service.set_status(service.alice, first["id"], "stopped")
    stopped = await service.client.post(KEYS, headers=service.alice)
    assert_error(stopped, 409, "API_KEY_LIMIT_REACHED")


# -- whitelist -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.8 ", "203.0.113.8"),
        ("10.0.0.0/24", "10.0.0.0/24"),
        ("198.51.100.9/32", "198.51.100.9"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("2001:db8:abcd::/48", "2001:db8:abcd::/48"),
        ("2001:db8::1/128", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
    ],
)
def test_whitelist_entries_have_one_canonical_form(given: str, stored: str) -> None:
    assert WhitelistEntryCreate(ip_address=given).ip_address == stored


@pytest.mark.parametrize(
    ("given", "hint"),
    [
        ("not-an-ip", "not an IPv4 or IPv6 address"),
        ("203.0.113.256", "not an IPv4 or IPv6 address"),
        ("10.0.0.5/24", "did you mean '10.0.0.0/24'"),
        ("10.0.0.0/33", "not a CIDR range"),
        ("fe80::1%eth0", "zone index"),
        ("", "at least 1 character"),
    ],
)
def test_what_is_not_an_address_or_range_is_refused(given: str, hint: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(hint)):
        WhitelistEntryCreate(ip_address=given)


async def test_entries_are_stored_canonical_and_bad_ones_refused_in_the_error_shape(
    service: Service,
) -> None:
    key = await service.create_key(service.alice)
    added = await service.add_entry(service.alice, key["id"], "2001:DB8:0:0::1")
    assert added.status_code == 201, added.text
    assert set(added.json()) == ENTRY_FIELDS
    assert added.json()["ip_address"] == "2001:db8::1"

    for given in ("not-an-ip", "10.0.0.5/24"):
        response = await service.add_entry(service.alice, key["id"], given)
        body = assert_error(response, 422, "VALIDATION_ERROR")
        assert body["detail"][0]["loc"] == ["body", "ip_address"]
    [listed] = await service.keys(service.alice)
    assert [entry["ip_address"] for entry in listed["whitelist"]] == ["2001:db8::1"]


async def test_an_entry_cannot_be_added_twice(service: Service) -> None:
    key = await service.create_key(service.alice)
    assert (await service.add_entry(service.alice, key["id"], "203.0.113.7")).status_code == 201
    for same in ("203.0.113.7", "203.0.113.7/32", "::ffff:203.0.113.7"):
        response = await service.add_entry(service.alice, key["id"], same)
        body = assert_error(response, 409, "WHITELIST_ENTRY_EXISTS")
        assert body["detail"] == {"ip_address": "203.0.113.7"}
    # Another key may list the same address.
    other = await service.create_key(service.alice)
    assert (await service.add_entry(service.alice, other["id"], "203.0.113.7")).status_code == 201


async def test_at_most_ten_entries_per_key_by_default(service: Service) -> None:
    key = await service.create_key(service.alice)
    for last in range(10):
        response = await service.add_entry(service.alice, key["id"], f"198.51.100.{last}")
        assert response.status_code == 201, response.text
    refused = await service.add_entry(service.alice, key["id"], "198.51.100.200")
    body = assert_error(refused, 409, "WHITELIST_LIMIT_REACHED")
    assert body["detail"] == {"limit": 10}


async def test_the_entry_limit_follows_the_setting(small_limits: Service) -> None:
    service = small_limits
    key = await service.create_key(service.alice)
    await service.add_entry(service.alice, key["id"], "198.51.100.1")
    await service.add_entry(service.alice, key["id"], "198.51.100.2")
    refused = await service.add_entry(service.alice, key["id"], "198.51.100.3")
    assert_error(refused, 409, "WHITELIST_LIMIT_REACHED")


async def test_whitelist_entries_are_listed_and_removed(service: Service) -> None:
    key = await service.create_key(service.alice)
    other = await service.create_key(service.alice)
    first = (await service.add_entry(service.alice, key["id"], "203.0.113.7")).json()
    second = (await service.add_entry(service.alice, key["id"], "10.0.0.0/8")).json()
    path = f"{KEYS}/{key['id']}/whitelist"

    listed = await service.client.get(path, headers=service.alice)
    assert listed.json() == [first, second]
    by_id = {item["id"]: item for item in await service.keys(service.alice)}
    assert by_id[key["id"]]["whitelist"] == [first, second]
    assert by_id[other["id"]]["whitelist"] == []

    # An entry is reached only through its own key.
    wrong_key = await service.client.delete(
        f"{KEYS}/{other['id']}/whitelist/{first['id']}", headers=service.alice
    )
    assert_error(wrong_key, 404, "WHITELIST_ENTRY_NOT_FOUND")

    removed = await service.client.delete(f"{path}/{first['id']}", headers=service.alice)
    assert removed.status_code == 204
    assert (await service.client.get(path, headers=service.alice)).json() == [second]
    again = await service.client.delete(f"{path}/{first['id']}", headers=service.alice)
    assert_error(again, 404, "WHITELIST_ENTRY_NOT_FOUND")


# -- the encryption key ----------------------------------------------------------------


def test_production_refuses_to_start_without_an_api_key_encryption_key(
    make_settings: SettingsFactory,
) -> None:
    for value in (None, "change-me", "too-short"):
        with pytest.raises(InsecureSettingsError, match="API_KEY_ENCRYPTION_KEY"):
            make_settings(**{**PRODUCTION, "api_key_encryption_key": value})
    make_settings(**{**PRODUCTION, "api_key_encryption_key": "k" * 32})


def test_development_derives_the_encryption_key_from_the_secret_key(
    make_settings: SettingsFactory,
) -> None:
    derived = make_settings(api_key_encryption_key=None)
    placeholder = make_settings(api_key_encryption_key="change-me")
    assert derived.api_key_encryption_keys == [derived.secret_key]
    assert placeholder.api_key_encryption_keys == [derived.secret_key]
    token = cipher_for(derived).encrypt("a secret")
    assert cipher_for(placeholder).decrypt(token) == "a secret"


def test_a_rotated_encryption_key_still_reads_old_secrets(make_settings: SettingsFactory) -> None:
    old, new = "old-encryption-key-" * 2, "new-encryption-key-" * 2
    stored = cipher_for(make_settings(api_key_encryption_key=old)).encrypt("a secret")

    rotated = cipher_for(make_settings(api_key_encryption_key=f"{new},{old}"))
    assert rotated.decrypt(stored) == "a secret"
    # New secrets use the new key.
    assert (
        cipher_for(make_settings(api_key_encryption_key=new)).decrypt(rotated.encrypt("another"))
        == "another"
    )
    with pytest.raises(SecretUnreadableError):
        cipher_for(make_settings(api_key_encryption_key=new)).decrypt(stored)
