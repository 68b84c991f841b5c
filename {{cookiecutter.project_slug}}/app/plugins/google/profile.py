"""People API `people/me` JSON → the common profile fields."""

from __future__ import annotations

import re
from typing import Any

from app.core.interfaces import SocialProfile

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def primary_entry(entries: Any) -> dict[str, Any] | None:
    """The entry marked primary (People API lists one per source), else the first."""
    if not isinstance(entries, list):
        return None
    candidates = [entry for entry in entries if isinstance(entry, dict)]
    for entry in candidates:
        metadata = entry.get("metadata")
        if isinstance(metadata, dict) and metadata.get("primary") is True:
            return entry
    return candidates[0] if candidates else None


def people_account_id(profile: dict[str, Any]) -> str:
    """The id in a resourceName: "people/110248495921238986420" → "110248495921238986420"."""
    resource_name = profile.get("resourceName")
    if not isinstance(resource_name, str) or not resource_name.strip("/"):
        raise ValueError("a People API person always has a resourceName")
    return resource_name.rsplit("/", 1)[-1]


def _text(entry: dict[str, Any] | None, key: str) -> str | None:
    value = entry.get(key) if entry else None
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _birth(entry: dict[str, Any] | None) -> tuple[int | None, str | None]:
    date = entry.get("date") if entry else None
    if not isinstance(date, dict):
        return None, None
    year, month, day = date.get("year"), date.get("month"), date.get("day")
    # People API leaves out the year (or sets 0) when the person hides it.
    birthyear = year if isinstance(year, int) and year > 0 else None
    if isinstance(month, int) and isinstance(day, int) and 1 <= month <= 12 and 1 <= day <= 31:
        return birthyear, f"{month:02d}-{day:02d}"
    return birthyear, None


def _gender(entry: dict[str, Any] | None) -> str | None:
    value = _text(entry, "value")
    if value is None or value.lower() == "unspecified":
        return None
    return value.lower() if value.lower() in {"male", "female"} else "other"


def normalise_phone(value: str | None) -> str | None:
    """An international number as E.164; a number without its country code cannot be placed."""
    if not value:
        return None
    compact = re.sub(r"[\s().\-]", "", value)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    return compact if E164.match(compact) else None


def _phone(entry: dict[str, Any] | None) -> str | None:
    # canonicalForm is Google's own E.164 reading of the number, when it could parse it.
    return normalise_phone(_text(entry, "canonicalForm")) or normalise_phone(_text(entry, "value"))


def _photo(entry: dict[str, Any] | None) -> str | None:
    # `default: true` marks Google's generated letter avatar, not a photo the person chose.
    if entry is None or entry.get("default") is True:
        return None
    return _text(entry, "url")


def map_people_profile(profile: dict[str, Any]) -> SocialProfile:
    name = primary_entry(profile.get("names"))
    email = primary_entry(profile.get("emailAddresses"))
    email_metadata = email.get("metadata") if email else None
    birthyear, birthday = _birth(primary_entry(profile.get("birthdays")))
    return SocialProfile(
        account_id=people_account_id(profile),
        email=_text(email, "value"),
        email_verified=isinstance(email_metadata, dict) and email_metadata.get("verified") is True,
        name=_text(name, "displayName"),
        profile_image_url=_photo(primary_entry(profile.get("photos"))),
        gender=_gender(primary_entry(profile.get("genders"))),
        birthyear=birthyear,
        birthday=birthday,
        phone_number=_phone(primary_entry(profile.get("phoneNumbers"))),
    )
