"""The token check's memory stays honest: a user read is kept at most USER_CACHE_SECONDS,
changes through the process show at once, a remembered token still expires, and a read
that overlapped a write is never kept."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from app.accounts.models import User
from app.core.database import Database
from app.core.watched_cache import WatchedCache
from tests.support import (
    ME,
    ServeApp,
    SettingsFactory,
    assert_error,
    bearer_for,
    build_app,
    register,
)

EMAIL = "alice@example.com"


@pytest.fixture
async def client(module_app: FastAPI, serve: ServeApp) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(module_app) as client:
        await register(client, EMAIL)
        yield client


async def write_elsewhere(database_url: str, **values: object) -> None:
    """Change the user as another process would (the command line, another replica)."""
    elsewhere = Database(database_url)
    try:
        async with elsewhere.sessionmaker() as session:
            await session.execute(update(User).filter_by(email=EMAIL).values(**values))
            await session.commit()
    finally:
        await elsewhere.dispose()


@pytest.mark.parametrize(
    "change",
    [{"is_active": False}, {"session_generation": User.session_generation + 1}],
    ids=["deactivated", "signed-out-elsewhere"],
)
async def test_a_change_made_by_another_process_is_honoured_within_the_cache_time(
    client: httpx.AsyncClient, module_app: FastAPI, database_url: str, change: dict[str, object]
) -> None:
    token = await bearer_for(client, EMAIL)
    assert (await client.get(ME, headers=token)).status_code == 200

    await write_elsewhere(database_url, **change)

    await asyncio.sleep(module_app.state.runtime.settings.user_cache_seconds + 0.1)
    assert_error(await client.get(ME, headers=token), 401, "UNAUTHORIZED")


async def test_a_profile_change_through_the_service_shows_at_once(
    client: httpx.AsyncClient,
) -> None:
    token = await bearer_for(client, EMAIL)
    assert (await client.get(ME, headers=token)).json()["name"] is None

    changed = await client.patch(ME, headers=token, json={"name": "Alice"})
    assert changed.status_code == 200, changed.text

    assert (await client.get(ME, headers=token)).json()["name"] == "Alice"


async def test_a_token_checked_before_still_expires(
    make_settings: SettingsFactory, serve: ServeApp
) -> None:
    # Long enough for the first use to come before expiry on a loaded machine.
    application = build_app(make_settings(auth_token_lifetime_seconds=3))
    async with serve(application) as client:
        await register(client, EMAIL)
        token = await bearer_for(client, EMAIL)
        assert (await client.get(ME, headers=token)).status_code == 200

        expires_at = jwt.decode(
            token["Authorization"].removeprefix("Bearer "), options={"verify_signature": False}
        )["exp"]
        await asyncio.sleep(max(0.0, expires_at - time.time()) + 1.1)

        assert_error(await client.get(ME, headers=token), 401, "UNAUTHORIZED")


class SlowReads:
    """A loader whose first read waits until released, as a slow query would."""

    def __init__(self) -> None:
        self.count = 0
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, key: int) -> str:
        self.count += 1
        if self.count == 1:
            self.started.set()
            await self.release.wait()
        return f"row {key}"


@pytest.mark.parametrize("read_starts", ["before the write", "between the write and its commit"])
async def test_a_read_that_overlapped_a_write_is_not_kept(
    lean_app: FastAPI, read_starts: str
) -> None:
    database: Database = lean_app.state.runtime.database
    cache = WatchedCache[int, str](60, ("user",), max_entries=10)
    cache.watch(database)
    reads = SlowReads()

    async with database.sessionmaker() as session:
        if read_starts == "before the write":
            reading = asyncio.create_task(cache.get(1, reads))
            await reads.started.wait()
        await session.execute(update(User).filter_by(email="nobody@example.com").values(name="x"))
        if read_starts != "before the write":
            reading = asyncio.create_task(cache.get(1, reads))
            await reads.started.wait()
        await session.commit()
    reads.release.set()
    assert await reading == "row 1"

    # The read may have seen the row from before the commit: the next one reads again ...
    assert await cache.get(1, reads) == "row 1"
    assert reads.count == 2
    # ... and that one is kept.
    assert await cache.get(1, reads) == "row 1"
    assert reads.count == 2
