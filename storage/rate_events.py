"""Counted events for sliding-window limits (code requests, wrong attempts)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flows.model import RateEvent
from storage.orm import rate_events


class RateEvents:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def since(self, key: str, since: datetime) -> tuple[int, datetime | None]:
        """How many events ``key`` has after ``since``, and when the oldest of them was."""
        count, oldest = (
            await self.session.execute(
                select(func.count(rate_events.c.id), func.min(rate_events.c.at)).where(
                    rate_events.c.key == key, rate_events.c.at > since
                )
            )
        ).one()
        if isinstance(oldest, str):  # SQLite hands back text for an aggregate
            oldest = datetime.fromisoformat(oldest)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        return int(count), oldest

    async def add(self, key: str, at: datetime) -> None:
        self.session.add(RateEvent(key=key, at=at))
        await self.session.flush()

    async def forget_before(self, moment: datetime, limit: int) -> int:
        """Forget at most ``limit`` of the events from before ``moment``; how many."""
        oldest = select(rate_events.c.id).where(rate_events.c.at < moment).limit(limit)
        result = await self.session.execute(delete(rate_events).where(rate_events.c.id.in_(oldest)))
        return int(getattr(result, "rowcount", 0) or 0)
