"""Authentication: JWT tokens carried by a bearer header or a cookie, and "who is calling?".

The token is one JWT signed with SECRET_KEY; the two transports only differ in how it
travels. Reading a token needs nothing app-specific beyond the request's settings, so
`current_active_user` is a plain module-level dependency any router can use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response, status
from fastapi.responses import RedirectResponse
from fastapi.security import APIKeyCookie, OAuth2PasswordBearer
from fastapi_users.authentication import (
    AuthenticationBackend,
    BearerTransport,
    CookieTransport,
    JWTStrategy,
)
from fastapi_users.jwt import generate_jwt
from fastapi_users.manager import BaseUserManager

from app import PROJECT_SLUG
from app.accounts.models import User
from app.accounts.signed_in_users import GENERATION_CLAIM, SignedInUsers
from app.accounts.user_manager import end_sessions
from app.core.config import Settings
from app.core.context import set_current_user
from app.core.database import Database
from app.core.dependencies import runtime_of

API_V1_PREFIX = "/api/v1"
AUTH_PATH = "/auth"
AUTH_PREFIX = f"{API_V1_PREFIX}{AUTH_PATH}"
BEARER_LOGIN_URL = f"{AUTH_PREFIX}/jwt/login"
AUTH_COOKIE_NAME = f"{PROJECT_SLUG}_auth"
BEARER_BACKEND = "jwt"
COOKIE_BACKEND = "cookie"
# Where the browser lands after signing in through a provider: the sign-in page.
AFTER_SIGNIN_PATH = "/"


class AccountJWTStrategy(JWTStrategy[User, int]):
    """fastapi-users' JWT strategy with per-user sessions that can end, naming the user.

    A token carries the user's session generation; once the generation moves on (logout,
    a credential change, the takeover repair) every token issued before is refused. The
    generation is on the user row the token check reads anyway: no extra query.
    Reading a token is `SignedInUsers`' work (app/accounts/signed_in_users.py).
    """

    def __init__(
        self, database: Database, secret: str, lifetime_seconds: int, user_cache_seconds: float
    ) -> None:
        super().__init__(secret, lifetime_seconds)
        self.database = database
        self.signed_in_users = SignedInUsers(
            database,
            secret=secret,
            audience=self.token_audience,
            algorithm=self.algorithm,
            cache_seconds=user_cache_seconds,
        )

    async def write_token(self, user: User) -> str:
        data = {
            "sub": str(user.id),
            GENERATION_CLAIM: user.session_generation,
            "aud": self.token_audience,
        }
        return generate_jwt(data, self.encode_key, self.lifetime_seconds, algorithm=self.algorithm)

    async def read_token(
        self, token: str | None, user_manager: BaseUserManager[User, int]
    ) -> User | None:
        user = None if token is None else await self.signed_in_users.user_of_token(token)
        if user is not None:
            set_current_user(user.id, user.email)
        return user

    async def destroy_token(self, token: str, user: User) -> None:
        """Logout: the user's every session ends, this one included (tokens are not stored,
        so one cannot end alone)."""
        await end_sessions(user, self.database.scoped_session())


async def get_jwt_strategy(request: Request) -> AccountJWTStrategy:
    """The service's strategy. Async: a sync dependency would cost a thread hop."""
    return runtime_of(request).jwt_strategy


class SignInCookieTransport(CookieTransport):
    """The cookie transport of the browser's provider flow: set the cookie, go to the page."""

    async def get_login_response(self, token: str) -> Response:
        response = RedirectResponse(AFTER_SIGNIN_PATH, status_code=status.HTTP_303_SEE_OTHER)
        return self._set_login_cookie(response, token)


@dataclass(frozen=True)
class LoginCookie:
    """What an app's login answers depend on: the auth cookie's lifetime and secure flag."""

    max_age_seconds: int
    secure: bool

    @classmethod
    def of(cls, settings: Settings) -> LoginCookie:
        return cls(settings.auth_token_lifetime_seconds, settings.auth_cookie_is_secure)


def cookie_transport(
    cookie: LoginCookie, transport_class: type[CookieTransport] = CookieTransport
) -> CookieTransport:
    return transport_class(
        cookie_name=AUTH_COOKIE_NAME,
        cookie_max_age=cookie.max_age_seconds,
        cookie_secure=cookie.secure,
        cookie_httponly=True,
        cookie_samesite="lax",
    )


@dataclass(frozen=True)
class AuthBackends:
    """The login backends for one login cookie (the bearer one is the same for all)."""

    bearer: AuthenticationBackend[User, int]
    cookie: AuthenticationBackend[User, int]
    # The provider flow's cookie backend: same cookie, but the answer is a redirect.
    cookie_redirect: AuthenticationBackend[User, int]


@cache
def build_auth_backends(cookie: LoginCookie) -> AuthBackends:
    """One set per login cookie: apps with the same settings share the routers built on it."""
    return AuthBackends(
        bearer=AuthenticationBackend(
            BEARER_BACKEND, BearerTransport(tokenUrl=BEARER_LOGIN_URL), get_jwt_strategy
        ),
        cookie=AuthenticationBackend(COOKIE_BACKEND, cookie_transport(cookie), get_jwt_strategy),
        cookie_redirect=AuthenticationBackend(
            COOKIE_BACKEND, cookie_transport(cookie, SignInCookieTransport), get_jwt_strategy
        ),
    )


# Who is calling, for routes: the bearer header first, then the sign-in cookie, as
# fastapi-users' own routes read them (the same schemes, so /docs offers both).
_bearer_token = OAuth2PasswordBearer(tokenUrl=BEARER_LOGIN_URL, auto_error=False)
_cookie_token = APIKeyCookie(name=AUTH_COOKIE_NAME, auto_error=False)


async def optional_current_user(
    request: Request,
    bearer: Annotated[str | None, Depends(_bearer_token)],
    cookie: Annotated[str | None, Depends(_cookie_token)],
) -> User | None:
    """The signed-in, active user, or None (pages that show something either way)."""
    signed_in_users = runtime_of(request).jwt_strategy.signed_in_users
    for token in (bearer, cookie):
        user = await signed_in_users.user_of_token(token) if token else None
        if user is not None:
            if not user.is_active:
                return None
            set_current_user(user.id, user.email)
            return user
    return None


async def current_active_user(
    user: Annotated[User | None, Depends(optional_current_user)],
) -> User:
    """The signed-in, active user; 401 in the error shape otherwise."""
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED)
    return user


async def current_superuser(user: Annotated[User, Depends(current_active_user)]) -> User:
    """A signed-in superuser; 403 for other users."""
    if not user.is_superuser:
        raise HTTPException(status.HTTP_403_FORBIDDEN)
    return user


CurrentUser = Annotated[User, Depends(current_active_user)]
OptionalUser = Annotated[User | None, Depends(optional_current_user)]
