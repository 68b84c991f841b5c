"""Where the mixin's session comes from, and how its errors look from a route."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from faker import Faker
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import Database
from app.core.orm.base import Base
from app.core.orm.mixins import SessionNotBoundError
from app.core.orm.query import bound_session
from tests.mixin.models import SampleUser
from tests.mixin.support import MakeUser, sample_user_values


async def test_bind_models_gives_each_task_its_own_session(db: Database) -> None:
    Base.scoped_session = None
    db.bind_models()

    async def sessions_of_one_task() -> tuple[AsyncSession, AsyncSession]:
        await SampleUser.filter_by().count()
        return bound_session(SampleUser), bound_session(SampleUser)

    (first_a, first_b), (second_a, second_b) = await asyncio.gather(
        sessions_of_one_task(), sessions_of_one_task()
    )

    assert first_a is first_b
    assert second_a is second_b
    assert first_a is not second_a


async def test_calls_without_a_session_fail_clearly_when_none_is_bound(
    session: AsyncSession, fake: Faker, make_user: MakeUser
) -> None:
    user = await make_user()
    session.expunge(user)
    Base.scoped_session = None
    message = "SampleUser: no session was passed and none is bound"

    with pytest.raises(SessionNotBoundError, match=message) as caught:
        await SampleUser.create(**sample_user_values(fake))
    assert "bind_models()" in str(caught.value)
    with pytest.raises(SessionNotBoundError, match=message):
        await SampleUser.get(user.id)
    with pytest.raises(SessionNotBoundError, match=message):
        await SampleUser.filter_by(points__ge=0).all()
    with pytest.raises(SessionNotBoundError, match=message):
        await user.update(points=1)
    with pytest.raises(SessionNotBoundError, match=message):
        await user.delete()

    assert (await SampleUser.get(user.id, session=session)).id == user.id


def sample_router() -> APIRouter:
    router = APIRouter()

    @router.get("/samples/{user_id}")
    async def read_sample(user_id: int) -> dict[str, Any]:
        user = await SampleUser.get(user_id)
        return {"id": user.id, "email": user.email}

    @router.get("/samples")
    async def list_samples(order: str = "id", page: int = 1, size: int = 10) -> dict[str, Any]:
        found = await SampleUser.filter_by().order_by(order).paginate(page, size)
        return {"emails": [user.email for user in found.items], "total": found.total}

    return router


async def test_routes_turn_mixin_errors_into_clean_responses(
    app: FastAPI, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    app.include_router(sample_router())
    user = await make_user()

    found = await client.get(f"/samples/{user.id}")
    missing = await client.get(f"/samples/{user.id + 1000}")
    bad_order = await client.get("/samples", params={"order": "-pasword"})
    too_big = await client.get("/samples", params={"size": 1000})
    listed = await client.get("/samples", params={"order": "-id"})

    assert found.status_code == 200
    assert found.json() == {"id": user.id, "email": user.email}
    assert missing.status_code == 404
    assert missing.json()["code"] == "NOT_FOUND"
    assert missing.json()["request_id"] == missing.headers["X-Request-ID"]
    assert bad_order.status_code == 400
    assert bad_order.json()["code"] == "INVALID_QUERY"
    assert "no column 'pasword'" in bad_order.json()["message"]
    assert too_big.status_code == 400
    assert too_big.json()["code"] == "INVALID_QUERY"
    assert listed.json() == {"emails": [user.email], "total": 1}
