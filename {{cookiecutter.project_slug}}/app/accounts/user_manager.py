"""Accounts: the fastapi-users user manager and what it does around sign-up and sign-in."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi_users import BaseUserManager, IntegerIDMixin, exceptions
from fastapi_users.jwt import decode_jwt
from fastapi_users.password import PasswordHelper
from fastapi_users.router.common import ErrorCode
from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_object_session
from sqlalchemy.orm import joinedload

from app.accounts.mails import (
    AccountMails,
    mail_language,
    password_reset_message,
    verification_message,
)
from app.accounts.models import OAuthAccount, User
from app.accounts.oauth_login import (
    fetch_social_profile,
    profile_changes,
    take_remembered_profile,
)
from app.accounts.schemas import PROFILE_FIELD_NAMES, MeUpdate, UserUpdate
from app.core.config import Settings
from app.core.context import set_current_user
from app.core.dependencies import DatabaseDep, runtime_of
from app.core.errors import AppError
from app.core.interfaces import OutgoingMessage, SocialProfile
from app.core.plugins import PluginRegistry
from app.core.rate_limits import RateLimitScope, limit_email_change
from app.notifications.models import Notification
from app.notifications.service import notification_service
from app.signed_api.keys import revoke_all_api_keys

logger = logging.getLogger(__name__)

CURRENT_PASSWORD_INVALID = "UPDATE_USER_CURRENT_PASSWORD_INVALID"  # noqa: S105 - an error code


def is_common_password(password: str) -> bool:
    """Among the most common leaked passwords (zxcvbn's list of 30,000), whatever the case."""
    # Imported here: loading the list takes a while, and only setting a password needs it.
    from zxcvbn.matching import RANKED_DICTIONARIES

    return password.lower() in RANKED_DICTIONARIES["passwords"]


async def load_user(session: AsyncSession, user_id: int) -> User | None:
    """A user with its linked accounts, in one query (the relationship's own "selectin"
    loading would add a second)."""
    statement = select(User).options(joinedload(User.oauth_accounts)).filter_by(id=user_id)
    result = await session.execute(statement)
    return result.unique().scalar_one_or_none()


async def end_sessions(user: User, session: AsyncSession | None = None) -> None:
    """Refuse every token issued to the user so far (logout signs out everywhere), in
    `session` or the one the user is attached to."""
    session = session or async_object_session(user)
    if session is None:
        raise RuntimeError(f"user {user.id} is not attached to a database session")
    await session.execute(
        update(User)
        .filter_by(id=user.id)
        .values(session_generation=User.session_generation + 1)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    logger.info("user %s signed out of every session", user.id)


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

    # While set, a new or changed user is written but not committed: the user manager
    # commits it together with the mails the change causes.
    holding_commits = False

    async def create(self, create_dict: dict[str, Any]) -> User:
        if not self.holding_commits:
            return await super().create(create_dict)
        user = User(**create_dict)
        self.session.add(user)
        await self.session.flush()
        await self.session.refresh(user)
        return user

    async def update(self, user: User, update_dict: dict[str, Any]) -> User:
        if not self.holding_commits:
            return await super().update(user, update_dict)
        for key, value in update_dict.items():
            setattr(user, key, value)
        self.session.add(user)
        await self.session.flush()
        await self.session.refresh(user)
        return user

    async def get(self, id: int) -> User | None:
        return await load_user(self.session, id)

    async def get_by_email(self, email: str) -> User | None:
        # No address holds a NUL, and PostgreSQL cannot even compare text that does: a login
        # name with one is bad credentials, not a 500.
        if "\x00" in email:
            return None
        return await super().get_by_email(email)


class UserManager(IntegerIDMixin, BaseUserManager[User, int]):
    """fastapi-users' manager with our secrets, mails, password rules and OAuth profile.

    `mails` is where its account mails go (the outbox); without it (the operator's
    commands, which mail no one) a mail is an error.
    """

    user_db: UserDatabase

    def __init__(
        self,
        user_db: UserDatabase,
        *,
        settings: Settings,
        plugins: PluginRegistry,
        mails: AccountMails | None = None,
    ):
        super().__init__(
            user_db,
            password_helper=password_helper(
                settings.password_hash_time_cost, settings.password_hash_memory_kib
            ),
        )
        self.settings = settings
        self.plugins = plugins
        self.session = user_db.session
        self._mails = mails
        # Mails written in the transaction under way, enqueued once it is committed.
        self._uncommitted_mails: list[Notification] = []
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
        if is_common_password(password):
            raise exceptions.InvalidPasswordException(
                reason="This password is among the most common ones; choose another."
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
        language = mail_language(request, self.settings)
        await self._mail(verification_message(self.settings, user.email, token, language))

    async def on_after_forgot_password(
        self, user: User, token: str, request: Request | None = None
    ) -> None:
        language = mail_language(request, self.settings)
        await self._mail(password_reset_message(self.settings, user.email, token, language))

    @property
    def mails(self) -> AccountMails:
        if self._mails is None:
            raise RuntimeError("this user manager has no outbox for account mails")
        return self._mails

    async def _mail(self, message: OutgoingMessage) -> None:
        """Write an account mail into the transaction of the call under way (`_committed`)."""
        notification = await self.mails.add(message)
        if notification is not None:
            self._uncommitted_mails.append(notification)

    @asynccontextmanager
    async def _committed(self) -> AsyncIterator[None]:
        """Commit what the call changes with the mails it writes, in one transaction, then
        enqueue the mails.

        A crash before the commit leaves neither the change nor its mail; after it, both
        (the dispatcher enqueues a committed row whose message was never sent). A call
        inside another (register's verification mail) leaves the commit to the outer one.
        """
        if self.user_db.holding_commits:
            yield
            return
        self.user_db.holding_commits = True
        try:
            yield
            await self.session.commit()
        finally:
            self.user_db.holding_commits = False
            mails, self._uncommitted_mails = self._uncommitted_mails, []
        for notification in mails:
            await self.mails.enqueue(notification)

    async def create(
        self, user_create: Any, safe: bool = False, request: Request | None = None
    ) -> User:
        async with self._committed():
            return await super().create(user_create, safe, request)

    async def update(
        self, user_update: Any, user: User, safe: bool = False, request: Request | None = None
    ) -> User:
        async with self._committed():
            return await super().update(user_update, user, safe, request)

    async def forgot_password(self, user: User, request: Request | None = None) -> None:
        async with self._committed():
            await super().forgot_password(user, request)

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

    async def request_verify(self, user: User, request: Request | None = None) -> None:
        """No mail to an address a provider gave without vouching for it: that mail would
        let whoever owns the address verify an account someone else set up."""
        if user.email_unproven_from_provider:
            logger.info("user %s: no verification mail to an unproven provider email", user.id)
            return
        async with self._committed():
            await super().request_verify(user, request)

    async def verify(self, token: str, request: Request | None = None) -> User:
        try:
            data = decode_jwt(
                token, self.verification_token_secret, [self.verification_token_audience]
            )
            user = await self.get(self.parse_id(data["sub"]))
        except (jwt.PyJWTError, KeyError, exceptions.InvalidID, exceptions.UserNotExists):
            raise exceptions.InvalidVerifyToken() from None
        if user.email_unproven_from_provider:
            raise exceptions.InvalidVerifyToken()
        return await super().verify(token, request)

    async def on_after_reset_password(self, user: User, request: Request | None = None) -> None:
        # The reset mail reached the address's owner: whatever an unproven party set up on
        # the account (another sign-in, keys, a profile) goes, the new password stays.
        if not user.is_verified:
            await self._hand_over(user, "a password reset", keep_password=True)

    async def _update(self, user: User, update_dict: dict[str, Any]) -> User:
        """Every change of what proves the account (password, email) ends its sessions."""
        changes = dict(update_dict)
        new_password = changes.get("password") is not None
        new_email = "email" in changes and changes["email"] != user.email
        if new_password or new_email:
            changes["session_generation"] = User.session_generation + 1
        if new_email:
            # The new address gets the usual verification mail.
            changes["email_unproven_from_provider"] = False
        return await super()._update(user, changes)

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
        email that matches an existing user is refused (OAUTH_USER_ALREADY_EXISTS). A
        verified one that matches an unverified user hands the account to this sign-in
        (`_hand_over`): the provider just proved who owns the address.
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
        link = {
            "oauth_name": oauth_name,
            "access_token": access_token,
            "account_id": account_id,
            "account_email": account_email,
            "expires_at": expires_at,
            "refresh_token": refresh_token,
        }
        user = await self.user_db.get_by_oauth_account(oauth_name, account_id)
        if user is not None:
            user = await self._refresh_link(user, link)
        else:
            existing = await self.user_db.get_by_email(account_email)
            if existing is None:
                user = await self._create_from_provider(link, email_verified, request)
            elif not email_verified:
                raise exceptions.UserAlreadyExists()
            elif not existing.is_verified:
                await self._hand_over(existing, provider.name, link=link, profile=profile)
                return existing
            else:
                user = await self.user_db.add_oauth_account(existing, link)
        changes = profile_changes(user, provider.name, profile)
        if changes:
            user = await self.user_db.update(user, changes)
        return user

    async def _refresh_link(self, user: User, link: dict[str, Any]) -> User:
        """A returning sign-in: keep the provider's new tokens."""
        for account in user.oauth_accounts:
            if (
                account.oauth_name == link["oauth_name"]
                and account.account_id == link["account_id"]
            ):
                return await self.user_db.update_oauth_account(user, account, link)
        return user

    async def _create_from_provider(
        self, link: dict[str, Any], email_verified: bool, request: Request | None
    ) -> User:
        user = await self.user_db.create(
            {
                "email": link["account_email"],
                # No usable password: a provider-made account signs in through the provider.
                "hashed_password": self.password_helper.hash(self.password_helper.generate()),
                "is_verified": email_verified,
                "email_unproven_from_provider": not email_verified,
            }
        )
        user = await self.user_db.add_oauth_account(user, link)
        await self.on_after_register(user, request)
        return user

    async def _hand_over(
        self,
        user: User,
        proven_by: str,
        *,
        keep_password: bool = False,
        link: dict[str, Any] | None = None,
        profile: SocialProfile | None = None,
    ) -> None:
        """Give an unverified account to whoever just proved its email, in one transaction.

        Nothing that the unproven party set up survives: every other sign-in (the password
        unless the proof was a reset that set it, every linked provider: none of them proved
        the address, or the account would be verified), every token and cookie, every API
        key, the notifications sent with them and the profile. Then the proving provider
        (`proven_by`, with its `link` and `profile`), if any, is linked and fills the
        profile, and the account is verified.
        """
        session = self.session
        await revoke_all_api_keys(session, user.id)
        await session.execute(
            delete(Notification)
            .where(Notification.user_id == user.id)
            .execution_options(synchronize_session=False)
        )
        user.oauth_accounts.clear()  # delete-orphan: the links are deleted
        for field in PROFILE_FIELD_NAMES:
            setattr(user, field, None)
        if not keep_password:
            user.hashed_password = self.password_helper.hash(self.password_helper.generate())
        user.session_generation = User.session_generation + 1
        user.is_verified = True
        user.email_unproven_from_provider = False
        if link is not None:
            user.oauth_accounts.append(OAuthAccount(**link))
        if profile is not None:
            for field, value in profile_changes(user, proven_by, profile).items():
                setattr(user, field, value)
        await session.commit()
        await session.refresh(user)
        logger.warning(
            "user %s: email proven by %s; the unverified account's other sign-ins, sessions, "
            "keys, notifications and profile are removed",
            user.id,
            proven_by,
        )

    async def update_me(self, user: User, changes: MeUpdate, request: Request) -> User:
        """PATCH /users/me: the caller's own profile, email and password.

        A new password or email needs the current password: a stolen session alone must
        not lock the owner out.
        """
        values = changes.model_dump(exclude_unset=True)
        current_password = values.pop("current_password", None)
        if "password" in values or ("email" in values and values["email"] != user.email):
            # A guess at the current password is a login attempt: counted like one, per
            # account, so a stolen session cannot try passwords at full speed.
            await runtime_of(request).rate_limiter.check(RateLimitScope.LOGIN, f"user:{user.id}")
            self._check_current_password(user, current_password)
        await limit_email_change(
            runtime_of(request).rate_limiter, user.id, user.email, changes.email
        )
        update = UserUpdate.model_validate(values)
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

    def _check_current_password(self, user: User, current_password: str | None) -> None:
        verified = False
        if current_password:
            verified, _ = self.password_helper.verify_and_update(
                current_password, user.hashed_password
            )
        if not verified:
            raise AppError(
                "Send your current password as current_password to change your password or "
                "email. An account made by signing in with a provider has none: set one "
                "through forgot-password first.",
                code=CURRENT_PASSWORD_INVALID,
                detail=CURRENT_PASSWORD_INVALID,
            )


async def get_db_session(database: DatabaseDep) -> AsyncSession:
    """The request's session (the task-scoped one the CRUD mixin also uses).

    Async on purpose: a sync dependency runs in a worker thread, outside the request's task.
    """
    return database.scoped_session()


async def get_user_db(
    session: Annotated[AsyncSession, Depends(get_db_session)],
) -> UserDatabase:
    return UserDatabase(session, User, OAuthAccount)


async def get_user_manager(
    request: Request, user_db: Annotated[UserDatabase, Depends(get_user_db)]
) -> UserManager:
    runtime = runtime_of(request)
    # The mails go into the user's session: one transaction holds the change and its mail.
    outbox = notification_service(runtime, user_db.session)
    mails = AccountMails(outbox, runtime.rate_limiter)
    return UserManager(user_db, settings=runtime.settings, plugins=runtime.plugins, mails=mails)


UserManagerDep = Annotated[UserManager, Depends(get_user_manager)]
