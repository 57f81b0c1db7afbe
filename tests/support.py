"""Shared test helpers: a settable clock, a migrated store and a driver for the desk."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.sealing import outbox_sealer
from flows import accounts, own_account
from flows.buttons import ButtonAction, Pressed, StaffAction, decode, encode, signed
from flows.desk import Desk
from flows.directory import Directories
from flows.domain import CodePurpose, DeliveryChannel, Language, OutboxStatus, Role
from flows.events import Event, EventKind, Outcome, Sender
from flows.keys import KeyedHasher
from flows.model import Customer, OneTimeCode, OutboxMessage
from flows.texts import Texts
from flows.turn import DeskPolicy
from flows.verification import ACTIVATION_CODE, SHORT_CODE, stored_code_matches
from storage.db import create_engine
from storage.migrate import upgrade
from storage.uow import Store

START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

TEST_KEY = b"balie-tests-secret-key-0123456789"
TEST_HASHER = KeyedHasher(TEST_KEY)
"""The server key of the tests' desks, so a test can check what the store keeps."""

TEST_SEALER = outbox_sealer(TEST_HASHER)
"""Seals the tests' sensitive outbox bodies under that key, as the server does."""


def code_matches(row: OneTimeCode, code: str, hasher: KeyedHasher = TEST_HASHER) -> bool:
    """Whether the stored code ``row`` was made from ``code`` (as typed, loosely)."""
    shape = ACTIVATION_CODE if row.purpose is CodePurpose.ACTIVATION else SHORT_CODE
    normalized = shape.normalized(code)
    return normalized is not None and stored_code_matches(hasher, row, normalized)


class FakeClock:
    def __init__(self, now: datetime = START) -> None:
        self.current = now
        self.slept = 0.0
        """Seconds the desk held answers back (a slowed-down verification)."""

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)

    async def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.current += timedelta(seconds=seconds)


async def migrated_store(database_url: str) -> Store:
    await upgrade(database_url)
    return Store(create_engine(database_url), sealer=TEST_SEALER)


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'balie.sqlite3'}"


@dataclass(frozen=True)
class DemoOrg:
    partner_id: str = "BLG-1001"
    name: str = "BLG Wonen"
    manager_chat: int = 5001
    second_manager_chat: int = 5002
    staff_chat: int = 5003


async def seed_demo(store: Store, clock: FakeClock, org: DemoOrg = DemoOrg()) -> None:
    """An organization with two managers, a desk staff member and two pre-added employees."""
    now = clock.now()
    async with store.transaction() as tx:
        await accounts.add_organization(tx, org.name, org.partner_id, now)
        await accounts.add_staff(
            tx,
            partner_id=org.partner_id,
            name="Marieke Manager",
            role=Role.MANAGER,
            email="marieke@blg.example",
            phone=None,
            telegram_id=org.manager_chat,
            now=now,
        )
        await accounts.add_staff(
            tx,
            partner_id=org.partner_id,
            name="Maarten Manager",
            role=Role.MANAGER,
            email="maarten@blg.example",
            phone=None,
            telegram_id=org.second_manager_chat,
            now=now,
        )
        await accounts.add_staff(
            tx,
            partner_id=org.partner_id,
            name="Sanne Staff",
            role=Role.STAFF,
            email="sanne@blg.example",
            phone=None,
            telegram_id=org.staff_chat,
            now=now,
        )
        await accounts.add_employee(
            tx,
            partner_id=org.partner_id,
            name="Eva Employee",
            email="eva@kantoor.example",
            phone=None,
            offices=["Utrecht"],
            now=now,
        )
        await accounts.add_employee(
            tx,
            partner_id=org.partner_id,
            name="Piet Pieters",
            email=None,
            phone="06 12345678",
            offices=["Utrecht", "Zeist"],
            now=now,
        )


