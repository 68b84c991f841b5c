"""/api/v1/auth/{provider}/{jwt,cookie}/{authorize,callback}: signing in through a provider.

The callback checks its state (app/accounts/oauth_states.py) before anything else: only
the browser that started a sign-in, with the state issued for this provider and backend,
used once and in time, gets its code exchanged at the provider.
"""

# No `from __future__ import annotations`: FastAPI reads each endpoint's annotations, and
# the callback's strategy dependency names a variable of the function that builds it.
from collections.abc import Awaitable, Callable
from enum import Enum
from functools import cache
from typing import Annotated, Any, NoReturn
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from fastapi_users.authentication import AuthenticationBackend, Strategy
from fastapi_users.authentication.transport.bearer import BearerResponse
from fastapi_users.exceptions import UserAlreadyExists
from fastapi_users.router.common import ErrorCode
from pydantic import BaseModel

from app.accounts.auth_backends import (
    AFTER_SIGNIN_PATH,
    AUTH_PATH,
    AUTH_PREFIX,
    BEARER_BACKEND,
    COOKIE_BACKEND,
    AuthBackends,
    LoginCookie,
    build_auth_backends,
)
from app.accounts.models import User
from app.accounts.oauth_login import (
    GuardedOAuthClient,
    authorization_failed,
    callback_url,
    check_provider_names,
    provider_not_configured,
)
from app.accounts.oauth_states import (
    CSRF_COOKIE_NAME,
    OAuthStates,
    get_oauth_states,
)
from app.accounts.user_manager import UserManager, get_user_manager
from app.core.config import Settings
from app.core.error_schemas import ErrorBody
from app.core.errors import AppError
from app.core.interfaces import OAuthProvider
from app.core.plugins import PluginRegistry

OAUTH_STEPS = ("authorize", "callback")
OAUTH_CODE_MISSING = "OAUTH_CODE_MISSING"
NOT_CONFIGURED_RESPONSE: dict[int | str, dict[str, Any]] = {
    503: {"description": "The provider is not configured (PROVIDER_NOT_CONFIGURED)"}
}
PROVIDER_ERROR_RESPONSE: dict[int | str, dict[str, Any]] = {
    502: {"description": "The provider failed: error status, timeout, bad answer (PROVIDER_ERROR)"}
}
CALLBACK_REFUSED_RESPONSE: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorBody,
        "description": "Refused before the provider is called: the state is missing, forged, "
        "expired, used or issued for another sign-in, or the CSRF cookie does not match "
        "(OAUTH_INVALID_STATE); the user said no at the provider "
        "(OAUTH_AUTHORIZATION_FAILED); no code (OAUTH_CODE_MISSING). After the provider "
        "answered: no email shared (OAUTH_NOT_AVAILABLE_EMAIL), an unverified email of "
        "another account (OAUTH_USER_ALREADY_EXISTS), an inactive user (LOGIN_BAD_CREDENTIALS)",
    }
}
SIGNED_IN_RESPONSES: dict[str, dict[int | str, dict[str, Any]]] = {
    BEARER_BACKEND: {200: {"model": BearerResponse, "description": "Signed in: a bearer token"}},
    COOKIE_BACKEND: {
        303: {"description": "Signed in: the sign-in cookie is set; on to the sign-in page"}
    },
}

StatesDep = Annotated[OAuthStates, Depends(get_oauth_states)]
UserManagerDep = Annotated[UserManager, Depends(get_user_manager)]


class AuthorizationURL(BaseModel):
    """Where to send the user: the provider's consent page."""

    authorization_url: str


def include_provider_routers(
    parent: APIRouter, settings: Settings, plugins: PluginRegistry, tags: list[str | Enum]
) -> None:
    """Each provider's routes under `parent`'s /auth: working, or answering 503."""
    check_provider_names(plugins.oauth_providers)
    backends = build_auth_backends(LoginCookie.of(settings))
    for name, provider in sorted(plugins.oauth_providers.items()):
        if provider.is_configured:
            provider_router = oauth_router(settings, provider, backends)
        else:
            provider_router = not_configured_router(name)
        parent.include_router(
            provider_router, prefix=f"{AUTH_PATH}/{name}", tags=[*tags, f"auth: {name}"]
        )


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
    """Authorize and callback, for the bearer and the cookie backend of one provider."""
    router = APIRouter(responses=PROVIDER_ERROR_RESPONSE)
    flow = ProviderFlow(settings, provider)
    backend_pairs: tuple[tuple[str, AuthenticationBackend[User, int]], ...] = (
        (BEARER_BACKEND, backends.bearer),
        # Same cookie as the password login, but the browser is sent on to the page.
        (COOKIE_BACKEND, backends.cookie_redirect),
    )
    for backend_name, backend in backend_pairs:
        route_name = f"oauth:{provider.name}.{backend_name}"
        router.add_api_route(
            f"/{backend_name}/authorize",
            flow.authorize_endpoint(backend_name),
            methods=["GET"],
            response_model=AuthorizationURL,
            name=f"{route_name}.authorize",
            summary=f"{provider.name}: start signing in ({backend_name})",
        )
        router.add_api_route(
            f"/{backend_name}/callback",
            flow.callback_endpoint(backend_name, backend),
            methods=["GET"],
            response_model=None,
            name=f"{route_name}.callback",
            summary=f"{provider.name}: where the provider sends the user back ({backend_name})",
            responses={**SIGNED_IN_RESPONSES[backend_name], **CALLBACK_REFUSED_RESPONSE},
        )
    return router


