"""POST/GET /api/v1/notifications: accepting into the outbox, refusing, idempotency, ownership."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.accounts.models import User
from app.notifications.models import Notification
from tests.outbox_plugin import WebhookPlugin, WebhookTarget
from tests.outbox_support import (
    FAST_DELIVERY,
    NOTIFICATIONS,
    Caller,
    all_finished,
    email,
    new_caller,
    post_all,
    wait_until,
    webhook,
)
from tests.support import assert_error, signed_client

MAX_BODY_BYTES = 2000


@pytest.fixture(scope="module")
def target() -> Iterator[WebhookTarget]:
    endpoint = WebhookTarget()
    endpoint.start()
    yield endpoint
    endpoint.stop()


@pytest.fixture(scope="module")
def app_settings() -> dict[str, Any]:
    return {"notification_max_body_bytes": MAX_BODY_BYTES, **FAST_DELIVERY}


@pytest.fixture(scope="module")
def app_plugins(target: WebhookTarget) -> list[object]:
    return [WebhookPlugin(target.url)]


@pytest.fixture
def service(shared_app: FastAPI, target: WebhookTarget) -> FastAPI:
    target.forget()  # each test counts only its own deliveries
    return shared_app


@pytest.fixture
async def caller(service: FastAPI) -> Caller:
    return await new_caller(service)


@pytest.fixture
async def client(service: FastAPI, caller: Caller) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_client(service, caller) as signed:
        yield signed


async def total(client: httpx.AsyncClient, **params: Any) -> int:
    response = await client.get(NOTIFICATIONS, params=params)
    assert response.status_code == 200, response.text
    count: int = response.json()["total"]
    return count


async def test_a_notification_is_accepted_queued_then_delivered(
    client: httpx.AsyncClient, service: FastAPI, target: WebhookTarget
) -> None:
    response = await client.post(
        NOTIFICATIONS, json=webhook("ada", subject="Hi", metadata={"order": 42, "tags": ["a"]})
    )

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued"
    assert accepted["attempts"] == 0
    assert accepted["channel"] == "webhook"
    assert accepted["to"] == ["ada"]
    assert accepted["metadata"] == {"order": 42, "tags": ["a"]}
    assert accepted["last_error"] is None

    async def delivered() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"{NOTIFICATIONS}/{accepted['id']}")).json()
        return body if body["status"] == "delivered" else None

    await wait_until(delivered, 10, "delivered")
    notification = await delivered()
    assert notification is not None
    assert notification["attempts"] == 1
    assert notification["provider_message_id"].startswith("hook-")
    assert notification["delivered_at"] is not None
    assert notification["text"] == "hello"
    assert target.delivered() == {str(accepted["id"]): 1}


async def test_email_through_the_stand_in_is_delivered(client: httpx.AsyncClient) -> None:
    response = await client.post(NOTIFICATIONS, json=email("ada@example.com"))
    assert response.status_code == 202, response.text
    url = f"{NOTIFICATIONS}/{response.json()['id']}"

    async def delivered() -> bool:
        return bool((await client.get(url)).json()["status"] == "delivered")

    await wait_until(delivered, 10, "delivered")


@pytest.mark.parametrize(
    ("flags", "code"),
    [({"is_verified": False}, "ACCOUNT_UNVERIFIED"), ({"is_active": False}, "ACCOUNT_INACTIVE")],
)
async def test_an_unverified_or_deactivated_account_cannot_send(
    service: FastAPI,
    caller: Caller,
    client: httpx.AsyncClient,
    target: WebhookTarget,
    flags: dict[str, bool],
    code: str,
) -> None:
    # Its key was made while the account was verified (an email change unverifies it).
    async with service.state.runtime.database.sessionmaker() as session:
        user = await session.get(User, caller.user_id)
        assert user is not None
        for name, value in flags.items():
            setattr(user, name, value)
        await session.commit()

    for payload in (email(), webhook("ada")):
        assert_error(await client.post(NOTIFICATIONS, json=payload), 403, code)

    async with service.state.runtime.database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Notification)) == 0
    assert target.delivered() == {}


async def test_the_endpoints_refuse_unsigned_requests(service: FastAPI) -> None:
    transport = httpx.ASGITransport(app=service)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anonymous:
        assert_error(await anonymous.post(NOTIFICATIONS, json=email()), 401, "SIGNATURE_MISSING")
        assert_error(await anonymous.get(NOTIFICATIONS), 401, "SIGNATURE_MISSING")
        assert_error(await anonymous.get(f"{NOTIFICATIONS}/1"), 401, "SIGNATURE_MISSING")


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        pytest.param(
            {**email(), "channel": "pigeon"}, 422, "CHANNEL_UNKNOWN", id="unknown-channel"
        ),
        pytest.param(email([]), 422, "RECIPIENTS_EMPTY", id="no-recipient"),
        pytest.param(
            email([f"user{n}@example.com" for n in range(51)]),
            422,
            "TOO_MANY_RECIPIENTS",
            id="51-recipients",
        ),
        pytest.param(
            email(["a@example.com", "not an address"]), 422, "RECIPIENT_INVALID", id="bad-address"
        ),
        pytest.param(webhook("Has Spaces"), 422, "RECIPIENT_INVALID", id="bad-webhook-recipient"),
        pytest.param(email(text=None), 422, "BODY_MISSING", id="no-body"),
        pytest.param(
            email(text="x" * (MAX_BODY_BYTES + 1)),
            413,
            "NOTIFICATION_TOO_LARGE",
            id="text-too-large",
        ),
        pytest.param(
            email(text="é" * (MAX_BODY_BYTES // 2), subject="s"),
            413,
            "NOTIFICATION_TOO_LARGE",
            id="counted-in-utf8-bytes",
        ),
        pytest.param(
            email(metadata={"blob": "x" * MAX_BODY_BYTES}),
            413,
            "NOTIFICATION_TOO_LARGE",
            id="metadata-counts",
        ),
        pytest.param(
            {"channel": "email", "text": "no to"}, 422, "VALIDATION_ERROR", id="missing-field"
        ),
    ],
)
async def test_a_notification_that_cannot_be_delivered_is_refused_and_not_stored(
    client: httpx.AsyncClient, payload: dict[str, Any], status: int, code: str
) -> None:
    response = await client.post(NOTIFICATIONS, json=payload)

    assert_error(response, status, code)
    assert await total(client) == 0


async def test_refusals_say_what_is_wrong(client: httpx.AsyncClient) -> None:
    unknown = assert_error(
        await client.post(NOTIFICATIONS, json={**email(), "channel": "pigeon"}),
        422,
        "CHANNEL_UNKNOWN",
    )
    assert "email" in unknown["detail"]["channels"]
    assert "webhook" in unknown["detail"]["channels"]

    invalid = assert_error(
        await client.post(NOTIFICATIONS, json=email(["a@example.com", "b@", "c@example.com"])),
        422,
        "RECIPIENT_INVALID",
    )
    assert [(item["index"], item["address"]) for item in invalid["detail"]] == [(1, "b@")]

    many = assert_error(
        await client.post(NOTIFICATIONS, json=email([f"u{n}@example.com" for n in range(51)])),
        422,
        "TOO_MANY_RECIPIENTS",
    )
    assert many["detail"] == {"count": 51, "max": 50}


async def test_fifty_recipients_and_a_body_at_the_limit_are_accepted(
    client: httpx.AsyncClient,
) -> None:
    recipients = [f"user{n}@example.com" for n in range(50)]
    at_limit = email(recipients, subject=None, text="x" * MAX_BODY_BYTES)

    response = await client.post(NOTIFICATIONS, json=at_limit)

    assert response.status_code == 202, response.text
    assert response.json()["to"] == recipients


async def test_a_repeated_idempotency_key_returns_the_first_notification(
    client: httpx.AsyncClient, target: WebhookTarget, service: FastAPI
) -> None:
    headers = {"Idempotency-Key": "order-42-shipped"}
    first = await client.post(NOTIFICATIONS, json=webhook("ada"), headers=headers)
    again = await client.post(NOTIFICATIONS, json=webhook("ada"), headers=headers)

    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await total(client) == 1
    await wait_until(
        lambda: all_finished(service.state.runtime.database, [first.json()["id"]]), 10, "delivered"
    )
    assert target.delivered() == {str(first.json()["id"]): 1}


async def test_an_idempotency_key_reused_for_another_request_is_refused(
    client: httpx.AsyncClient,
) -> None:
    headers = {"Idempotency-Key": "k-1"}
    first = await client.post(NOTIFICATIONS, json=email(text="one"), headers=headers)
    other = await client.post(NOTIFICATIONS, json=email(text="two"), headers=headers)

    assert first.status_code == 202
    body = assert_error(other, 409, "IDEMPOTENCY_KEY_REUSED")
    assert body["detail"] == {"id": first.json()["id"]}
    assert await total(client) == 1


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "ünïcode"])
async def test_a_malformed_idempotency_key_is_refused(client: httpx.AsyncClient, key: str) -> None:
    response = await client.post(
        NOTIFICATIONS, json=email(), headers=[(b"Idempotency-Key", key.encode())]
    )
    assert_error(response, 422, "IDEMPOTENCY_KEY_INVALID")


async def test_concurrent_requests_with_one_idempotency_key_make_one_notification(
    client: httpx.AsyncClient,
) -> None:
    headers = {"Idempotency-Key": "raced"}
    responses = await asyncio.gather(
        *(client.post(NOTIFICATIONS, json=email(), headers=headers) for _ in range(8))
    )

    assert {response.status_code for response in responses} == {202}, [
        response.text for response in responses
    ]
    assert len({response.json()["id"] for response in responses}) == 1
    assert await total(client) == 1


async def test_a_raced_idempotency_key_fails_none_of_the_requests_accepted_beside_it(
    client: httpx.AsyncClient,
) -> None:
    # Rows accepted at the same moment are written together: the raced key's second row
    # breaks the statement, and the others must still be accepted, each once.
    keyed = {"Idempotency-Key": "raced-among-others"}
    sends = [client.post(NOTIFICATIONS, json=email(), headers=keyed) for _ in range(6)]
    sends += [client.post(NOTIFICATIONS, json=email(f"n{n}@example.com")) for n in range(12)]
    responses = await asyncio.gather(*sends)

    assert {response.status_code for response in responses} == {202}, [
        response.text for response in responses
    ]
    keyed_ids = {response.json()["id"] for response in responses[:6]}
    plain_ids = {response.json()["id"] for response in responses[6:]}
    assert len(keyed_ids) == 1
    assert len(plain_ids) == 12
    assert not keyed_ids & plain_ids
    assert await total(client) == 13


async def test_idempotency_keys_belong_to_one_api_key(
    service: FastAPI, client: httpx.AsyncClient
) -> None:
    other = await new_caller(service)
    headers = {"Idempotency-Key": "same-words"}
    mine = await client.post(NOTIFICATIONS, json=email(), headers=headers)
    async with signed_client(service, other) as other_client:
        theirs = await other_client.post(NOTIFICATIONS, json=email(), headers=headers)

    assert mine.status_code == theirs.status_code == 202
    assert mine.json()["id"] != theirs.json()["id"]


async def test_a_caller_sees_only_its_own_notifications(
    service: FastAPI, client: httpx.AsyncClient
) -> None:
    mine = (await client.post(NOTIFICATIONS, json=email())).json()["id"]
    stranger = await new_caller(service)
    async with signed_client(service, stranger) as other:
        theirs = (await other.post(NOTIFICATIONS, json=email())).json()["id"]

        assert_error(await other.get(f"{NOTIFICATIONS}/{mine}"), 404, "NOTIFICATION_NOT_FOUND")
        listed = (await other.get(NOTIFICATIONS)).json()
        assert [item["id"] for item in listed["items"]] == [theirs]

    assert_error(await client.get(f"{NOTIFICATIONS}/{theirs}"), 404, "NOTIFICATION_NOT_FOUND")
    assert_error(await client.get(f"{NOTIFICATIONS}/999999"), 404, "NOTIFICATION_NOT_FOUND")
    assert (await client.get(f"{NOTIFICATIONS}/{mine}")).status_code == 200


async def test_a_users_keys_share_its_notifications(
    service: FastAPI, client: httpx.AsyncClient, caller: Caller
) -> None:
    from app.signed_api.keys import create_api_key

    async with service.state.runtime.database.sessionmaker() as session:
        second_key, secret = await create_api_key(
            session, service.state.runtime.settings, caller.user_id, "second"
        )
    sent = (await client.post(NOTIFICATIONS, json=email())).json()["id"]
    same_user = Caller(caller.user_id, second_key.id, second_key.access_key, secret)
    async with signed_client(service, same_user) as other_key:
        assert (await other_key.get(f"{NOTIFICATIONS}/{sent}")).status_code == 200


async def test_the_list_is_newest_first_paginated_and_filtered_by_status(
    client: httpx.AsyncClient, service: FastAPI
) -> None:
    delivered = await post_all(client, [webhook(f"ok{n}") for n in range(3)])
    failed = await post_all(client, [webhook(f"reject-{n}") for n in range(2)])
    await wait_until(
        lambda: all_finished(service.state.runtime.database, delivered + failed), 10, "all finished"
    )

    first_page = (await client.get(NOTIFICATIONS, params={"size": 2})).json()
    assert first_page["total"] == 5
    assert first_page["pages"] == 3
    everything = sorted(delivered + failed, reverse=True)
    assert [item["id"] for item in first_page["items"]] == everything[:2]
    assert "text" not in first_page["items"][0]
    last_page = (await client.get(NOTIFICATIONS, params={"size": 2, "page": 3})).json()
    assert [item["id"] for item in last_page["items"]] == everything[4:]

    only_failed = (await client.get(NOTIFICATIONS, params={"status": "failed"})).json()
    assert sorted(item["id"] for item in only_failed["items"]) == sorted(failed)
    assert {item["status"] for item in only_failed["items"]} == {"failed"}
    assert await total(client, status="queued") == 0

    assert_error(
        await client.get(NOTIFICATIONS, params={"status": "lost"}), 422, "VALIDATION_ERROR"
    )
    assert_error(await client.get(NOTIFICATIONS, params={"size": 101}), 422, "VALIDATION_ERROR")
