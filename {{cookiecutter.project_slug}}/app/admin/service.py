"""What an operator (a superuser) may do to any account, key or notification.

The HTTP side (/api/v1/admin) and the operator commands (`create-superuser`, `keys ...`)
both come here. Nothing in this module checks who is asking: the router lets only
superusers in, and the commands run where the service's database is.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi_users import exceptions
from pydantic import ValidationError
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.accounts.schemas import UserCreate
from app.accounts.user_manager import UserManager, end_sessions
from app.core.config import Settings
from app.core.errors import AppError, ConflictError, NotFoundError
from app.core.orm.query import Page
from app.notifications.models import Notification, NotificationStatus
from app.signed_api.keys import check_may_create_keys, create_api_key, revoke_api_key
from app.signed_api.models import ApiKey

logger = logging.getLogger(__name__)


# -- accounts --------------------------------------------------------------------------


async def list_users(
    session: AsyncSession, *, email: str | None = None, page: int = 1, size: int = 20
) -> Page[User]:
    """Accounts by id; `email` keeps those whose address contains it, whatever the case."""
    query = User.filter_by(session=session).order_by("id")
    if email:
        # No address holds a NUL, and PostgreSQL cannot even compare text that does.
        if "\x00" in email:
            return Page(items=[], total=0, page=page, size=size, pages=0)
        query = query.where(func.lower(User.email).contains(email.lower(), autoescape=True))
    return await query.paginate(page, size)


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await User.filter_by(session=session, id=user_id).first()
    if user is None:
        raise NotFoundError(
            f"There is no user {user_id}.", code="USER_NOT_FOUND", detail={"user_id": user_id}
        )
    return user


async def find_user_by_email(session: AsyncSession, email: str) -> User:
    user = (
        await User.filter_by(session=session)
        .where(func.lower(User.email) == email.strip().lower())
        .first()
    )
    if user is None:
        raise NotFoundError(
            f"There is no user with the email {email!r}.",
            code="USER_NOT_FOUND",
            detail={"email": email},
        )
    return user


async def deactivate_user(session: AsyncSession, operator_id: int | None, user_id: int) -> User:
    """The account can no longer sign in, its sessions end now, and its API keys are
    refused (ACCOUNT_INACTIVE) until it is reactivated. Its keys and data stay."""
    if user_id == operator_id:
        raise ConflictError(
            "You cannot deactivate your own account: another operator has to.",
            code="CANNOT_DEACTIVATE_SELF",
        )
    user = await get_user(session, user_id)
    user.is_active = False
    await session.commit()
    # Also when it is reactivated later, the tokens issued before stay refused.
    await end_sessions(user)
    await session.refresh(user)
    logger.warning("operator %s deactivated user %s", operator_id, user_id)
    return user


async def reactivate_user(session: AsyncSession, operator_id: int | None, user_id: int) -> User:
    """The account may sign in again (with new sessions) and its keys work again."""
    user = await get_user(session, user_id)
    user.is_active = True
    await session.commit()
    logger.warning("operator %s reactivated user %s", operator_id, user_id)
    return user


async def create_superuser(user_manager: UserManager, email: str, password: str) -> User:
    """A new active, verified superuser; the password rules of every account apply."""
    try:
        new_user = UserCreate(
            email=email, password=password, is_active=True, is_verified=True, is_superuser=True
        )
    except ValidationError:
        raise AppError(f"{email!r} is not an email address.", code="EMAIL_INVALID") from None
    try:
        user = await user_manager.create(new_user, safe=False)
    except exceptions.UserAlreadyExists:
        raise ConflictError(
            f"An account with the email {email!r} exists already: promote it instead.",
            code="USER_ALREADY_EXISTS",
        ) from None
    except exceptions.InvalidPasswordException as exc:
        raise AppError(str(exc.reason), code="PASSWORD_INVALID") from None
    logger.warning("superuser %s created", user.id)
    return user


async def promote_user(session: AsyncSession, email: str) -> User:
    """Make an existing account a superuser (and active).

    Only a verified one: an unverified account may have been set up by someone else with
    this address, and would keep operator rights until its owner took it back.
    """
    user = await find_user_by_email(session, email)
    if not user.is_verified:
        raise AppError(
            f"{user.email} has not verified its email address: verify it first.",
            code="ACCOUNT_UNVERIFIED",
        )
    user.is_superuser = True
    user.is_active = True
    await session.commit()
    logger.warning("user %s promoted to superuser", user.id)
    return user


# -- API keys --------------------------------------------------------------------------


def _key_not_found(key_id: int) -> NotFoundError:
    return NotFoundError(
        f"There is no API key {key_id}.", code="API_KEY_NOT_FOUND", detail={"key_id": key_id}
    )


async def list_api_keys(
    session: AsyncSession, *, user_id: int | None = None, page: int = 1, size: int = 20
) -> Page[ApiKey]:
    """Every key by id, deleted ones too (their rows are kept); `user_id` keeps one user's."""
    filters: dict[str, Any] = {} if user_id is None else {"user_id": user_id}
    return await ApiKey.filter_by(session=session, **filters).order_by("id").paginate(page, size)


async def all_api_keys(session: AsyncSession, *, user_id: int | None = None) -> list[ApiKey]:
    filters: dict[str, Any] = {} if user_id is None else {"user_id": user_id}
    return await ApiKey.filter_by(session=session, **filters).order_by("id").all()


async def stop_api_key(session: AsyncSession, key_id: int) -> ApiKey:
    """Revoke any key for good: requests signed with it are refused (API_KEY_INACTIVE)
    from now on, and its secret is dropped, so that its owner cannot start it again (they
    can create another key, which an operator can stop as well)."""
    api_key = await ApiKey.filter_by(session=session, id=key_id).first()
    if api_key is None:
        raise _key_not_found(key_id)
    if api_key.deleted_at is None:
        await revoke_api_key(session, api_key)
        await session.commit()
        logger.warning("API key %s of user %s stopped by an operator", key_id, api_key.user_id)
    return api_key


async def create_api_key_for(
    session: AsyncSession, settings: Settings, email: str, memo: str | None
) -> tuple[ApiKey, str]:
    """A key for the account with this email, on the rules its owner has (verified, active,
    within the key limit): the key and its secret, which is shown only this once."""
    user = await find_user_by_email(session, email)
    check_may_create_keys(user)
    if not user.is_active:
        raise AppError(
            f"{user.email} is deactivated: reactivate it first.",
            code="ACCOUNT_INACTIVE",
            status_code=403,
        )
    return await create_api_key(session, settings, user.id, memo)


# -- notifications ---------------------------------------------------------------------


async def list_notifications(
    session: AsyncSession,
    *,
    status: NotificationStatus | None = None,
    channel: str | None = None,
    user_id: int | None = None,
    page: int = 1,
    size: int = 20,
) -> Page[Notification]:
    """Any user's notifications, newest first."""
    if channel is not None and "\x00" in channel:
        return Page(items=[], total=0, page=page, size=size, pages=0)
    filters: dict[str, Any] = {}
    if status is not None:
        filters["status"] = status.value
    if channel is not None:
        filters["channel"] = channel
    if user_id is not None:
        filters["user_id"] = user_id
    query = Notification.filter_by(session=session, **filters).order_by("-id")
    return await query.paginate(page, size)


async def get_notification(session: AsyncSession, notification_id: int) -> Notification:
    found = await Notification.filter_by(session=session, id=notification_id).first()
    if found is None:
        raise NotFoundError(
            f"Notification {notification_id} not found.",
            code="NOTIFICATION_NOT_FOUND",
            detail={"id": notification_id},
        )
    return found
