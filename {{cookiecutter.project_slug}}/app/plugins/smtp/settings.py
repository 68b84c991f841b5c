from enum import StrEnum

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from app.core.config import PluginSettings


class SmtpSecurity(StrEnum):
    NONE = "none"  # plain text all the way: a local relay only
    STARTTLS = "starttls"  # connect in plain text, then upgrade (usually port 587)
    SSL = "ssl"  # TLS from the first byte (usually port 465)


DEFAULT_PORTS = {SmtpSecurity.NONE: 25, SmtpSecurity.STARTTLS: 587, SmtpSecurity.SSL: 465}


class SmtpSettings(PluginSettings):
    """`SMTP_*` variables."""

    model_config = SettingsConfigDict(env_prefix="SMTP_")

    host: str = ""
    # None = the usual port of the chosen security.
    port: int | None = Field(default=None, ge=1, le=65535)
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    # Empty = send without logging in.
    username: str = ""
    password: SecretStr = SecretStr("")
    # The From header, e.g. "My Service <no-reply@example.com>"; its address is the envelope sender.
    from_address: str = ""
    # Connecting (and the server's greeting): a send that fails here was never made, and is
    # tried again later.
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    # Each reply once connected. A reply that does not come after the message data was sent
    # leaves the mail's fate unknown: the notification ends `unknown`, not sent again.
    read_timeout_seconds: float = Field(default=10.0, gt=0)
    validate_certs: bool = True
    # A PEM file of extra CA certificates to trust (a private CA, a test server).
    ca_file: str = ""
    # A connection unused for this long may have been dropped by the server without us
    # noticing: it is checked with NOOP before it carries the next message.
    idle_check_seconds: float = Field(default=30.0, ge=0)

    @property
    def server_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.security]

    @property
    def is_configured(self) -> bool:
        return bool(self.host and self.from_address)
