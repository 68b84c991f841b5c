"""/api/v1/auth: fastapi-users' register, login, logout, verify and reset routes, and OAuth.

The login answers (cookie lifetime, secure flag) and the OAuth providers come from each
app's settings and plugins.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import cache

from fastapi import APIRouter, Depends, params
from fastapi.routing import APIRoute
from fastapi_users import FastAPIUsers

from app.accounts.auth_backends import (
    AUTH_PATH,
    LoginCookie,
    build_auth_backends,
)
from app.accounts.mails import answer_in_even_time
from app.accounts.models import User
from app.accounts.routes.oauth import include_provider_routers
from app.accounts.schemas import UserCreate, UserRead
from app.accounts.user_manager import get_user_manager
from app.core.config import Settings
from app.core.plugins import PluginRegistry
from app.core.rate_limit_dependencies import limit_routes
from app.core.rate_limits import RateLimitScope

AUTH_TAGS: list[str | Enum] = ["auth"]


def include_auth_routers(parent: APIRouter, settings: Settings, plugins: PluginRegistry) -> None:
    """fastapi-users' routers and each provider's OAuth routes, under `parent`'s /auth."""
    cookie = LoginCookie.of(settings)
    for account in account_routers(cookie):
        parent.include_router(account.router, prefix=account.prefix, tags=AUTH_TAGS)

    include_provider_routers(parent, settings, plugins, AUTH_TAGS)


@dataclass(frozen=True)
class AccountRouter:
    """One of fastapi-users' routers, and where it is included under /api/v1."""

    router: APIRouter
    prefix: str


@cache
def account_routers(cookie: LoginCookie) -> tuple[AccountRouter, ...]:
    """Register, login, logout, verify and reset: made once per process for each login cookie.

    Making a router analyses every route's dependencies and models, which was half the cost
    of building an app. Apps with the same cookie settings include the same routers; FastAPI
    still resolves them per app, so each app's dependency overrides apply.
    """
    backends = build_auth_backends(cookie)
    users = FastAPIUsers[User, int](get_user_manager, [backends.bearer, backends.cookie])
    # One login count per client address, whichever transport it signs in with.
    logins = tuple(
        AccountRouter(
            limit_routes(
                _with_logout_documented(users.get_auth_router(backend)),
                {f"auth:{backend.name}.login"},
                RateLimitScope.LOGIN,
            ),
            prefix=f"{AUTH_PATH}/{backend.name}",
        )
        for backend in (backends.bearer, backends.cookie)
    )
    # Each route that mails is counted per client address and per the address it would
    # mail, whether or not an account has it. Those that mail only an existing account
    # answer in the same time either way, so that their timing does not tell.
    even_time: tuple[params.Depends, ...] = (Depends(answer_in_even_time, scope="function"),)
    mailing = (
        (
            users.get_register_router(UserRead, UserCreate),
            "register:register",
            RateLimitScope.REGISTER,
            (),  # register says whether the address is taken (CONTRACT.md)
        ),
        (
            users.get_reset_password_router(),
            "reset:forgot_password",
            RateLimitScope.FORGOT_PASSWORD,
            even_time,
        ),
        (
            users.get_verify_router(UserRead),
            "verify:request-token",
            RateLimitScope.REQUEST_VERIFY,
            even_time,
        ),
    )
    return (
        *logins,
        *(
            AccountRouter(
                limit_routes(
                    router,
                    {name},
                    scope,
                    per_email=RateLimitScope.MAIL_ADDRESS,
                    dependencies=dependencies,
                ),
                prefix=AUTH_PATH,
            )
            for router, name, scope, dependencies in mailing
        ),
    )


def _with_logout_documented(router: APIRouter) -> APIRouter:
    """fastapi-users answers a bearer-token logout with 204 but documents only 200."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.path.endswith("/logout"):
            route.responses.setdefault(204, {"description": "Signed out"})
    return router
