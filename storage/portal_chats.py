"""The chats of customer portal accounts (``portal_chats``) and the accounts' members
(``account_members``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flows.model import AccountMember, MemberInvitation, PortalChat
from storage.orm import account_members, customers, member_invitations, portal_chats


class PortalChats:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, telegram_user_id: int) -> PortalChat | None:
        return await self.session.get(PortalChat, telegram_user_id)

    async def of_customer(self, customer_id: int) -> Sequence[PortalChat]:
        result = await self.session.scalars(
            select(PortalChat)
            .where(portal_chats.c.customer_id == customer_id)
            .order_by(portal_chats.c.linked_at, portal_chats.c.telegram_user_id)
        )
        return result.all()

    async def link(
        self,
        telegram_user_id: int,
        customer_id: int,
        now: datetime,
        *,
        member_id: int | None = None,
        device_name: str | None = None,
    ) -> PortalChat:
        await self.unlink(telegram_user_id)
        chat = PortalChat(
            telegram_user_id=telegram_user_id,
            customer_id=customer_id,
            member_id=member_id,
            linked_at=now,
            device_name=device_name,
            last_used_at=now,
        )
        self.session.add(chat)
        await self.session.flush()
        return chat

    async def unlink(self, telegram_user_id: int) -> None:
        existing = await self.session.get(PortalChat, telegram_user_id)
        if existing is not None:
            await self.session.delete(existing)
            await self.session.flush()


class Members:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, member_id: int) -> AccountMember | None:
        return await self.session.get(AccountMember, member_id)

    async def of_customer(self, customer_id: int) -> Sequence[AccountMember]:
        result = await self.session.scalars(
            select(AccountMember)
            .where(account_members.c.customer_id == customer_id)
            .order_by(account_members.c.id)
        )
        return result.all()

    async def by_email(self, organization_id: int, email: str) -> Sequence[AccountMember]:
        result = await self.session.scalars(
            select(AccountMember)
            .join(customers, customers.c.id == account_members.c.customer_id)
            .where(
                func.lower(account_members.c.email) == email.lower(),
                customers.c.organization_id == organization_id,
            )
        )
        return result.all()

    async def add(self, member: AccountMember) -> AccountMember:
        self.session.add(member)
        await self.session.flush()
        return member

    async def remove(self, member: AccountMember) -> None:
        await self.session.execute(delete(PortalChat).where(portal_chats.c.member_id == member.id))
        await self.session.execute(
            delete(MemberInvitation).where(member_invitations.c.member_id == member.id)
        )
        await self.session.delete(member)
        await self.session.flush()
