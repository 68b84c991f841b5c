"""Rate-limit dependencies: `Depends(rate_limited(RateLimitScope.LOGIN))` counts per client address,
`Depends(email_limited(RateLimitScope.MAIL_ADDRESS))` per the email address in the body.

The counting is `app.core.rate_limits`; this only says whose count a request is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence

from fastapi import APIRouter, Depends, Request, params
from fastapi.routing import APIRoute

from app.core.client_address import resolve_client_address
from app.core.dependencies import runtime_of
from app.core.rate_limits import RateLimitScope, mailbox_key

# Requests whose peer the server does not know share one count.
UNKNOWN_CLIENT = "unknown"


def client_address_of(request: Request) -> str:
    """The client as TRUSTED_PROXIES say to read it (the whitelist uses the same)."""
    return (
        resolve_client_address(
            request.client.host if request.client else None,
            request.headers.getlist("x-forwarded-for"),
            runtime_of(request).settings.trusted_proxies,
        )
        or UNKNOWN_CLIENT
    )


def rate_limited(scope: RateLimitScope) -> Callable[[Request], Awaitable[None]]:
    """A dependency counting the request against `scope`'s limit for its client address."""

    async def check(request: Request) -> None:
        limiter = runtime_of(request).rate_limiter
        await limiter.check(scope, client_address_of(request))

    return check


def email_limited(scope: RateLimitScope) -> Callable[[Request], Awaitable[None]]:
    """A dependency counting the request against `scope`'s limit for the `email` of its
    JSON body, before the body is validated: a refused or malformed request counts too."""

    async def check(request: Request) -> None:
        email = await _email_in_body(request)
        if email is not None:
            limiter = runtime_of(request).rate_limiter
            await limiter.check(scope, mailbox_key(email))

    return check


async def _email_in_body(request: Request) -> str | None:
    """The body's `email`, if it has one (FastAPI has read and parsed the body already)."""
    try:
        body = await request.json()
    except (ValueError, RecursionError):
        return None
    email = body.get("email") if isinstance(body, dict) else None
    return email if isinstance(email, str) else None


def limit_routes(
    router: APIRouter,
    route_names: Collection[str],
    scope: RateLimitScope,
    *,
    per_email: RateLimitScope | None = None,
    dependencies: Sequence[params.Depends] = (),
) -> APIRouter:
    """`router` with `scope`'s limit on the named routes only (login, not logout),
    `per_email`'s limit on the email address they name, and `dependencies` of their own."""
    limited, others = APIRouter(), APIRouter()
    for route in router.routes:
        named = isinstance(route, APIRoute) and route.name in route_names
        (limited if named else others).routes.append(route)
    checks = [Depends(rate_limited(scope))]
    if per_email is not None:
        checks.append(Depends(email_limited(per_email)))
    checks.extend(dependencies)
    combined = APIRouter()
    combined.include_router(limited, dependencies=checks)
    combined.include_router(others)
    return combined
