"""A linked device's pairing links: found by the keyed hash of their token, never by it."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flows.model import DevicePairing
from storage.orm import device_pairings


class DevicePairings:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, pairing: DevicePairing) -> DevicePairing:
        self.session.add(pairing)
        await self.session.flush()
        return pairing

    async def by_digest(self, digests: Collection[str]) -> DevicePairing | None:
        result = await self.session.scalars(
            select(DevicePairing)
            .where(device_pairings.c.token_hash.in_(list(digests)))
            .with_for_update()
        )
        return result.first()

    async def get(self, pairing_id: int) -> DevicePairing | None:
        return await self.session.get(DevicePairing, pairing_id)

    async def void_open(self, owner: str, now: datetime) -> int:
        """Void every pairing link of the account that no chat opened yet."""
        result = await self.session.execute(
            update(DevicePairing)
            .where(
                device_pairings.c.owner == owner,
                device_pairings.c.used_at.is_(None),
                device_pairings.c.voided_at.is_(None),
            )
            .values(voided_at=now)
            .execution_options(synchronize_session="fetch")
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
