from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from app.core.config import PluginSettings


class GoogleSettings(PluginSettings):
    """`GOOGLE_*` variables. Endpoint URLs default to Google's own; tests point them at fakes."""

    model_config = SettingsConfigDict(env_prefix="GOOGLE_")

    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
    revoke_url: str = "https://oauth2.googleapis.com/revoke"
    people_api_url: str = "https://people.googleapis.com/v1"
    # A sign-in waits this long at most for each call to Google.
    timeout_seconds: float = 10.0

    @property
    def is_configured(self) -> bool:
        return bool(self.client_id and self.client_secret.get_secret_value())
