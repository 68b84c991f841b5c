"""GET/PATCH /api/v1/users/me: the common profile fields, validated; nothing privileged."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from faker import Faker
from fastapi import FastAPI

from tests.providers import UserProvider
from tests.support import (
    ME,
    PASSWORD,
    Mailbox,
    assert_error,
    bearer_for,
    login,
    register,
)

PROFILE_FIELDS = (
    "name",
    "nickname",
    "profile_image_url",
    "gender",
    "birthyear",
    "birthday",
    "phone_number",
)


@pytest.fixture(scope="module")
def app_plugins(module_mailbox: Mailbox) -> list[object]:
    return [module_mailbox]


@pytest.fixture
def app(shared_app: FastAPI, mailbox: Mailbox) -> FastAPI:
    """The module's tests share one app, each on an empty database and an empty mailbox."""
    return shared_app


@pytest.fixture
def fake() -> Faker:
    faker = Faker()
    faker.add_provider(UserProvider)
    faker.seed_instance(20)
    return faker


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> dict[str, str]:
    await register(client, "alice@example.com")
    return await bearer_for(client, "alice@example.com")


def realistic_profile(fake: Faker) -> dict[str, Any]:
    return {
        "name": fake.display_name(),
        "nickname": fake.nickname(),
        "profile_image_url": fake.profile_image_url(),
        "gender": fake.gender(),
        "birthyear": fake.birthyear(),
        "birthday": fake.birthday(),
        "phone_number": fake.e164_phone_number(),
    }


async def test_get_me_returns_the_common_profile_fields(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    response = await client.get(ME, headers=alice)

    assert response.status_code == 200
    user = response.json()
    assert user["email"] == "alice@example.com"
    assert set(PROFILE_FIELDS) <= set(user)
    assert all(user[field] is None for field in PROFILE_FIELDS)
    assert user["social_accounts"] == []


async def test_patch_me_stores_the_profile(
    client: httpx.AsyncClient, alice: dict[str, str], fake: Faker
) -> None:
    for _ in range(5):
        profile = realistic_profile(fake)

        response = await client.patch(ME, headers=alice, json=profile)

        assert response.status_code == 200, response.text
        stored = (await client.get(ME, headers=alice)).json()
        assert {field: stored[field] for field in PROFILE_FIELDS} == profile


async def test_patch_me_changes_only_the_fields_sent_and_null_clears_one(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    await client.patch(ME, headers=alice, json={"name": "Alice Kim", "nickname": "ally"})

    response = await client.patch(ME, headers=alice, json={"nickname": None, "gender": "other"})

    user = response.json()
    assert (user["name"], user["nickname"], user["gender"]) == ("Alice Kim", None, "other")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gender", "unknown"),
        ("gender", "MALE"),
        ("birthday", "1990-03-14"),
        ("birthday", "3-14"),
        ("birthday", "02-30"),
        ("birthday", "13-01"),
        ("phone_number", "010-1234-5678"),
        ("phone_number", "821012345678"),
        ("phone_number", "+0101234567"),
        ("phone_number", "+1234567890123456"),
        ("birthyear", 1800),
        ("birthyear", 3000),
        ("profile_image_url", "javascript:alert(1)"),
        ("name", ""),
        ("name", "x" * 101),
        ("email", "not-an-email"),
    ],
)
async def test_patch_me_refuses_badly_shaped_fields_with_422(
    client: httpx.AsyncClient, alice: dict[str, str], field: str, value: Any
) -> None:
    response = await client.patch(ME, headers=alice, json={field: value})

    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert body["detail"][0]["loc"][:2] == ["body", field]
    assert (await client.get(ME, headers=alice)).json()[field] != value


async def test_february_29_is_a_birthday(client: httpx.AsyncClient, alice: dict[str, str]) -> None:
    response = await client.patch(ME, headers=alice, json={"birthday": "02-29"})

    assert response.status_code == 200
    assert response.json()["birthday"] == "02-29"


@pytest.mark.parametrize(
    "privileged", [{"is_superuser": True}, {"is_verified": True}, {"is_active": False}, {"id": 99}]
)
async def test_users_cannot_patch_privileged_fields(
    client: httpx.AsyncClient, alice: dict[str, str], privileged: dict[str, Any]
) -> None:
    response = await client.patch(ME, headers=alice, json={"name": "Sneaky", **privileged})

    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert body["detail"][0]["type"] == "extra_forbidden"
    user = (await client.get(ME, headers=alice)).json()
    assert (user["is_superuser"], user["is_verified"], user["is_active"]) == (False, False, True)
    assert user["name"] is None


async def test_changing_the_email_needs_a_new_verification(
    client: httpx.AsyncClient, alice: dict[str, str], mailbox: Mailbox
) -> None:
    response = await client.patch(
        ME, headers=alice, json={"email": "alice.new@example.com", "current_password": PASSWORD}
    )

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "alice.new@example.com"
    assert response.json()["is_verified"] is False
    assert mailbox.to("alice.new@example.com"), "a verification mail goes to the new address"
    assert (await login(client, "alice.new@example.com")).status_code == 200


async def test_an_email_taken_by_another_user_is_refused(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    await register(client, "bob@example.com")

    response = await client.patch(
        ME, headers=alice, json={"email": "bob@example.com", "current_password": PASSWORD}
    )

    assert_error(response, 400, "UPDATE_USER_EMAIL_ALREADY_EXISTS")


async def test_patch_me_changes_the_password_under_the_same_rules(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    weak = await client.patch(
        ME, headers=alice, json={"password": "short", "current_password": PASSWORD}
    )
    assert_error(weak, 400, "UPDATE_USER_INVALID_PASSWORD")

    response = await client.patch(
        ME, headers=alice, json={"password": "a different passphrase", "current_password": PASSWORD}
    )

    assert response.status_code == 200
    assert (await login(client, "alice@example.com", "a different passphrase")).status_code == 200
    assert_error(await login(client, "alice@example.com", PASSWORD), 400, "LOGIN_BAD_CREDENTIALS")


@pytest.mark.parametrize("field", ["email", "password"])
async def test_email_and_password_cannot_be_nulled(
    client: httpx.AsyncClient, alice: dict[str, str], field: str
) -> None:
    response = await client.patch(ME, headers=alice, json={field: None})

    assert_error(response, 422, "VALIDATION_ERROR")


async def test_patch_me_needs_a_sign_in(client: httpx.AsyncClient) -> None:
    assert_error(await client.patch(ME, json={"name": "Nobody"}), 401, "UNAUTHORIZED")


async def test_each_user_sees_and_changes_only_their_own_account(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    await register(client, "carol@example.com")
    carol = await bearer_for(client, "carol@example.com")

    await client.patch(ME, headers=carol, json={"name": "Carol"})

    assert (await client.get(ME, headers=alice)).json()["name"] is None
    assert (await client.get(ME, headers=carol)).json()["email"] == "carol@example.com"
