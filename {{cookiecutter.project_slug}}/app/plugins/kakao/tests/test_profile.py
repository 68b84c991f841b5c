"""Kakao's `/v2/user/me` user → common profile fields, on the JSON shapes Kakao sends."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.plugins.kakao.profile import map_kakao_profile, normalise_phone

USER: dict[str, Any] = {
    "id": 3141592653,
    "connected_at": "2024-05-02T08:13:21Z",
    "properties": {
        "nickname": "길동이",
        "profile_image": "https://k.kakaocdn.net/dn/abc/img_640x640.jpg",
        "thumbnail_image": "https://k.kakaocdn.net/dn/abc/img_110x110.jpg",
    },
    "kakao_account": {
        "profile_nickname_needs_agreement": False,
        "profile_image_needs_agreement": False,
        "profile": {
            "nickname": "길동이",
            "thumbnail_image_url": "https://k.kakaocdn.net/dn/abc/img_110x110.jpg",
            "profile_image_url": "https://k.kakaocdn.net/dn/abc/img_640x640.jpg",
            "is_default_image": False,
            "is_default_nickname": False,
        },
        "name_needs_agreement": False,
        "name": "홍길동",
        "has_email": True,
        "email_needs_agreement": False,
        "is_email_valid": True,
        "is_email_verified": True,
        "email": "gildong@kakao.com",
        "has_age_range": True,
        "age_range_needs_agreement": False,
        "age_range": "30~39",
        "has_birthyear": True,
        "birthyear_needs_agreement": False,
        "birthyear": "1992",
        "has_birthday": True,
        "birthday_needs_agreement": False,
        "birthday": "0914",
        "birthday_type": "SOLAR",
        "is_leap_month": False,
        "has_gender": True,
        "gender_needs_agreement": False,
        "gender": "male",
        "has_phone_number": True,
        "phone_number_needs_agreement": False,
        "phone_number": "+82 10-1234-5678",
    },
}


def user(**account_changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(USER)
    for key, value in account_changes.items():
        if value is None:
            data["kakao_account"].pop(key, None)
        else:
            data["kakao_account"][key] = value
    return data


def withheld(*fields: str) -> dict[str, Any]:
    """The user as Kakao sends it when consent to these fields was not given."""
    data = copy.deepcopy(USER)
    account = data["kakao_account"]
    for field in fields:
        account[f"{field}_needs_agreement"] = True
        account.pop(field, None)
    return data


def test_full_user_maps_every_field() -> None:
    profile = map_kakao_profile(user())
    assert profile.account_id == "3141592653"
    assert profile.email == "gildong@kakao.com"
    assert profile.email_verified is True
    assert profile.name == "홍길동"
    assert profile.nickname == "길동이"
    assert profile.profile_image_url == "https://k.kakaocdn.net/dn/abc/img_640x640.jpg"
    assert profile.gender == "male"
    assert profile.birthyear == 1992
    assert profile.birthday == "09-14"
    assert profile.phone_number == "+821012345678"


def test_fields_needing_agreement_stay_empty() -> None:
    profile = map_kakao_profile(withheld("birthday", "birthyear", "gender", "phone_number", "name"))
    assert (profile.birthday, profile.birthyear, profile.gender) == (None, None, None)
    assert (profile.phone_number, profile.name) == (None, None)
    assert profile.nickname == "길동이"


def test_a_value_sent_with_needs_agreement_is_still_ignored() -> None:
    profile = map_kakao_profile(user(gender_needs_agreement=True))
    assert profile.gender is None


def test_email_without_agreement_is_absent() -> None:
    profile = map_kakao_profile(withheld("email"))
    assert profile.email is None
    assert profile.email_verified is False


@pytest.mark.parametrize(
    ("is_valid", "is_verified"), [(True, False), (False, True), (False, False)]
)
def test_email_is_trusted_only_when_valid_and_verified(is_valid: bool, is_verified: bool) -> None:
    profile = map_kakao_profile(user(is_email_valid=is_valid, is_email_verified=is_verified))
    assert profile.email == "gildong@kakao.com"
    assert profile.email_verified is False


def test_default_profile_image_counts_as_none() -> None:
    data = user()
    data["kakao_account"]["profile"]["is_default_image"] = True
    assert map_kakao_profile(data).profile_image_url is None


def test_profile_without_image_agreement_keeps_nickname() -> None:
    data = user(profile_image_needs_agreement=True)
    del data["kakao_account"]["profile"]["profile_image_url"]
    del data["kakao_account"]["profile"]["thumbnail_image_url"]
    profile = map_kakao_profile(data)
    assert profile.profile_image_url is None
    assert profile.nickname == "길동이"


def test_lunar_birthday_is_not_taken_as_a_calendar_date() -> None:
    profile = map_kakao_profile(user(birthday_type="LUNAR"))
    assert profile.birthday is None
    assert profile.birthyear == 1992


def test_female_and_unknown_gender() -> None:
    assert map_kakao_profile(user(gender="female")).gender == "female"
    assert map_kakao_profile(user(gender="unknown")).gender == "other"


def test_user_with_only_an_id() -> None:
    profile = map_kakao_profile({"id": 42, "connected_at": "2024-05-02T08:13:21Z"})
    assert profile.account_id == "42"
    assert profile.email is None
    assert profile.nickname is None


def test_user_without_id_is_refused() -> None:
    with pytest.raises(ValueError, match="id"):
        map_kakao_profile({"kakao_account": {}})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+82 10-1234-5678", "+821012345678"),
        ("+82 010-1234-5678", "+821012345678"),
        ("+1 650-253-0000", "+16502530000"),
        ("+39 06 6982 0000", "+390669820000"),  # Italy keeps its leading 0
        ("010-1234-5678", None),
        ("", None),
    ],
)
def test_normalise_phone(raw: str, expected: str | None) -> None:
    assert normalise_phone(raw) == expected
