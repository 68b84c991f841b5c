"""Helpers shared by the mixin tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any

from faker import Faker

from app.core.database import Database
from tests.mixin.models import SampleUser

MakeUser = Callable[..., Awaitable[SampleUser]]


def sample_user_values(fake: Faker, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "email": fake.unique.account_email(),
        "name": fake.display_name(),
        "nickname": fake.nickname(),
        "phone_number": fake.e164_phone_number(),
        "birthday": fake.birthday(),
        "gender": fake.gender(),
        "points": fake.random_int(0, 1000),
    }
    values.update(overrides)
    return values


class StatementLog:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def verbs(self) -> list[str]:
        return [statement.split(None, 1)[0].upper() for statement in self.statements]

    def clear(self) -> None:
        self.statements.clear()


RecordSql = Callable[[], AbstractContextManager[StatementLog]]


async def rows_in_database(db: Database) -> list[tuple[int, str]]:
    """(id, email) of every sample user, read through a fresh session."""
    async with db.sessionmaker() as fresh:
        users = await SampleUser.filter_by(session=fresh).order_by("id").all()
        return [(user.id, user.email) for user in users]


async def emails_in_database(db: Database) -> set[str]:
    return {email for _, email in await rows_in_database(db)}
