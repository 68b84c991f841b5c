"""Rate limits: how many requests one client address or API key may make per window.

Each limit is a fixed window that opens with the first request of a caller and lasts
the configured period; request N+1 within it is refused with 429 RATE_LIMITED and a
Retry-After of the seconds left. Refused requests count too, so hammering does not help.

The counts live in Redis when REDIS_URL is set (one Lua script: increment, start the
window's expiry on the first hit, read the time left; atomic, so every process of the
service shares one count). Without Redis they live in the process's memory: each
process (uvicorn worker) then counts on its own, so N workers allow up to N times the
limit, and a restart forgets the counts.

Account mails are counted per email address as well as per client address: whoever asks,
and whether or not an account has the address (`mailbox_key`), so that neither many
client addresses nor the refusal itself tell anything. The count per recipient where the
mails are made (`app.accounts.mails`) holds back, without a word to the caller, whatever
a route let through.

When Redis cannot be reached the limits fail open: the request goes through and a
warning is logged. Refusing everyone, or failing every login, because a counter is down
would be worse than a short while without limits.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import unicodedata
from collections.abc import Callable
from enum import StrEnum
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app import PROJECT_SLUG
from app.core.config import RateLimit, Settings, parse_rate_limit
from app.core.errors import AppError

logger = logging.getLogger(f"{PROJECT_SLUG}.rate_limits")

# Short: a counter that answers slowly must not make every login slow.
REDIS_TIMEOUT_SECONDS = 0.5
# After Redis fails, requests skip it (unlimited) this long instead of each waiting for it.
REDIS_RETRY_SECONDS = 5.0
# Expired memory windows are swept at most this often, so idle callers do not pile up.
MEMORY_SWEEP_SECONDS = 60.0

# KEYS[1] the window's key, ARGV[1] its length in ms → {count so far, ms left}.
_HIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {count, left}
"""


class RateLimitScope(StrEnum):
    """What is limited; the value is part of the counter's key."""

    LOGIN = "login"
    REGISTER = "register"
    FORGOT_PASSWORD = "forgot-password"  # noqa: S105 - a route, not a password
    REQUEST_VERIFY = "request-verify"
    # Counted per email address (`mailbox_key`), not per client address.
    MAIL_ADDRESS = "mail-address"
    MAIL_RECIPIENT = "mail-recipient"
    # Counted per account.
    EMAIL_CHANGE = "email-change"
    SIGNED_API = "signed-api"


class RateLimitedError(AppError):
    status_code = 429
    code = "RATE_LIMITED"


class CounterStore(Protocol):
    async def hit(self, key: str, window_seconds: float) -> tuple[int, float] | None:
        """Count one request; the count in the current window and the seconds it has left.

        None when the store cannot count right now (the request is let through).
        """

    async def close(self) -> None: ...


