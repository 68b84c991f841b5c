"""/api/v1/users/me/api-keys: the signed-in user's API keys and their IP whitelists."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth_backends import CurrentUser
from app.accounts.user_manager import get_db_session
from app.core.dependencies import SettingsDep
from app.core.error_schemas import RowId
from app.signed_api import keys as api_keys
from app.signed_api.models import ApiKey, ApiKeyStatus, ApiWhitelist
from app.signed_api.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    ApiKeyUpdate,
    WhitelistEntryCreate,
    WhitelistEntryRead,
)

router = APIRouter(prefix="/users/me/api-keys", tags=["api keys"])

Session = Annotated[AsyncSession, Depends(get_db_session)]

UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in (UNAUTHORIZED)"}
}
KEY_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such key among yours (API_KEY_NOT_FOUND)"}
}


@router.get("", response_model=list[ApiKeyRead], responses=UNAUTHORIZED)
async def list_api_keys(user: CurrentUser, session: Session) -> list[ApiKey]:
    return await api_keys.list_api_keys(session, user.id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        **UNAUTHORIZED,
        403: {"description": "The account's email is not verified (ACCOUNT_UNVERIFIED)"},
        409: {"description": "Too many keys, active or stopped (API_KEY_LIMIT_REACHED)"},
    },
)
async def create_api_key(
    user: CurrentUser,
    session: Session,
    settings: SettingsDep,
    payload: Annotated[ApiKeyCreate | None, Body()] = None,
) -> ApiKeyCreated:
    """Create a key. The answer holds `secret_key`: store it now, it is never shown again."""
    api_keys.check_may_create_keys(user)
    memo = payload.memo if payload is not None else None
    api_key, secret_key = await api_keys.create_api_key(session, settings, user.id, memo)
    return ApiKeyCreated(
        id=api_key.id,
        access_key=api_key.access_key,
        secret_key=secret_key,
        memo=api_key.memo,
        status=ApiKeyStatus(api_key.status),
        created_at=api_key.created_at,
    )


@router.patch(
    "/{key_id}",
    response_model=ApiKeyRead,
    responses={
        **UNAUTHORIZED,
        **KEY_NOT_FOUND,
    },
)
async def update_api_key(
    key_id: RowId, changes: ApiKeyUpdate, user: CurrentUser, session: Session, settings: SettingsDep
) -> ApiKey:
    return await api_keys.update_api_key(session, settings, user.id, key_id, changes)


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**UNAUTHORIZED, **KEY_NOT_FOUND},
)
async def delete_api_key(key_id: RowId, user: CurrentUser, session: Session) -> Response:
    await api_keys.delete_api_key(session, user.id, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{key_id}/whitelist",
    response_model=list[WhitelistEntryRead],
    responses={**UNAUTHORIZED, **KEY_NOT_FOUND},
)
async def list_whitelist(key_id: RowId, user: CurrentUser, session: Session) -> list[ApiWhitelist]:
    return await api_keys.list_whitelist(session, user.id, key_id)


@router.post(
    "/{key_id}/whitelist",
    status_code=status.HTTP_201_CREATED,
    response_model=WhitelistEntryRead,
    responses={
        **UNAUTHORIZED,
        **KEY_NOT_FOUND,
        409: {
            "description": "Already listed, or the list is full "
            "(WHITELIST_ENTRY_EXISTS, WHITELIST_LIMIT_REACHED)"
        },
        422: {"description": "Not an IP address or CIDR range (VALIDATION_ERROR)"},
    },
)
async def add_whitelist_entry(
    key_id: RowId,
    entry: WhitelistEntryCreate,
    user: CurrentUser,
    session: Session,
    settings: SettingsDep,
) -> ApiWhitelist:
    return await api_keys.add_whitelist_entry(session, settings, user.id, key_id, entry.ip_address)


@router.delete(
    "/{key_id}/whitelist/{entry_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        **UNAUTHORIZED,
        404: {"description": "No such key or entry (API_KEY_NOT_FOUND, WHITELIST_ENTRY_NOT_FOUND)"},
    },
)
async def remove_whitelist_entry(
    key_id: RowId, entry_id: RowId, user: CurrentUser, session: Session
) -> Response:
    await api_keys.remove_whitelist_entry(session, user.id, key_id, entry_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
