"""Repositories: queries by the desk's own words. They never commit; the unit of work does."""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.expression import Exists

from flows.domain import (
    AccountStatus,
    AuditAction,
    CodePurpose,
    ConversationState,
    DeliveryChannel,
    LetterStatus,
    OutboxStatus,
    RequestStatus,
    Role,
)
from flows.model import (
    AuditEntry,
    ChatLink,
    Conversation,
    HandledUpdate,
    Letter,
    Office,
    OneTimeCode,
    Organization,
    OutboxMessage,
    Person,
    RegistrationRequest,
    StaffMessage,
    UndeliverableAddress,
)
from flows.outbox_payload import EDIT, TOPIC
from storage.orm import (
    audit_log,
    chat_links,
    conversations,
    handled_updates,
    letters,
    offices,
    one_time_codes,
    organizations,
    outbox,
    people,
    registration_requests,
    relation,
    staff_messages,
    undeliverable_addresses,
)
from storage.sealing import Sealer, seal_text


class _Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _is_sqlite(self) -> bool:
        # SQLite has no row locks; BEGIN IMMEDIATE (storage.db) already serializes writers.
        bind = self.session.bind
        return bind is not None and bind.dialect.name == "sqlite"

    def _locked(self, query: Any) -> Any:
        """``query`` locking the rows it finds until the transaction ends (PostgreSQL): a
        second transaction after the same rows waits, then sees them as this one left them."""
        return query if self._is_sqlite else query.with_for_update()


class Organizations(_Repository):
    async def by_partner_id(self, partner_id: str) -> Organization | None:
        result = await self.session.scalars(
            select(Organization).where(func.lower(organizations.c.partner_id) == partner_id.lower())
        )
        return result.first()

    async def get(self, organization_id: int) -> Organization | None:
        return await self.session.get(Organization, organization_id)

    async def sole(self) -> Organization | None:
        """The organization, when the store has exactly one (a single desk's deployment)."""
        found = (await self.session.scalars(select(Organization).limit(2))).all()
        return found[0] if len(found) == 1 else None

    async def add(self, name: str, partner_id: str, now: datetime) -> Organization:
        organization = Organization(
            name=name, partner_id=partner_id, created_at=now, last_request_number=0
        )
        self.session.add(organization)
        await self.session.flush()
        return organization

    async def next_request_number(self, organization_id: int) -> int:
        """Atomic per-organization sequence: safe with several workers on one store."""
        result = await self.session.execute(
            update(Organization)
            .where(organizations.c.id == organization_id)
            .values(last_request_number=organizations.c.last_request_number + 1)
            .returning(organizations.c.last_request_number)
        )
        return int(result.scalar_one())

    async def office(self, organization_id: int, name: str) -> Office:
        """The office with this name, created on first mention."""
        office = (
            await self.session.scalars(
                select(Office).where(
                    offices.c.organization_id == organization_id, offices.c.name == name
                )
            )
        ).first()
        if office is None:
            office = Office(organization_id=organization_id, name=name)
            self.session.add(office)
            await self.session.flush()
        return office


