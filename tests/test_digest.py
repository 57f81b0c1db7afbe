"""The weekly digest (issue 13, seed 004: "general notices are sent on Friday"): a week of
general notices as one digest per recipient at Friday 16:00 Amsterdam time (also in the
week the clocks go back), one catch-up after downtime, and a run cut off in the middle
finished by a new scheduler without sending anyone a digest twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select

from flows import announcements
from flows.announcements import Audience, Sender
from flows.digest import DigestSchedule, NoticeScheduler, week_of
from flows.domain import AnnouncementAudience, AuditAction
from flows.model import AuditEntry, DigestDelivery, DigestRun, OutboxMessage
from storage.uow import Store, Transaction
from tests.support import DeskDriver
from tests.test_announcements import HOLDER_CHAT, SECOND_HOLDER_CHAT, _audit, _seed_audiences

MONDAY = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
"""A Monday in winter time (CET, UTC+1): that week's digest is Friday 4 December 15:00 UTC."""
FRIDAY_1600 = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


@pytest.fixture
async def desk(desk: DeskDriver) -> DeskDriver:
    await _seed_audiences(desk.store, desk.clock)
    return desk


async def _general(desk: DeskDriver, kind: AnnouncementAudience, text: str) -> None:
    async with desk.store.transaction() as tx:
        org = await tx.organizations.by_partner_id("BLG-1001")
        assert org is not None
        office = await tx.organizations.office(org.id, "Utrecht")
        await announcements.send(
            tx,
            org,
            Audience(kind, office if kind is AnnouncementAudience.OFFICE else None),
            urgent=False,
            text=text,
            now=desk.clock.now(),
            sender=Sender("cli", "cli"),
        )


def _digests(rows: list[OutboxMessage]) -> list[OutboxMessage]:
    return [m for m in rows if m.body.startswith("Het nieuws van deze week van BLG Wonen")]


async def _week_of_notices(desk: DeskDriver) -> None:
    desk.clock.current = MONDAY
    await _general(desk, AnnouncementAudience.CUSTOMERS, "De tuinen worden gesnoeid.")
    desk.clock.advance(days=1)
    await _general(desk, AnnouncementAudience.EMPLOYEES, "Kerstborrel op 18 december.")
    desk.clock.advance(days=1)
    await _general(desk, AnnouncementAudience.CUSTOMERS, "Nieuwe openingstijden.")
    await _general(desk, AnnouncementAudience.OFFICE, "Utrecht krijgt een nieuwe koffieautomaat.")


def test_the_schedule_reads_and_finds_its_moments_in_amsterdam_time() -> None:
    friday = DigestSchedule.parse("Fri 16:00")
    assert (friday.weekday, friday.at, str(friday)) == (4, time(16, 0), "fri 16:00")
    assert str(DigestSchedule.parse("monday 8:30")) == "mon 08:30"
    for wrong in ("someday 16:00", "fri", "fri 25:00", ""):
        with pytest.raises(ValueError):
            DigestSchedule.parse(wrong)
    # Summer time (CEST, UTC+2), then the clocks go back on Sunday 25 October 2026.
    summer = datetime(2026, 10, 23, 14, 0, tzinfo=UTC)
    winter = datetime(2026, 10, 30, 15, 0, tzinfo=UTC)
    assert friday.last_due(summer) == summer
    assert friday.last_due(summer - timedelta(seconds=1)) == datetime(
        2026, 10, 16, 14, 0, tzinfo=UTC
    )
    assert friday.next_due(summer) == winter
    assert friday.last_due(winter - timedelta(seconds=1)) == summer
    assert friday.last_due(winter) == winter
    assert (week_of(summer), week_of(winter)) == ("2026-W43", "2026-W44")


