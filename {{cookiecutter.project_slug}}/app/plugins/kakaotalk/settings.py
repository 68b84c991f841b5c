from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from app.core.config import PluginSettings


class KakaoTalkSettings(PluginSettings):
    """`KAKAOTALK_*` variables; the app's keys fall back to Kakao sign-in's `KAKAO_*` ones."""

    model_config = SettingsConfigDict(env_prefix="KAKAOTALK_", populate_by_name=True)

    api_base_url: str = "https://kapi.kakao.com"
    auth_base_url: str = "https://kauth.kakao.com"
    # The REST API key that issued the users' tokens: refreshing a token needs it.
    client_id: str = Field(
        default="", validation_alias=AliasChoices("KAKAOTALK_CLIENT_ID", "KAKAO_CLIENT_ID")
    )
    client_secret: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices("KAKAOTALK_CLIENT_SECRET", "KAKAO_CLIENT_SECRET"),
    )
    # Where the message's button leads; empty = the service's PUBLIC_BASE_URL. Kakao shows
    # only links whose domain is registered in the app's platform settings.
    link_url: str = ""
    # Empty = Kakao's own label.
    button_title: str = ""
    # Connecting to Kakao: a memo that fails here was never sent, and is tried again later.
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    # Waiting for Kakao's answer. Past it after a memo was sent, it may have been shown: the
    # notification ends `unknown` and is not sent again on its own.
    read_timeout_seconds: float = Field(default=10.0, gt=0)

    @property
    def is_configured(self) -> bool:
        return bool(self.client_id)
