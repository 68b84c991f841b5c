"""Rate-limit dependencies: `Depends(rate_limited(RateLimitScope.LOGIN))` counts per client address.

The counting is `app.services.rate_limits`; this only says whose count a request is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute

from app.services.client_address import resolve_client_address
from app.services.rate_limits import RateLimiter, RateLimitScope

# Requests whose peer the server does not know share one count.
UNKNOWN_CLIENT = "unknown"


def client_address_of(request: Request) -> str:
    """The client as TRUSTED_PROXIES say to read it (the whitelist uses the same)."""
    return (
        resolve_client_address(
            request.client.host if request.client else None,
            request.headers.getlist("x-forwarded-for"),
            request.app.state.settings.trusted_proxies,
        )
        or UNKNOWN_CLIENT
    )


def rate_limited(scope: RateLimitScope) -> Callable[[Request], Awaitable[None]]:
    """A dependency counting the request against `scope`'s limit for its client address."""

    async def check(request: Request) -> None:
        limiter: RateLimiter = request.app.state.rate_limiter
        await limiter.check(scope, client_address_of(request))

    return check


def limit_routes(
    router: APIRouter, route_names: Collection[str], scope: RateLimitScope
) -> APIRouter:
    """`router` with `scope`'s limit on the named routes only (login, not logout)."""
    limited, others = APIRouter(), APIRouter()
    for route in router.routes:
        named = isinstance(route, APIRoute) and route.name in route_names
        (limited if named else others).routes.append(route)
    combined = APIRouter()
    combined.include_router(limited, dependencies=[Depends(rate_limited(scope))])
    combined.include_router(others)
    return combined
