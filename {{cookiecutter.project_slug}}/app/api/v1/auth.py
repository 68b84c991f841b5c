"""/api/v1/auth: fastapi-users' register, login, logout, verify and reset routes, and OAuth.

The login answers (cookie lifetime, secure flag) and the OAuth providers come from each
app's settings and plugins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any, NoReturn, cast

from fastapi import APIRouter, Depends, Request, params
from fastapi.routing import APIRoute
from fastapi_users import FastAPIUsers

from app.api.rate_limit import limit_routes
from app.core.config import Settings
from app.core.interfaces import OAuthProvider
from app.core.plugins import PluginRegistry
from app.models.user import User
from app.schemas.users import UserCreate, UserRead
from app.services.auth import (
    AUTH_PATH,
    AUTH_PREFIX,
    BEARER_BACKEND,
    COOKIE_BACKEND,
    AuthBackends,
    LoginCookie,
    build_auth_backends,
)
from app.services.mail import send_account_mails_after_answer
from app.services.oauth import (
    GuardedOAuthClient,
    authorization_failed,
    callback_url,
    check_provider_names,
    provider_not_configured,
)
from app.services.rate_limits import RateLimitScope
from app.services.users import get_user_manager

if TYPE_CHECKING:
    from fastapi_users.authentication import AuthenticationBackend
    from httpx_oauth.oauth2 import BaseOAuth2

AUTH_TAGS: list[str | Enum] = ["auth"]
OAUTH_STEPS = ("authorize", "callback")
NOT_CONFIGURED_RESPONSE: dict[int | str, dict[str, Any]] = {
    503: {"description": "The provider is not configured (PROVIDER_NOT_CONFIGURED)"}
}
PROVIDER_ERROR_RESPONSE: dict[int | str, dict[str, Any]] = {
    502: {"description": "The provider failed: error status, timeout, bad answer (PROVIDER_ERROR)"}
}


def include_auth_routers(parent: APIRouter, settings: Settings, plugins: PluginRegistry) -> None:
    """fastapi-users' routers and each provider's OAuth routes, under `parent`'s /auth."""
    cookie = LoginCookie.of(settings)
    for account in account_routers(cookie):
        parent.include_router(
            account.router,
            prefix=account.prefix,
            tags=AUTH_TAGS,
            dependencies=list(account.dependencies),
        )

    check_provider_names(plugins.oauth_providers)
    backends = build_auth_backends(cookie)
    for name, provider in sorted(plugins.oauth_providers.items()):
        if provider.is_configured:
            provider_router = oauth_router(settings, provider, backends)
        else:
            provider_router = not_configured_router(name)
        parent.include_router(
            provider_router, prefix=f"{AUTH_PATH}/{name}", tags=[*AUTH_TAGS, f"auth: {name}"]
        )


@dataclass(frozen=True)
class AccountRouter:
    """One of fastapi-users' routers, and where and how it is included under /api/v1."""

    router: APIRouter
    prefix: str
    dependencies: tuple[params.Depends, ...] = ()


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
    # The account mails go out after the answer, so its timing does not tell whether
    # the address has an account.
    mails_after_answer = (Depends(send_account_mails_after_answer),)
    return (
        *logins,
        AccountRouter(
            limit_routes(
                users.get_register_router(UserRead, UserCreate),
                {"register:register"},
                RateLimitScope.REGISTER,
            ),
            prefix=AUTH_PATH,
            dependencies=mails_after_answer,
        ),
        AccountRouter(
            limit_routes(
                users.get_reset_password_router(),
                {"reset:forgot_password"},
                RateLimitScope.FORGOT_PASSWORD,
            ),
            prefix=AUTH_PATH,
            dependencies=mails_after_answer,
        ),
        AccountRouter(
            users.get_verify_router(UserRead), prefix=AUTH_PATH, dependencies=mails_after_answer
        ),
    )


def _with_logout_documented(router: APIRouter) -> APIRouter:
    """fastapi-users answers a bearer-token logout with 204 but documents only 200."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.path.endswith("/logout"):
            route.responses.setdefault(204, {"description": "Signed out"})
    return router


@cache
def not_configured_router(provider_name: str) -> APIRouter:
    """The routes of a provider without credentials: present, and answering 503.

    One router per provider name, shared by every app of the process.
    """
    router = APIRouter(responses=NOT_CONFIGURED_RESPONSE)

    async def not_configured() -> NoReturn:
        raise provider_not_configured(provider_name)

    for backend in (BEARER_BACKEND, COOKIE_BACKEND):
        for step in OAUTH_STEPS:
            router.add_api_route(
                f"/{backend}/{step}",
                not_configured,
                methods=["GET"],
                response_model=None,
                name=f"oauth:{provider_name}.{backend}.{step}",
                summary=f"{provider_name}: {step} ({backend}); not configured",
            )
    return router


def oauth_router(settings: Settings, provider: OAuthProvider, backends: AuthBackends) -> APIRouter:
    """fastapi-users' OAuth routes (state JWT + CSRF cookie) for both backends of a provider."""
    from fastapi_users.router.oauth import get_oauth_router

    client = cast("BaseOAuth2[Any]", GuardedOAuthClient(provider))
    router = APIRouter(
        dependencies=[Depends(callback_error_check(provider.name))],
        responses=PROVIDER_ERROR_RESPONSE,
    )
    backend_pairs: tuple[tuple[str, AuthenticationBackend[User, int]], ...] = (
        (BEARER_BACKEND, backends.bearer),
        (COOKIE_BACKEND, backends.cookie_redirect),
    )
    for backend_name, backend in backend_pairs:
        router.include_router(
            get_oauth_router(
                client,
                backend,
                get_user_manager,
                settings.secret_key,
                redirect_url=callback_url(settings, AUTH_PREFIX, provider.name, backend_name),
                csrf_token_cookie_secure=settings.auth_cookie_is_secure,
            ),
            prefix=f"/{backend_name}",
        )
    return router


def callback_error_check(provider_name: str) -> Callable[[Request], Awaitable[None]]:
    """Turn `?error=access_denied` (the user said no at the provider) into a clear 400."""

    async def check(request: Request) -> None:
        error = request.query_params.get("error")
        if error and request.url.path.endswith("/callback"):
            raise authorization_failed(
                provider_name, error, request.query_params.get("error_description")
            )

    return check
