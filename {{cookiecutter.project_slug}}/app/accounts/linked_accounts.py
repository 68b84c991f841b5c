"""Users' linked sign-in accounts, lent to plugins (the `LinkedAccounts` port of
app/core/interfaces.py) so that they never touch the account tables themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.accounts.models import OAuthAccount, User
from app.core.database import Database
from app.core.errors import DatabaseUnavailableError, is_database_unreachable
from app.core.interfaces import AccountHolder, LinkedAccount, LinkedAccountsUnavailable

# fastapi-users declares these models' columns as plain attributes for type checkers; the
# tables' columns are the typed way to name them in a query.
USERS = User.__table__.c
ACCOUNTS = OAuthAccount.__table__.c


def _linked(account: OAuthAccount) -> LinkedAccount:
    return LinkedAccount(
        id=account.id,
        user_id=account.user_id,
        provider=account.oauth_name,
        access_token=account.access_token,
        refresh_token=account.refresh_token,
        expires_at=account.expires_at,
    )


class DatabaseOutage(LinkedAccountsUnavailable, DatabaseUnavailableError):
    """The database is out of reach: a plugin retries later, and a request that asked (a
    notification being accepted) answers 503 like any other request during an outage."""


class DatabaseLinkedAccounts:
    """`LinkedAccounts` over the service's database: one short session per call."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        try:
            async with self.database.sessionmaker() as session:
                yield session
        except (SQLAlchemyError, OSError) as exc:
            reason = f"database unavailable ({type(exc).__name__})"
            if is_database_unreachable(exc):
                raise DatabaseOutage(reason, headers={"Retry-After": "1"}) from exc
            raise LinkedAccountsUnavailable(reason) from exc

    async def find_users(
        self,
        *,
        user_ids: Collection[int] = (),
        verified_emails: Collection[str] = (),
        linked_to: str | None = None,
    ) -> list[AccountHolder]:
        named: list[ColumnElement[bool]] = []
        if user_ids:
            named.append(USERS.id.in_(set(user_ids)))
        if verified_emails:
            lowered = {email.lower() for email in verified_emails}
            # Only an account that proved the address: one merely holding it must not
            # receive what was meant for the address's owner.
            named.append(and_(func.lower(USERS.email).in_(lowered), USERS.is_verified.is_(True)))
        if not named:
            return []
        query = select(USERS.id, USERS.email, USERS.is_active, USERS.is_superuser).where(
            or_(*named)
        )
        if linked_to is not None:
            query = query.where(
                exists().where(ACCOUNTS.user_id == USERS.id, ACCOUNTS.oauth_name == linked_to)
            )
        async with self._session() as session:
            rows = await session.execute(query)
            return [
                AccountHolder(
                    user_id=row.id,
                    email=row.email,
                    is_active=bool(row.is_active),
                    is_superuser=bool(row.is_superuser),
                )
                for row in rows
            ]

    async def linked_account(self, user_id: int, provider: str) -> LinkedAccount | None:
        async with self._session() as session:
            account = await session.scalar(
                select(OAuthAccount)
                .where(ACCOUNTS.user_id == user_id, ACCOUNTS.oauth_name == provider)
                .order_by(ACCOUNTS.id)
                .limit(1)
            )
            return None if account is None else _linked(account)

    async def save_tokens(
        self,
        account_id: int,
        *,
        access_token: str,
        expires_at: int | None,
        refresh_token: str | None = None,
    ) -> LinkedAccount | None:
        async with self._session() as session:
            account = await session.get(OAuthAccount, account_id)
            if account is None:
                return None
            account.access_token = access_token
            account.expires_at = expires_at
            if refresh_token:
                account.refresh_token = refresh_token
            await session.commit()
            return _linked(account)
