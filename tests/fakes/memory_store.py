"""In-memory fakes of the store's ports (flows.store), for unit tests of the core.

Each repository keeps its records in a dict and implements the Protocol it stands for
(subclassing it, so mypy reports a method that is missing or typed differently). Only what
the core's use cases under unit test need is faked: a repository the fake transaction does
not have raises at once, so a test never passes by touching a port it did not set up.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from flows.domain import CodePurpose, DeliveryChannel
from flows.model import Customer, OneTimeCode
from flows.store import (
    ActivationRequests,
    Announcements,
    ApiKeys,
    AuditLog,
    ChatLinks,
    Codes,
    Conversations,
    Customers,
    DevicePairings,
    Digests,
    HandledUpdates,
    Invitations,
    Letters,
    MemberInvitations,
    Members,
    NotificationPreferences,
    OffboardRequests,
    Organizations,
    Outbox,
    People,
    PortalChats,
    RateEvents,
    RegistrationRequests,
    Store,
    Transaction,
    TwoStep,
    UndeliverableAddresses,
)


@dataclass
class Records:
    """Everything the fake store holds; a transaction works on it and a failed one is undone."""

    codes: dict[int, OneTimeCode] = field(default_factory=dict)
    rate_events: list[tuple[str, datetime]] = field(default_factory=list)
    customers: dict[int, Customer] = field(default_factory=dict)


class _Ids:
    """Ids handed out the way a database sequence does: increasing, never reused."""

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def next(self) -> int:
        return next(self._next)


class MemoryCodes(Codes):
    def __init__(self, records: Records, ids: _Ids) -> None:
        self._codes = records.codes
        self._ids = ids

    async def add(self, code: OneTimeCode) -> OneTimeCode:
        code.id = self._ids.next()
        code.used_at = getattr(code, "used_at", None)
        self._codes[code.id] = code
        return code

    async def get(self, code_id: int) -> OneTimeCode | None:
        return self._codes.get(code_id)

    def _newest_first(self) -> list[OneTimeCode]:
        return sorted(self._codes.values(), key=lambda code: code.id, reverse=True)

    async def by_digest(self, purpose: CodePurpose, digests: Collection[str]) -> OneTimeCode | None:
        wanted = set(digests)
        for code in self._newest_first():
            if code.code_hash in wanted and code.purpose is purpose and code.used_at is None:
                return code
        return None

    async def current(self, subject: str, purpose: CodePurpose) -> OneTimeCode | None:
        for code in self._newest_first():
            live = code.used_at is None and not code.burned
            if live and code.subject == subject and code.purpose is purpose:
                return code
        return None

    async def sent_since(self, subject: str, purpose: CodePurpose, since: datetime) -> int:
        return sum(
            1
            for code in self._codes.values()
            if code.subject == subject and code.purpose is purpose and code.created_at >= since
        )

    async def sent_to_since(self, destination: str, purpose: CodePurpose, since: datetime) -> int:
        return sum(
            1
            for code in self._codes.values()
            if code.destination == destination
            and code.purpose is purpose
            and code.created_at >= since
        )

    async def last_sent_at(
        self, subject: str, purpose: CodePurpose, destination: str | None = None
    ) -> datetime | None:
        made = [
            code.created_at
            for code in self._codes.values()
            if code.subject == subject
            and code.purpose is purpose
            and (destination is None or code.destination == destination)
        ]
        return max(made, default=None)

    async def burn_all(self, subject: str, purpose: CodePurpose) -> None:
        for code in self._codes.values():
            if code.subject == subject and code.purpose is purpose and code.used_at is None:
                code.burned = True


class MemoryRateEvents(RateEvents):
    def __init__(self, records: Records) -> None:
        self._events = records.rate_events

    async def since(self, key: str, since: datetime) -> tuple[int, datetime | None]:
        times = [at for event_key, at in self._events if event_key == key and at > since]
        return len(times), min(times, default=None)

    async def add(self, key: str, at: datetime) -> None:
        self._events.append((key, at))

    async def forget_before(self, moment: datetime, limit: int) -> int:
        old = [index for index, (_, at) in enumerate(self._events) if at < moment][:limit]
        for index in reversed(old):
            del self._events[index]
        return len(old)


class MemoryCustomers(Customers):
    """The lookups by customer number and contact; what the import and linking need."""

    def __init__(self, records: Records, ids: _Ids) -> None:
        self._customers = records.customers
        self._ids = ids

    async def all_numbers(self, organization_id: int) -> dict[str, Customer]:
        return {
            customer.customer_number: customer
            for customer in self._customers.values()
            if customer.organization_id == organization_id
        }

    async def add(self, customer: Customer) -> Customer:
        customer.id = self._ids.next()
        self._customers[customer.id] = customer
        return customer

    async def get(self, customer_id: int) -> Customer | None:
        return self._customers.get(customer_id)

    async def by_number(self, organization_id: int, number: str) -> Customer | None:
        return next(
            (
                c
                for c in self._customers.values()
                if c.organization_id == organization_id and c.customer_number == number
            ),
            None,
        )

    async def by_contact(
        self, organization_id: int, email: str | None = None, phone: str | None = None
    ) -> Sequence[Customer]:
        return [
            c
            for c in self._customers.values()
            if c.organization_id == organization_id
            and ((email and c.email == email.lower()) or (phone and c.phone == phone))
        ]

    async def matching_address(
        self, customer_number: str, postcode: str, house_number: str
    ) -> Sequence[Customer]:
        return [
            customer
            for customer in self._customers.values()
            if customer.customer_number == customer_number
            and (customer.postcode or "").replace(" ", "").upper() == postcode.replace(" ", "")
            and (customer.house_number or "").replace(" ", "").lower() == house_number
        ]

    async def with_number(self, customer_number: str) -> Sequence[Customer]:
        number = customer_number.strip()
        return [c for c in self._customers.values() if c.customer_number == number]

    async def accounts_for(self, channel: DeliveryChannel, value: str) -> Sequence[Customer]:
        def speaks_for(customer: Customer) -> bool:
            if channel is DeliveryChannel.SMS:
                return customer.phone == value
            administrator = (customer.administrator_email or "").lower()
            return customer.email == value or (
                customer.under_administration and administrator == value
            )

        found = [c for c in self._customers.values() if c.account_active and speaks_for(c)]
        return sorted(found, key=lambda customer: customer.id)


class NotFaked(AssertionError):
    """A use case under unit test reached a port the fake store does not have."""


class MemoryTransaction(Transaction):
    """A :class:`flows.store.Transaction` over :class:`Records`."""

    def __init__(self, records: Records, ids: _Ids) -> None:
        self._codes = MemoryCodes(records, ids)
        self._rate_events = MemoryRateEvents(records)
        self._customers = MemoryCustomers(records, ids)

    @property
    def codes(self) -> Codes:
        return self._codes

    @property
    def rate_events(self) -> RateEvents:
        return self._rate_events

    @property
    def customers(self) -> Customers:
        return self._customers

    def _not_faked(self, port: str) -> NotFaked:
        return NotFaked(f"tx.{port} is not faked in tests/fakes/memory_store.py")

    @property
    def organizations(self) -> Organizations:
        raise self._not_faked("organizations")

    @property
    def people(self) -> People:
        raise self._not_faked("people")

    @property
    def chat_links(self) -> ChatLinks:
        raise self._not_faked("chat_links")

    @property
    def requests(self) -> RegistrationRequests:
        raise self._not_faked("requests")

    @property
    def outbox(self) -> Outbox:
        raise self._not_faked("outbox")

    @property
    def audit(self) -> AuditLog:
        raise self._not_faked("audit")

    @property
    def conversations(self) -> Conversations:
        raise self._not_faked("conversations")

    @property
    def handled_updates(self) -> HandledUpdates:
        raise self._not_faked("handled_updates")

    @property
    def letters(self) -> Letters:
        raise self._not_faked("letters")

    @property
    def activation_requests(self) -> ActivationRequests:
        raise self._not_faked("activation_requests")

    @property
    def offboard_requests(self) -> OffboardRequests:
        raise self._not_faked("offboard_requests")

    @property
    def undeliverable(self) -> UndeliverableAddresses:
        raise self._not_faked("undeliverable")

    @property
    def api_keys(self) -> ApiKeys:
        raise self._not_faked("api_keys")

    @property
    def invitations(self) -> Invitations:
        raise self._not_faked("invitations")

    @property
    def portal_chats(self) -> PortalChats:
        raise self._not_faked("portal_chats")

    @property
    def members(self) -> Members:
        raise self._not_faked("members")

    @property
    def announcements(self) -> Announcements:
        raise self._not_faked("announcements")

    @property
    def digests(self) -> Digests:
        raise self._not_faked("digests")

    @property
    def device_pairings(self) -> DevicePairings:
        raise self._not_faked("device_pairings")

    @property
    def notification_preferences(self) -> NotificationPreferences:
        raise self._not_faked("notification_preferences")

    @property
    def two_step(self) -> TwoStep:
        raise self._not_faked("two_step")

    @property
    def member_invitations(self) -> MemberInvitations:
        raise self._not_faked("member_invitations")


class MemoryStore:
    """A :class:`flows.store.Store` in memory: a transaction that raises leaves no trace."""

    def __init__(self) -> None:
        self.records = Records()
        self._ids = _Ids()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        before = copy.deepcopy(self.records)
        try:
            yield MemoryTransaction(self.records, self._ids)
        except BaseException:
            self.records.codes, self.records.rate_events, self.records.customers = (
                before.codes,
                before.rate_events,
                before.customers,
            )
            raise


def as_store(store: MemoryStore) -> Store:
    """The fake, typed as the port it stands for (mypy checks that it is one)."""
    return store
