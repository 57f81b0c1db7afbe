"""Invitations by deep link: found by the keyed hash of their token, never by the token."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flows.model import Invitation
from storage.orm import invitations


class Invitations:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, invitation: Invitation) -> Invitation:
        self.session.add(invitation)
        await self.session.flush()
        return invitation

    async def by_digest(self, digests: Collection[str]) -> Invitation | None:
        result = await self.session.scalars(
            select(Invitation).where(invitations.c.token_hash.in_(list(digests))).with_for_update()
        )
        return result.first()

    async def latest_for(self, person_id: int) -> Invitation | None:
        result = await self.session.scalars(
            select(Invitation)
            .where(invitations.c.person_id == person_id)
            .order_by(invitations.c.created_at.desc(), invitations.c.id.desc())
            .limit(1)
        )
        return result.first()

    async def void_open(self, person_id: int, now: datetime) -> int:
        """Withdraw every invitation of the person whose link was not opened yet."""
        result = await self.session.execute(
            update(Invitation)
            .where(
                invitations.c.person_id == person_id,
                invitations.c.opened_at.is_(None),
                invitations.c.withdrawn_at.is_(None),
            )
            .values(withdrawn_at=now)
            .execution_options(synchronize_session="fetch")
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
