"""`NAVER_*` settings, read from the environment and the service's `.env`."""

from app.core.config import PluginSettings
from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict


class NaverSettings(PluginSettings):
    """Endpoint URLs default to Naver's own; tests point them at a local fake."""

    model_config = SettingsConfigDict(env_prefix="NAVER_")

    # The application's Client ID and Client Secret (Naver Developers → My Applications).
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    authorize_url: str = "https://nid.naver.com/oauth2.0/authorize"
    token_url: str = "https://nid.naver.com/oauth2.0/token"  # noqa: S105 - a URL
    profile_url: str = "https://openapi.naver.com/v1/nid/me"
    # A sign-in waits this long at most for each call to Naver.
    timeout_seconds: float = 10.0

    @property
    def is_configured(self) -> bool:
        # Naver's token endpoint refuses a request without the secret.
        return bool(self.client_id and self.client_secret.get_secret_value())
