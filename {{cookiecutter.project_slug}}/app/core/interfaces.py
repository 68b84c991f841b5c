"""What plugins hand back to core: notifiers and OAuth providers, as protocols."""

from __future__ import annotations

from collections.abc import Collection, Sequence
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
    # The account that asked for it (the API key's owner); None for the service's own mail.
    sender_id: int | None = None


@dataclass(frozen=True)
class Sender:
    """The account a message is sent for, as a recipient rule needs to know it."""

    user_id: int
    # An operator (the superuser flag): channels may let it reach more recipients.
    is_superuser: bool = False


class DeliveryOutcome(StrEnum):
    DELIVERED = "delivered"
    RETRYABLE = "retryable"  # throttling, 5xx, refused connections: nothing sent, try later
    PERMANENT = "permanent"  # rejected address, bad content: trying again cannot help
    # The request reached the provider but its answer never came (a read timeout, a dropped
    # connection): the message may have gone out. Never retried on its own: an operator decides.
    UNKNOWN = "unknown"
    # Set by delivery, never by a notifier: the recipient is on the suppression list (a hard
    # bounce, a complaint), so nothing was sent to it.
    SUPPRESSED = "suppressed"


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

    @classmethod
    def unknown(cls, error: str) -> DeliveryResult:
        return cls(DeliveryOutcome.UNKNOWN, error=error)

    @classmethod
    def suppressed(cls, error: str) -> DeliveryResult:
        return cls(DeliveryOutcome.SUPPRESSED, error=error)


class SuppressionReason(StrEnum):
    BOUNCE = "bounce"  # a hard (permanent) bounce: the address does not exist
    COMPLAINT = "complaint"  # the recipient marked a message as spam


@dataclass(frozen=True)
class Suppression:
    """An address of a channel that must not be sent to again, and why."""

    channel: str
    address: str
    reason: SuppressionReason
    # Where it came from, e.g. the provider's diagnostic and message id.
    detail: str | None = None


@runtime_checkable
class SuppressionList(Protocol):
    """The addresses delivery skips. A plugin that hears of bounces and complaints (a
    provider's feedback endpoint) adds to it; delivery reports those recipients as
    `suppressed` instead of sending to them."""

    async def suppress(self, entries: Sequence[Suppression]) -> int:
        """Add the entries (an address already on the list stays as it was); how many were new."""
        ...


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


@runtime_checkable
class RecipientRule(Protocol):
    """What a notifier implements when who may message whom depends on the sender.

    A channel that delivers with the recipient's own credentials (a stored token) must
    not let one account reach another's: core asks it before accepting a notification.
    """

    async def refused_recipients(self, sender: Sender, recipients: Sequence[str]) -> list[str]:
        """The recipients `sender` may not message, in the order given; [] when none.

        Unknown recipients are refused like forbidden ones, and the caller is told only
        that they were refused, so that an answer never says whether someone exists.
        """
        ...


class LinkedAccountsUnavailable(Exception):
    """The accounts could not be read or written just now (the database is away): trying
    again later may work."""


@dataclass(frozen=True)
class AccountHolder:
    """A user of the service, as a plugin that acts with the user's linked accounts sees it."""

    user_id: int
    email: str
    is_active: bool
    is_superuser: bool


@dataclass(frozen=True)
class LinkedAccount:
    """A user's account at a sign-in provider, with the tokens its sign-in (or a refresh) left."""

    id: int  # the link's own id: refreshed tokens are saved to it
    user_id: int
    provider: str
    access_token: str
    refresh_token: str | None
    expires_at: int | None  # Unix time; None when the provider gave no expiry


@runtime_checkable
class LinkedAccounts(Protocol):
    """Users and the accounts they linked at sign-in providers, for a plugin that acts with
    a user's own provider tokens (a channel that sends with them). Every method raises
    `LinkedAccountsUnavailable` when the accounts cannot be reached now."""

    async def find_users(
        self,
        *,
        user_ids: Collection[int] = (),
        verified_emails: Collection[str] = (),
        linked_to: str | None = None,
    ) -> list[AccountHolder]:
        """The users with these ids and those who verified one of these emails (in any case);
        with `linked_to`, only those with an account at that provider."""
        ...

    async def linked_account(self, user_id: int, provider: str) -> LinkedAccount | None:
        """The user's account at `provider` (the first linked), or None when there is none."""
        ...

    async def save_tokens(
        self,
        account_id: int,
        *,
        access_token: str,
        expires_at: int | None,
        refresh_token: str | None = None,
    ) -> LinkedAccount | None:
        """Store refreshed tokens on a linked account (a None `refresh_token` keeps the one it
        has); the account as stored, or None when it was unlinked meanwhile."""
        ...


@dataclass(frozen=True)
class PluginPorts:
    """What core lends a notifier or provider when it starts it (`start(ports)`)."""

    linked_accounts: LinkedAccounts


@runtime_checkable
class Startable(Protocol):
    """A notifier or provider MAY have this: called once when the service starts (after the
    database is ready), if it is configured. Open clients here, keep the ports it needs."""

    async def start(self, ports: PluginPorts) -> None: ...


@runtime_checkable
class Closable(Protocol):
    """A notifier or provider MAY have this: called once when the service stops, to close
    its clients (whether or not it was started)."""

    async def close(self) -> None: ...


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
