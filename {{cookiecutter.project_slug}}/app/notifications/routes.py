"""/api/v1/notifications: the signed API that accepts notifications and reports on them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status

from app.core.error_schemas import RowId
from app.notifications.models import NotificationStatus
from app.notifications.schemas import (
    NotificationCreate,
    NotificationPage,
    NotificationRead,
    NotificationSummary,
)
from app.notifications.service import NotificationServiceDep
from app.signed_api.signed_route import SignedCaller, SignedRoute

# The signature is checked before the JSON body is parsed (SignedRoute).
router = APIRouter(prefix="/notifications", tags=["notifications"], route_class=SignedRoute)

REPLAYED_HEADER = "Idempotent-Replayed"

SIGNED: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "The request is not signed as the README says in its section "
        "'Call the signed API' (SIGNATURE_*, API_KEY_*)"
    },
    403: {
        "description": "The client address is not on the key's whitelist (IP_NOT_WHITELISTED), "
        "or the key's account is deactivated or unverified (ACCOUNT_INACTIVE, ACCOUNT_UNVERIFIED)"
    },
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such notification of the caller's (NOTIFICATION_NOT_FOUND)"}
}
REJECTED: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "The Idempotency-Key was used for another request (IDEMPOTENCY_KEY_REUSED)"
    },
    413: {"description": "Subject, bodies and metadata are too large (NOTIFICATION_TOO_LARGE)"},
    422: {
        "description": "CHANNEL_UNKNOWN, RECIPIENTS_EMPTY, TOO_MANY_RECIPIENTS, "
        "RECIPIENT_INVALID, RECIPIENT_NOT_ALLOWED, BODY_MISSING, IDEMPOTENCY_KEY_INVALID or "
        "VALIDATION_ERROR"
    },
}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=NotificationRead,
    responses={**SIGNED, **REJECTED},
)
async def send_notification(
    payload: NotificationCreate,
    caller: SignedCaller,
    service: NotificationServiceDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Repeat a request with the same key to get the first one's "
            "notification instead of a second one.",
        ),
    ] = None,
) -> NotificationRead:
    accepted = await service.accept(caller, payload, idempotency_key)
    if accepted.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return NotificationRead.of(accepted.notification)


@router.get(
    "/{notification_id}", response_model=NotificationRead, responses={**SIGNED, **NOT_FOUND}
)
async def read_notification(
    notification_id: RowId, caller: SignedCaller, service: NotificationServiceDep
) -> NotificationRead:
    return NotificationRead.of(await service.get(caller, notification_id))


@router.get("", response_model=NotificationPage, responses=SIGNED)
async def list_notifications(
    caller: SignedCaller,
    service: NotificationServiceDep,
    status: NotificationStatus | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> NotificationPage:
    found = await service.list(caller, status=status, page=page, size=size)
    return NotificationPage(
        items=[NotificationSummary.of(item) for item in found.items],
        total=found.total,
        page=found.page,
        size=found.size,
        pages=found.pages,
    )