async def test_a_week_of_general_notices_is_one_digest_per_recipient_on_friday_at_four(
    desk: DeskDriver,
) -> None:
    await _week_of_notices(desk)
    scheduler = NoticeScheduler(desk.store, desk.clock)
    await scheduler.tick()  # the week before had no notices: nothing
    desk.clock.current = FRIDAY_1600 - timedelta(seconds=1)
    await scheduler.tick()
    assert _digests(await desk.outbox()) == []

    desk.clock.current = FRIDAY_1600
    await scheduler.tick()
    digests = _digests(await desk.outbox())
    by_recipient = Counter(m.recipient for m in digests)
    customers = {
        str(HOLDER_CHAT),
        str(SECOND_HOLDER_CHAT),
        "klant2001@thuis.example",
        "klant2002@thuis.example",
    }
    desk_staff = {"5001", "5002", "5003", "marieke@blg.example", "maarten@blg.example"}
    desk_staff |= {"sanne@blg.example"}
    assert set(by_recipient) == customers | desk_staff | {"eva@kantoor.example"}
    assert set(by_recipient.values()) == {1}  # one digest per chat and address
    to_customer = next(m for m in digests if m.recipient == str(HOLDER_CHAT))
    assert "De tuinen worden gesnoeid." in to_customer.body
    assert "Nieuwe openingstijden." in to_customer.body
    assert "Kerstborrel" not in to_customer.body
    to_eva = next(m for m in digests if m.recipient == "eva@kantoor.example")
    assert "Kerstborrel" in to_eva.body and "koffieautomaat" in to_eva.body
    assert to_eva.subject == "BLG Wonen: het nieuws van deze week"  # no language: Dutch
    to_sanne = next(m for m in digests if m.recipient == "5003")
    assert "Kerstborrel" in to_sanne.body and "koffieautomaat" not in to_sanne.body

    # The next ticks of the same week send nothing more.
    desk.clock.advance(minutes=1)
    await scheduler.tick()
    await NoticeScheduler(desk.store, desk.clock).tick()
    assert len(_digests(await desk.outbox())) == len(digests)
    async with desk.store.transaction() as tx:
        [audited] = (
            await tx.session.scalars(
                select(AuditEntry).where(AuditEntry.action == AuditAction.DIGEST_RUN.value)
            )
        ).all()
    assert audited.detail == {
        "week": "2026-W49",
        "notices": 4,
        "recipients": len(customers) // 2 + 4,
    }


async def test_the_digest_in_the_week_the_clocks_go_back(desk: DeskDriver) -> None:
    scheduler = NoticeScheduler(desk.store, desk.clock)
    desk.clock.current = datetime(2026, 10, 21, 9, 0, tzinfo=UTC)
    await scheduler.tick()
    await _general(desk, AnnouncementAudience.CUSTOMERS, "Zomernieuws.")
    desk.clock.current = datetime(2026, 10, 23, 13, 59, tzinfo=UTC)  # 15:59 CEST
    await scheduler.tick()
    assert _digests(await desk.outbox()) == []
    desk.clock.current = datetime(2026, 10, 23, 14, 0, tzinfo=UTC)  # 16:00 CEST
    await scheduler.tick()
    assert len(_digests(await desk.outbox())) == 4

    desk.clock.current = datetime(2026, 10, 26, 9, 0, tzinfo=UTC)  # Monday, now CET
    await _general(desk, AnnouncementAudience.CUSTOMERS, "Wintertijd.")
    desk.clock.current = datetime(2026, 10, 30, 14, 0, tzinfo=UTC)  # 15:00 CET: not yet
    await scheduler.tick()
    assert len(_digests(await desk.outbox())) == 4
    desk.clock.current = datetime(2026, 10, 30, 15, 0, tzinfo=UTC)  # 16:00 CET
    await scheduler.tick()
    digests = _digests(await desk.outbox())
    assert len(digests) == 8
    assert all("Wintertijd." in m.body and "Zomernieuws." not in m.body for m in digests[4:])


