"""The object the service asks for: a name, the httpx-oauth client, the profile mapping."""

from __future__ import annotations

from typing import Any

from app.core.interfaces import SocialProfile

from plugkit_naver.client import NaverUserOAuth2
from plugkit_naver.profile import map_naver_profile
from plugkit_naver.settings import NaverSettings


class NaverProvider:
    # The URL segment (/api/v1/auth/naver/...) and the name linked accounts store; the
    # httpx-oauth client is named "naver" too, as the service requires.
    name = "naver"
    # The sign-in page's button label.
    display_name = "Naver"

    def __init__(self, settings: NaverSettings) -> None:
        self.settings = settings
        self.client = NaverUserOAuth2(settings)

    @property
    def is_configured(self) -> bool:
        return self.settings.is_configured

    def map_profile(self, profile: dict[str, Any]) -> SocialProfile:
        return map_naver_profile(profile)
