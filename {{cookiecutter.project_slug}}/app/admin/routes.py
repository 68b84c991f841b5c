"""/api/v1/admin: the operator's view of every account, API key and notification.

Superusers only (fastapi-users' `is_superuser`): anyone else signed in gets 403, nobody
signed in 401. The first superuser comes from the command line (`create-superuser`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth_backends import current_superuser
from app.accounts.models import User
from app.accounts.user_manager import get_db_session
from app.admin import service as admin
from app.admin.schemas import (
    AdminApiKeyRead,
    AdminNotificationRead,
    AdminNotificationSummary,
    AdminPage,
    AdminUserRead,
)
from app.core.error_schemas import MAX_ROW_ID, RowId
from app.notifications.models import CHANNEL_LENGTH, NotificationStatus
from app.signed_api.models import ApiKey

Session = Annotated[AsyncSession, Depends(get_db_session)]
Operator = Annotated[User, Depends(current_superuser)]
PageNumber = Annotated[int, Query(ge=1, le=MAX_ROW_ID)]
PageSize = Annotated[int, Query(ge=1, le=100)]
OwnerId = Annotated[int | None, Query(ge=1, le=MAX_ROW_ID, description="Only this user's")]

GUARDED: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in (UNAUTHORIZED)"},
    403: {"description": "Signed in, but not a superuser (FORBIDDEN)"},
}

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[Depends(current_superuser)],
    responses=GUARDED,
)


@router.get("/users", response_model=AdminPage[AdminUserRead])
async def list_users(
    session: Session,
    email: Annotated[
        str | None, Query(max_length=320, description="Only addresses containing this")
    ] = None,
    page: PageNumber = 1,
    size: PageSize = 20,
) -> AdminPage[AdminUserRead]:
    found = await admin.list_users(session, email=email, page=page, size=size)
    return AdminPage[AdminUserRead].of(found, map(AdminUserRead.model_validate, found.items))


@router.post(
    "/users/{user_id}/deactivate",
    response_model=AdminUserRead,
    responses={
        404: {"description": "No such user (USER_NOT_FOUND)"},
        409: {"description": "It is the caller's own account (CANNOT_DEACTIVATE_SELF)"},
    },
)
async def deactivate_user(user_id: RowId, operator: Operator, session: Session) -> User:
    """Ends the account's sessions and refuses its API keys (ACCOUNT_INACTIVE)."""
    return await admin.deactivate_user(session, operator.id, user_id)


@router.post(
    "/users/{user_id}/reactivate",
    response_model=AdminUserRead,
    responses={404: {"description": "No such user (USER_NOT_FOUND)"}},
)
async def reactivate_user(user_id: RowId, operator: Operator, session: Session) -> User:
    return await admin.reactivate_user(session, operator.id, user_id)


@router.get("/api-keys", response_model=AdminPage[AdminApiKeyRead])
async def list_api_keys(
    session: Session, user_id: OwnerId = None, page: PageNumber = 1, size: PageSize = 20
) -> AdminPage[AdminApiKeyRead]:
    """Every user's keys, deleted ones too; never a secret."""
    found = await admin.list_api_keys(session, user_id=user_id, page=page, size=size)
    return AdminPage[AdminApiKeyRead].of(found, map(AdminApiKeyRead.model_validate, found.items))


@router.post(
    "/api-keys/{key_id}/stop",
    response_model=AdminApiKeyRead,
    responses={404: {"description": "No such key (API_KEY_NOT_FOUND)"}},
)
async def stop_api_key(key_id: RowId, session: Session) -> ApiKey:
    """Revoke the key for good: its owner cannot start it again."""
    return await admin.stop_api_key(session, key_id)


@router.get("/notifications", response_model=AdminPage[AdminNotificationSummary])
async def list_notifications(
    session: Session,
    status: NotificationStatus | None = None,
    channel: Annotated[str | None, Query(min_length=1, max_length=CHANNEL_LENGTH)] = None,
    user_id: OwnerId = None,
    page: PageNumber = 1,
    size: PageSize = 20,
) -> AdminPage[AdminNotificationSummary]:
    found = await admin.list_notifications(
        session, status=status, channel=channel, user_id=user_id, page=page, size=size
    )
    items = map(AdminNotificationSummary.of, found.items)
    return AdminPage[AdminNotificationSummary].of(found, items)


@router.get(
    "/notifications/{notification_id}",
    response_model=AdminNotificationRead,
    responses={404: {"description": "No such notification (NOTIFICATION_NOT_FOUND)"}},
)
async def read_notification(notification_id: RowId, session: Session) -> AdminNotificationRead:
    return AdminNotificationRead.of(await admin.get_notification(session, notification_id))
