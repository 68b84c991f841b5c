"""Who a sign-in token names: the check every authenticated request runs.

Kept cheap because it runs on every such request:

- a token's signature and claims are checked once; the claims are then remembered by the
  exact token text until the token expires (a changed byte is a different token);
- the user and their linked accounts are read with one prepared statement (no ORM loading)
  at most once per `USER_CACHE_SECONDS` in each process (`WatchedCache`: a change made
  through this process, such as a logout or a deactivation, applies at once; one made by
  another process within `USER_CACHE_SECONDS`);
- each request gets a `User` of its own, built from the row, detached: a route that changes
  it adds it to the request's session, and no other request sees the change half-made.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import Column, bindparam, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import make_transient_to_detached

from app.accounts.models import OAuthAccount, User
from app.core.database import Database
from app.core.watched_cache import WatchedCache

# The claim that carries the user's session generation (see `User.session_generation`).
GENERATION_CLAIM = "gen"
# Tables whose writes can change what a cached user row says.
USER_TABLES = ("user", "oauth_account")
MAX_CACHED_USERS = 10_000
MAX_REMEMBERED_TOKENS = 10_000
LINKED = "linked_"


def _attributes(model: type[Any]) -> tuple[tuple[str, Column[Any]], ...]:
    """(attribute name, column) for each column a model maps."""
    return tuple((prop.key, prop.columns[0]) for prop in sa_inspect(model).column_attrs)


_USER_ATTRIBUTES = _attributes(User)
_ACCOUNT_ATTRIBUTES = _attributes(OAuthAccount)
_ACCOUNT_TABLE = OAuthAccount.__table__
# One statement object for the process: SQLAlchemy compiles it once and reuses the SQL.
_USER_WITH_ACCOUNTS = (
    select(
        *(column for _, column in _USER_ATTRIBUTES),
        *(column.label(f"{LINKED}{key}") for key, column in _ACCOUNT_ATTRIBUTES),
    )
    .outerjoin(_ACCOUNT_TABLE, _ACCOUNT_TABLE.c.user_id == User.__table__.c.id)
    .where(User.__table__.c.id == bindparam("user_id"))
    .order_by(_ACCOUNT_TABLE.c.id)
)


@dataclass(frozen=True, slots=True)
class UserRow:
    """A user and their linked accounts as one read found them; shared, never changed."""

    user: dict[str, Any]
    accounts: tuple[dict[str, Any], ...]

    def build(self) -> User:
        """A detached `User` of the caller's own, as if just loaded by a session."""
        accounts = []
        for values in self.accounts:
            account = OAuthAccount(**values)
            make_transient_to_detached(account)
            accounts.append(account)
        user = User(**self.user, oauth_accounts=accounts)
        make_transient_to_detached(user)
        return user


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    generation: int
    expires_at: float | None


class SignedInUsers:
    def __init__(
        self,
        database: Database,
        *,
        secret: str,
        audience: list[str],
        algorithm: str,
        cache_seconds: float,
    ) -> None:
        self.database = database
        self.secret = secret
        self.audience = audience
        self.algorithm = algorithm
        self.rows = WatchedCache[int, UserRow](
            cache_seconds, USER_TABLES, max_entries=MAX_CACHED_USERS
        )
        self.rows.watch(database)
        self._claims: OrderedDict[str, TokenClaims] = OrderedDict()

    async def user_of_token(self, token: str) -> User | None:
        """The user the token names, if the token is genuine, unexpired and of the user's
        current session generation; None otherwise (inactive users included: callers
        decide what an inactive user may do)."""
        claims = self.claims_of(token)
        if claims is None:
            return None
        row = await self.rows.get(claims.user_id, self._read_row)
        if row is None or row.user["session_generation"] != claims.generation:
            return None
        return row.build()

    def claims_of(self, token: str) -> TokenClaims | None:
        claims = self._claims.get(token)
        if claims is None:
            claims = self._verify(token)
            if claims is None:
                return None
            self._claims[token] = claims
            while len(self._claims) > MAX_REMEMBERED_TOKENS:
                self._claims.popitem(last=False)
        if claims.expires_at is not None and claims.expires_at <= time.time():
            self._claims.pop(token, None)
            return None
        return claims

    def _verify(self, token: str) -> TokenClaims | None:
        try:
            data = jwt.decode(
                token, self.secret, audience=self.audience, algorithms=[self.algorithm]
            )
        except jwt.PyJWTError:
            return None
        generation, subject, expires_at = (data.get(k) for k in (GENERATION_CLAIM, "sub", "exp"))
        # A token from before generations existed carries none: refused like an old one.
        if type(generation) is not int or not isinstance(subject, str) or not subject.isdigit():
            return None
        if expires_at is not None and not isinstance(expires_at, int | float):
            return None
        return TokenClaims(int(subject), generation, expires_at)

    async def _read_row(self, user_id: int) -> UserRow | None:
        async with self.database.autocommit_connection() as connection:
            result = await connection.execute(_USER_WITH_ACCOUNTS, {"user_id": user_id})
            rows = result.all()
        if not rows:
            return None
        first = rows[0]._mapping
        user = {key: first[column] for key, column in _USER_ATTRIBUTES}
        accounts = tuple(
            {key: row._mapping[f"{LINKED}{key}"] for key, _ in _ACCOUNT_ATTRIBUTES}
            for row in rows
            if row._mapping[f"{LINKED}id"] is not None
        )
        return UserRow(user, accounts)