async def test_after_downtime_the_digest_catches_up_once(desk: DeskDriver) -> None:
    scheduler = NoticeScheduler(desk.store, desk.clock)
    await _week_of_notices(desk)
    await scheduler.tick()
    desk.clock.current = FRIDAY_1600 - timedelta(hours=1)
    await _general(desk, AnnouncementAudience.CUSTOMERS, "Nog een bericht.")
    # Down from before Friday until three weeks later.
    desk.clock.current = FRIDAY_1600 + timedelta(weeks=3, hours=2)
    await scheduler.tick()
    digests = _digests(await desk.outbox())
    to_customer = [m for m in digests if m.recipient == str(HOLDER_CHAT)]
    assert len(to_customer) == 1  # one digest, not one per missed week
    assert "De tuinen" in to_customer[0].body and "Nog een bericht." in to_customer[0].body
    await scheduler.tick()
    assert len(_digests(await desk.outbox())) == len(digests)
    async with desk.store.transaction() as tx:
        org = await tx.organizations.by_partner_id("BLG-1001")
        assert org is not None
        runs = select(DigestRun).where(DigestRun.organization_id == org.id)
        weeks = [run.week for run in (await tx.session.scalars(runs)).all()]
    assert weeks == ["2026-W48", "2026-W52"]  # the week before, then the latest only


class _CutOff(Exception):
    """The process stops here (a deploy, a crash)."""


class _StoreThatStops:
    """The store, until ``after`` more transactions: then the worker "dies" at the start of
    the next one (what was committed before stays)."""

    def __init__(self, store: Store, after: int) -> None:
        self._store = store
        self._left = after

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        if self._left == 0:
            raise _CutOff
        self._left -= 1
        async with self._store.transaction() as tx:
            yield tx


async def test_a_run_cut_off_in_the_middle_reaches_everyone_exactly_once(
    desk: DeskDriver,
) -> None:
    await _week_of_notices(desk)
    await NoticeScheduler(desk.store, desk.clock).tick()
    desk.clock.current = FRIDAY_1600 + timedelta(minutes=1)
    # One recipient per transaction: urgent notices to queue, report, list, start, notices,
    # then 2 recipients.
    stopping = _StoreThatStops(desk.store, after=7)
    with pytest.raises(_CutOff):
        await NoticeScheduler(stopping, desk.clock, page=1).tick()  # type: ignore[arg-type]
    async with desk.store.transaction() as tx:
        done = (await tx.session.scalars(select(DigestDelivery))).all()
        run = (await tx.session.scalars(select(DigestRun).order_by(DigestRun.id))).all()[-1]
    assert len(done) == 2 and run.finished_at is None
    sent_before = len(_digests(await desk.outbox()))
    assert sent_before > 0

    desk.clock.advance(minutes=5)  # a new worker starts
    await NoticeScheduler(desk.store, desk.clock, page=2).tick()
    digests = _digests(await desk.outbox())
    by_recipient = Counter(m.recipient for m in digests)
    assert set(by_recipient.values()) == {1}
    assert len(by_recipient) == 11  # 4 customer chats and addresses, 7 of the staff and Eva
    async with desk.store.transaction() as tx:
        keys = [d.owner_key for d in (await tx.session.scalars(select(DigestDelivery))).all()]
        run = (await tx.session.scalars(select(DigestRun).order_by(DigestRun.id))).all()[-1]
    assert len(keys) == len(set(keys)) == 6 and run.finished_at is not None


async def _urgent(desk: DeskDriver, text: str, page: int) -> announcements.Sent:
    async with desk.store.transaction() as tx:
        org = await tx.organizations.by_partner_id("BLG-1001")
        assert org is not None
        return await announcements.send(
            tx,
            org,
            Audience(AnnouncementAudience.EMPLOYEES),
            urgent=True,
            text=text,
            now=desk.clock.now(),
            sender=Sender("cli", "cli", chat=5003),
            page=page,
        )


def _addressed(rows: list[OutboxMessage], announcement_id: int) -> list[tuple[str, str]]:
    return sorted(
        (m.channel.value, m.recipient) for m in rows if m.announcement_id == announcement_id
    )


