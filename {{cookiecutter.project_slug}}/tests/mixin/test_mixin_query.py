"""`filter_by`: every operator, chaining, terminals and pagination."""

from __future__ import annotations

from typing import Any, assert_type

import pytest
from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import Database
from app.core.orm.mixins import InvalidQueryError, MultipleResultsError, Page
from tests.mixin.models import SampleUser
from tests.mixin.support import MakeUser

PEOPLE: list[dict[str, Any]] = [
    {"email": "alice@x.com", "name": "Alice", "points": 10, "nickname": "al", "gender": "female"},
    {"email": "bob@x.com", "name": "Bob", "points": 20, "nickname": None, "gender": "male"},
    {
        "email": "carol@y.org",
        "name": "Carol",
        "points": 30,
        "nickname": "100%_sure",
        "gender": "female",
    },
    {"email": "dave@y.org", "name": "Dave", "points": 40, "nickname": "d", "gender": "male"},
]


@pytest.fixture
async def people(make_user: MakeUser) -> dict[str, SampleUser]:
    users = [await make_user(**person) for person in PEOPLE]
    return {user.name: user for user in users}


def names(users: list[SampleUser]) -> list[str]:
    return [user.name for user in users]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"name": "Bob"}, {"Bob"}),
        ({"name__eq": "Bob"}, {"Bob"}),
        ({"nickname": None}, {"Bob"}),
        ({"points__ne": 10}, {"Bob", "Carol", "Dave"}),
        ({"points__gt": 20}, {"Carol", "Dave"}),
        ({"points__ge": 20}, {"Bob", "Carol", "Dave"}),
        ({"points__lt": 20}, {"Alice"}),
        ({"points__le": 20}, {"Alice", "Bob"}),
        ({"name__in": ["Alice", "Carol"]}, {"Alice", "Carol"}),
        ({"name__in": ("Dave",)}, {"Dave"}),
        ({"name__in": []}, set()),
        ({"points__notin": [10, 40]}, {"Bob", "Carol"}),
        ({"email__like": "%@x.com"}, {"Alice", "Bob"}),
        ({"email__like": "_ave@%"}, {"Dave"}),
        ({"email__ilike": "%@X.COM"}, {"Alice", "Bob"}),
        ({"email__startswith": "ca"}, {"Carol"}),
        ({"email__endswith": "@y.org"}, {"Carol", "Dave"}),
        ({"email__contains": "ob@"}, {"Bob"}),
        # `%` and `_` are plain characters for startswith/endswith/contains.
        ({"nickname__contains": "%_"}, {"Carol"}),
        ({"nickname__startswith": "1_0"}, set()),
        ({"nickname__isnull": True}, {"Bob"}),
        ({"nickname__isnull": False}, {"Alice", "Carol", "Dave"}),
        ({"points__between": (15, 35)}, {"Bob", "Carol"}),
        ({"points__between": [10, 10]}, {"Alice"}),
        ({"gender": "female", "points__gt": 10}, {"Carol"}),
    ],
)
async def test_each_operator_selects_the_matching_rows(
    people: dict[str, SampleUser], filters: dict[str, Any], expected: set[str]
) -> None:
    found = await SampleUser.filter_by(**filters).all()

    assert set(names(found)) == expected


async def test_filter_by_with_a_passed_session(
    people: dict[str, SampleUser], session: AsyncSession
) -> None:
    found = await SampleUser.filter_by(session=session, points__ge=30).order_by("id").all()

    assert names(found) == ["Carol", "Dave"]
    assert all(user in session for user in found)


async def test_the_example_from_the_docs(people: dict[str, SampleUser]) -> None:
    found = await SampleUser.filter_by(email__like="%@x.com").order_by("-id").all()

    assert_type(found, list[SampleUser])
    assert names(found) == ["Bob", "Alice"]