class MemoryCounterStore:
    """Windows in a dict of this process; see the module's note on several processes."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._windows: dict[str, tuple[int, float]] = {}
        self._next_sweep = 0.0

    async def hit(self, key: str, window_seconds: float) -> tuple[int, float]:
        now = self.clock()
        self._sweep(now)
        count, ends_at = self._windows.get(key, (0, 0.0))
        if ends_at <= now:
            count, ends_at = 0, now + window_seconds
        count += 1
        self._windows[key] = (count, ends_at)
        return count, ends_at - now

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + MEMORY_SWEEP_SECONDS
        self._windows = {key: kept for key, kept in self._windows.items() if kept[1] > now}

    async def close(self) -> None:
        self._windows.clear()


class RedisCounterStore:
    """Windows as Redis keys that expire by themselves; shared by every process."""

    def __init__(self, client: Redis, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.clock = clock
        self._script = client.register_script(_HIT_SCRIPT)
        self._skip_until = 0.0

    @classmethod
    def from_url(cls, url: str) -> RedisCounterStore:
        client = Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        return cls(client)

    async def hit(self, key: str, window_seconds: float) -> tuple[int, float] | None:
        if self.clock() < self._skip_until:
            return None
        window_ms = max(1, math.ceil(window_seconds * 1000))
        try:
            count, left_ms = await self._script(keys=[key], args=[window_ms])
        except RedisError as exc:
            self._skip_until = self.clock() + REDIS_RETRY_SECONDS
            logger.warning(
                "rate limits are off for %.0f s: Redis failed: %s: %s",
                REDIS_RETRY_SECONDS,
                type(exc).__name__,
                exc,
            )
            return None
        return int(count), int(left_ms) / 1000

    async def close(self) -> None:
        await self.client.aclose()


class RateLimiter:
    """The configured limits of one app and the store that counts against them."""

    def __init__(
        self, limits: dict[RateLimitScope, RateLimit], store: CounterStore, *, prefix: str
    ) -> None:
        self.limits = limits
        self.store = store
        self.prefix = prefix

    async def check(self, scope: RateLimitScope, caller: str) -> None:
        """Count a request of `caller` (an address, an access key); 429 when over the limit."""
        refusal = await self._count(scope, caller)
        if refusal is not None:
            raise refusal

    async def allows(self, scope: RateLimitScope, caller: str) -> bool:
        """Count one for `caller`; False when over the limit (for a refusal nobody is told of)."""
        return await self._count(scope, caller) is None

    async def _count(self, scope: RateLimitScope, caller: str) -> RateLimitedError | None:
        limit = self.limits.get(scope)
        if limit is None:
            return None
        counted = await self.store.hit(f"{self.prefix}{scope}:{caller}", limit.window_seconds)
        if counted is None:
            return None
        count, seconds_left = counted
        if count <= limit.count:
            return None
        # Whole seconds, rounded up: a client that waits exactly that long gets through.
        retry_after = max(1, math.ceil(seconds_left))
        return RateLimitedError(
            f"Too many requests: try again in {retry_after} seconds.",
            detail={
                "limit": limit.count,
                "window_seconds": limit.window_seconds,
                "retry_after_seconds": retry_after,
            },
            headers={"Retry-After": str(retry_after)},
        )

    async def close(self) -> None:
        await self.store.close()


def configured_limits(settings: Settings) -> dict[RateLimitScope, RateLimit]:
    """The limits that are on; none at all when RATE_LIMITS_ENABLED is false."""
    if not settings.rate_limits_enabled:
        return {}
    texts = {
        RateLimitScope.LOGIN: settings.rate_limit_login,
        RateLimitScope.REGISTER: settings.rate_limit_register,
        RateLimitScope.FORGOT_PASSWORD: settings.rate_limit_forgot_password,
        RateLimitScope.REQUEST_VERIFY: settings.rate_limit_request_verify,
        RateLimitScope.MAIL_ADDRESS: settings.rate_limit_mail_per_address,
        RateLimitScope.MAIL_RECIPIENT: settings.rate_limit_mail_per_recipient,
        RateLimitScope.EMAIL_CHANGE: settings.rate_limit_email_change,
        RateLimitScope.SIGNED_API: settings.rate_limit_signed_api,
    }
    limits = {scope: parse_rate_limit(text) for scope, text in texts.items()}
    return {scope: limit for scope, limit in limits.items() if limit is not None}


def mailbox_key(email: str) -> str:
    """What one mailbox is counted under, however its address is spelled.

    Letter case, surrounding spaces, Unicode forms and a `+tag` (which most providers
    deliver to the same mailbox) make no new count. Hashed: the counter's key is short
    whatever was sent, and Redis holds no addresses.
    """
    text = unicodedata.normalize("NFC", email.strip()).casefold()
    local, at, domain = text.rpartition("@")
    if at:
        text = f"{local.split('+', 1)[0]}@{domain.rstrip('.')}"
    return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()[:32]


async def limit_email_change(
    limiter: RateLimiter, user_id: int, current_email: str, new_email: str | None
) -> None:
    """Before an email change is written: 429 when the account, or the new address, has
    had its share of changes and mails."""
    if new_email is None or new_email == current_email:
        return
    await limiter.check(RateLimitScope.EMAIL_CHANGE, str(user_id))
    await limiter.check(RateLimitScope.MAIL_ADDRESS, mailbox_key(new_email))


def create_rate_limiter(settings: Settings) -> RateLimiter:
    limits = configured_limits(settings)
    store: CounterStore
    if limits and settings.redis_url:
        store = RedisCounterStore.from_url(settings.redis_url)
    else:
        store = MemoryCounterStore()
    return RateLimiter(limits, store, prefix=settings.rate_limit_key_prefix)
