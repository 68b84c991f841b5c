"""The fake-data providers produce values in the shapes the service stores."""

from __future__ import annotations

import re
from datetime import date

import pytest
from faker import Faker

from tests.providers import GENDERS, UserProvider

E164 = re.compile(r"^\+[1-9]\d{7,14}$")


@pytest.fixture
def fake() -> Faker:
    faker = Faker()
    faker.add_provider(UserProvider)
    faker.seed_instance(7)
    return faker


def test_phone_numbers_are_e164(fake: Faker) -> None:
    korean = [fake.korean_phone_number() for _ in range(200)]
    international = [fake.international_phone_number() for _ in range(200)]
    mixed = [fake.e164_phone_number() for _ in range(200)]

    assert all(re.fullmatch(r"\+8210[1-9]\d{7}", number) for number in korean)
    assert all(E164.match(number) for number in international + mixed)
    assert not any(number.startswith("+82") for number in international)
    assert any(number.startswith("+82") for number in mixed)
    assert any(not number.startswith("+82") for number in mixed)


def test_birthdays_are_real_month_days(fake: Faker) -> None:
    birthdays = {fake.birthday() for _ in range(2000)}

    for birthday in birthdays:
        assert re.fullmatch(r"\d{2}-\d{2}", birthday)
        month, day = map(int, birthday.split("-"))
        date(2000, month, day)  # raises for a day that does not exist
    assert "02-29" in birthdays


def test_profile_fields(fake: Faker) -> None:
    profiles = [fake.user_profile() for _ in range(100)]

    assert {profile["gender"] for profile in profiles} == set(GENDERS)
    assert all(re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z.]+", p["email"]) for p in profiles)
    assert all(1950 <= p["birthyear"] <= date.today().year for p in profiles)
    assert all(p["profile_image_url"].startswith("https://") for p in profiles)
    assert any(re.search(r"[가-힣]", p["name"]) for p in profiles)
    assert len({fake.unique.account_email() for _ in range(500)}) == 500
