"""The unit of work: one transaction, all repositories, commit or roll back as a whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.activation_requests import ActivationRequests
from storage.customer_accounts import CustomerAccounts
from storage.inbox import Inbox
from storage.offboard_requests import OffboardRequests
from storage.rate_events import RateEvents
from storage.repositories import (
    AuditLog,
    ChatLinks,
    Codes,
    Conversations,
    Customers,
    HandledUpdates,
    Letters,
    Organizations,
    Outbox,
    People,
    RegistrationRequests,
    StaffMessages,
    UndeliverableAddresses,
)


class Transaction:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.organizations = Organizations(session)
        self.people = People(session)
        self.chat_links = ChatLinks(session)
        self.requests = RegistrationRequests(session)
        self.codes = Codes(session)
        self.outbox = Outbox(session)
        self.staff_messages = StaffMessages(session)
        self.audit = AuditLog(session)
        self.conversations = Conversations(session)
        self.handled_updates = HandledUpdates(session)
        self.letters = Letters(session)
        self.customers = Customers(session)
        self.rate_events = RateEvents(session)
        self.activation_requests = ActivationRequests(session)
        self.customer_accounts = CustomerAccounts(session)
        self.inbox = Inbox(session)
        self.offboard_requests = OffboardRequests(session)
        self.undeliverable = UndeliverableAddresses(session)


class Store:
    """Hands out transactions on one engine; the only owner of commit and rollback."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._sessions() as session, session.begin():
            yield Transaction(session)

    async def close(self) -> None:
        await self.engine.dispose()
