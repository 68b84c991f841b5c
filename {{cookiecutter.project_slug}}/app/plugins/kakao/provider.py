from __future__ import annotations

from typing import Any

from app.core.interfaces import SocialProfile
from app.plugins.kakao.client import KakaoUserOAuth2
from app.plugins.kakao.profile import map_kakao_profile
from app.plugins.kakao.settings import KakaoSettings


class KakaoProvider:
    name = "kakao"
    display_name = "Kakao"

    def __init__(self, settings: KakaoSettings) -> None:
        self.settings = settings
        self.client = KakaoUserOAuth2(settings)

    @property
    def is_configured(self) -> bool:
        return self.settings.is_configured

    def map_profile(self, profile: dict[str, Any]) -> SocialProfile:
        return map_kakao_profile(profile)
