"""The weekly digest of general notices (seed 004: "general notices are sent on Friday"),
and the count of an urgent notice for its sender: both by a store-backed tick in the worker.

Every organization has a digest moment, ``fri 16:00`` in Europe/Amsterdam time unless it
set another (``balie org set PID --digest "mon 08:30"``). Each tick looks at the latest such
moment that has passed; when that week has no run yet, it starts one, which takes every
general notice made until that moment and not in an earlier digest. After downtime only the
latest week runs (once), and it takes the missed weeks' notices too. A run sends each
recipient one digest of the notices meant for them, a page of recipients per transaction,
recording each in ``digest_deliveries`` (unique per organization, week and recipient) in
the same transaction as its messages: a run cut off by a restart is finished by the next
tick, and nobody gets a week's digest twice.

```mermaid
stateDiagram-v2
    [*] --> waiting: no run for the latest passed digest moment
    waiting --> running: the tick starts the run; it takes the general notices
    running --> running: a page of recipients queued (and recorded)
    running --> finished: no recipient left without it
```
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flows import announcements
from flows.domain import AnnouncementAudience, AuditAction, DeliveryChannel, Language, OutboxStatus
from flows.model import Announcement, Organization
from flows.notices import NoticeKind, notify
from flows.own_account import OwnAccount
from flows.ports import Clock
from flows.store import Store, Transaction
from flows.texts import Texts

log = logging.getLogger("balie.digest")

DIGEST_TIMEZONE = ZoneInfo("Europe/Amsterdam")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DIGEST_PART = 3500
"""Characters of notices one digest message holds at most (Telegram takes 4,096)."""


@dataclass(frozen=True)
class DigestSchedule:
    """A weekday and a time of day in Europe/Amsterdam."""

    weekday: int
    at: time

    @classmethod
    def parse(cls, text: str) -> DigestSchedule:
        """``fri 16:00``; a ``ValueError`` saying what is wrong otherwise."""
        day, _, clock = text.strip().lower().partition(" ")
        if day[:3] not in DAYS:
            raise ValueError(f"not a weekday: {day!r} (use one of {', '.join(DAYS)})")
        hours, colon, minutes = clock.strip().partition(":")
        try:
            if not (colon and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
                raise ValueError
            at = time(int(hours), int(minutes))
        except ValueError:
            raise ValueError(f"not a time of day in HH:MM form: {clock.strip()!r}") from None
        return cls(DAYS.index(day[:3]), at)

    def __str__(self) -> str:
        return f"{DAYS[self.weekday]} {self.at:%H:%M}"

    def _on(self, day: date) -> datetime:
        return datetime.combine(day, self.at, tzinfo=DIGEST_TIMEZONE).astimezone(UTC)

    def last_due(self, now: datetime) -> datetime:
        """The latest digest moment at or before ``now`` (UTC)."""
        local = now.astimezone(DIGEST_TIMEZONE).date()
        day = local - timedelta(days=(local.weekday() - self.weekday) % 7)
        due = self._on(day)
        return due if due <= now else self._on(day - timedelta(days=7))

    def next_due(self, now: datetime) -> datetime:
        """The first digest moment after ``now`` (UTC)."""
        due = self.last_due(now)
        return self._on(due.astimezone(DIGEST_TIMEZONE).date() + timedelta(days=7))


DEFAULT_SCHEDULE = DigestSchedule(4, time(16, 0))
"""Friday 16:00 (seed 004)."""


def schedule_of(organization: Organization) -> DigestSchedule:
    if not organization.digest_schedule:
        return DEFAULT_SCHEDULE
    try:
        return DigestSchedule.parse(organization.digest_schedule)
    except ValueError:
        log.warning("organization %s has an unreadable digest time; Friday 16:00", organization.id)
        return DEFAULT_SCHEDULE


def week_of(due: datetime) -> str:
    """The ISO week of a digest moment in Amsterdam: ``2026-W49``."""
    year, week, _ = due.astimezone(DIGEST_TIMEZONE).isocalendar()
    return f"{year}-W{week:02d}"


def _parts(notices: list[Announcement]) -> list[list[Announcement]]:
    """The notices in groups that each fit one message, in order."""
    parts: list[list[Announcement]] = [[]]
    size = 0
    for notice in notices:
        if parts[-1] and size + len(notice.text) > DIGEST_PART:
            parts.append([])
            size = 0
        parts[-1].append(notice)
        size += len(notice.text) + 4
    return parts


def _meant_for(account: OwnAccount, notices: list[Announcement]) -> list[Announcement]:
    if account.person is None:
        return [n for n in notices if n.audience is AnnouncementAudience.CUSTOMERS]
    offices = {office.id for office in account.person.offices}
    return [
        n
        for n in notices
        if n.audience is AnnouncementAudience.EMPLOYEES
        or (n.audience is AnnouncementAudience.OFFICE and n.office_id in offices)
    ]


async def _send_digest(
    tx: Transaction,
    account: OwnAccount,
    notices: list[Announcement],
    organization: Organization,
    now: datetime,
    default_language: Language,
) -> int:
    parts = _parts(notices)
    messages = 0
    for number, part in enumerate(parts, start=1):
        listed = "\n\n".join(f"• {notice.text}" for notice in part)
        of = f" ({number}/{len(parts)})" if len(parts) > 1 else ""

        def body(texts: Texts, listed: str = listed, of: str = of) -> str:
            return texts("digest_body", org=organization.name, part=of, notices=listed)

        def subject(texts: Texts, of: str = of) -> str:
            return texts("digest_subject", org=organization.name, part=of)

        messages += await notify(
            tx,
            account,
            NoticeKind.DIGESTS,
            body,
            now,
            subject=subject,
            default_language=default_language,
        )
    return messages


class NoticeScheduler:
    """The tick: queues the rest of large urgent notices, runs each organization's digest
    when due and tells the senders of urgent notices how they went. One instance per
    worker; only the leader runs it."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        page: int = announcements.FAN_OUT_PAGE,
        default_language: Language = Language.NL,
    ) -> None:
        self.store = store
        self.clock = clock
        self.page = page
        """Recipients per transaction, of a digest run or an urgent notice's rest."""
        self.default_language = default_language
        """The language of a recipient who chose none (``BALIE_DEFAULT_LANGUAGE``)."""

    async def tick(self) -> int:
        """One pass; how many messages it queued."""
        queued = await self.queue_urgent()
        queued += await self.report_finished()
        async with self.store.transaction() as tx:
            organizations = list(await tx.digests.organizations())
        for organization in organizations:
            queued += await self.run_digest(organization.id)
        return queued

    async def queue_urgent(self) -> int:
        """Queue the urgent notices still being queued for the rest of their audience, a
        page per transaction (other chats' steps go on in between); the rows queued."""
        async with self.store.transaction() as tx:
            waiting = list(await tx.announcements.queuing())
        queued = 0
        for announcement_id in waiting:
            done = False
            while not done:
                async with self.store.transaction() as tx:
                    messages, done = await announcements.queue_next(
                        tx,
                        announcement_id,
                        self.clock.now(),
                        self.default_language,
                        self.page,
                    )
                queued += messages
        return queued

    async def report_finished(self) -> int:
        """ "Notice #N: delivered X, failed Y" to the sender of each urgent notice whose
        messages are all sent or failed for good."""
        now = self.clock.now()
        told = 0
        async with self.store.transaction() as tx:
            for announcement in await tx.announcements.unreported():
                counts = await tx.announcements.delivery_counts(announcement.id)
                if counts[OutboxStatus.PENDING]:
                    continue
                announcement.reported_at = now
                delivered = counts[OutboxStatus.SENT]
                failed = counts[OutboxStatus.FAILED] + counts[OutboxStatus.DEAD]
                await tx.audit.add(
                    AuditAction.ANNOUNCEMENT_REPORTED,
                    actor="balie",
                    channel="worker",
                    now=now,
                    organization_id=announcement.organization_id,
                    announcement_id=announcement.id,
                    delivered=delivered,
                    failed=failed,
                )
                if announcement.sender_chat is None:
                    continue
                texts = Texts(await _language_of(tx, announcement, self.default_language))
                await tx.outbox.add(
                    DeliveryChannel.TELEGRAM,
                    str(announcement.sender_chat),
                    texts(
                        "announce_report",
                        number=announcement.id,
                        delivered=delivered,
                        failed=failed,
                    ),
                    now,
                    organization_id=announcement.organization_id,
                )
                told += 1
        return told

    async def run_digest(self, organization_id: int) -> int:
        """Start this week's run when its moment has passed, and send what is left of it."""
        now = self.clock.now()
        async with self.store.transaction() as tx:
            organization = await tx.organizations.get(organization_id)
            if organization is None:
                return 0
            due = schedule_of(organization).last_due(now)
            week = week_of(due)
            run = await tx.digests.run(organization_id, week)
            if run is None:
                run = await tx.digests.start(organization_id, week, due, now)
                if run is None:
                    return 0  # another worker started it just now
                for notice in await tx.announcements.undigested(organization_id, due):
                    notice.digest_week = week
                    notice.queued_at = now
            elif run.finished_at is not None:
                return 0
        return await self._send(organization_id, week)

    async def _send(self, organization_id: int, week: str) -> int:
        queued = 0
        recipients = 0
        async with self.store.transaction() as tx:
            notices = list(await tx.announcements.in_digest(organization_id, week))
        kinds = {notice.audience for notice in notices}
        audiences = []
        if AnnouncementAudience.CUSTOMERS in kinds:
            audiences.append(AnnouncementAudience.CUSTOMERS)
        if kinds & {AnnouncementAudience.EMPLOYEES, AnnouncementAudience.OFFICE}:
            audiences.append(AnnouncementAudience.EMPLOYEES)
        for kind in audiences:
            after = 0
            while True:
                async with self.store.transaction() as tx:
                    page, after = await self._page(tx, organization_id, kind, after)
                    if not page:
                        break
                    organization = page[0].organization
                    done = await tx.digests.queued(
                        organization_id, week, [account.owner.key for account in page]
                    )
                    now = self.clock.now()
                    for account in page:
                        meant = _meant_for(account, notices)
                        if account.owner.key in done or not meant:
                            continue
                        queued += await _send_digest(
                            tx, account, meant, organization, now, self.default_language
                        )
                        await tx.digests.record(organization_id, week, account.owner.key, now)
                        recipients += 1
        async with self.store.transaction() as tx:
            run = await tx.digests.run(organization_id, week)
            if run is not None and run.finished_at is None:
                now = self.clock.now()
                run.finished_at = now
                run.recipients += recipients
                if notices:
                    await tx.audit.add(
                        AuditAction.DIGEST_RUN,
                        actor="balie",
                        channel="worker",
                        now=now,
                        organization_id=organization_id,
                        week=week,
                        notices=len(notices),
                        recipients=run.recipients,
                    )
            elif run is not None:
                run.recipients += recipients
        return queued

    async def _page(
        self, tx: Transaction, organization_id: int, kind: AnnouncementAudience, after: int
    ) -> tuple[list[OwnAccount], int]:
        today = self.clock.now().date()
        return await announcements.page_of(
            tx, organization_id, kind, None, today, after=after, limit=self.page
        )


async def _language_of(tx: Transaction, announcement: Announcement, default: Language) -> Language:
    """The sender chat's language, else the sender's own, else the deployment's."""
    if announcement.sender_chat is not None:
        conversation = await tx.conversations.peek(announcement.sender_chat)
        if conversation is not None and conversation.language:
            return Language(conversation.language)
    if announcement.created_by_id is not None:
        person = await tx.people.get(announcement.created_by_id)
        if person is not None and person.language:
            return Language(person.language)
    return default
