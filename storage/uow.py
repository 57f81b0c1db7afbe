"""The unit of work: one transaction, all repositories, commit or roll back as a whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from flows import store as ports
from storage.activation_requests import ActivationRequests
from storage.announcements import Announcements, Digests
from storage.api_keys import ApiKeys
from storage.customers import Customers
from storage.device_pairings import DevicePairings
from storage.inbox import Inbox
from storage.invitations import Invitations
from storage.member_invitations import MemberInvitations
from storage.notification_preferences import NotificationPreferences
from storage.offboard_requests import OffboardRequests
from storage.portal_chats import Members, PortalChats
from storage.rate_events import RateEvents
from storage.redis_limits import RedisLimits
from storage.repositories import (
    AuditLog,
    ChatLinks,
    Codes,
    Conversations,
    HandledUpdates,
    Letters,
    Organizations,
    Outbox,
    People,
    RegistrationRequests,
    StaffMessages,
    UndeliverableAddresses,
)
from storage.sealing import Sealer, open_text
from storage.two_step import TwoStep


class Transaction:
    def __init__(
        self,
        session: AsyncSession,
        sealer: Sealer | None = None,
        fast_limits: RedisLimits | None = None,
    ) -> None:
        self.session = session
        self.organizations = Organizations(session)
        self.people = People(session)
        self.chat_links = ChatLinks(session)
        self.requests = RegistrationRequests(session)
        self.codes = Codes(session)
        self.outbox = Outbox(session, sealer)
        self.staff_messages = StaffMessages(session)
        self.audit = AuditLog(session)
        self.conversations = Conversations(session)
        self.handled_updates = HandledUpdates(session)
        self.letters = Letters(session)
        self.customers = Customers(session)
        self.portal_chats = PortalChats(session)
        self.members = Members(session)
        self.member_invitations = MemberInvitations(session)
        in_store = RateEvents(session)
        self.rate_events: ports.RateEvents = (
            in_store if fast_limits is None else fast_limits.rate_events(in_store)
        )
        self.activation_requests = ActivationRequests(session)
        self.inbox = Inbox(session)
        self.offboard_requests = OffboardRequests(session)
        self.undeliverable = UndeliverableAddresses(session)
        self.api_keys = ApiKeys(session)
        self.invitations = Invitations(session)
        self.announcements = Announcements(session)
        self.digests = Digests(session)
        self.device_pairings = DevicePairings(session)
        self.notification_preferences = NotificationPreferences(session)
        self.two_step = TwoStep(session, sealer)


class Store:
    """Hands out transactions on one engine; the only owner of commit and rollback.

    ``sealer`` seals what the store keeps but must not show (a code's mail or SMS body in the
    outbox, see :mod:`storage.sealing`); its keys are never in the store. A store without one
    refuses to queue such a row.

    ``fast_limits``: the abuse limits' counts in Redis instead of the store's
    ``rate_events`` (see :mod:`storage.redis_limits`), so a step's limits cost no query.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        sealer: Sealer | None = None,
        fast_limits: RedisLimits | None = None,
    ) -> None:
        self.engine = engine
        self.sealer = sealer
        self.fast_limits = fast_limits
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    def opened(self, stored: str) -> str:
        """The clear text of a stored outbox body, sealed or not (outside a transaction: the
        worker opens a body right before it is delivered)."""
        return open_text(self.sealer, stored)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._sessions() as session, session.begin():
            yield Transaction(session, self.sealer, self.fast_limits)

    async def close(self) -> None:
        await self.engine.dispose()
