"""Naver's member profile → the common profile fields, on the JSON shapes Naver sends."""

from __future__ import annotations

from typing import Any

import pytest

from plugkit_naver.profile import map_naver_profile, normalise_phone

MEMBER: dict[str, Any] = {
    "id": "32742776-xQWp3kZbJ9sY1vN0aH7mRt5LcE8uFgDi2oKz",
    "nickname": "길동이",
    "name": "홍길동",
    "email": "gildong@naver.com",
    "gender": "M",
    "age": "30-39",
    "birthday": "09-14",
    "profile_image": "https://phinf.pstatic.net/contact/20240502_1/gildong.jpg",
    "birthyear": "1992",
    "mobile": "010-1234-5678",
    "mobile_e164": "+821012345678",
}


def member(**changes: Any) -> dict[str, Any]:
    """The member with some items changed; None leaves the item out, as a withheld one is."""
    data = {**MEMBER, **changes}
    return {key: value for key, value in data.items() if value is not None}


def test_a_full_profile_fills_every_common_field() -> None:
    profile = map_naver_profile(member())
    assert profile.account_id == "32742776-xQWp3kZbJ9sY1vN0aH7mRt5LcE8uFgDi2oKz"
    assert (profile.email, profile.email_verified) == ("gildong@naver.com", True)
    assert (profile.name, profile.nickname) == ("홍길동", "길동이")
    assert profile.profile_image_url == "https://phinf.pstatic.net/contact/20240502_1/gildong.jpg"
    assert profile.gender == "male"
    assert (profile.birthyear, profile.birthday) == (1992, "09-14")
    assert profile.phone_number == "+821012345678"


def test_items_the_member_did_not_share_stay_empty() -> None:
    withheld = dict.fromkeys(
        ("name", "gender", "birthday", "birthyear", "mobile", "mobile_e164", "profile_image")
    )
    profile = map_naver_profile(member(**withheld))
    assert (profile.name, profile.gender, profile.profile_image_url) == (None, None, None)
    assert (profile.birthday, profile.birthyear, profile.phone_number) == (None, None, None)
    assert (profile.nickname, profile.email) == ("길동이", "gildong@naver.com")


def test_a_member_with_only_an_id() -> None:
    profile = map_naver_profile({"id": "abc"})
    assert profile.account_id == "abc"
    assert (profile.email, profile.email_verified, profile.nickname) == (None, False, None)


@pytest.mark.parametrize("user", [{}, {"id": ""}, {"id": 42}, {"email": "a@naver.com"}])
def test_a_profile_without_a_member_id_is_refused(user: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="id"):
        map_naver_profile(user)


@pytest.mark.parametrize(
    ("email", "verified"),
    [
        ("gildong@naver.com", True),
        ("GilDong@Naver.com", True),
        # A contact address at another domain: Naver did not prove the member owns it.
        ("gildong@example.com", False),
        ("gildong@naver.com.example.org", False),
    ],
)
def test_only_a_naver_mailbox_counts_as_verified(email: str, verified: bool) -> None:
    profile = map_naver_profile(member(email=email))
    assert profile.email == email
    assert profile.email_verified is verified


@pytest.mark.parametrize(("raw", "expected"), [("M", "male"), ("F", "female"), ("U", None)])
def test_gender(raw: str, expected: str | None) -> None:
    assert map_naver_profile(member(gender=raw)).gender == expected


def test_naver_stand_in_picture_counts_as_none() -> None:
    stand_in = "https://ssl.pstatic.net/static/pwe/address/img_profile.png"
    assert map_naver_profile(member(profile_image=stand_in)).profile_image_url is None


@pytest.mark.parametrize(
    ("birthday", "birthyear", "expected"),
    [
        ("02-29", "2000", ("02-29", 2000)),
        ("13-01", "1992", (None, 1992)),
        ("0914", "92", (None, None)),
        ("", "", (None, None)),
    ],
)
def test_birthday_and_year_only_when_well_formed(
    birthday: str, birthyear: str, expected: tuple[str | None, int | None]
) -> None:
    profile = map_naver_profile(member(birthday=birthday, birthyear=birthyear))
    assert (profile.birthday, profile.birthyear) == expected


@pytest.mark.parametrize(
    ("e164", "mobile", "expected"),
    [
        ("+821012345678", "010-1234-5678", "+821012345678"),
        # Without mobile_e164 the domestic number is read as Korean.
        (None, "010-1234-5678", "+821012345678"),
        (None, "+1 650-253-0000", "+16502530000"),
        ("not a number", "010-9876-5432", "+821098765432"),
        (None, "1234", None),
        (None, None, None),
    ],
)
def test_phone_number_becomes_e164(e164: str | None, mobile: str | None, expected: str) -> None:
    assert normalise_phone(e164, mobile) == expected
    profile = map_naver_profile(member(mobile_e164=e164, mobile=mobile))
    assert profile.phone_number == expected
