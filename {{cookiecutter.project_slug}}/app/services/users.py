"""Accounts: the fastapi-users user manager and what it does around sign-up and sign-in."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi_users import BaseUserManager, IntegerIDMixin, exceptions
from fastapi_users.password import PasswordHelper
from fastapi_users.router.common import ErrorCode
from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from app.core.config import Settings
from app.core.context import set_current_user
from app.core.errors import AppError
from app.core.plugins import PluginRegistry
from app.models.oauth_account import OAuthAccount
from app.models.user import User
from app.schemas.users import MeUpdate, UserUpdate
from app.services.mail import (
    send_after_answer,
    send_password_reset_mail,
    send_verification_mail,
)
from app.services.oauth import (
    fetch_social_profile,
    profile_changes,
    take_remembered_profile,
)

logger = logging.getLogger(__name__)


@lru_cache
def password_helper(time_cost: int, memory_kib: int) -> PasswordHelper:
    """fastapi-users' hasher (Argon2; bcrypt hashes still verify), built once per cost."""
    return PasswordHelper(
        PasswordHash((Argon2Hasher(time_cost=time_cost, memory_cost=memory_kib), BcryptHasher()))
    )


class UserDatabase(SQLAlchemyUserDatabase[User, int]):
    """fastapi-users' adapter, reading a user and its linked accounts in one query.

    `get` runs on every authenticated request; the relationship's own "selectin" loading
    would add a second query there.
    """

    async def get(self, id: int) -> User | None:
        statement = select(User).options(joinedload(User.oauth_accounts)).filter_by(id=id)
        result = await self.session.execute(statement)
        return result.unique().scalar_one_or_none()


