"""Checking a signed request: who sent it, and whether to believe it.

The checks run cheapest and least revealing first, and nothing is written before the
signature holds:

1. the four headers are there and well formed      401 SIGNATURE_MISSING / SIGNATURE_INVALID
2. the timestamp is within the window              401 SIGNATURE_EXPIRED
3. the access key exists and is active             401 API_KEY_INVALID / API_KEY_INACTIVE
4. the signature matches (constant time)           401 SIGNATURE_INVALID
5. the client address is on the key's whitelist    403 IP_NOT_WHITELISTED
6. the key's account is active and verified        403 ACCOUNT_INACTIVE / ACCOUNT_UNVERIFIED
7. the nonce is new (and is spent now)             401 SIGNATURE_REPLAYED

So a forged request spends no nonce (it fails at 4) and learns nothing about the account,
and a replay of a genuine one passes 1-6 and is refused at 7.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from app import PROJECT_SLUG
from app.accounts.models import User
from app.core.client_address import is_whitelisted
from app.core.config import Settings
from app.core.database import Database
from app.core.errors import AppError
from app.signed_api.key_cache import KEEPS_KEY_CACHE, KeyCache, KeyOwner, KnownKey
from app.signed_api.models import ApiKey
from app.signed_api.nonces import NonceStore
from app.signed_api.secret_cipher import SecretUnreadableError, cipher_for
from app.signed_api.signature import (
    API_KEY_HEADER,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    SIGNATURE_HEADERS,
    TIMESTAMP_HEADER,
    is_valid_nonce,
    is_valid_timestamp,
    sign,
    signatures_match,
)

# Under the service's own logger, so that its handler (and whoever reads it) sees these.
logger = logging.getLogger(f"{PROJECT_SLUG}.signed_api")

# fastapi-users declares the user's columns as plain attributes for type checkers; the
# table's columns are the typed way to name them in a query.
USERS = User.__table__.c

# `last_used_at` is a hint for the key's owner: writing it once a minute is enough.
LAST_USED_PRECISION = timedelta(seconds=60)


class SignedRequestError(AppError):
    status_code = 401
    code = "SIGNATURE_INVALID"


class IpNotWhitelistedError(AppError):
    status_code = 403
    code = "IP_NOT_WHITELISTED"


class AccountNotAllowedError(AppError):
    """The key is fine, but its account may not use the API (yet, or any more)."""

    status_code = 403
    code = "ACCOUNT_UNVERIFIED"


@dataclass(frozen=True, slots=True)
class ApiCaller:
    """Who sent a verified signed request."""

    api_key: ApiKey
    user_id: int
    client_address: str | None
    # An operator: some channels let its keys reach other users (see RecipientRule).
    is_superuser: bool = False

    @property
    def api_key_id(self) -> int:
        return self.api_key.id


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """The parts of a request the signature covers, as the server received them."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    client_address: str | None
    read_body: Callable[[], Awaitable[bytes]]


async def authenticate_signed_request(
    request: SignedRequest,
    *,
    settings: Settings,
    database: Database,
    nonce_store: NonceStore,
    key_cache: KeyCache,
    now: float | None = None,
) -> ApiCaller:
    now = time.time() if now is None else now
    access_key, timestamp, nonce, signature = _read_headers(request.headers)

    tolerance = settings.signature_tolerance_seconds
    if abs(now - int(timestamp)) > tolerance:
        raise SignedRequestError(
            f"{TIMESTAMP_HEADER} is more than {tolerance} seconds away from the server's "
            "clock: sign the request again (and check the client's clock).",
            code="SIGNATURE_EXPIRED",
            detail={"server_time": int(now), "tolerance_seconds": tolerance},
        )

    known = await key_cache.get(access_key, partial(_load_key, database, settings))
    if known is None:
        raise SignedRequestError("This API key does not exist.", code="API_KEY_INVALID")
    api_key, owner = known.api_key, known.owner
    if not api_key.is_active:
        state = "deleted" if api_key.deleted_at is not None else "stopped"
        raise SignedRequestError(f"This API key is {state}.", code="API_KEY_INACTIVE")

    secret_key = known.secret_key
    if secret_key is None:
        logger.error("API key %s: its secret cannot be decrypted", api_key.id)
        raise AppError(
            "The server cannot check this key's signatures now.",
            code="API_KEY_UNREADABLE",
            status_code=500,
        )
    expected = sign(
        secret_key,
        method=request.method,
        path=request.path,
        query=request.query,
        timestamp=timestamp,
        nonce=nonce,
        body=await request.read_body(),
    )
    if not signatures_match(expected, signature):
        raise SignedRequestError(
            "The signature does not match this request: check the secret key and that "
            "method, path, query, timestamp, nonce and body are signed exactly as sent.",
            code="SIGNATURE_INVALID",
        )

    if known.whitelist and not is_whitelisted(request.client_address, known.whitelist):
        raise IpNotWhitelistedError(
            f"Requests from {request.client_address or 'an unknown address'} are not on "
            "this API key's whitelist.",
            detail={"client_address": request.client_address},
        )

    _check_owner(owner)

    if not await nonce_store.use(api_key, nonce, int(timestamp) + tolerance):
        # A client retrying a request it already sent, or someone replaying a captured
        # one: worth a look, not a failure of the service.
        logger.warning("API key %s: a signature nonce was used again; refused", api_key.id)
        raise SignedRequestError(
            f"This {NONCE_HEADER} was already used: every request needs a new nonce.",
            code="SIGNATURE_REPLAYED",
        )

    await _record_use(database, api_key, datetime.fromtimestamp(now, UTC))
    return ApiCaller(
        api_key=api_key,
        user_id=api_key.user_id,
        client_address=request.client_address,
        is_superuser=owner.is_superuser,
    )


