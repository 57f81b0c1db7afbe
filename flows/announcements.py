"""Notices from an organization to its people (issue 13, seed 004): who they reach, and
sending an urgent one at once or keeping a general one for the weekly digest.

An urgent notice is queued in the outbox for every recipient, a page per transaction (the
first in the transaction that makes it, the rest by the worker's notice tick), each row
carrying the notice's id; the outbox's paced sender delivers them (per
organization, and within Telegram's limits), never a burst beside it. Once every row is
sent or failed for good, :mod:`flows.digest`'s tick tells the sender the count. A general
notice is only stored: the organization's weekly digest takes it (:mod:`flows.digest`).

Audiences: all customers with an activated portal account (notify reaches its members
too), all employees, or one office. "All employees" is every active person of the
organization whatever their role (employees, desk staff, managers, admins): a notice to
the staff is for the desk as much as for the office floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flows.domain import AnnouncementAudience, AuditAction, Language
from flows.model import Announcement, Office, Organization, Person
from flows.notices import NoticeKind, Words, notify
from flows.own_account import OwnAccount, of_customer, of_person
from flows.store import Transaction
from flows.texts import Texts

MAX_TEXT = 1000
"""Characters a notice may have: with its heading it fits one Telegram message, and a
digest of several still reads as a list."""

FAN_OUT_PAGE = 200
"""Recipients one transaction queues notices for: an urgent notice's (the sender's Confirm
queues the first page at once, the worker's notice tick the rest, a page per transaction),
and a digest run's. No transaction holds the store (SQLite has one writer) for a whole large
audience."""


class NoticeTextRefused(ValueError):
    """The notice's text is empty, or longer than :data:`MAX_TEXT`."""

    def __init__(self, length: int) -> None:
        super().__init__(f"a notice of {length} characters")
        self.length = length

    def said(self, texts: Texts) -> str:
        if self.length == 0:
            return texts("announce_text_empty")
        return texts("announce_text_too_long", limit=MAX_TEXT, length=self.length)


@dataclass(frozen=True)
class Audience:
    kind: AnnouncementAudience
    office: Office | None = None

    def label(self, texts: Texts) -> str:
        if self.kind is AnnouncementAudience.OFFICE and self.office is not None:
            return texts("announce_audience_office", office=self.office.name)
        if self.kind is AnnouncementAudience.CUSTOMERS:
            return texts("announce_audience_customers")
        return texts("announce_audience_employees")

    @property
    def office_id(self) -> int | None:
        return self.office.id if self.office is not None else None


async def audience_of(tx: Transaction, announcement: Announcement) -> Audience:
    office = None
    if announcement.office_id is not None:
        office = await tx.announcements.office(announcement.organization_id, announcement.office_id)
    return Audience(announcement.audience, office)


def checked_text(text: str) -> str:
    """The notice's text as it will be sent; refused when empty or too long."""
    cleaned = text.strip()
    if not cleaned or len(cleaned) > MAX_TEXT:
        raise NoticeTextRefused(len(cleaned))
    return cleaned


async def page_of(
    tx: Transaction,
    organization_id: int,
    kind: AnnouncementAudience,
    office_id: int | None,
    today: date,
    *,
    after: int = 0,
    limit: int = FAN_OUT_PAGE,
) -> tuple[list[OwnAccount], int]:
    """One page of an audience's accounts by id after ``after``, and the last id in it
    (``after`` for an empty page). An office audience whose office is gone has nobody."""
    if kind is AnnouncementAudience.CUSTOMERS:
        found_customers = await tx.announcements.customers(
            organization_id, after=after, limit=limit
        )
        last = found_customers[-1].id if found_customers else after
        return [of_customer(customer) for customer in found_customers], last
    if kind is AnnouncementAudience.OFFICE and office_id is None:
        return [], after
    found_people = await tx.announcements.people(
        organization_id, today, office_id=office_id, after=after, limit=limit
    )
    last = found_people[-1].id if found_people else after
    return [of_person(person) for person in found_people], last


async def count(
    tx: Transaction, organization: Organization, audience: Audience, today: date
) -> int:
    """How many accounts the audience has now (for the preview)."""
    if audience.kind is AnnouncementAudience.CUSTOMERS:
        return await tx.announcements.count_customers(organization.id)
    if audience.kind is AnnouncementAudience.OFFICE and audience.office is None:
        return 0
    return await tx.announcements.count_people(organization.id, today, audience.office_id)


def urgent_body(organization: Organization, text: str) -> Words:
    return lambda texts: texts("announcement_urgent_body", org=organization.name, notice=text)