class People(_Repository):
    async def get(self, person_id: int) -> Person | None:
        return await self.session.get(Person, person_id)

    async def by_contact(
        self, organization_id: int, channel: DeliveryChannel, value: str
    ) -> Person | None:
        column = people.c.email if channel is DeliveryChannel.EMAIL else people.c.phone
        result = await self.session.scalars(
            select(Person).where(people.c.organization_id == organization_id, column == value)
        )
        return result.first()

    async def add(
        self,
        *,
        organization_id: int,
        name: str,
        role: Role,
        status: AccountStatus,
        now: datetime,
        email: str | None = None,
        phone: str | None = None,
        pre_registered: bool = False,
        language: str | None = None,
        offices: Sequence[Office] = (),
    ) -> Person:
        person = Person(
            organization_id=organization_id,
            name=name,
            email=email,
            phone=phone,
            role=role,
            status=status,
            pre_registered=pre_registered,
            language=language,
            created_at=now,
        )
        person.offices = list(offices)
        self.session.add(person)
        await self.session.flush()
        return person

    async def deciders_with_chats(self, organization_id: int) -> list[tuple[Person, int]]:
        """Managers (and admins) of the organization that have a linked Telegram chat."""
        rows = await self.session.execute(
            select(Person, chat_links.c.telegram_user_id)
            .join(ChatLink, chat_links.c.person_id == people.c.id)
            .where(
                people.c.organization_id == organization_id,
                people.c.role.in_([Role.MANAGER, Role.ADMIN]),
                people.c.status == AccountStatus.ACTIVE,
            )
            .order_by(people.c.id)
        )
        return [(person, int(user_id)) for person, user_id in rows]

    async def desk_with_chats(self, organization_id: int) -> list[tuple[Person, int]]:
        """Desk staff, managers and admins of the organization that have a linked chat."""
        rows = await self.session.execute(
            select(Person, chat_links.c.telegram_user_id)
            .join(ChatLink, chat_links.c.person_id == people.c.id)
            .where(
                people.c.organization_id == organization_id,
                people.c.role.in_([Role.STAFF, Role.MANAGER, Role.ADMIN]),
                people.c.status == AccountStatus.ACTIVE,
            )
            .order_by(people.c.id)
        )
        return [(person, int(user_id)) for person, user_id in rows]

    @staticmethod
    def _employees_of(organization_id: int) -> Any:
        return (people.c.organization_id == organization_id) & (people.c.role == Role.EMPLOYEE)

    async def employees(
        self, organization_id: int, *, offset: int = 0, limit: int | None = None
    ) -> Sequence[Person]:
        """The organization's employees by name (then id: a stable order to page in)."""
        result = await self.session.scalars(
            select(Person)
            .where(self._employees_of(organization_id))
            .options(selectinload(relation(Person, "offices")))
            .order_by(people.c.name, people.c.id)
            .offset(offset)
            .limit(limit)
        )
        return result.all()

    async def count_employees(self, organization_id: int) -> int:
        query = select(func.count()).select_from(people).where(self._employees_of(organization_id))
        return int(await self.session.scalar(query) or 0)

    async def named(self, organization_id: int, name: str, limit: int) -> Sequence[Person]:
        result = await self.session.scalars(
            select(Person)
            .where(
                people.c.organization_id == organization_id,
                func.lower(people.c.name) == name.strip().lower(),
            )
            .order_by(people.c.id)
            .limit(limit)
        )
        return result.all()

    async def set_out_of_service(self, person: Person, on: date) -> None:
        person.out_of_service_on = on
        person.directory_closed_at = None  # a new date: closed again on that day
        await self.session.flush()

    async def due_for_closing(self, today: date, limit: int) -> Sequence[Person]:
        """People whose out-of-service date has come and whose directory account has not
        been queued for disabling yet (catching up on any days missed)."""
        result = await self.session.scalars(
            select(Person)
            .where(
                people.c.out_of_service_on.is_not(None),
                people.c.out_of_service_on <= today,
                people.c.directory_closed_at.is_(None),
            )
            .order_by(people.c.id)
            .limit(limit)
        )
        return result.all()


