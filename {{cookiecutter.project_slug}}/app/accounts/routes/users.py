"""/api/v1/users/me: the signed-in user's own account."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.accounts.auth_backends import CurrentUser
from app.accounts.models import User
from app.accounts.schemas import MeUpdate, UserRead
from app.accounts.user_manager import UserManagerDep

router = APIRouter(prefix="/users", tags=["users"])

UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in (UNAUTHORIZED)"}
}
UPDATE_REFUSED: dict[int | str, dict[str, Any]] = {
    400: {"description": "UPDATE_USER_EMAIL_ALREADY_EXISTS or UPDATE_USER_INVALID_PASSWORD"}
}


@router.get("/me", response_model=UserRead, responses=UNAUTHORIZED)
async def read_me(user: CurrentUser) -> User:
    return user


@router.patch("/me", response_model=UserRead, responses={**UNAUTHORIZED, **UPDATE_REFUSED})
async def update_me(
    changes: MeUpdate, request: Request, user: CurrentUser, user_manager: UserManagerDep
) -> User:
    return await user_manager.update_me(user, changes, request)
