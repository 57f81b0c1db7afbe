"""Pending two-person offboardings: one manager asks, a different one confirms or refuses."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flows.domain import OffboardStatus
from flows.model import OffboardRequest
from storage.orm import offboard_requests


class OffboardRequests:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, request: OffboardRequest) -> OffboardRequest:
        self.session.add(request)
        await self.session.flush()
        return request

    async def get(self, request_id: int) -> OffboardRequest | None:
        result = await self.session.scalars(
            select(OffboardRequest)
            .where(offboard_requests.c.id == request_id)
            .execution_options(populate_existing=True)
        )
        return result.first()

    async def pending_for(self, subject_person_id: int) -> OffboardRequest | None:
        result = await self.session.scalars(
            select(OffboardRequest).where(
                offboard_requests.c.subject_person_id == subject_person_id,
                offboard_requests.c.status == OffboardStatus.PENDING,
            )
        )
        return result.first()

    async def decide(
        self, request_id: int, verdict: OffboardStatus, decided_by_id: int, now: datetime
    ) -> bool:
        """Record the verdict only if nobody decided first; True when this call won."""
        result = await self.session.execute(
            update(OffboardRequest)
            .where(
                offboard_requests.c.id == request_id,
                offboard_requests.c.status == OffboardStatus.PENDING,
            )
            .values(status=verdict, decided_by_id=decided_by_id, decided_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]