def _check_owner(owner: KeyOwner) -> None:
    if not owner.is_active:
        raise AccountNotAllowedError(
            "The account this API key belongs to is deactivated.", code="ACCOUNT_INACTIVE"
        )
    if not owner.is_verified:
        raise AccountNotAllowedError(
            "The account this API key belongs to has no verified email address: verify it "
            "(POST /api/v1/auth/request-verify-token) before using the API.",
            code="ACCOUNT_UNVERIFIED",
        )


def _read_headers(headers: Mapping[str, str]) -> tuple[str, str, str, str]:
    values = {name: headers.get(name, "").strip() for name in SIGNATURE_HEADERS}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise SignedRequestError(
            f"Signed requests need the headers {', '.join(SIGNATURE_HEADERS)}; "
            f"missing: {', '.join(missing)}.",
            code="SIGNATURE_MISSING",
            detail={"missing": missing},
        )
    timestamp, nonce = values[TIMESTAMP_HEADER], values[NONCE_HEADER]
    if not is_valid_timestamp(timestamp):
        raise SignedRequestError(
            f"{TIMESTAMP_HEADER} must be Unix time in whole seconds.",
            code="SIGNATURE_INVALID",
            detail={"header": TIMESTAMP_HEADER},
        )
    if not is_valid_nonce(nonce):
        raise SignedRequestError(
            f"{NONCE_HEADER} must be 16 to 64 characters of A-Z, a-z, 0-9, _ and -.",
            code="SIGNATURE_INVALID",
            detail={"header": NONCE_HEADER},
        )
    return values[API_KEY_HEADER], timestamp, nonce, values[SIGNATURE_HEADER]


async def _load_key(database: Database, settings: Settings, access_key: str) -> KnownKey | None:
    # Its own short session: the endpoint's transaction starts clean, and the loaded key
    # (whitelist included) stays readable after the session closes. The owner's flags come
    # in the same query.
    async with database.sessionmaker() as session:
        row = (
            await session.execute(
                select(ApiKey, USERS.is_active, USERS.is_verified, USERS.is_superuser)
                .join(User, USERS.id == ApiKey.user_id)
                .where(ApiKey.access_key == access_key)
            )
        ).first()
    if row is None:
        return None
    api_key, is_active, is_verified, is_superuser = row
    try:
        secret_key: str | None = cipher_for(settings).decrypt(api_key.encrypted_secret)
    except SecretUnreadableError:
        secret_key = None
    return KnownKey(
        api_key=api_key,
        owner=KeyOwner(bool(is_active), bool(is_verified), bool(is_superuser)),
        whitelist=tuple(entry.ip_address for entry in api_key.whitelist),
        secret_key=secret_key,
    )


async def _record_use(database: Database, api_key: ApiKey, now: datetime) -> None:
    last_used = api_key.last_used_at
    if last_used is not None and now - last_used < LAST_USED_PRECISION:
        return
    async with database.sessionmaker() as session:
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == api_key.id)
            # Being used is not a change to the key: keep `updated_at` as it is.
            .values(last_used_at=now, updated_at=ApiKey.updated_at)
            .execution_options(**{KEEPS_KEY_CACHE: True})
        )
        await session.commit()
    set_committed_value(api_key, "last_used_at", now)
