"""API keys: creating them (the secret shown once), their limits, status and whitelists.

Every function takes the caller's user id and reaches only that user's keys: anything
else is "not found", so nobody learns which ids exist.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.core.config import Settings
from app.core.errors import AppError, ConflictError, NotFoundError
from app.core.orm.base import BaseModel
from app.signed_api.models import ApiKey, ApiKeyStatus, ApiWhitelist
from app.signed_api.schemas import ApiKeyUpdate
from app.signed_api.secret_cipher import cipher_for

logger = logging.getLogger(__name__)

# 32 random bytes → 43 URL-safe characters; the secret's 40 bytes → 54 characters.
ACCESS_KEY_BYTES = 32
SECRET_KEY_BYTES = 40


def generate_access_key() -> str:
    return secrets.token_urlsafe(ACCESS_KEY_BYTES)


def generate_secret_key() -> str:
    return secrets.token_urlsafe(SECRET_KEY_BYTES)


def _key_not_found(key_id: int) -> NotFoundError:
    return NotFoundError(
        f"You have no API key {key_id}.", code="API_KEY_NOT_FOUND", detail={"key_id": key_id}
    )


async def _lock_row(session: AsyncSession, model: type[BaseModel], row_id: int) -> None:
    """Hold the row's write lock until the transaction ends, so that concurrent limit checks
    run one after the other. A no-op UPDATE, because SQLite has no SELECT ... FOR UPDATE."""
    await session.execute(
        update(model)
        .where(model.id == row_id)
        .values(updated_at=model.updated_at)
        .execution_options(synchronize_session=False)
    )


async def _check_key_limit(session: AsyncSession, settings: Settings, user_id: int) -> None:
    """Every key not deleted counts, stopped ones too: stopping a key and making another
    must not add up to more keys than the limit."""
    await _lock_row(session, User, user_id)
    # A locking read sees what was committed meanwhile; a plain read on MySQL would see the
    # snapshot taken at this transaction's first read (loading the signed-in user).
    kept_ids = await session.scalars(
        select(ApiKey.id)
        .where(ApiKey.user_id == user_id, ApiKey.deleted_at.is_(None))
        .with_for_update()
    )
    kept = len(kept_ids.all())
    limit = settings.max_active_api_keys
    if kept >= limit:
        raise ConflictError(
            f"You already have {kept} API keys (active or stopped), the most allowed "
            f"({limit}). Delete one first.",
            code="API_KEY_LIMIT_REACHED",
            detail={"limit": limit, "keys": kept},
        )


def check_may_create_keys(user: User) -> None:
    """Only an account whose email is proven gets keys: an unproven one may be a squatter's
    (someone else's address), and a key would outlive the owner taking the account back."""
    if not user.is_verified:
        raise AppError(
            "Verify your email address before creating API keys.",
            code="ACCOUNT_UNVERIFIED",
            status_code=403,
        )


def revoked() -> dict[str, Any]:
    """What a revoked key's row holds: marked deleted (requests signed with it are told it
    is inactive, not unknown), stopped, and without its secret, so it never works again."""
    return {
        "deleted_at": datetime.now(UTC),
        "status": ApiKeyStatus.STOPPED.value,
        "encrypted_secret": "",
    }


async def revoke_api_key(session: AsyncSession, api_key: ApiKey) -> None:
    """Revoke one key for good; the caller commits."""
    await api_key.update(session=session, **revoked())


async def revoke_all_api_keys(session: AsyncSession, user_id: int) -> None:
    """Revoke every key of the user; the caller commits."""
    await session.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.deleted_at.is_(None))
        .values(**revoked())
        .execution_options(synchronize_session=False)
    )


async def list_api_keys(session: AsyncSession, user_id: int) -> list[ApiKey]:
    return await (
        ApiKey.filter_by(session=session, user_id=user_id, deleted_at__isnull=True)
        .order_by("id")
        .all()
    )