class ChatLinks(_Repository):
    async def identities(self) -> list[tuple[int, Person]]:
        """Every linked chat with its account, in the accounts' order (for operators)."""
        rows = await self.session.execute(
            select(chat_links.c.telegram_user_id, Person).join(Person).order_by(people.c.id)
        )
        return [(int(user_id), person) for user_id, person in rows]

    async def person_for(self, telegram_user_id: int) -> Person | None:
        link = await self.session.get(ChatLink, telegram_user_id)
        return None if link is None else await self.session.get(Person, link.person_id)

    async def chat_for(self, person_id: int) -> int | None:
        """The account's most recently linked chat."""
        result = await self.session.scalars(
            select(chat_links.c.telegram_user_id)
            .where(chat_links.c.person_id == person_id)
            .order_by(chat_links.c.linked_at.desc(), chat_links.c.telegram_user_id.desc())
        )
        return result.first()

    async def of_person(self, person_id: int) -> Sequence[ChatLink]:
        result = await self.session.scalars(
            select(ChatLink)
            .where(chat_links.c.person_id == person_id)
            .order_by(chat_links.c.linked_at, chat_links.c.telegram_user_id)
        )
        return result.all()

    async def add(
        self, telegram_user_id: int, person_id: int, now: datetime, device_name: str | None
    ) -> ChatLink:
        existing = await self.session.get(ChatLink, telegram_user_id)
        if existing is not None:
            await self.session.delete(existing)
            await self.session.flush()
        link = ChatLink(
            telegram_user_id=telegram_user_id,
            person_id=person_id,
            linked_at=now,
            device_name=device_name,
            last_used_at=now,
        )
        self.session.add(link)
        await self.session.flush()
        return link

    async def unlink(self, telegram_user_id: int) -> None:
        await self.session.execute(
            delete(ChatLink).where(chat_links.c.telegram_user_id == telegram_user_id)
        )

    async def link(
        self, telegram_user_id: int, person_id: int, now: datetime, device_name: str | None = None
    ) -> None:
        """Link the chat to the account, replacing any older link of either."""
        for existing in await self.session.scalars(
            select(ChatLink).where(
                (chat_links.c.telegram_user_id == telegram_user_id)
                | (chat_links.c.person_id == person_id)
            )
        ):
            await self.session.delete(existing)
        await self.session.flush()
        self.session.add(
            ChatLink(
                telegram_user_id=telegram_user_id,
                person_id=person_id,
                linked_at=now,
                device_name=device_name,
                last_used_at=now,
            )
        )
        await self.session.flush()


