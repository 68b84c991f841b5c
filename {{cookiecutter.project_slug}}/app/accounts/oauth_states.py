"""Provider sign-in states: issued at authorize, redeemed once at the callback.

A state is a JWT signed with SECRET_KEY for an audience of its own. It names the provider
and the backend (bearer or cookie) it was issued for, carries a random id (`jti`) and a
CSRF token, and expires after OAUTH_STATE_LIFETIME_SECONDS. The CSRF token also goes into
an HttpOnly cookie at authorize, so a callback is accepted only from the browser that
started the sign-in. Every check runs before the provider is called: a forged callback
never spends a code there, and a provider that is down cannot turn it into a 502.

Redeeming writes the `jti` into the `oauth_state` table; the unique column refuses a
second use, even of two copies of one callback that race.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
from fastapi import Request

from app import PROJECT_SLUG
from app.accounts.models import JTI_LENGTH, OAuthState
from app.core.config import Settings
from app.core.database import Database
from app.core.dependencies import runtime_of
from app.core.errors import AppError
from app.core.logging import get_api_logger
from app.core.single_use import CLEANUP_INTERVAL_SECONDS, SingleUseRows

# The service's own log: a refused callback is worth seeing next to its request line.
logger = get_api_logger()

STATE_AUDIENCE = f"{PROJECT_SLUG}:oauth-state"
STATE_ALGORITHM = "HS256"
# fastapi-users' cookie name: a sign-in started before an upgrade still finds its cookie.
CSRF_COOKIE_NAME = "fastapiusersoauthcsrf"
# fastapi-users' error string for a bad state; its clients read it from `detail`.
OAUTH_INVALID_STATE = "OAUTH_INVALID_STATE"
_REQUIRED_CLAIMS = ["aud", "exp", "jti", "provider", "backend", "csrf"]
_START_AGAIN = "Start the sign-in again."


class InvalidOAuthState(AppError):
    """The callback's state or CSRF cookie is not the one this browser was given: 400."""

    status_code = 400
    code = OAUTH_INVALID_STATE

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason} {_START_AGAIN}", detail=OAUTH_INVALID_STATE)


@dataclass(frozen=True)
class IssuedState:
    """What authorize hands out: the state for the provider, the token for the cookie."""

    state: str
    csrf_token: str


class OAuthStates:
    """Issues states and redeems each one once."""

    def __init__(
        self,
        database: Database,
        secret: str,
        lifetime_seconds: int,
        *,
        cleanup_interval: float = CLEANUP_INTERVAL_SECONDS,
    ) -> None:
        self.secret = secret
        self.lifetime_seconds = lifetime_seconds
        self.spent = SingleUseRows(
            database, OAuthState, "sign-in states", cleanup_interval=cleanup_interval
        )

    @classmethod
    def of(cls, settings: Settings, database: Database) -> OAuthStates:
        return cls(database, settings.secret_key, settings.oauth_state_lifetime_seconds)

    def issue(self, provider: str, backend: str, *, now: float | None = None) -> IssuedState:
        now = time.time() if now is None else now
        csrf_token = secrets.token_urlsafe(32)
        claims = {
            "aud": STATE_AUDIENCE,
            "iat": int(now),
            "exp": int(now) + self.lifetime_seconds,
            "jti": secrets.token_urlsafe(24),
            "provider": provider,
            "backend": backend,
            "csrf": csrf_token,
        }
        return IssuedState(jwt.encode(claims, self.secret, algorithm=STATE_ALGORITHM), csrf_token)

    async def redeem(
        self, state: str | None, csrf_cookie: str | None, provider: str, backend: str
    ) -> None:
        """Accept this callback's state once, or raise InvalidOAuthState.

        Only a state that passes every other check is spent: someone who saw the callback
        URL but lacks the browser's cookie cannot burn its owner's sign-in.
        """
        claims = self.verified_claims(state, csrf_cookie, provider, backend)
        if not await self.spent.spend(claims["exp"], jti=claims["jti"]):
            logger.warning("%s sign-in: a used state came back (replayed callback)", provider)
            raise InvalidOAuthState("This sign-in has already been completed.")

    def verified_claims(
        self, state: str | None, csrf_cookie: str | None, provider: str, backend: str
    ) -> dict[str, Any]:
        if not state:
            raise _refused(provider, "no state", "The sign-in callback carries no state.")
        try:
            claims: dict[str, Any] = jwt.decode(
                state,
                self.secret,
                algorithms=[STATE_ALGORITHM],
                audience=STATE_AUDIENCE,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise _refused(provider, "expired state", "The sign-in took too long.") from None
        except jwt.InvalidTokenError:
            raise _refused(
                provider, "state not ours", "The sign-in state was not issued by this service."
            ) from None
        if claims["provider"] != provider or claims["backend"] != backend:
            raise _refused(
                provider,
                f"state for {claims['provider']}/{claims['backend']} at {provider}/{backend}",
                "The sign-in state was issued for another sign-in.",
            )
        if not _same_secret(csrf_cookie, claims["csrf"]):
            raise _refused(
                provider, "CSRF cookie missing or different", "This sign-in began elsewhere."
            )
        if not isinstance(claims["jti"], str) or not 0 < len(claims["jti"]) <= JTI_LENGTH:
            raise _refused(provider, "bad state id", "The sign-in state is malformed.")
        if not isinstance(claims["exp"], int | float):
            raise _refused(provider, "bad state expiry", "The sign-in state is malformed.")
        return claims


def _same_secret(cookie: str | None, expected: object) -> bool:
    if not cookie or not isinstance(expected, str) or not expected:
        return False
    # Bytes: compare_digest refuses non-ASCII text, and a cookie may hold anything.
    return secrets.compare_digest(cookie.encode(), expected.encode())


def _refused(provider: str, why: str, reason: str) -> InvalidOAuthState:
    # Not a warning: stale bookmarks and double clicks make these too.
    logger.info("%s sign-in callback refused: %s", provider, why)
    return InvalidOAuthState(reason)


async def get_oauth_states(request: Request) -> OAuthStates:
    """The service's state store. Async: a sync dependency would cost a thread hop."""
    return runtime_of(request).oauth_states
