from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from app.core.config import PluginSettings


class SesSettings(PluginSettings):
    """`SES_*` variables. Without an access key the default AWS credential chain is used."""

    model_config = SettingsConfigDict(env_prefix="SES_")

    region: str = "us-east-1"
    # The From address, e.g. "My Service <no-reply@example.com>"; its address or domain
    # must be a verified SES identity.
    sender: str = ""
    # Optional: SES then reports this mail's events (bounces, complaints...) to that set.
    configuration_set: str = ""
    # Empty = AWS's own endpoint for the region; tests and local stand-ins set their own.
    endpoint_url: str = ""
    access_key_id: str = ""
    secret_access_key: SecretStr = SecretStr("")
    # Connecting to SES: a send that fails here was never made, and is tried again later.
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    # Waiting for SES's answer once the request is sent. Past it the mail may have gone
    # out: the notification ends `unknown` and is not sent again on its own. The AWS client
    # itself never repeats a send (the delivery queue retries, only when that is safe).
    read_timeout_seconds: float = Field(default=10.0, gt=0)
    # HTTP connections the one client keeps open: how many sends can be in flight at once.
    max_connections: int = Field(default=50, ge=1)

    @property
    def is_configured(self) -> bool:
        return bool(self.sender)
