"""What plugins hand back to core: notifiers and OAuth providers, as protocols."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from httpx_oauth.oauth2 import BaseOAuth2


@dataclass(frozen=True)
class OutgoingMessage:
    """One notification as a notifier sees it."""

    channel: str
    to: list[str]
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


class DeliveryOutcome(StrEnum):
    DELIVERED = "delivered"
    RETRYABLE = "retryable"  # throttling, 5xx, timeouts: try again later
    PERMANENT = "permanent"  # rejected address, bad content: trying again cannot help


@dataclass(frozen=True)
class DeliveryResult:
    outcome: DeliveryOutcome
    provider_message_id: str | None = None
    error: str | None = None

    @classmethod
    def delivered(cls, provider_message_id: str | None = None) -> DeliveryResult:
        return cls(DeliveryOutcome.DELIVERED, provider_message_id=provider_message_id)

    @classmethod
    def retryable(cls, error: str) -> DeliveryResult:
        return cls(DeliveryOutcome.RETRYABLE, error=error)

    @classmethod
    def permanent(cls, error: str) -> DeliveryResult:
        return cls(DeliveryOutcome.PERMANENT, error=error)


@runtime_checkable
class Notifier(Protocol):
    """Delivers messages of one channel. Clients are created once and reused."""

    @property
    def name(self) -> str: ...

    @property
    def channel(self) -> str: ...

    @property
    def is_configured(self) -> bool: ...

    @property
    def is_stand_in(self) -> bool:
        """True for a development stand-in, used only when no real notifier is configured."""
        ...

    def check_recipient(self, address: str) -> str | None:
        """Why `address` cannot receive this channel's messages, or None when it can."""
        ...

    async def send(self, message: OutgoingMessage) -> DeliveryResult: ...


@dataclass(frozen=True)
class SocialProfile:
    """A provider's profile mapped onto the common profile fields (CONTRACT.md).

    A field the provider withholds (no consent, no year) is None.
    """

    account_id: str
    email: str | None = None
    email_verified: bool = False  # only a provider-verified email may link accounts
    name: str | None = None
    nickname: str | None = None
    profile_image_url: str | None = None
    gender: str | None = None  # "male", "female", "other"
    birthyear: int | None = None
    birthday: str | None = None  # "MM-DD"
    phone_number: str | None = None  # E.164, e.g. "+821012345678"


@runtime_checkable
class OAuthProvider(Protocol):
    """A sign-in provider: its httpx-oauth client and the mapping of its profile."""

    @property
    def name(self) -> str: ...

    @property
    def is_configured(self) -> bool: ...

    @property
    def client(self) -> BaseOAuth2[Any]:
        """The httpx-oauth client (a subclass of e.g. `GoogleOAuth2` with `get_profile`)."""
        ...

    def map_profile(self, profile: dict[str, Any]) -> SocialProfile:
        """Map the JSON that `client.get_profile(access_token)` returns onto the common fields."""
        ...
