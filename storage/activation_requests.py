"""Activation-code requests: the staff's queue of codes to release (seed 002)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flows.domain import ActivationStatus
from flows.model import ActivationRequest
from storage.orm import activation_requests


class ActivationRequests:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, request: ActivationRequest) -> ActivationRequest:
        self.session.add(request)
        await self.session.flush()
        return request

    async def get(self, request_id: int) -> ActivationRequest | None:
        result = await self.session.scalars(
            select(ActivationRequest)
            .where(activation_requests.c.id == request_id)
            .execution_options(populate_existing=True)
        )
        return result.first()

    async def by_number(self, organization_id: int, number: int) -> ActivationRequest | None:
        result = await self.session.scalars(
            select(ActivationRequest).where(
                activation_requests.c.organization_id == organization_id,
                activation_requests.c.number == number,
            )
        )
        return result.first()

    @staticmethod
    def _with(organization_id: int, status: ActivationStatus, since: datetime | None) -> Any:
        condition = (activation_requests.c.organization_id == organization_id) & (
            activation_requests.c.status == status
        )
        if since is not None:
            condition &= activation_requests.c.created_at >= since
        return condition

    async def with_status(
        self,
        organization_id: int,
        status: ActivationStatus,
        since: datetime | None = None,
        *,
        offset: int = 0,
        limit: int | None = None,
    ) -> Sequence[ActivationRequest]:
        """Requests in ``status`` (made since ``since``) by number, ``limit`` from ``offset``."""
        query = (
            select(ActivationRequest)
            .where(self._with(organization_id, status, since))
            .order_by(activation_requests.c.number)
            .offset(offset)
            .limit(limit)
        )
        return (await self.session.scalars(query)).all()

    async def count_with_status(
        self, organization_id: int, status: ActivationStatus, since: datetime | None = None
    ) -> int:
        query = (
            select(func.count())
            .select_from(activation_requests)
            .where(self._with(organization_id, status, since))
        )
        return int(await self.session.scalar(query) or 0)

    async def decide(
        self,
        request_id: int,
        verdict: ActivationStatus,
        decided_by_id: int,
        now: datetime,
        reason: str | None,
    ) -> bool:
        """Record the verdict only if nobody decided first; True when this call won."""
        values: dict[str, object] = {
            "status": verdict,
            "decided_by_id": decided_by_id,
            "decided_at": now,
        }
        if reason is not None:
            values["reason"] = reason
        result = await self.session.execute(
            update(ActivationRequest)
            .where(
                activation_requests.c.id == request_id,
                activation_requests.c.status == ActivationStatus.AWAITING_RELEASE,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]
