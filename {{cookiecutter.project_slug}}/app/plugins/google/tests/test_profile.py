"""The People API person → common profile fields, on the JSON shapes Google sends."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.plugins.google.profile import map_people_profile, normalise_phone

PERSON: dict[str, Any] = {
    "resourceName": "people/110248495921238986420",
    "etag": "%EgoBAj0DBgk+NxAFGgQBAgUHIgxIZjNJSWp1Y3BzUT0=",
    "names": [
        {
            "metadata": {
                "primary": True,
                "source": {"type": "PROFILE", "id": "110248495921238986420"},
                "sourcePrimary": True,
            },
            "displayName": "Jane Doe",
            "familyName": "Doe",
            "givenName": "Jane",
            "displayNameLastFirst": "Doe, Jane",
            "unstructuredName": "Jane Doe",
        }
    ],
    "photos": [
        {
            "metadata": {
                "primary": True,
                "source": {"type": "PROFILE", "id": "110248495921238986420"},
            },
            "url": "https://lh3.googleusercontent.com/a/ACg8ocJane=s100",
        }
    ],
    "genders": [
        {
            "metadata": {
                "primary": True,
                "source": {"type": "PROFILE", "id": "110248495921238986420"},
            },
            "value": "female",
            "formattedValue": "Female",
        }
    ],
    "birthdays": [
        {
            "metadata": {
                "primary": True,
                "source": {"type": "PROFILE", "id": "110248495921238986420"},
            },
            "date": {"year": 1990, "month": 3, "day": 14},
        },
        {
            "metadata": {"source": {"type": "ACCOUNT", "id": "110248495921238986420"}},
            "date": {"year": 1991, "month": 7, "day": 1},
        },
    ],
    "emailAddresses": [
        {
            "metadata": {
                "source": {"type": "CONTACT", "id": "3f2a"},
            },
            "value": "jane.work@example.com",
        },
        {
            "metadata": {
                "primary": True,
                "verified": True,
                "source": {"type": "ACCOUNT", "id": "110248495921238986420"},
                "sourcePrimary": True,
            },
            "value": "jane.doe@gmail.com",
        },
    ],
    "phoneNumbers": [
        {
            "metadata": {
                "primary": True,
                "verified": True,
                "source": {"type": "PROFILE", "id": "110248495921238986420"},
            },
            "value": "010-1234-5678",
            "canonicalForm": "+821012345678",
            "type": "mobile",
            "formattedType": "Mobile",
        }
    ],
}


def person(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(PERSON)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def test_full_person_maps_every_field() -> None:
    profile = map_people_profile(person())
    assert profile.account_id == "110248495921238986420"
    assert profile.email == "jane.doe@gmail.com"
    assert profile.email_verified is True
    assert profile.name == "Jane Doe"
    assert profile.nickname is None
    assert profile.profile_image_url == "https://lh3.googleusercontent.com/a/ACg8ocJane=s100"
    assert profile.gender == "female"
    assert profile.birthyear == 1990
    assert profile.birthday == "03-14"
    assert profile.phone_number == "+821012345678"


def test_birthday_without_year_keeps_month_and_day_only() -> None:
    birthdays = [
        {
            "metadata": {"primary": True, "source": {"type": "PROFILE", "id": "1"}},
            "date": {"month": 12, "day": 5},
        }
    ]
    profile = map_people_profile(person(birthdays=birthdays))
    assert profile.birthday == "12-05"
    assert profile.birthyear is None


def test_without_primary_entries_the_first_one_is_used() -> None:
    names = [
        {"metadata": {"source": {"type": "PROFILE"}}, "displayName": "First Name"},
        {"metadata": {"source": {"type": "CONTACT"}}, "displayName": "Second Name"},
    ]
    assert map_people_profile(person(names=names)).name == "First Name"


def test_withheld_fields_stay_empty() -> None:
    # Consent to birthday, gender and phone withheld: People API leaves the keys out.
    profile = map_people_profile(person(birthdays=None, genders=None, phoneNumbers=None))
    assert (profile.birthday, profile.birthyear, profile.gender, profile.phone_number) == (
        None,
        None,
        None,
        None,
    )
    assert profile.email == "jane.doe@gmail.com"


def test_unverified_email_is_not_trusted() -> None:
    emails = [{"metadata": {"primary": True, "source": {"type": "ACCOUNT"}}, "value": "x@y.org"}]
    profile = map_people_profile(person(emailAddresses=emails))
    assert profile.email == "x@y.org"
    assert profile.email_verified is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [("male", "male"), ("Female", "female"), ("unspecified", None), ("nonbinary", "other")],
)
def test_gender_values(value: str, expected: str | None) -> None:
    genders = [{"metadata": {"primary": True}, "value": value, "formattedValue": value}]
    assert map_people_profile(person(genders=genders)).gender == expected


def test_generated_letter_avatar_counts_as_no_photo() -> None:
    photos = [
        {
            "metadata": {"primary": True},
            "url": "https://lh3.googleusercontent.com/a/J=s100",
            "default": True,
        }
    ]
    assert map_people_profile(person(photos=photos)).profile_image_url is None


def test_phone_without_canonical_form_is_normalised() -> None:
    phones = [{"metadata": {"primary": True}, "value": "+1 (650) 253-0000", "type": "work"}]
    assert map_people_profile(person(phoneNumbers=phones)).phone_number == "+16502530000"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+82 10-1234-5678", "+821012345678"),
        ("0082 10 1234 5678", "+821012345678"),
        ("010-1234-5678", None),  # no country code: cannot be placed
        ("call me", None),
        ("", None),
    ],
)
def test_normalise_phone(raw: str, expected: str | None) -> None:
    assert normalise_phone(raw) == expected


def test_person_without_resource_name_is_refused() -> None:
    with pytest.raises(ValueError, match="resourceName"):
        map_people_profile(person(resourceName=None))
