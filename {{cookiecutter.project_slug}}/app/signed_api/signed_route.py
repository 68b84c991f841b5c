"""The signed-request dependency: `caller: SignedCaller` in a route makes it a signed endpoint.

router = APIRouter(route_class=SignedRoute)

@router.post("/notifications")
async def send(payload: NotificationCreate, caller: SignedCaller) -> ...:
    caller.api_key_id, caller.user_id, caller.api_key, caller.client_address

`SignedRoute` checks the signature before FastAPI reads a declared body: without it,
FastAPI parses a JSON body before it solves any dependency, so an unsigned caller could
make the server parse whatever it sends (and be told about it in a 422).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute

from app.core.client_address import resolve_client_address
from app.core.context import set_current_user
from app.core.dependencies import runtime_of
from app.core.rate_limits import RateLimitScope
from app.signed_api.signature import (
    API_KEY_HEADER,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
)
from app.signed_api.verification import ApiCaller, SignedRequest, authenticate_signed_request

__all__ = ["ApiCaller", "SignedCaller", "SignedRoute", "verify_signed_request"]

# Where a request keeps its verified caller, so that the check runs once per request.
_CALLER_SCOPE_KEY = "signed_api.caller"


def _request_path(request: Request) -> str:
    """The path as the client sent it (still percent-encoded), which is what it signed."""
    raw_path = request.scope.get("raw_path")
    if raw_path:
        return bytes(raw_path).split(b"?", 1)[0].decode("latin-1")
    path: str = request.scope["path"]
    return path


# The signature's headers as /docs shows them on every signed route. They are described
# here, not declared as header parameters: FastAPI would then parse and validate all four
# for each request, and verification reads them itself.
SIGNATURE_HEADER_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": name,
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }
    for name, description in (
        (API_KEY_HEADER, "The API key's access key."),
        (TIMESTAMP_HEADER, "When the request was signed, in Unix seconds."),
        (NONCE_HEADER, "16 to 64 characters of A-Z, a-z, 0-9, _ and -, new for each request."),
        (SIGNATURE_HEADER, "Base64 HMAC-SHA256 of the canonical request with the secret key."),
    )
]


async def verify_signed_request(request: Request) -> ApiCaller:
    known = request.scope.get(_CALLER_SCOPE_KEY)
    if isinstance(known, ApiCaller):
        return known  # SignedRoute checked this request already
    runtime = runtime_of(request)
    client_address = resolve_client_address(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        runtime.settings.trusted_proxies,
    )
    caller = await authenticate_signed_request(
        SignedRequest(
            method=request.method,
            path=_request_path(request),
            query=request.scope.get("query_string", b"").decode("latin-1"),
            headers=request.headers,
            client_address=client_address,
            read_body=request.body,
        ),
        settings=runtime.settings,
        database=runtime.database,
        nonce_store=runtime.nonce_store,
        key_cache=runtime.key_cache,
    )
    set_current_user(caller.user_id, None)
    # Counted per key once the signature holds: forged requests naming someone's key
    # must not use up that key's allowance.
    await runtime.rate_limiter.check(RateLimitScope.SIGNED_API, str(caller.api_key_id))
    request.scope[_CALLER_SCOPE_KEY] = caller
    return caller


SignedCaller = Annotated[ApiCaller, Depends(verify_signed_request)]


class SignedRoute(APIRoute):
    """A route whose requests are verified as signed before anything reads the body as JSON.

    The signature covers the raw bytes, so checking it reads the body but parses nothing;
    FastAPI's own handler (body parsing, validation, the `SignedCaller` dependency, which
    finds the caller already verified) runs only for a request that passed. The OpenAPI
    document is FastAPI's, unchanged.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        extra = dict(options.pop("openapi_extra", None) or {})
        extra["parameters"] = [*extra.get("parameters", []), *SIGNATURE_HEADER_PARAMETERS]
        super().__init__(path, endpoint, openapi_extra=extra, **options)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def signed_first(request: Request) -> Response:
            await verify_signed_request(request)
            return await handler(request)

        return signed_first
