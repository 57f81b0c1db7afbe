"""The API keys portals use for ``/api/v1/verify``: only their hashes are kept."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from flows.model import ApiKey
from storage.orm import api_keys


class ApiKeys:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        await self.session.flush()
        return key

    async def by_hash(self, key_hash: str) -> ApiKey | None:
        result = await self.session.scalars(select(ApiKey).where(api_keys.c.key_hash == key_hash))
        return result.first()

    async def of_organization(self, organization_id: int) -> Sequence[ApiKey]:
        result = await self.session.scalars(
            select(ApiKey)
            .where(api_keys.c.organization_id == organization_id)
            .order_by(api_keys.c.id)
        )
        return result.all()

    async def get(self, key_id: int) -> ApiKey | None:
        return await self.session.get(ApiKey, key_id)

    async def used(self, key: ApiKey, now: datetime) -> None:
        key.last_used_at = now
