"""The suppression list: recipients delivery must not send to (hard bounces, complaints).

Plugins add to it through the `SuppressionList` port (app/core/interfaces.py), found on
`Runtime.suppressions` (`SuppressionsDep` in a route); delivery reads it when it claims
notifications.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.database import Database
from app.core.interfaces import Suppression
from app.notifications.models import SUPPRESSION_DETAIL_LENGTH, SuppressedRecipient

# Addresses per lookup: well under every database's limit on bound parameters.
LOOKUP_CHUNK = 500


def normalised(address: str) -> str:
    """How an address is stored and compared: `Ann@Example.com` is `ann@example.com`."""
    return address.strip().lower()


class Suppressions:
    """The suppression list in the service's database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def suppress(self, entries: Sequence[Suppression]) -> int:
        """Add the entries; an address already listed keeps its first reason. How many
        were new."""
        unique = {(entry.channel, normalised(entry.address)): entry for entry in entries}
        added = 0
        for (channel, address), entry in unique.items():
            if not address:
                continue
            async with self.database.sessionmaker() as session:
                listed = await session.scalar(
                    select(SuppressedRecipient.id).where(
                        SuppressedRecipient.channel == channel,
                        SuppressedRecipient.address == address,
                    )
                )
                if listed is not None:
                    continue
                session.add(
                    SuppressedRecipient(
                        channel=channel,
                        address=address,
                        reason=entry.reason.value,
                        detail=(entry.detail or "")[:SUPPRESSION_DETAIL_LENGTH] or None,
                    )
                )
                try:
                    await session.commit()
                except IntegrityError:  # added by another request meanwhile
                    await session.rollback()
                    continue
            added += 1
        return added

    async def reason_for(self, channel: str, address: str) -> str | None:
        """Why `address` is suppressed on `channel`, or None when it is not."""
        async with self.database.engine.connect() as connection:
            found = await suppressed_among(connection, [(channel, address)])
        return found.get((channel, normalised(address)))


async def suppressed_among(
    connection: AsyncConnection, recipients: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """(channel, lower-case address) → why it is suppressed, for the listed ones among
    `recipients` (channel, address as written)."""
    wanted = sorted({(channel, normalised(address)) for channel, address in recipients})
    found: dict[tuple[str, str], str] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        rows = await connection.execute(
            select(
                SuppressedRecipient.channel,
                SuppressedRecipient.address,
                SuppressedRecipient.reason,
                SuppressedRecipient.detail,
            ).where(tuple_(SuppressedRecipient.channel, SuppressedRecipient.address).in_(chunk))
        )
        for channel, address, reason, detail in rows:
            found[(channel, address)] = f"{reason}: {detail}" if detail else reason
    return found
