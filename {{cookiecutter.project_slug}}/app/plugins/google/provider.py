from __future__ import annotations

from typing import Any

from app.core.interfaces import SocialProfile
from app.plugins.google.client import GooglePeopleOAuth2
from app.plugins.google.profile import map_people_profile
from app.plugins.google.settings import GoogleSettings


class GoogleProvider:
    name = "google"
    display_name = "Google"

    def __init__(self, settings: GoogleSettings) -> None:
        self.settings = settings
        self.client = GooglePeopleOAuth2(settings)

    @property
    def is_configured(self) -> bool:
        return self.settings.is_configured

    def map_profile(self, profile: dict[str, Any]) -> SocialProfile:
        return map_people_profile(profile)
