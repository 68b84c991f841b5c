"""Naver's member profile (the `response` object of `/v1/nid/me`) → the common profile fields.

Naver leaves out of `response` every item the user did not agree to share, so a missing
key is simply a withheld field.
"""

from __future__ import annotations

import re
from typing import Any

from app.core.interfaces import SocialProfile

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
BIRTHDAY = re.compile(r"^(\d{2})-(\d{2})$")
KOREA = "82"
GENDERS = {"M": "male", "F": "female"}
# The picture Naver hands out for a member who never set one: no picture of the user.
DEFAULT_IMAGE_URLS = frozenset({"https://ssl.pstatic.net/static/pwe/address/img_profile.png"})
# Naver proves ownership of its own mailboxes only; a contact address elsewhere may be
# anyone's, so only these may link to an existing account of the service.
VERIFIED_EMAIL_DOMAINS = frozenset({"naver.com"})


def naver_account_id(user: dict[str, Any]) -> str:
    account_id = user.get("id")
    if not isinstance(account_id, str) or not account_id.strip():
        raise ValueError("a Naver member always has an id")
    return account_id.strip()


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip() or None


def normalise_phone(e164: str | None, mobile: str | None) -> str | None:
    """`mobile_e164` when it is E.164; else the domestic "010-1234-5678" → "+821012345678"."""
    if e164 is not None and e164.startswith("+"):
        number = "+" + re.sub(r"\D", "", e164)
        if E164.match(number):
            return number
    if mobile is None:
        return None
    digits = re.sub(r"\D", "", mobile)
    if mobile.startswith("+"):
        number = f"+{digits}"
    elif digits.startswith("0"):
        # Without a country code the number is Korean; its trunk prefix 0 is dropped.
        number = f"+{KOREA}{digits[1:]}"
    else:
        return None
    return number if E164.match(number) else None


def _birthday(value: str | None) -> str | None:
    match = BIRTHDAY.match(value or "")
    if match is None:
        return None
    month, day = int(match[1]), int(match[2])
    return f"{month:02d}-{day:02d}" if 1 <= month <= 12 and 1 <= day <= 31 else None


def _birthyear(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) == 4 else None


def _image(value: str | None) -> str | None:
    return None if value in DEFAULT_IMAGE_URLS else value


def _email_verified(email: str | None) -> bool:
    if email is None or "@" not in email:
        return False
    return email.rsplit("@", 1)[1].lower() in VERIFIED_EMAIL_DOMAINS


def map_naver_profile(user: dict[str, Any]) -> SocialProfile:
    email = _text(user.get("email"))
    return SocialProfile(
        account_id=naver_account_id(user),
        email=email,
        email_verified=_email_verified(email),
        name=_text(user.get("name")),
        nickname=_text(user.get("nickname")),
        profile_image_url=_image(_text(user.get("profile_image"))),
        # "U" is Naver's "unknown": nothing the user told, so no value rather than "other".
        gender=GENDERS.get(_text(user.get("gender")) or ""),
        birthyear=_birthyear(_text(user.get("birthyear"))),
        birthday=_birthday(_text(user.get("birthday"))),
        phone_number=normalise_phone(_text(user.get("mobile_e164")), _text(user.get("mobile"))),
    )
