import re
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from app.core.config import PluginSettings
from app.plugins.ses.sns import AWS_SNS_ORIGIN_PATTERN


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

    # Bounces and complaints, posted by SNS to /api/v1/ses/feedback. Only these topics
    # are believed (anyone can have SNS sign for a topic of their own); none set = the
    # endpoint answers 503. Comma-separated, e.g. arn:aws:sns:eu-west-1:123456789012:ses-feedback
    feedback_topic_arns: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Where SNS's signing certificates and ConfirmSubscription links may be fetched from:
    # a regular expression the URL's scheme://host[:port] must match whole. The default is
    # AWS's SNS hosts; tests name a local stand-in.
    sns_origin_pattern: str = AWS_SNS_ORIGIN_PATTERN
    # An SNS message stamped longer ago than this is refused as a replay. Raise it if the
    # subscription's delivery policy retries for longer.
    sns_max_message_age_seconds: float = Field(default=3600.0, gt=0)
    # Fetching a signing certificate, or confirming a subscription.
    sns_timeout_seconds: float = Field(default=10.0, gt=0)
    # Empty = AWS's own Route 53 endpoint; `ses-domain` writes the domain's records there.
    route53_endpoint_url: str = ""

    @field_validator("feedback_topic_arns", mode="before")
    @classmethod
    def _split_topics(cls, value: object) -> object:
        if isinstance(value, str):
            return [arn.strip() for arn in value.split(",") if arn.strip()]
        return value

    @field_validator("sns_origin_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value

    @property
    def feedback_is_configured(self) -> bool:
        return bool(self.feedback_topic_arns)

    @property
    def is_configured(self) -> bool:
        return bool(self.sender)
