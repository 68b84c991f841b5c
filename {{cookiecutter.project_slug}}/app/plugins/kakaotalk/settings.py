from pydantic import Field
from pydantic_settings import SettingsConfigDict

from app.core.config import PluginSettings


class KakaoTalkSettings(PluginSettings):
    """`KAKAOTALK_*` variables. The app's keys and token endpoint are Kakao sign-in's
    (`KAKAO_*`): the messages go out with the tokens that sign-in stored."""

    model_config = SettingsConfigDict(env_prefix="KAKAOTALK_")

    api_base_url: str = "https://kapi.kakao.com"
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