class RegistrationRequests(_Repository):
    def _select(self) -> Any:
        return select(RegistrationRequest).options(
            selectinload(relation(RegistrationRequest, "person")),
            selectinload(relation(RegistrationRequest, "decided_by")),
            selectinload(relation(RegistrationRequest, "organization")),
        )

    async def add(self, request: RegistrationRequest) -> RegistrationRequest:
        self.session.add(request)
        await self.session.flush()
        return request

    async def get(self, request_id: int) -> RegistrationRequest | None:
        result = await self.session.scalars(
            self._select()
            .where(registration_requests.c.id == request_id)
            .execution_options(populate_existing=True)
        )
        return result.first()

    async def by_number(self, organization_id: int, number: int) -> RegistrationRequest | None:
        result = await self.session.scalars(
            self._select().where(
                registration_requests.c.organization_id == organization_id,
                registration_requests.c.number == number,
            )
        )
        return result.first()

    async def open_for_person(self, person_id: int) -> RegistrationRequest | None:
        result = await self.session.scalars(
            self._select().where(
                registration_requests.c.person_id == person_id,
                registration_requests.c.status == RequestStatus.PENDING,
            )
        )
        return result.first()

    async def open_for_chat(self, telegram_user_id: int) -> RegistrationRequest | None:
        result = await self.session.scalars(
            self._select().where(
                registration_requests.c.telegram_user_id == telegram_user_id,
                registration_requests.c.status == RequestStatus.PENDING,
            )
        )
        return result.first()

    @staticmethod
    def _pending_of(organization_id: int) -> Any:
        return (registration_requests.c.organization_id == organization_id) & (
            registration_requests.c.status == RequestStatus.PENDING
        )

    async def pending(
        self, organization_id: int, *, offset: int = 0, limit: int | None = None
    ) -> Sequence[RegistrationRequest]:
        result = await self.session.scalars(
            self._select()
            .where(self._pending_of(organization_id))
            .order_by(registration_requests.c.number)
            .offset(offset)
            .limit(limit)
        )
        return result.all()

    async def count_pending(self, organization_id: int) -> int:
        query = (
            select(func.count())
            .select_from(registration_requests)
            .where(self._pending_of(organization_id))
        )
        return int(await self.session.scalar(query) or 0)

    async def decide(
        self,
        request_id: int,
        verdict: RequestStatus,
        decided_by_id: int | None,
        now: datetime,
        reason: str | None,
    ) -> bool:
        """Record the verdict only if nobody decided first; True when this call won."""
        result = await self.session.execute(
            update(RegistrationRequest)
            .where(
                registration_requests.c.id == request_id,
                registration_requests.c.status == RequestStatus.PENDING,
            )
            .values(status=verdict, decided_by_id=decided_by_id, decided_at=now, reason=reason)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


class Codes(_Repository):
    async def add(self, code: OneTimeCode) -> OneTimeCode:
        self.session.add(code)
        await self.session.flush()
        return code

    async def get(self, code_id: int) -> OneTimeCode | None:
        return await self.session.get(OneTimeCode, code_id)

    async def by_digest(self, purpose: CodePurpose, digests: Collection[str]) -> OneTimeCode | None:
        """The unused code of ``purpose`` whose keyed hash is one of ``digests`` (indexed)."""
        result = await self.session.scalars(
            self._locked(
                select(OneTimeCode)
                .where(
                    one_time_codes.c.code_hash.in_(list(digests)),
                    one_time_codes.c.purpose == purpose,
                    one_time_codes.c.used_at.is_(None),
                )
                .order_by(one_time_codes.c.id.desc())
            )
        )
        return result.first()

    async def current(self, subject: str, purpose: CodePurpose) -> OneTimeCode | None:
        """The newest code for the subject that is neither used nor burned (maybe expired)."""
        result = await self.session.scalars(
            select(OneTimeCode)
            .where(
                one_time_codes.c.subject == subject,
                one_time_codes.c.purpose == purpose,
                one_time_codes.c.used_at.is_(None),
                one_time_codes.c.burned.is_(False),
            )
            .order_by(one_time_codes.c.id.desc())
        )
        return result.first()

    async def sent_since(self, subject: str, purpose: CodePurpose, since: datetime) -> int:
        result = await self.session.scalar(
            select(func.count(one_time_codes.c.id)).where(
                one_time_codes.c.subject == subject,
                one_time_codes.c.purpose == purpose,
                one_time_codes.c.created_at >= since,
            )
        )
        return int(result or 0)

    async def sent_to_since(self, destination: str, purpose: CodePurpose, since: datetime) -> int:
        """Codes sent to one address or number from any chat: stops bombing someone's phone."""
        result = await self.session.scalar(
            select(func.count(one_time_codes.c.id)).where(
                one_time_codes.c.destination == destination,
                one_time_codes.c.purpose == purpose,
                one_time_codes.c.created_at >= since,
            )
        )
        return int(result or 0)

    async def last_sent_at(
        self, subject: str, purpose: CodePurpose, destination: str | None = None
    ) -> datetime | None:
        """When the subject's newest code (to ``destination``, when given) was made."""
        query = select(func.max(one_time_codes.c.created_at)).where(
            one_time_codes.c.subject == subject, one_time_codes.c.purpose == purpose
        )
        if destination is not None:
            query = query.where(one_time_codes.c.destination == destination)
        value = await self.session.scalar(query)
        if isinstance(value, str):  # SQLite hands back text for an aggregate
            value = datetime.fromisoformat(value)
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    async def burn_all(self, subject: str, purpose: CodePurpose) -> None:
        await self.session.execute(
            update(OneTimeCode)
            .where(
                one_time_codes.c.subject == subject,
                one_time_codes.c.purpose == purpose,
                one_time_codes.c.used_at.is_(None),
            )
            .values(burned=True)
            .execution_options(synchronize_session=False)
        )


@dataclass(frozen=True)
class Lease:
    """A claim on one outbox row: only the holder of ``token`` may renew or finish it."""

    message_id: int
    token: str


class NoSealer(Exception):
    """A sensitive row was queued in a store that was given no sealer: it is not kept."""


def _waits_for_earlier() -> Exists:
    """An outbox row waits while an earlier one to the same recipient on the same channel is
    pending: messages to one recipient go in order."""
    earlier = outbox.alias()
    return (
        select(earlier.c.id)
        .where(
            earlier.c.channel == outbox.c.channel,
            earlier.c.recipient == outbox.c.recipient,
            earlier.c.status == OutboxStatus.PENDING,
            earlier.c.id < outbox.c.id,
        )
        .exists()
    )


_WAITS_FOR_EARLIER = _waits_for_earlier()
"""Built once: the outbox worker claims after every step that queues a message, and building
this expression (an alias, a correlated EXISTS) cost more than running the query."""


class Outbox(_Repository):
    """The outbox. A sensitive row (its body holds a code) keeps its body sealed under the
    store's :class:`~storage.sealing.Sealer` (``Store.opened`` gives it back in clear)."""

    def __init__(self, session: AsyncSession, sealer: Sealer | None = None) -> None:
        super().__init__(session)
        self._sealer = sealer

    async def add(
        self,
        channel: DeliveryChannel,
        recipient: str,
        body: str,
        now: datetime,
        *,
        subject: str | None = None,
        payload: dict[str, Any] | None = None,
        sensitive: bool = False,
        expires_at: datetime | None = None,
        notify_chat: int | None = None,
        organization_id: int | None = None,
        announcement_id: int | None = None,
    ) -> OutboxMessage:
        """Queue a message. ``expires_at``: not sent after this (a code's own expiry);
        ``notify_chat``: the chat told to ask again when it cannot be sent;
        ``organization_id``: whose ``/outbox`` shows it; ``announcement_id``: the urgent
        notice it carries (its sender gets the count). A ``sensitive``
        body is sealed before it reaches the session (and so the database file or its WAL);
        the returned row holds it sealed too."""
        message = OutboxMessage(
            channel=channel,
            recipient=recipient,
            subject=subject,
            body=self._sealed(body) if sensitive else body,
            payload=payload or {},
            sensitive=sensitive,
            status=OutboxStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            expires_at=expires_at,
            notify_chat=notify_chat,
            organization_id=organization_id,
            announcement_id=announcement_id,
        )
        self.session.add(message)
        await self.session.flush()
        return message

    def _sealed(self, body: str) -> str:
        if self._sealer is None:
            raise NoSealer("a sensitive outbox row needs a store with a sealer")
        return seal_text(self._sealer, body)

    async def claim_due(
        self,
        now: datetime,
        limit: int,
        lease: timedelta,
        channels: Collection[DeliveryChannel] | None = None,
    ) -> list[OutboxMessage]:
        """Take due messages for ``lease``, each under a new random ``lease_token``.

        A row is due when it is pending and its next attempt (or a former holder's lease) has
        come. On PostgreSQL the rows are locked with ``FOR UPDATE SKIP LOCKED``, so two workers
        claiming at once take different rows; SQLite's BEGIN IMMEDIATE serializes the claims.
        A new claim replaces the token, which fences off a former holder whose lease ran out:
        it can no longer renew or finish the row (see :meth:`renew`, :meth:`finish`).

        Messages to one recipient go in order: a row waits while an earlier one to the same
        recipient on the same channel is pending (retrying, or held by a worker), so a claim
        takes at most one row per recipient.
        """
        query = (
            select(OutboxMessage)
            .where(
                outbox.c.status == OutboxStatus.PENDING,
                outbox.c.next_attempt_at <= now,
                ~_WAITS_FOR_EARLIER,
            )
            .order_by(outbox.c.id)
            .limit(limit)
        )
        if channels is not None:
            query = query.where(outbox.c.channel.in_(list(channels)))
        if not self._is_sqlite:
            query = query.with_for_update(skip_locked=True)
        messages = list((await self.session.scalars(query)).all())
        for message in messages:
            message.attempts += 1
            message.lease_token = secrets.token_hex(16)
            message.lease_expires_at = message.next_attempt_at = now + lease
        await self.session.flush()
        return messages

    async def close_unsent_cards(self, topic: str, recipient: str, body: str) -> bool:
        """Rewrite every Telegram card about ``topic`` for ``recipient`` that is not sent yet
        into ``body`` without buttons: a decision came first, so the card goes out decided.

        True when there was such a card and no worker had taken it yet: it will arrive in its
        decided form and needs no edit. False when there was none, or one was already taken
        (it may be on its way with its buttons): the caller edits it as usual.
        """
        query = select(OutboxMessage).where(
            outbox.c.status == OutboxStatus.PENDING,
            outbox.c.channel == DeliveryChannel.TELEGRAM,
            outbox.c.recipient == recipient,
        )
        if not self._is_sqlite:
            query = query.with_for_update()  # waits for a claim in progress, then sees it
        cards = [
            row
            for row in (await self.session.scalars(query)).all()
            if (row.payload or {}).get(TOPIC) == topic and not (row.payload or {}).get(EDIT)
        ]
        for row in cards:
            row.body = body
            row.payload = {TOPIC: topic}
        await self.session.flush()
        return bool(cards) and all(row.attempts == 0 for row in cards)

    def _held(self, lease: Lease, now: datetime) -> Any:
        """The rows of ``lease`` while it is live: its token, still pending, not expired."""
        return (
            (outbox.c.id == lease.message_id)
            & (outbox.c.lease_token == lease.token)
            & (outbox.c.status == OutboxStatus.PENDING)
            & (outbox.c.lease_expires_at > now)
        )

    async def renew(self, lease: Lease, now: datetime, duration: timedelta) -> bool:
        """Extend a live lease to ``now + duration``; False when it is no longer held.

        One conditional UPDATE: atomic on PostgreSQL (the row lock re-checks the condition)
        and on SQLite (writers are serialized).
        """
        result = await self.session.execute(
            update(OutboxMessage)
            .where(self._held(lease, now))
            .values(lease_expires_at=now + duration, next_attempt_at=now + duration)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result) == 1

    async def finish(self, lease: Lease, now: datetime, **values: Any) -> bool:
        """Record an outcome (``status``, ``sent_at``, ``last_error``, ``next_attempt_at``,
        ``body`` ...) only while ``lease`` is live, and end the lease; False otherwise (the
        caller lost the row to another worker and must leave it alone)."""
        result = await self.session.execute(
            update(OutboxMessage)
            .where(self._held(lease, now))
            .values(lease_token=None, lease_expires_at=None, **values)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result) == 1

    async def get(self, message_id: int) -> OutboxMessage | None:
        return await self.session.get(OutboxMessage, message_id)

    async def counts_by_status(self) -> dict[str, int]:
        rows = await self.session.execute(
            select(outbox.c.status, func.count(outbox.c.id)).group_by(outbox.c.status)
        )
        counts = dict.fromkeys((status.value for status in OutboxStatus), 0)
        counts.update({OutboxStatus(status).value: int(count) for status, count in rows})
        return counts

    async def recent(self, limit: int = 20) -> Sequence[OutboxMessage]:
        result = await self.session.scalars(
            select(OutboxMessage).order_by(outbox.c.id.desc()).limit(limit)
        )
        return result.all()

    async def recipients_waiting(self, channel: DeliveryChannel) -> Sequence[str]:
        """Everyone on ``channel`` with a message still pending."""
        result = await self.session.scalars(
            select(outbox.c.recipient)
            .where(outbox.c.channel == channel, outbox.c.status == OutboxStatus.PENDING)
            .distinct()
        )
        return result.all()

    async def waiting_for(self, channel: DeliveryChannel, recipient: str) -> bool:
        """Whether a message to ``recipient`` is still pending (on an index: cheap)."""
        found = await self.session.scalar(
            select(outbox.c.id)
            .where(
                outbox.c.channel == channel,
                outbox.c.recipient == recipient,
                outbox.c.status == OutboxStatus.PENDING,
            )
            .limit(1)
        )
        return found is not None

    async def counts(self, organization_id: int | None = None) -> dict[OutboxStatus, int]:
        """How many rows are in each state (every state, zero included): the whole
        deployment's, or one organization's."""
        query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
        if organization_id is not None:
            query = query.where(outbox.c.organization_id == organization_id)
        result = await self.session.execute(query)
        found = {OutboxStatus(status): int(count) for status, count in result.all()}
        return {status: found.get(status, 0) for status in OutboxStatus}

    async def latest(
        self,
        statuses: Collection[OutboxStatus] | None = None,
        limit: int = 20,
        organization_id: int | None = None,
    ) -> Sequence[OutboxMessage]:
        """The newest rows (in ``statuses``, of ``organization_id`` when given), newest
        first."""
        query = select(OutboxMessage).order_by(outbox.c.id.desc()).limit(limit)
        if statuses is not None:
            query = query.where(outbox.c.status.in_(list(statuses)))
        if organization_id is not None:
            query = query.where(outbox.c.organization_id == organization_id)
        return (await self.session.scalars(query)).all()

    async def requeue(self, message: OutboxMessage, now: datetime) -> None:
        """An operator's retry: pending, due now, its attempts and any lease forgotten."""
        message.status = OutboxStatus.PENDING
        message.attempts = 0
        message.next_attempt_at = now
        message.lease_token = None
        message.lease_expires_at = None
        message.sent_at = None
        await self.session.flush()


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class UndeliverableAddresses(_Repository):
    """Addresses and numbers a provider refused for good; nothing more is sent there."""

    async def mark(
        self, channel: DeliveryChannel, address: str, reason: str, now: datetime
    ) -> None:
        found = await self.find(channel, address)
        if found is None:
            self.session.add(
                UndeliverableAddress(
                    channel=channel, address=address, reason=reason[:300], recorded_at=now
                )
            )
        else:
            found.reason, found.recorded_at = reason[:300], now
        await self.session.flush()

    async def find(self, channel: DeliveryChannel, address: str) -> UndeliverableAddress | None:
        result = await self.session.scalars(
            select(UndeliverableAddress).where(
                undeliverable_addresses.c.channel == channel,
                undeliverable_addresses.c.address == address,
            )
        )
        return result.first()

    async def forget(self, channel: DeliveryChannel, address: str) -> bool:
        result = await self.session.execute(
            delete(UndeliverableAddress).where(
                undeliverable_addresses.c.channel == channel,
                undeliverable_addresses.c.address == address,
            )
        )
        return _rowcount(result) > 0

    async def count(self, organization_id: int | None = None) -> int:
        query = select(func.count(undeliverable_addresses.c.id))
        return int(await self.session.scalar(self._of(query, organization_id)) or 0)

    async def latest(
        self, limit: int = 5, organization_id: int | None = None
    ) -> Sequence[UndeliverableAddress]:
        query = select(UndeliverableAddress).order_by(undeliverable_addresses.c.id.desc())
        return (await self.session.scalars(self._of(query, organization_id).limit(limit))).all()

    @staticmethod
    def _of(query: Any, organization_id: int | None) -> Any:
        """Only addresses an organization's own messages went to (None: all of them)."""
        if organization_id is None:
            return query
        return query.where(
            exists().where(
                outbox.c.organization_id == organization_id,
                outbox.c.channel == undeliverable_addresses.c.channel,
                outbox.c.recipient == undeliverable_addresses.c.address,
            )
        )


class StaffMessages(_Repository):
    async def add(
        self,
        topic: str,
        chat_id: int,
        message_id: int,
        now: datetime,
        content_digest: str | None = None,
    ) -> None:
        self.session.add(
            StaffMessage(
                topic=topic,
                chat_id=chat_id,
                message_id=message_id,
                sent_at=now,
                content_digest=content_digest,
            )
        )
        await self.session.flush()

    async def remember_content(self, staff_message_id: int, content_digest: str) -> None:
        """The message was edited: it now shows the content with this digest."""
        message = await self.session.get(StaffMessage, staff_message_id)
        if message is not None:
            message.content_digest = content_digest
            await self.session.flush()

    async def find(self, topic: str, chat_id: int) -> StaffMessage | None:
        result = await self.session.scalars(
            select(StaffMessage)
            .where(staff_messages.c.topic == topic, staff_messages.c.chat_id == chat_id)
            .order_by(staff_messages.c.id.desc())
        )
        return result.first()


class AuditLog(_Repository):
    async def add(
        self,
        action: AuditAction,
        *,
        actor: str,
        channel: str,
        now: datetime,
        organization_id: int | None = None,
        actor_person_id: int | None = None,
        subject_person_id: int | None = None,
        **detail: Any,
    ) -> None:
        self.session.add(
            AuditEntry(
                at=now,
                action=action.value,
                actor=actor,
                channel=channel,
                organization_id=organization_id,
                actor_person_id=actor_person_id,
                subject_person_id=subject_person_id,
                detail=detail,
            )
        )
        await self.session.flush()

    async def any_of(self, action: AuditAction, channel: str) -> bool:
        found = await self.session.scalar(
            select(audit_log.c.id)
            .where(audit_log.c.action == action, audit_log.c.channel == channel)
            .limit(1)
        )
        return found is not None

    async def entries(self, action: AuditAction | None = None) -> Sequence[AuditEntry]:
        query = select(AuditEntry).order_by(audit_log.c.id)
        if action is not None:
            query = query.where(audit_log.c.action == action)
        return (await self.session.scalars(query)).all()


class HandledUpdates(_Repository):
    async def seen(self, update_id: int) -> bool:
        found = await self.session.execute(
            select(handled_updates.c.update_id).where(handled_updates.c.update_id == update_id)
        )
        return found.first() is not None

    async def record(self, update_id: int, now: datetime, sealed: str | None) -> None:
        self.session.add(HandledUpdate(update_id=update_id, handled_at=now, outcome=sealed))

    async def outcome(self, update_id: int) -> str | None:
        """The kept outcome of a handled update not yet carried out in the chat."""
        row = await self.session.get(HandledUpdate, update_id)
        return row.outcome if row is not None else None

    async def answered(self, update_ids: Sequence[int]) -> None:
        """The outcomes were carried out in the chat: they need not be repeated, nor kept."""
        await self.session.execute(
            update(HandledUpdate)
            .where(handled_updates.c.update_id.in_(list(update_ids)))
            .values(outcome=None)
        )

    async def forget_before(self, moment: datetime, limit: int) -> int:
        """Forget at most ``limit`` of the update ids handled before ``moment`` (oldest on
        the ``handled_at`` index, by id on both SQLite and PostgreSQL); how many."""
        oldest = (
            select(handled_updates.c.update_id)
            .where(handled_updates.c.handled_at < moment)
            .limit(limit)
        )
        result = await self.session.execute(
            delete(handled_updates).where(handled_updates.c.update_id.in_(oldest))
        )
        return _rowcount(result)


class Conversations(_Repository):
    async def peek(self, chat_id: int) -> Conversation | None:
        """The chat's conversation without locking it (for its language, say)."""
        return await self.session.get(Conversation, chat_id)

    async def load(self, chat_id: int, now: datetime) -> Conversation:
        """The chat's conversation, locked for this transaction; a new one starts idle."""
        query = select(Conversation).where(conversations.c.chat_id == chat_id)
        if self._is_sqlite:
            conversation = (await self.session.scalars(query)).first()
            if conversation is None:
                conversation = Conversation(
                    chat_id=chat_id, state=ConversationState.IDLE, data={}, updated_at=now
                )
                self.session.add(conversation)
                await self.session.flush()
            return conversation
        query = query.with_for_update()
        conversation = (await self.session.scalars(query)).first()
        if conversation is None:
            # A new chat whose first updates reach two workers at once: one row, and the
            # second worker waits on its lock instead of failing on the duplicate key.
            # (The new row is this transaction's until it ends, as a locked one would be.)
            made = await self.session.scalars(
                pg_insert(Conversation)
                .values(chat_id=chat_id, state=ConversationState.IDLE, data={}, updated_at=now)
                .on_conflict_do_nothing(index_elements=[conversations.c.chat_id])
                .returning(Conversation)
            )
            conversation = made.first() or (await self.session.scalars(query)).one()
        return conversation


class Letters(_Repository):
    """Letters with an activation code, queued for the print-and-mail export."""

    async def queue(self, letter: Letter) -> Letter:
        self.session.add(letter)
        await self.session.flush()
        return letter

    async def get(self, letter_id: int) -> Letter | None:
        return await self.session.get(Letter, letter_id)

    async def queued(self, organization_id: int | None = None) -> list[Letter]:
        """Queued letters, oldest first, locked for this transaction: two exports running at
        once never put the same letter (with two different codes) in two batches."""
        query = select(Letter).where(letters.c.status == LetterStatus.QUEUED).order_by(letters.c.id)
        if organization_id is not None:
            query = query.where(letters.c.organization_id == organization_id)
        if not self._is_sqlite:
            query = query.with_for_update(skip_locked=True, of=Letter)
        return list((await self.session.scalars(query)).all())

    async def mark_exported(self, letter: Letter, batch: str, now: datetime) -> None:
        letter.status = LetterStatus.EXPORTED
        letter.exported_at = now
        letter.batch = batch
        await self.session.flush()