class DeskDriver:
    """Talks to a Desk the way a channel does, one user at a time."""

    def __init__(
        self,
        store: Store,
        clock: FakeClock,
        policy: DeskPolicy | None = None,
        hasher: KeyedHasher = TEST_HASHER,
        directories: Directories | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.desk = Desk(
            store,
            # No steady answer time: the core's tests count the work instead of waiting.
            policy or DeskPolicy(default_language="en", steady_answer=timedelta(0)),  # type: ignore[arg-type]
            clock,
            hasher,
            directories=directories,
        )

    @staticmethod
    def sender(user: int, language: str = "en") -> Sender:
        return Sender(user, f"User {user}", language)

    async def send(self, user: int, text: str, language: str = "en") -> Outcome:
        return await self.desk.handle(Event.from_text(user, self.sender(user, language), text))

    async def press(self, user: int, data: str) -> Outcome:
        event = Event(user, self.sender(user), EventKind.BUTTON, button_data=data)
        return await self.desk.handle(event)

    def signed(self, action: StaffAction, chat: int) -> str:
        """The data the desk would put on ``action``'s button in a card for ``chat``."""
        return signed(self.desk.hasher, action, chat)

    async def card_button(self, chat: int, label: str) -> str:
        """The data of button ``label`` on the newest card queued for ``chat``; that card
        counts as delivered from now on (only a card that arrived can be pressed)."""
        for message in reversed(await self.outbox(DeliveryChannel.TELEGRAM)):
            if message.recipient != str(chat):
                continue
            for row in message.payload.get("buttons") or []:
                for button in row:
                    if button["label"] == label:
                        await self.delivered(message.id)
                        return str(button["data"])
        raise AssertionError(f"no card for chat {chat} has a button {label!r}")

    async def deliver_chats(self) -> None:
        """Every Telegram row queued so far, as the worker leaves it once sent."""
        for message in await self.outbox(DeliveryChannel.TELEGRAM):
            await self.delivered(message.id)

    async def delivered(self, message_id: int) -> None:
        """Outbox row ``message_id`` as a worker leaves it once sent."""
        async with self.store.transaction() as tx:
            row = await tx.outbox.get(message_id)
            assert row is not None
            if row.status is OutboxStatus.PENDING:
                row.attempts = max(row.attempts, 1)
                row.status = OutboxStatus.SENT
                row.sent_at = self.clock.now()

    async def sticker(self, user: int) -> Outcome:
        return await self.desk.handle(Event(user, self.sender(user), EventKind.UNSUPPORTED))

    async def outbox(self, channel: DeliveryChannel | None = None) -> list[OutboxMessage]:
        """The rows queued so far, oldest first, each body in clear (a sensitive one is
        sealed in the store); detached copies, as a channel would read them."""
        async with self.store.transaction() as tx:
            query = select(OutboxMessage).order_by(OutboxMessage.id)
            if channel is not None:
                query = query.where(OutboxMessage.channel == channel)
            rows = list((await tx.session.scalars(query)).all())
            tx.session.expunge_all()  # a view: nothing changed below goes back to the store
        for row in rows:
            row.body = self.store.opened(row.body)
        return rows

    async def last_code(self, destination: str) -> str:
        messages = [m for m in await self.outbox() if m.recipient == destination]
        assert messages, f"no message to {destination}"
        match = re.search(r"\b(\d{6})\b", messages[-1].body)
        assert match, messages[-1].body
        return match.group(1)

    async def register(self, user: int, partner_id: str, contact: str, name: str = "") -> Outcome:
        """Walk the whole registration; returns the last outcome."""
        await self.send(user, "/register")
        await self.send(user, partner_id)
        await self.send(user, contact)
        outcome = await self.send(user, await self.last_code(_normalized(contact)))
        if name:
            outcome = await self.send(user, name)
        return outcome


def _normalized(contact: str) -> str:
    from flows.contacts import Contact, parse_contact

    parsed = parse_contact(contact)
    return parsed.value if isinstance(parsed, Contact) else contact


def texts_of(outcome: Outcome) -> str:
    return "\n".join(reply.text for reply in outcome.replies)


def buttons_of(outcome: Outcome) -> list[str]:
    return [b.data for reply in outcome.replies for row in reply.buttons for b in row]


_HOLE = "\x00"


def _message_pattern(texts: Texts, message_id: str, values: dict[str, object]) -> re.Pattern[str]:
    """Message ``message_id`` with ``values`` filled in, as a pattern in which every
    placeholder not given matches any text (a test need not know the organization's name)."""
    values = dict(values)
    while True:
        try:
            text = texts(message_id, **values)
            break
        except KeyError as missing:
            name = str(missing.args[0])
            if name == message_id or name in values:
                raise
            values[name] = _HOLE
    return re.compile(".+?".join(re.escape(part) for part in text.split(_HOLE)), re.DOTALL)


def said(
    outcome: Outcome, message_id: str, language: Language = Language.EN, **values: object
) -> bool:
    """Whether the outcome says message ``message_id`` (in a reply or the press's notice),
    with ``values`` in its placeholders: the test names the message, not its wording."""
    shown = [reply.text for reply in outcome.replies] + [outcome.callback_notice or ""]
    return any(says(text, message_id, language, **values) for text in shown)


def says(text: str, message_id: str, language: Language = Language.EN, **values: object) -> bool:
    """Whether ``text`` (a reply, a card's body, a mail) holds message ``message_id``."""
    return _message_pattern(Texts(language), message_id, values).search(text) is not None


def pressed(action: ButtonAction) -> str:
    """The data a press of the button for ``action`` sends (a menu choice, a page)."""
    return encode(action)


def offered(outcome: Outcome) -> list[Pressed | None]:
    """The outcome's buttons as the typed actions they carry (None: data that is no action)."""
    return [decode(data) for data in buttons_of(outcome)]


async def portal_chats_of(store: Store, customer_id: int) -> list[int]:
    """The chats linked to a customer portal account's holder."""
    async with store.transaction() as tx:
        owner = own_account.Owner(own_account.OwnerKind.CUSTOMER, customer_id)
        return await own_account.chats_of(tx, owner)


def customer(organization_id: int, number: str, now: datetime, **facts: object) -> Customer:
    """A tenant with an address and an e-mail address; ``facts`` override any field."""
    values: dict[str, object] = {
        "organization_id": organization_id,
        "customer_number": number,
        "name": f"Klant {number}",
        "email": f"klant{number}@thuis.example",
        "phone": None,
        "street": "Dorpsstraat",
        "house_number": "12a",
        "postcode": "3511 AB",
        "city": "Utrecht",
        "is_tenant": True,
        "institution_coresident": False,
        "payment_arrangement": False,
        "under_administration": False,
        "administrator_name": None,
        "administrator_email": None,
        "blocked": False,
        "account_active": False,
        "created_at": now,
        "updated_at": now,
    }
    values.update(facts)
    return Customer(**values)


async def seed_customers(store: Store, clock: FakeClock, partner_id: str = "BLG-1001") -> None:
    """Customers for every branch of seed 002's rules (numbers tell which)."""
    now = clock.now()
    async with store.transaction() as tx:
        organization = await tx.organizations.by_partner_id(partner_id)
        assert organization is not None
        organization.desk_contact = "030 123 4567"
        rows = [
            customer(organization.id, "1001", now),
            customer(organization.id, "1002", now, email=None),
            customer(organization.id, "1003", now, is_tenant=False),
            customer(organization.id, "1004", now, institution_coresident=True),
            customer(organization.id, "1005", now, payment_arrangement=True),
            customer(
                organization.id,
                "1006",
                now,
                under_administration=True,
                blocked=True,
                administrator_name="Bewind B.V.",
                administrator_email="bewind@bewind.example",
            ),
            customer(organization.id, "1007", now, blocked=True),
            customer(organization.id, "1008", now, phone="+31611112222"),
        ]
        for row in rows:
            tx.session.add(row)
