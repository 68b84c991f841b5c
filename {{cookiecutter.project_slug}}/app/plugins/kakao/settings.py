from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from app.core.config import PluginSettings

# Consent items whose data fills the common profile fields.
DEFAULT_SCOPES = [
    "profile_nickname",
    "profile_image",
    "account_email",
    "name",
    "gender",
    "birthday",
    "birthyear",
    "phone_number",
]


class KakaoSettings(PluginSettings):
    """`KAKAO_*` variables. Endpoint URLs default to Kakao's own; tests point them at fakes."""

    model_config = SettingsConfigDict(env_prefix="KAKAO_")

    # The app's REST API key.
    client_id: str = ""
    # Only when "Client Secret" is switched on in the app's security settings.
    client_secret: SecretStr = SecretStr("")
    # Kakao refuses consent items the app has not set up (KOE205): list only those it has.
    scopes: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_SCOPES))
    authorize_url: str = "https://kauth.kakao.com/oauth/authorize"
    token_url: str = "https://kauth.kakao.com/oauth/token"  # noqa: S105 - a URL
    user_me_url: str = "https://kapi.kakao.com/v2/user/me"
    unlink_url: str = "https://kapi.kakao.com/v1/user/unlink"
    # A sign-in waits this long at most for each call to Kakao.
    timeout_seconds: float = 10.0

    @field_validator("scopes", mode="before")
    @classmethod
    def _split_scopes(cls, value: object) -> object:
        if isinstance(value, str):
            return [scope.strip() for scope in value.replace(" ", ",").split(",") if scope.strip()]
        return value

    @property
    def is_configured(self) -> bool:
        return bool(self.client_id)
