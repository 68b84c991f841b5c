"""Kakao `/v2/user/me` JSON → the common profile fields."""

from __future__ import annotations

import re
from typing import Any

from app.core.interfaces import SocialProfile

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# Countries whose numbers keep their leading 0 after the country code (Italy).
KEEPS_LEADING_ZERO = {"39"}


def kakao_account_id(profile: dict[str, Any]) -> str:
    account_id = profile.get("id")
    if isinstance(account_id, bool) or not isinstance(account_id, int | str) or account_id == "":
        raise ValueError("a Kakao user always has an id")
    return str(account_id)


def normalise_phone(value: str | None) -> str | None:
    """Kakao's "+82 10-1234-5678" (or "+82 010-1234-5678") → "+821012345678"."""
    if not value or not value.strip().startswith("+"):
        return None
    country, _, national = value.strip()[1:].partition(" ")
    country_digits = re.sub(r"\D", "", country)
    national_digits = re.sub(r"\D", "", national)
    # The domestic trunk prefix 0 is not part of the international number.
    if national_digits.startswith("0") and country_digits not in KEEPS_LEADING_ZERO:
        national_digits = national_digits[1:]
    number = f"+{country_digits}{national_digits}"
    return number if E164.match(number) else None


def _agreed(account: dict[str, Any], field: str) -> Any:
    """The field's value, or None while the user has not agreed to share it."""
    if account.get(f"{field}_needs_agreement") is True:
        return None
    return account.get(field)


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _birthday(account: dict[str, Any]) -> str | None:
    value = _text(_agreed(account, "birthday"))
    # A lunar birthday is another date every year; the common field is a solar "MM-DD".
    if value is None or account.get("birthday_type") == "LUNAR":
        return None
    if not re.fullmatch(r"\d{4}", value):
        return None
    month, day = int(value[:2]), int(value[2:])
    return f"{month:02d}-{day:02d}" if 1 <= month <= 12 and 1 <= day <= 31 else None


def _birthyear(account: dict[str, Any]) -> int | None:
    value = _text(_agreed(account, "birthyear"))
    return int(value) if value and value.isdigit() and len(value) == 4 else None


def _gender(account: dict[str, Any]) -> str | None:
    value = _text(_agreed(account, "gender"))
    if value is None:
        return None
    return value.lower() if value.lower() in {"male", "female"} else "other"


def _profile(account: dict[str, Any]) -> tuple[str | None, str | None]:
    """Nickname and image; Kakao's stand-in image counts as no image."""
    profile = account.get("profile")
    if not isinstance(profile, dict):
        return None, None
    nickname = None
    if account.get("profile_nickname_needs_agreement") is not True:
        nickname = _text(profile.get("nickname"))
    image = None
    if (
        account.get("profile_image_needs_agreement") is not True
        and profile.get("is_default_image") is not True
    ):
        image = _text(profile.get("profile_image_url"))
    return nickname, image


def map_kakao_profile(profile: dict[str, Any]) -> SocialProfile:
    account = profile.get("kakao_account")
    if not isinstance(account, dict):
        account = {}
    nickname, image = _profile(account)
    email = _text(_agreed(account, "email"))
    # Kakao may hand out an address nobody proved to own: only a valid, verified one may link.
    verified = (
        email is not None
        and account.get("is_email_valid") is True
        and account.get("is_email_verified") is True
    )
    return SocialProfile(
        account_id=kakao_account_id(profile),
        email=email,
        email_verified=verified,
        name=_text(_agreed(account, "name")),
        nickname=nickname,
        profile_image_url=image,
        gender=_gender(account),
        birthyear=_birthyear(account),
        birthday=_birthday(account),
        phone_number=normalise_phone(_text(_agreed(account, "phone_number"))),
    )
