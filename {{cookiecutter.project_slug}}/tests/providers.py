"""Faker providers with realistic values for the service's models.

fake = Faker()
fake.add_provider(UserProvider)
fake.unique.account_email()  # unique within this Faker
"""

from __future__ import annotations

import string
from datetime import date, timedelta
from typing import Any

from faker.providers import BaseProvider

GENDERS = ("male", "female", "other")

# (country calling code, national number patterns for mobiles): `#` any digit, `%` 1-9.
# The results are valid E.164: "+" and at most 15 digits.
INTERNATIONAL_MOBILES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("1", ("%##%######",)),  # US/Canada: area code and exchange never start with 0 or 1
    ("44", ("7#########",)),  # United Kingdom
    ("81", ("90########", "80########", "70########")),  # Japan
    ("49", ("15#########", "16########", "17#########")),  # Germany
    ("33", ("6########", "7########")),  # France
    ("86", ("13#########", "15#########", "18#########")),  # China
    ("61", ("4########",)),  # Australia
    ("65", ("8#######", "9#######")),  # Singapore
)

KOREAN_FAMILY_NAMES = ("김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오")
KOREAN_GIVEN_SYLLABLES = ("민", "서", "지", "현", "준", "하", "윤", "도", "예", "수", "우", "연")
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.co.kr")


class UserProvider(BaseProvider):
    """Profile values as Google and Kakao hand them over: see the common profile fields."""

    def account_email(self) -> str:
        local = self.generator.user_name().replace(" ", "").lower()
        return f"{local}{self.random_int(1, 9999)}@{self.random_element(EMAIL_DOMAINS)}"

    def korean_name(self) -> str:
        given = "".join(self.random_elements(KOREAN_GIVEN_SYLLABLES, length=2, unique=True))
        return f"{self.random_element(KOREAN_FAMILY_NAMES)}{given}"

    def display_name(self) -> str:
        """A Korean name half of the time, otherwise a Western one."""
        return self.korean_name() if self.random_int(0, 1) else str(self.generator.name())

    def nickname(self) -> str:
        return f"{self.generator.word()}{self.random_int(1, 999)}"

    def korean_phone_number(self) -> str:
        """A Korean mobile number (010-XXXX-XXXX) in E.164: `+8210` and 8 digits."""
        return "+8210" + self.numerify("%#######")

    def international_phone_number(self) -> str:
        code, patterns = self.random_element(INTERNATIONAL_MOBILES)
        return f"+{code}{self.numerify(self.random_element(patterns))}"

    def e164_phone_number(self) -> str:
        """Korean most of the time, like the service's users."""
        if self.random_int(1, 10) <= 7:
            return self.korean_phone_number()
        return self.international_phone_number()

    def birthday(self) -> str:
        """`MM-DD`, a real calendar day (29 February included)."""
        day = date(2000, 1, 1) + timedelta(days=self.random_int(0, 365))
        return day.strftime("%m-%d")

    def birthyear(self) -> int:
        return self.random_int(1950, date.today().year - 14)

    def gender(self) -> str:
        return str(self.random_element(GENDERS))

    def profile_image_url(self) -> str:
        token = "".join(self.random_choices(string.ascii_lowercase + string.digits, length=16))
        return f"https://images.example.com/profile/{token}.jpg"

    def user_profile(self) -> dict[str, Any]:
        """The common profile fields, every one filled in."""
        return {
            "email": self.account_email(),
            "name": self.display_name(),
            "nickname": self.nickname(),
            "profile_image_url": self.profile_image_url(),
            "gender": self.gender(),
            "birthyear": self.birthyear(),
            "birthday": self.birthday(),
            "phone_number": self.e164_phone_number(),
        }