def urgent_subject(organization: Organization) -> Words:
    return lambda texts: texts("announcement_urgent_subject", org=organization.name)


@dataclass(frozen=True)
class Sent:
    announcement: Announcement
    recipients: int
    """Accounts the urgent notice goes to: all queued, or the audience's size while the
    worker queues the rest (0 for a general one: not yet)."""
    messages: int
    """Outbox rows queued so far."""


@dataclass(frozen=True)
class Sender:
    """Who sends a notice: a staff member in chat, or the CLI (no person, no chat)."""

    actor: str
    channel: str
    person: Person | None = None
    chat: int | None = None
    default_language: Language = Language.NL
    """The language of a recipient who chose none (the deployment's ``BALIE_DEFAULT_LANGUAGE``)."""


async def send(
    tx: Transaction,
    organization: Organization,
    audience: Audience,
    *,
    urgent: bool,
    text: str,
    now: datetime,
    sender: Sender,
    page: int = FAN_OUT_PAGE,
) -> Sent:
    """Store the notice. An urgent one is queued here for the first page of its audience
    (all of a small one); the worker's notice tick queues the rest (:func:`queue_next`). A
    general one waits for the digest."""
    announcement = await tx.announcements.add(
        Announcement(
            organization_id=organization.id,
            audience=audience.kind,
            office_id=audience.office_id,
            urgent=urgent,
            text=checked_text(text),
            created_by_id=sender.person.id if sender.person else None,
            sender_chat=sender.chat,
            created_at=now,
            queued_through=None,
            recipients=0,
        )
    )
    if not urgent:
        await _audit_queued(tx, announcement, sender.actor, sender.channel, now)
        return Sent(announcement, 0, 0)
    messages = await _queue_page(tx, announcement, organization, now, sender, page)
    if announcement.queued_at is not None:
        return Sent(announcement, announcement.recipients, messages)
    return Sent(announcement, await count(tx, organization, audience, now.date()), messages)


async def queue_next(
    tx: Transaction,
    announcement_id: int,
    now: datetime,
    default_language: Language,
    page: int = FAN_OUT_PAGE,
) -> tuple[int, bool]:
    """Queue an urgent notice for the next page of its audience: the rows queued, and True
    when nothing is left to queue (now or before). Each page is its own transaction: the
    notice's cursor moves with the page's rows, so a crash in between neither skips nor
    repeats a recipient."""
    announcement = await tx.announcements.to_queue(announcement_id)
    if announcement is None:
        return 0, True
    organization = await tx.organizations.get(announcement.organization_id)
    if organization is None:
        return 0, True
    sender = Sender("balie", "worker", default_language=default_language)
    messages = await _queue_page(tx, announcement, organization, now, sender, page)
    return messages, announcement.queued_at is not None


async def _queue_page(
    tx: Transaction,
    announcement: Announcement,
    organization: Organization,
    now: datetime,
    sender: Sender,
    limit: int,
) -> int:
    """The notice's rows for the recipients after its cursor (at most ``limit``); a short
    page is the last: the notice is then queued, and audited. The number of rows queued."""
    accounts, last = await page_of(
        tx,
        organization.id,
        announcement.audience,
        announcement.office_id,
        now.date(),
        after=announcement.queued_through or 0,
        limit=limit,
    )
    body = urgent_body(organization, announcement.text)
    subject = urgent_subject(organization)
    messages = 0
    for account in accounts:
        messages += await notify(
            tx,
            account,
            NoticeKind.ANNOUNCEMENTS,
            body,
            now,
            subject=subject,
            default_language=sender.default_language,
            announcement_id=announcement.id,
        )
    announcement.recipients += len(accounts)
    announcement.queued_through = last
    if len(accounts) < limit:
        announcement.queued_at = now
        await _audit_queued(tx, announcement, sender.actor, sender.channel, now)
    return messages


async def _audit_queued(
    tx: Transaction, announcement: Announcement, actor: str, channel: str, now: datetime
) -> None:
    """Who sent the notice to whom; an urgent one once every recipient's rows are queued
    (its row count from the outbox, whichever transactions queued them)."""
    counts = await tx.announcements.delivery_counts(announcement.id)
    await tx.audit.add(
        AuditAction.ANNOUNCEMENT_QUEUED,
        actor=actor,
        channel=channel,
        now=now,
        organization_id=announcement.organization_id,
        actor_person_id=announcement.created_by_id,
        announcement_id=announcement.id,
        audience=announcement.audience.value,
        office_id=announcement.office_id,
        urgent=announcement.urgent,
        recipients=announcement.recipients,
        messages=sum(counts.values()),
    )
