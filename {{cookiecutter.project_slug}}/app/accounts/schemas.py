"""Users as the API reads and writes them: fastapi-users' fields plus the common profile."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi_users import schemas
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    model_validator,
)

from app.accounts.models import NAME_LENGTH, URL_LENGTH
from app.core.schemas import RequestModel

E164_PATTERN = re.compile(r"^\+[1-9][0-9]{6,14}$")
BIRTHDAY_PATTERN = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
EARLIEST_BIRTHYEAR = 1900
LEAP_YEAR = 2000  # "02-29" is a real birthday


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"
    OTHER = "other"


def check_birthday(value: str) -> str:
    if not BIRTHDAY_PATTERN.match(value):
        raise ValueError('birthday must be "MM-DD", e.g. "03-14"')
    month, day = (int(part) for part in value.split("-"))
    try:
        date(LEAP_YEAR, month, day)
    except ValueError:
        raise ValueError(f"{value} is not a day of the year") from None
    return value


def check_phone_number(value: str) -> str:
    if not E164_PATTERN.match(value):
        raise ValueError(
            'phone_number must be E.164 ("+", country code, number), e.g. "+821012345678"'
        )
    return value


def check_birthyear(value: int) -> int:
    this_year = date.today().year
    if not EARLIEST_BIRTHYEAR <= value <= this_year:
        raise ValueError(f"birthyear must be between {EARLIEST_BIRTHYEAR} and {this_year}")
    return value


def check_image_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("profile_image_url must be an http(s) URL")
    return value


Name = Annotated[str, Field(min_length=1, max_length=NAME_LENGTH)]
ImageUrl = Annotated[str, Field(max_length=URL_LENGTH), AfterValidator(check_image_url)]
Birthyear = Annotated[int, AfterValidator(check_birthyear)]
Birthday = Annotated[str, AfterValidator(check_birthday)]
PhoneNumber = Annotated[str, AfterValidator(check_phone_number)]


class ProfileFields(BaseModel):
    """The common profile fields (CONTRACT.md); every one may be null."""

    model_config = ConfigDict(use_enum_values=True)

    name: Name | None = None
    nickname: Name | None = None
    profile_image_url: ImageUrl | None = None
    gender: Gender | None = None
    birthyear: Birthyear | None = None
    birthday: Birthday | None = None
    phone_number: PhoneNumber | None = None


PROFILE_FIELD_NAMES = tuple(ProfileFields.model_fields)


class SocialAccount(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    provider: str = Field(validation_alias=AliasChoices("provider", "oauth_name"))
    account_id: str
    account_email: str | None = None


class UserRead(schemas.BaseUser[int], ProfileFields):
    # Already validated on the way in; re-checking it on every response costs more than
    # the rest of the model together.
    email: str
    social_accounts: list[SocialAccount] = Field(default_factory=list)


class UserCreate(schemas.BaseUserCreate, ProfileFields, RequestModel):
    pass


class UserUpdate(schemas.BaseUserUpdate, ProfileFields, RequestModel):
    """What the user manager applies; routes decide which fields a caller may send."""


class MeUpdate(schemas.CreateUpdateDictModel, ProfileFields, RequestModel):
    """PATCH /users/me: the caller's own profile, email and password, nothing else.

    Unknown fields (`is_superuser`, `is_verified`, ...) are refused rather than ignored,
    so a client learns at once that it cannot set them.
    """

    model_config = ConfigDict(extra="forbid")

    email: EmailStr | None = None
    password: str | None = Field(default=None, min_length=1)
    # Needed to change `password` or `email`: a stolen session alone cannot take the account.
    current_password: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_null_credentials(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("email", "password"):
                if key in data and data[key] is None:
                    raise ValueError(f"{key} cannot be null; leave it out to keep it")
        return data
