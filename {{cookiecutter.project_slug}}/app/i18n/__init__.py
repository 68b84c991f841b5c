"""The words of the pages and the account mails, in each language the service speaks.

Every string a person reads on a page or in an account mail comes from a catalogue here
(`en.py`, `ko.py`), looked up by key; a key missing in one language is a test failure,
and an unknown key fails the page that asks for it instead of showing the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol

from app.i18n import en, ko


class Language(StrEnum):
    ENGLISH = "en"
    KOREAN = "ko"


CATALOGUES: Mapping[Language, Mapping[str, str]] = {
    Language.ENGLISH: en.MESSAGES,
    Language.KOREAN: ko.MESSAGES,
}
# The query parameter that picks a language over the browser's Accept-Language, and the
# cookie that remembers that pick (for the next page, and for the mails a page asks for).
LANGUAGE_PARAMETER = "lang"
LANGUAGE_COOKIE = "lang"
LANGUAGE_COOKIE_SECONDS = 365 * 86400


class Translate(Protocol):
    def __call__(self, key: str, /, **values: object) -> str: ...


def translator(language: Language) -> Translate:
    """`t(key, **values)`: the catalogue's text for `key` in `language`, values filled in."""
    catalogue = CATALOGUES[language]

    def translate(key: str, /, **values: object) -> str:
        return catalogue[key].format(**values)

    return translate


def parse_language(value: str | None) -> Language | None:
    """`ko`, `ko-KR`, `EN_us` → the language; anything else (or nothing) → None."""
    if not value:
        return None
    primary = value.strip().replace("_", "-").split("-", 1)[0].lower()
    try:
        return Language(primary)
    except ValueError:
        return None


def from_accept_language(header: str | None) -> Language | None:
    """The most wanted language of an Accept-Language header that we speak, if any."""
    ranked: list[tuple[float, int, Language]] = []
    for position, item in enumerate((header or "").split(",")):
        tag, _, parameters = item.partition(";")
        weight = 1.0
        name, _, value = parameters.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                weight = float(value)
            except ValueError:
                continue
        language = parse_language(tag)
        if language is not None and weight > 0:
            # Higher weight first; at equal weight the header's own order.
            ranked.append((-weight, position, language))
    return min(ranked)[2] if ranked else None


def negotiate(override: str | None, accept_language: str | None, default: Language) -> Language:
    """`?lang=` first, then the browser's Accept-Language, then the service's default."""
    return parse_language(override) or from_accept_language(accept_language) or default


def request_language(
    query: Mapping[str, str],
    cookies: Mapping[str, str],
    headers: Mapping[str, str],
    default: Language,
) -> Language:
    """A request's language: `?lang=`, the remembered pick, Accept-Language, the default."""
    picked = parse_language(query.get(LANGUAGE_PARAMETER)) or parse_language(
        cookies.get(LANGUAGE_COOKIE)
    )
    return negotiate(picked, headers.get("accept-language"), default)