async def test_a_large_urgent_notice_is_queued_a_page_per_transaction_each_recipient_once(
    desk: DeskDriver,
) -> None:
    """No transaction holds the store for a whole audience: Confirm queues the first page,
    the worker's tick the rest, a page per transaction; a worker that dies in between is
    followed by one that neither skips nor repeats anyone, and the sender hears the count
    only once every recipient is queued."""
    paged = await _urgent(desk, "Storing: geen warm water.", page=1)
    notice = paged.announcement
    assert paged.recipients == 4 and notice.queued_at is None  # the audience, not the page
    first = _addressed(await desk.outbox(), notice.id)
    assert first and len({recipient for _, recipient in first}) <= 2  # one person's channels
    for row in [m for m in await desk.outbox() if m.announcement_id == notice.id]:
        await desk.delivered(row.id)
    scheduler = NoticeScheduler(desk.store, desk.clock, page=1)
    assert await scheduler.report_finished() == 0  # all sent so far, but not all queued
    assert await _audit(desk, AuditAction.ANNOUNCEMENT_QUEUED) == []

    # The worker dies after two more pages (its transactions: the list, page 2, page 3).
    stopping = _StoreThatStops(desk.store, after=3)
    with pytest.raises(_CutOff):
        await NoticeScheduler(stopping, desk.clock, page=1).tick()  # type: ignore[arg-type]
    async with desk.store.transaction() as tx:
        halfway = await tx.announcements.get(notice.id)
        assert halfway is not None and halfway.recipients == 3 and halfway.queued_at is None

    desk.clock.advance(minutes=1)  # a new worker
    await scheduler.tick()
    await scheduler.tick()  # nothing left: nothing more
    rows = _addressed(await desk.outbox(), notice.id)
    assert len(rows) == len(set(rows))
    # The same rows as a notice queued in one page.
    whole = await _urgent(desk, "Storing: geen warm water.", page=announcements.FAN_OUT_PAGE)
    assert whole.announcement.queued_at is not None and whole.recipients == 4
    assert rows == _addressed(await desk.outbox(), whole.announcement.id)
    async with desk.store.transaction() as tx:
        done = await tx.announcements.get(notice.id)
        assert done is not None and done.recipients == 4 and done.queued_at is not None
    audited = {
        entry.detail["announcement_id"]: entry.detail
        for entry in await _audit(desk, AuditAction.ANNOUNCEMENT_QUEUED)
    }
    assert audited[notice.id]["recipients"] == 4 and audited[notice.id]["messages"] == len(rows)
    assert audited[notice.id] == {**audited[whole.announcement.id], "announcement_id": notice.id}


async def test_a_digest_is_recorded_once_per_recipient_by_the_store(desk: DeskDriver) -> None:
    """Two workers that both think a recipient is left: the unique key refuses the second."""
    async with desk.store.transaction() as tx:
        org = await tx.organizations.by_partner_id("BLG-1001")
        assert org is not None
        await tx.digests.record(org.id, "2026-W49", "c1", desk.clock.now())
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        async with desk.store.transaction() as tx:
            await tx.digests.record(org.id, "2026-W49", "c1", desk.clock.now())
    async with desk.store.transaction() as tx:
        assert await tx.digests.queued(org.id, "2026-W49", ["c1", "c2"]) == {"c1"}
        first = await tx.digests.start(org.id, "2026-W49", desk.clock.now(), desk.clock.now())
        again = await tx.digests.start(org.id, "2026-W49", desk.clock.now(), desk.clock.now())
    assert first is not None and again is None


async def test_an_organization_chooses_its_digest_moment(desk: DeskDriver) -> None:
    async with desk.store.transaction() as tx:
        org = await tx.organizations.by_partner_id("BLG-1001")
        assert org is not None
        org.digest_schedule = "mon 08:30"
    await _week_of_notices(desk)  # Monday 09:00 CET on: after that Monday's moment
    scheduler = NoticeScheduler(desk.store, desk.clock)
    desk.clock.current = datetime(2026, 12, 7, 7, 29, tzinfo=UTC)  # Monday 08:29 CET
    await scheduler.tick()
    assert _digests(await desk.outbox()) == []
    desk.clock.current = datetime(2026, 12, 7, 7, 30, tzinfo=UTC)
    await scheduler.tick()
    assert _digests(await desk.outbox())


def test_a_long_week_is_split_into_messages_that_fit() -> None:
    from flows.digest import DIGEST_PART, _parts
    from flows.model import Announcement

    notices = [Announcement(text="x" * announcements.MAX_TEXT) for _ in range(8)]
    parts = _parts(notices)
    assert [len(part) for part in parts] == [3, 3, 2]
    assert all(sum(len(n.text) for n in part) <= DIGEST_PART for part in parts)
