"""Notices from an organization's staff (``announcements``), whom they reach, and the weekly
digest runs with the recipients each has reached (``digest_runs``, ``digest_deliveries``)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime

from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from flows.domain import AccountStatus, OutboxStatus
from flows.model import (
    Announcement,
    Customer,
    DigestDelivery,
    DigestRun,
    Office,
    Organization,
    Person,
)
from storage.orm import (
    announcements,
    customers,
    digest_deliveries,
    digest_runs,
    offices,
    outbox,
    people,
    person_offices,
)


class Announcements:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, announcement: Announcement) -> Announcement:
        self.session.add(announcement)
        await self.session.flush()
        return announcement

    async def get(self, announcement_id: int) -> Announcement | None:
        return await self.session.get(Announcement, announcement_id)

    _BEING_QUEUED = (announcements.c.urgent.is_(True), announcements.c.queued_at.is_(None))
    """An urgent notice whose audience is not all queued yet."""

    async def to_queue(self, announcement_id: int) -> Announcement | None:
        result = await self.session.scalars(
            select(Announcement)
            .where(announcements.c.id == announcement_id, *self._BEING_QUEUED)
            .with_for_update()
        )
        return result.first()

    async def queuing(self, limit: int = 100) -> Sequence[int]:
        result = await self.session.scalars(
            select(announcements.c.id)
            .where(*self._BEING_QUEUED)
            .order_by(announcements.c.id)
            .limit(limit)
        )
        return result.all()

    async def offices(self, organization_id: int) -> Sequence[Office]:
        result = await self.session.scalars(
            select(Office)
            .where(offices.c.organization_id == organization_id)
            .order_by(offices.c.name)
        )
        return result.all()

    async def office(self, organization_id: int, office_id: int) -> Office | None:
        return (
            await self.session.scalars(
                select(Office).where(
                    offices.c.id == office_id, offices.c.organization_id == organization_id
                )
            )
        ).one_or_none()

    @staticmethod
    def _activated(organization_id: int) -> tuple[ColumnElement[bool], ...]:
        return (
            customers.c.organization_id == organization_id,
            customers.c.account_active.is_(True),
            customers.c.blocked.is_(False),
        )

    async def customers(
        self, organization_id: int, *, after: int = 0, limit: int = 500
    ) -> Sequence[Customer]:
        result = await self.session.scalars(
            select(Customer)
            .where(*self._activated(organization_id), customers.c.id > after)
            .order_by(customers.c.id)
            .limit(limit)
        )
        return result.all()

    async def count_customers(self, organization_id: int) -> int:
        query = select(func.count()).select_from(customers).where(*self._activated(organization_id))
        return int(await self.session.scalar(query) or 0)

    @staticmethod
    def _active(
        organization_id: int, today: date, office_id: int | None
    ) -> tuple[ColumnElement[bool], ...]:
        conditions: tuple[ColumnElement[bool], ...] = (
            people.c.organization_id == organization_id,
            people.c.status == AccountStatus.ACTIVE,
            or_(people.c.out_of_service_on.is_(None), people.c.out_of_service_on > today),
        )
        if office_id is not None:
            in_office = exists().where(
                person_offices.c.person_id == people.c.id, person_offices.c.office_id == office_id
            )
            conditions = (*conditions, in_office)
        return conditions

    async def people(
        self,
        organization_id: int,
        today: date,
        *,
        office_id: int | None = None,
        after: int = 0,
        limit: int = 500,
    ) -> Sequence[Person]:
        result = await self.session.scalars(
            select(Person)
            .where(*self._active(organization_id, today, office_id), people.c.id > after)
            .order_by(people.c.id)
            .limit(limit)
        )
        return result.all()

    async def count_people(
        self, organization_id: int, today: date, office_id: int | None = None
    ) -> int:
        query = (
            select(func.count())
            .select_from(people)
            .where(*self._active(organization_id, today, office_id))
        )
        return int(await self.session.scalar(query) or 0)

    async def undigested(self, organization_id: int, until: datetime) -> Sequence[Announcement]:
        result = await self.session.scalars(
            select(Announcement)
            .where(
                announcements.c.organization_id == organization_id,
                announcements.c.urgent.is_(False),
                announcements.c.digest_week.is_(None),
                announcements.c.created_at <= until,
            )
            .order_by(announcements.c.id)
        )
        return result.all()

    async def in_digest(self, organization_id: int, week: str) -> Sequence[Announcement]:
        result = await self.session.scalars(
            select(Announcement)
            .where(
                announcements.c.organization_id == organization_id,
                announcements.c.urgent.is_(False),
                announcements.c.digest_week == week,
            )
            .order_by(announcements.c.id)
        )
        return result.all()

    async def unreported(self, limit: int = 100) -> Sequence[Announcement]:
        result = await self.session.scalars(
            select(Announcement)
            .where(
                announcements.c.reported_at.is_(None),
                announcements.c.urgent.is_(True),
                announcements.c.queued_at.is_not(None),
            )
            .order_by(announcements.c.id)
            .limit(limit)
        )
        return result.all()

    async def delivery_counts(self, announcement_id: int) -> dict[OutboxStatus, int]:
        rows = await self.session.execute(
            select(outbox.c.status, func.count())
            .where(outbox.c.announcement_id == announcement_id)
            .group_by(outbox.c.status)
        )
        counts = dict.fromkeys(OutboxStatus, 0)
        for status, count in rows.tuples():
            counts[OutboxStatus(status)] = int(count)
        return counts


class Digests:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def organizations(self) -> Sequence[Organization]:
        return (await self.session.scalars(select(Organization).order_by("id"))).all()

    async def run(self, organization_id: int, week: str) -> DigestRun | None:
        return (
            await self.session.scalars(
                select(DigestRun).where(
                    digest_runs.c.organization_id == organization_id, digest_runs.c.week == week
                )
            )
        ).one_or_none()

    async def start(
        self, organization_id: int, week: str, due_at: datetime, now: datetime
    ) -> DigestRun | None:
        run = DigestRun(
            organization_id=organization_id, week=week, due_at=due_at, started_at=now, recipients=0
        )
        try:
            async with self.session.begin_nested():
                self.session.add(run)
                await self.session.flush()
        except IntegrityError:
            return None
        return run

    async def queued(
        self, organization_id: int, week: str, owner_keys: Collection[str]
    ) -> set[str]:
        if not owner_keys:
            return set()
        result = await self.session.scalars(
            select(digest_deliveries.c.owner_key).where(
                digest_deliveries.c.organization_id == organization_id,
                digest_deliveries.c.week == week,
                digest_deliveries.c.owner_key.in_(list(owner_keys)),
            )
        )
        return set(result.all())

    async def record(self, organization_id: int, week: str, owner_key: str, now: datetime) -> None:
        self.session.add(
            DigestDelivery(
                organization_id=organization_id, week=week, owner_key=owner_key, queued_at=now
            )
        )
        await self.session.flush()