async def get_api_key(session: AsyncSession, user_id: int, key_id: int) -> ApiKey:
    api_key = await ApiKey.filter_by(
        session=session, id=key_id, user_id=user_id, deleted_at__isnull=True
    ).first()
    if api_key is None:
        raise _key_not_found(key_id)
    return api_key


async def create_api_key(
    session: AsyncSession, settings: Settings, user_id: int, memo: str | None
) -> tuple[ApiKey, str]:
    """The new key and its secret, which is not kept readable anywhere but in the answer."""
    await _check_key_limit(session, settings, user_id)
    secret_key = generate_secret_key()
    api_key = await ApiKey.create(
        session=session,
        user_id=user_id,
        access_key=generate_access_key(),
        encrypted_secret=cipher_for(settings).encrypt(secret_key),
        memo=memo,
        status=ApiKeyStatus.ACTIVE.value,
    )
    await session.commit()
    logger.info("user %s created API key %s", user_id, api_key.id)
    return api_key, secret_key


async def update_api_key(
    session: AsyncSession, settings: Settings, user_id: int, key_id: int, changes: ApiKeyUpdate
) -> ApiKey:
    # A stopped key already counts toward the limit: starting it again needs no check.
    api_key = await get_api_key(session, user_id, key_id)
    values = changes.model_dump(exclude_unset=True)
    if values:
        await api_key.update(session=session, **values)
    await session.commit()
    return api_key


async def delete_api_key(session: AsyncSession, user_id: int, key_id: int) -> None:
    """Keeps the row (requests signed with it are told it is inactive), drops the secret."""
    await revoke_api_key(session, await get_api_key(session, user_id, key_id))
    await session.commit()
    logger.info("user %s deleted API key %s", user_id, key_id)


async def list_whitelist(session: AsyncSession, user_id: int, key_id: int) -> list[ApiWhitelist]:
    api_key = await get_api_key(session, user_id, key_id)
    return await ApiWhitelist.filter_by(session=session, api_key_id=api_key.id).order_by("id").all()


async def add_whitelist_entry(
    session: AsyncSession, settings: Settings, user_id: int, key_id: int, ip_address: str
) -> ApiWhitelist:
    """`ip_address` comes normalized from the request schema."""
    api_key = await get_api_key(session, user_id, key_id)
    await _lock_row(session, ApiKey, api_key.id)
    listed = ApiWhitelist.filter_by(session=session, api_key_id=api_key.id).statement
    existing = (await session.scalars(listed.with_for_update())).all()
    if any(entry.ip_address == ip_address for entry in existing):
        raise _entry_exists(ip_address)
    limit = settings.max_whitelist_entries
    if len(existing) >= limit:
        raise ConflictError(
            f"API key {key_id} already has {len(existing)} whitelist entries, the most "
            f"allowed ({limit}). Remove one first, or use a CIDR range.",
            code="WHITELIST_LIMIT_REACHED",
            detail={"limit": limit},
        )
    try:
        entry = await ApiWhitelist.create(
            session=session, api_key_id=api_key.id, ip_address=ip_address
        )
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise _entry_exists(ip_address) from None
    return entry


def _entry_exists(ip_address: str) -> ConflictError:
    return ConflictError(
        f"{ip_address} is already on this key's whitelist.",
        code="WHITELIST_ENTRY_EXISTS",
        detail={"ip_address": ip_address},
    )


async def remove_whitelist_entry(
    session: AsyncSession, user_id: int, key_id: int, entry_id: int
) -> None:
    api_key = await get_api_key(session, user_id, key_id)
    entry = await ApiWhitelist.filter_by(
        session=session, id=entry_id, api_key_id=api_key.id
    ).first()
    if entry is None:
        raise NotFoundError(
            f"API key {key_id} has no whitelist entry {entry_id}.",
            code="WHITELIST_ENTRY_NOT_FOUND",
            detail={"key_id": key_id, "entry_id": entry_id},
        )
    await entry.delete(session=session)
    await session.commit()
