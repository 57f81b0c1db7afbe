"""A holder's invitations of members by deep link: found by the keyed hash of their token,
never by the token."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flows.model import MemberInvitation
from storage.orm import member_invitations


class MemberInvitations:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, invitation: MemberInvitation) -> MemberInvitation:
        self.session.add(invitation)
        await self.session.flush()
        return invitation

    async def by_digest(self, digests: Collection[str]) -> MemberInvitation | None:
        result = await self.session.scalars(
            select(MemberInvitation)
            .where(member_invitations.c.token_hash.in_(list(digests)))
            .with_for_update()
        )
        return result.first()

    async def void_open(self, member_id: int, now: datetime) -> int:
        result = await self.session.execute(
            update(MemberInvitation)
            .where(
                member_invitations.c.member_id == member_id,
                member_invitations.c.opened_at.is_(None),
                member_invitations.c.withdrawn_at.is_(None),
            )
            .values(withdrawn_at=now)
            .execution_options(synchronize_session="fetch")
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