async def test_chaining_filters_orderings_limit_and_offset(people: dict[str, SampleUser]) -> None:
    query = SampleUser.filter_by(points__ge=20).filter_by(email__like="%.org")

    assert names(await query.order_by("-points").all()) == ["Dave", "Carol"]
    assert names(await query.order_by("+points").all()) == ["Carol", "Dave"]
    everyone = SampleUser.filter_by().order_by("gender", "-points")
    assert names(await everyone.all()) == ["Carol", "Alice", "Dave", "Bob"]
    assert names(await everyone.limit(2).all()) == ["Carol", "Alice"]
    assert names(await everyone.offset(1).limit(2).all()) == ["Alice", "Dave"]
    assert names(await everyone.offset(3).all()) == ["Bob"]
    assert await everyone.limit(0).all() == []


async def test_a_query_is_not_changed_by_the_queries_built_from_it(
    people: dict[str, SampleUser],
) -> None:
    base = SampleUser.filter_by(points__ge=20)
    narrower = base.filter_by(gender="male").order_by("-points").limit(1)

    assert names(await narrower.all()) == ["Dave"]
    assert sorted(names(await base.all())) == ["Bob", "Carol", "Dave"]


async def test_where_takes_plain_sqlalchemy_criteria(people: dict[str, SampleUser]) -> None:
    query = SampleUser.filter_by(gender="male").where(
        or_(SampleUser.points < 25, SampleUser.name == "Carol")
    )

    assert names(await query.all()) == ["Bob"]


async def test_statement_exposes_the_select(
    people: dict[str, SampleUser], session: AsyncSession
) -> None:
    statement = SampleUser.filter_by(points__gt=25).order_by("points").statement

    assert names(list(await session.scalars(statement))) == ["Carol", "Dave"]


async def test_first(people: dict[str, SampleUser]) -> None:
    top = await SampleUser.filter_by().order_by("-points").first()
    assert top is not None and top.name == "Dave"
    second = await SampleUser.filter_by().order_by("-points").offset(1).first()
    assert second is not None and second.name == "Carol"
    assert await SampleUser.filter_by(points__gt=100).first() is None
    assert await SampleUser.filter_by().limit(0).first() is None


async def test_one_or_none(people: dict[str, SampleUser]) -> None:
    found = await SampleUser.filter_by(email="carol@y.org").one_or_none()
    assert found is not None and found.name == "Carol"
    assert await SampleUser.filter_by(email="nobody@y.org").one_or_none() is None
    with pytest.raises(MultipleResultsError):
        await SampleUser.filter_by(gender="male").one_or_none()
    only = await SampleUser.filter_by(gender="male").order_by("points").limit(1).one_or_none()
    assert only is not None and only.name == "Bob"


async def test_count(people: dict[str, SampleUser]) -> None:
    assert await SampleUser.filter_by().count() == 4
    assert await SampleUser.filter_by(gender="female").count() == 2
    assert await SampleUser.filter_by(points__gt=100).count() == 0
    assert await SampleUser.filter_by().limit(3).count() == 3
    assert await SampleUser.filter_by().order_by("id").offset(3).count() == 1


async def test_exists(people: dict[str, SampleUser]) -> None:
    assert await SampleUser.filter_by(name="Alice").exists() is True
    assert await SampleUser.filter_by(name="Zed").exists() is False
    assert await SampleUser.filter_by(gender="male").order_by("id").offset(1).exists() is True
    assert await SampleUser.filter_by(gender="male").order_by("id").offset(2).exists() is False
    assert await SampleUser.filter_by().limit(0).exists() is False


async def test_paginate_pages_through_every_row_once(people: dict[str, SampleUser]) -> None:
    # Sorting by gender alone leaves ties: the primary key settles them.
    query = SampleUser.filter_by().order_by("gender")

    first = await query.paginate(1, 3)
    second = await query.paginate(2, 3)

    assert isinstance(first, Page)
    assert (first.total, first.page, first.size, first.pages) == (4, 1, 3, 2)
    assert (second.total, second.page, second.size, second.pages) == (4, 2, 3, 2)
    assert first.has_next and not second.has_next
    assert names(first.items) == ["Alice", "Carol", "Bob"]
    assert names(second.items) == ["Dave"]


async def test_paginate_past_the_end_is_an_empty_page(people: dict[str, SampleUser]) -> None:
    page = await SampleUser.filter_by().paginate(3, 2)

    assert page.items == []
    assert (page.total, page.page, page.size, page.pages) == (4, 3, 2, 2)
    assert not page.has_next