class ProviderFlow:
    """The two steps of one provider's sign-in, as endpoints for each backend."""

    def __init__(self, settings: Settings, provider: OAuthProvider) -> None:
        self.settings = settings
        self.provider = provider
        self.client = GuardedOAuthClient(provider)

    def redirect_url(self, backend_name: str) -> str:
        return callback_url(self.settings, AUTH_PREFIX, self.provider.name, backend_name)

    def authorize_endpoint(self, backend_name: str) -> Callable[..., Awaitable[AuthorizationURL]]:
        async def authorize(
            response: Response,
            states: StatesDep,
            scopes: Annotated[list[str] | None, Query()] = None,
        ) -> AuthorizationURL:
            issued = states.issue(self.provider.name, backend_name)
            url = await self.client.get_authorization_url(
                self.redirect_url(backend_name), issued.state, scopes
            )
            self._set_csrf_cookie(response, issued.csrf_token)
            return AuthorizationURL(authorization_url=url)

        return authorize

    def callback_endpoint(
        self, backend_name: str, backend: AuthenticationBackend[User, int]
    ) -> Callable[..., Awaitable[Response]]:
        async def callback(
            request: Request,
            states: StatesDep,
            user_manager: UserManagerDep,
            strategy: Annotated[Strategy[User, int], Depends(backend.get_strategy)],
            code: str | None = None,
            state: str | None = None,
        ) -> Response:
            try:
                user = await self._checked_sign_in(
                    request, states, user_manager, code, state, backend_name
                )
            except AppError as exc:
                if backend_name == COOKIE_BACKEND and _is_page_visit(request):
                    # A person in a browser: the sign-in page says what went wrong, in words.
                    return RedirectResponse(
                        f"{AFTER_SIGNIN_PATH}?{urlencode({'error': exc.code})}",
                        status_code=status.HTTP_303_SEE_OTHER,
                    )
                raise
            response = await backend.login(strategy, user)
            await user_manager.on_after_login(user, request, response)
            self._delete_csrf_cookie(response)
            return response

        return callback

    async def _checked_sign_in(
        self,
        request: Request,
        states: OAuthStates,
        user_manager: UserManager,
        code: str | None,
        state: str | None,
        backend_name: str,
    ) -> User:
        error = request.query_params.get("error")
        if error:  # the user said no at the provider
            raise authorization_failed(
                self.provider.name, error, request.query_params.get("error_description")
            )
        # Then, before the provider hears of the code: is this our browser's state?
        await states.redeem(
            state, request.cookies.get(CSRF_COOKIE_NAME), self.provider.name, backend_name
        )
        if not code:
            raise AppError(
                f"{self.provider.name} sent the user back without an authorization code.",
                code=OAUTH_CODE_MISSING,
            )
        return await self._sign_in(request, user_manager, code, backend_name)

    async def _sign_in(
        self, request: Request, user_manager: UserManager, code: str, backend_name: str
    ) -> User:
        """Exchange the code, read the profile, find or make the user (502s from the provider)."""
        token = await self.client.get_access_token(code, self.redirect_url(backend_name))
        access_token: str = token["access_token"]
        account_id, account_email = await self.client.get_id_email(access_token)
        if account_email is None:
            raise _refused(
                f"{self.provider.name} did not share an email address; allow it and try again.",
                ErrorCode.OAUTH_NOT_AVAILABLE_EMAIL,
            )
        try:
            user = await user_manager.oauth_callback(
                self.provider.name,
                access_token,
                account_id,
                account_email,
                token.get("expires_at"),
                token.get("refresh_token"),
                request,
                associate_by_email=False,
                is_verified_by_default=False,
            )
        except UserAlreadyExists:
            raise _refused(
                "Another account uses this email address; sign in to it first.",
                ErrorCode.OAUTH_USER_ALREADY_EXISTS,
            ) from None
        if not user.is_active:
            raise _refused("This account is disabled.", ErrorCode.LOGIN_BAD_CREDENTIALS)
        return user

    def _set_csrf_cookie(self, response: Response, token: str) -> None:
        response.set_cookie(
            CSRF_COOKIE_NAME,
            token,
            max_age=self.settings.oauth_state_lifetime_seconds,
            path="/",
            secure=self.settings.auth_cookie_is_secure,
            httponly=True,
            samesite="lax",
        )

    def _delete_csrf_cookie(self, response: Response) -> None:
        # The state is spent; its cookie has nothing left to prove.
        response.delete_cookie(
            CSRF_COOKIE_NAME,
            path="/",
            secure=self.settings.auth_cookie_is_secure,
            httponly=True,
            samesite="lax",
        )


def _refused(message: str, code: ErrorCode) -> AppError:
    """A 400 with fastapi-users' error string as both code and detail, as its clients expect."""
    return AppError(message, code=code.value, detail=code.value)


def _is_page_visit(request: Request) -> bool:
    """A browser navigating asks for HTML first; API clients ask for JSON or anything."""
    return "text/html" in request.headers.get("accept", "")