class UserManager(IntegerIDMixin, BaseUserManager[User, int]):
    """fastapi-users' manager with our secrets, mails, password rules and OAuth profile."""

    def __init__(self, user_db: UserDatabase, *, settings: Settings, plugins: PluginRegistry):
        super().__init__(
            user_db,
            password_helper=password_helper(
                settings.password_hash_time_cost, settings.password_hash_memory_kib
            ),
        )
        self.settings = settings
        self.plugins = plugins
        self.reset_password_token_secret = settings.secret_key
        self.reset_password_token_lifetime_seconds = settings.reset_password_token_lifetime_seconds
        self.verification_token_secret = settings.secret_key
        self.verification_token_lifetime_seconds = settings.verify_token_lifetime_seconds

    async def validate_password(self, password: str, user: Any) -> None:
        minimum = self.settings.password_min_length
        if len(password) < minimum:
            raise exceptions.InvalidPasswordException(
                reason=f"The password must have at least {minimum} characters."
            )
        email = str(getattr(user, "email", "") or "")
        if email and email.lower() in password.lower():
            raise exceptions.InvalidPasswordException(
                reason="The password must not contain the email address."
            )

    async def on_after_register(self, user: User, request: Request | None = None) -> None:
        logger.info("user %s registered", user.id)
        if user.is_active and not user.is_verified:
            await self.request_verify(user, request)

    async def on_after_request_verify(
        self, user: User, token: str, request: Request | None = None
    ) -> None:
        await send_after_answer(
            request, send_verification_mail, self.settings, self.plugins, user.email, token
        )

    async def on_after_forgot_password(
        self, user: User, token: str, request: Request | None = None
    ) -> None:
        await send_after_answer(
            request, send_password_reset_mail, self.settings, self.plugins, user.email, token
        )

    async def on_after_update(
        self, user: User, update_dict: dict[str, Any], request: Request | None = None
    ) -> None:
        # A changed email is unverified again (fastapi-users resets the flag): prove it anew.
        if "email" in update_dict and user.is_active and not user.is_verified:
            await self.request_verify(user, request)

    async def on_after_login(
        self, user: User, request: Request | None = None, response: Any = None
    ) -> None:
        set_current_user(user.id, user.email)

    async def oauth_callback(
        self,
        oauth_name: str,
        access_token: str,
        account_id: str,
        account_email: str,
        expires_at: int | None = None,
        refresh_token: str | None = None,
        request: Request | None = None,
        *,
        associate_by_email: bool = False,
        is_verified_by_default: bool = False,
    ) -> User:
        """Sign in through a provider: find, link or create the user, then fill in the profile.

        Linking by email, and trusting the email as verified, happen only when the
        provider says it verified that email (`SocialProfile.email_verified`); the
        router-wide flags fastapi-users passes are ignored for that reason. An unverified
        email that matches an existing user is refused (OAUTH_USER_ALREADY_EXISTS).
        """
        provider = self.plugins.oauth_providers[oauth_name]
        profile = take_remembered_profile(access_token) or await fetch_social_profile(
            provider, access_token
        )
        email_verified = bool(
            profile.email_verified
            and profile.email
            and profile.email.lower() == account_email.lower()
        )
        unproven_owner = await self._unverified_owner_of(
            oauth_name, account_id, account_email, email_verified
        )
        user = await super().oauth_callback(
            oauth_name,
            access_token,
            account_id,
            account_email,
            expires_at,
            refresh_token,
            request,
            associate_by_email=email_verified,
            is_verified_by_default=email_verified,
        )
        changes = profile_changes(user, provider.name, profile)
        if unproven_owner is not None and unproven_owner == user.id:
            # Someone signed up with this address without proving it; the provider just
            # proved who owns it. Their password must not open the owner's account.
            logger.warning(
                "user %s: email proven by %s; the unverified password is revoked",
                user.id,
                provider.name,
            )
            changes["is_verified"] = True
            changes["hashed_password"] = self.password_helper.hash(self.password_helper.generate())
        if changes:
            user = await self.user_db.update(user, changes)
        return user

    async def _unverified_owner_of(
        self, oauth_name: str, account_id: str, email: str, email_verified: bool
    ) -> int | None:
        """The id of an unverified user this sign-in is about to link by email, if any."""
        if not email_verified:
            return None
        if await self.user_db.get_by_oauth_account(oauth_name, account_id) is not None:
            return None
        existing = await self.user_db.get_by_email(email)
        if existing is None or existing.is_verified:
            return None
        return existing.id

    async def update_me(self, user: User, changes: MeUpdate, request: Request) -> User:
        """PATCH /users/me: the caller's own profile, email and password."""
        update = UserUpdate.model_validate(changes.model_dump(exclude_unset=True))
        try:
            return await self.update(update, user, safe=True, request=request)
        except exceptions.UserAlreadyExists:
            raise AppError(
                "Another account already uses this email address.",
                code=ErrorCode.UPDATE_USER_EMAIL_ALREADY_EXISTS.value,
                detail=ErrorCode.UPDATE_USER_EMAIL_ALREADY_EXISTS.value,
            ) from None
        except exceptions.InvalidPasswordException as exc:
            raise AppError(
                str(exc.reason),
                code=ErrorCode.UPDATE_USER_INVALID_PASSWORD.value,
                detail={"code": ErrorCode.UPDATE_USER_INVALID_PASSWORD.value, "reason": exc.reason},
            ) from None


async def get_db_session(request: Request) -> AsyncSession:
    """The request's session (the task-scoped one the CRUD mixin also uses).

    Async on purpose: a sync dependency runs in a worker thread, outside the request's task.
    """
    session: AsyncSession = request.app.state.database.scoped_session()
    return session


async def get_user_db(
    session: Annotated[AsyncSession, Depends(get_db_session)],
) -> UserDatabase:
    return UserDatabase(session, User, OAuthAccount)


async def get_user_manager(
    request: Request, user_db: Annotated[UserDatabase, Depends(get_user_db)]
) -> UserManager:
    state = request.app.state
    return UserManager(user_db, settings=state.settings, plugins=state.plugins)


UserManagerDep = Annotated[UserManager, Depends(get_user_manager)]
