"""Authentication: JWT tokens carried by a bearer header or a cookie, and "who is calling?".

The token is one JWT signed with SECRET_KEY; the two transports only differ in how it
travels. Reading a token needs nothing app-specific beyond the request's settings, so
`current_active_user` is a plain module-level dependency any router can use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Annotated

import jwt
from fastapi import Depends, Request, Response, status
from fastapi.responses import RedirectResponse
from fastapi_users import exceptions
from fastapi_users.authentication import (
    AuthenticationBackend,
    Authenticator,
    BearerTransport,
    CookieTransport,
    JWTStrategy,
)
from fastapi_users.jwt import decode_jwt, generate_jwt
from fastapi_users.manager import BaseUserManager

from app import PROJECT_SLUG
from app.accounts.models import User
from app.accounts.user_manager import end_sessions, get_user_manager, load_user
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


# The claim that carries the user's session generation (see `User.session_generation`).
GENERATION_CLAIM = "gen"


class AccountJWTStrategy(JWTStrategy[User, int]):
    """fastapi-users' JWT strategy with per-user sessions that can end, naming the user.

    A token carries the user's session generation; once the generation moves on (logout,
    a credential change, the takeover repair) every token issued before is refused. The
    generation is on the user row the token check loads anyway: no extra query.

    The user is read in a short session of its own, outside any transaction (one round trip
    on PostgreSQL), and reaches the route detached: a route that changes it adds it to the
    request's session (as fastapi-users' updates do), or writes by its id.
    """

    def __init__(self, database: Database, secret: str, lifetime_seconds: int) -> None:
        super().__init__(secret, lifetime_seconds)
        self.database = database

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
        if token is None:
            return None
        try:
            data = decode_jwt(
                token, self.decode_key, self.token_audience, algorithms=[self.algorithm]
            )
        except jwt.PyJWTError:
            return None
        generation = data.get(GENERATION_CLAIM)
        # A token from before generations existed carries none: refused like an old one.
        if type(generation) is not int or "sub" not in data:
            return None
        try:
            user_id = user_manager.parse_id(data["sub"])
        except exceptions.InvalidID:
            return None
        async with self.database.read_session() as session:
            user = await load_user(session, user_id)
        if user is None or generation != user.session_generation:
            return None
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


# Reading a token only uses each transport's scheme (header or cookie name) and the
# strategy, which takes its secret from the request's app: one authenticator serves all.
_reading_backends = [
    AuthenticationBackend[User, int](
        BEARER_BACKEND, BearerTransport(tokenUrl=BEARER_LOGIN_URL), get_jwt_strategy
    ),
    AuthenticationBackend[User, int](
        COOKIE_BACKEND, CookieTransport(cookie_name=AUTH_COOKIE_NAME), get_jwt_strategy
    ),
]
authenticator = Authenticator[User, int](_reading_backends, get_user_manager)

#: The signed-in, active user; 401 in the error shape otherwise.
current_active_user = authenticator.current_user(active=True)
#: The signed-in, active user, or None (pages that show something either way).
optional_current_user = authenticator.current_user(active=True, optional=True)
#: A signed-in superuser; 403 for other users.
current_superuser = authenticator.current_user(active=True, superuser=True)

CurrentUser = Annotated[User, Depends(current_active_user)]
OptionalUser = Annotated[User | None, Depends(optional_current_user)]