async def test_paginate_with_no_match(people: dict[str, SampleUser]) -> None:
    page = await SampleUser.filter_by(points__gt=100).paginate(1, 10)

    assert (page.items, page.total, page.pages) == ([], 0, 0)


async def test_paginate_ignores_an_earlier_limit_and_offset(people: dict[str, SampleUser]) -> None:
    page = await SampleUser.filter_by().order_by("-points").limit(1).offset(2).paginate(1, 4)

    assert names(page.items) == ["Dave", "Carol", "Bob", "Alice"]
    assert page.total == 4


async def test_paginate_size_bounds(people: dict[str, SampleUser]) -> None:
    assert len((await SampleUser.filter_by().paginate(1, 1)).items) == 1
    assert (await SampleUser.filter_by().paginate(1, 100)).size == 100
    assert (await SampleUser.filter_by().paginate(1, 500, max_size=500)).pages == 1
    for page, size in [(1, 0), (1, -1), (1, 101), (0, 10), (-1, 10)]:
        with pytest.raises(InvalidQueryError) as caught:
            await SampleUser.filter_by().paginate(page, size)
        assert caught.value.code == "INVALID_QUERY"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: SampleUser.filter_by(emial="x"), "SampleUser has no column 'emial'"),
        (lambda: SampleUser.filter_by(emial__like="x"), "SampleUser has no column 'emial'"),
        (lambda: SampleUser.filter_by().filter_by(pionts__gt=1), "no column 'pionts'"),
        (lambda: SampleUser.filter_by().order_by("-pionts"), "no column 'pionts'"),
        (lambda: SampleUser.filter_by().order_by("notes"), "no column 'notes'"),
        (lambda: SampleUser.filter_by(email__startwith="a"), "unknown operator 'startwith'"),
        (lambda: SampleUser.filter_by(points__in=5), "points__in: takes a list"),
        (lambda: SampleUser.filter_by(name__notin="Bob"), "name__notin: takes a list"),
        (lambda: SampleUser.filter_by(points__between=[1]), "takes two bounds"),
        (lambda: SampleUser.filter_by(points__between=5), "takes a list"),
        (lambda: SampleUser.filter_by(nickname__isnull="yes"), "takes True or False"),
        (lambda: SampleUser.filter_by().limit(-1), "limit must be 0 or more"),
        (lambda: SampleUser.filter_by().offset(-5), "offset must be 0 or more"),
    ],
)
def test_mistakes_are_refused_when_the_query_is_built(build: Any, message: str) -> None:
    with pytest.raises(InvalidQueryError, match=message.replace("(", r"\(")) as caught:
        build()

    assert caught.value.code == "INVALID_QUERY"
    assert caught.value.status_code == 400


def test_an_unknown_operator_error_lists_the_operators() -> None:
    with pytest.raises(InvalidQueryError) as caught:
        SampleUser.filter_by(points__above=3)

    assert "SampleUser.points" in caught.value.message
    assert caught.value.detail["valid"] == [
        "eq",
        "ne",
        "gt",
        "ge",
        "lt",
        "le",
        "in",
        "notin",
        "like",
        "ilike",
        "startswith",
        "endswith",
        "contains",
        "isnull",
        "between",
    ]


async def test_every_terminal_runs_in_a_passed_session(
    people: dict[str, SampleUser], db: Database
) -> None:
    async with db.sessionmaker() as other:
        query = SampleUser.filter_by(session=other, gender="female").order_by("points")

        everyone = await query.all()
        first = await query.first()
        only = await query.filter_by(name="Carol").one_or_none()
        page = await query.paginate(1, 1)
        assert_type(page, Page[SampleUser])

        assert names(everyone) == ["Alice", "Carol"]
        assert all(user in other for user in [*everyone, first, only, *page.items])
        assert await query.count() == 2
        assert await query.exists()
    rebound = SampleUser.filter_by(name="Dave").with_session(session=None)
    assert names(await rebound.all()) == ["Dave"]
