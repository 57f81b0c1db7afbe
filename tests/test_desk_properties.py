"""Property-based tests of the whole desk: random conversations, checked against the store.

A hypothesis ``RuleBasedStateMachine`` lets three end users, the organization's two
managers and a stranger send random events in any order: texts (partner IDs, addresses,
customer numbers, postcodes, random digits, and codes: the last one mailed to the actor's own
address, and codes mailed to other people's addresses), commands (/start and /cancel at any
point), presses of the buttons the actor was shown, tampered decision data, stickers,
shared contacts, and time passing. After every event it reads the store and checks:

1. no chat is ever linked to an account (a person, or a customer's portal account) whose
   address it did not prove, i.e. it typed a code that was mailed to that address because of
   its own request (for a customer: the activation code mailed for that customer); a manager's
   or staff member's account reaches a new chat only through a chat-link request that
   someone else approved;
2. a code confirms only its own destination and purpose: a code is used only in the step in
   which the chat it was issued for typed it, at the step of its own flow, once;
3. every registration, activation-code and offboarding request is decided at most once, by a
   chat linked to a person allowed to decide it (never their own chat-link request);
4. every answer says something: at least one reply or a toast, and no empty text;
5. no exception escapes: the desk turns one into the catalog's ``internal_error`` text, which
   must never appear;

and, besides: a code is mailed only to its own destination and never shown in a chat; a
Telegram message goes only to a chat that is (or was) linked or that asked for something; a
card's decision buttons are signed for the chat they go to; tampered data changes nothing.

SQLite only: each example gets a copy of one migrated and seeded template file, so examples
are independent and fast. (The flows' PostgreSQL behaviour is covered by the other tests.)
Profiles (tests/conftest.py): "dev" 50 examples, "ci" 200 (when ``CI=true``), and
``--hypothesis-profile=long`` 2000.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar, TypeVar

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule
from sqlalchemy import Engine, select
from sqlalchemy import create_engine as create_sync_engine

from flows.buttons import Menu, MenuChoice, Signed, decode, verified
from flows.contacts import Contact, parse_contact
from flows.domain import (
    DECIDING_ROLES,
    RELEASING_ROLES,
    ActivationStatus,
    CodePurpose,
    ConversationState,
    DeliveryChannel,
    Language,
    OffboardStatus,
    RequestKind,
    RequestStatus,
)
from flows.events import Event, EventKind, Outcome
from flows.linking import decode_undo
from flows.model import (
    ActivationRequest,
    ChatLink,
    Conversation,
    Customer,
    OffboardRequest,
    OneTimeCode,
    OutboxMessage,
    Person,
    PortalChat,
    RegistrationRequest,
)
from flows.texts import Texts
from flows.verification import ACTIVATION_CODE, SHORT_CODE
from storage.db import create_engine
from storage.migrate import upgrade
from storage.sealing import open_text
from storage.uow import Store
from tests.support import (
    TEST_HASHER,
    TEST_SEALER,
    DemoOrg,
    DeskDriver,
    FakeClock,
    code_matches,
    pressed,
    seed_customers,
    seed_demo,
)

T = TypeVar("T")

ORG = DemoOrg()
USER_A, USER_B, USER_C = 7001, 7002, 7003
MANAGER, SECOND_MANAGER = ORG.manager_chat, ORG.second_manager_chat
STRANGER = 6601
ACTORS = (USER_A, USER_B, USER_C, MANAGER, SECOND_MANAGER, STRANGER)


def _normalized(contact: str) -> str:
    parsed = parse_contact(contact)
    return parsed.value if isinstance(parsed, Contact) else contact.strip().lower()


OWN_ADDRESSES: dict[int, frozenset[str]] = {
    # Eva is a pre-added employee; customer 1001 an eligible tenant.
    USER_A: frozenset({"eva@kantoor.example", "klant1001@thuis.example"}),
    # A new employee, Piet's mobile (pre-added), a tenant with a phone on file.
    USER_B: frozenset(
        {"nieuw@thuis.example", _normalized("06 12345678"), "klant1008@thuis.example"}
    ),
    # The administrator of 1006 (under administration); 1005 has a payment arrangement.
    USER_C: frozenset({"bewind@bewind.example", "klant1005@thuis.example"}),
    MANAGER: frozenset({"marieke@blg.example"}),
    SECOND_MANAGER: frozenset({"maarten@blg.example"}),
    STRANGER: frozenset({"stranger@evil.example"}),
}
"""Whose mailbox (or phone) each actor reads: the codes they may legitimately type."""


@dataclass(frozen=True)
class Persona:
    """What an actor usually types: their own details, and how they start."""

    addresses: tuple[str, ...]
    numbers: tuple[str, ...]
    starts: tuple[str, ...]


_USER_STARTS = ("/register", "/activation", "/activate", "/password", "/start", "/help")
_TENANT_STARTS = ("/activation", "/register", "/password", "/activate", "/start", "/help")
_MANAGER_STARTS = ("/pending", "/codes", "/employees", "/register", "/start")
PERSONAS = {
    USER_A: Persona(("eva@kantoor.example", "klant1001@thuis.example"), ("1001",), _TENANT_STARTS),
    USER_B: Persona(("nieuw@thuis.example", "06 12345678"), ("1008",), _USER_STARTS),
    USER_C: Persona(("bewind@bewind.example",), ("1006", "1005"), _TENANT_STARTS),
    MANAGER: Persona(("marieke@blg.example",), ("1001",), _MANAGER_STARTS),
    SECOND_MANAGER: Persona(("maarten@blg.example",), ("1007",), _MANAGER_STARTS),
    # The stranger knows the letter's details of 1001 and the managers' addresses.
    STRANGER: Persona(
        ("stranger@evil.example", "marieke@blg.example", "eva@kantoor.example"),
        ("1001", "1006"),
        _USER_STARTS,
    ),
}

ADDRESSES = (
    "eva@kantoor.example",
    "nieuw@thuis.example",
    "06 12345678",
    "+31612345678",
    "0612345671",
    "marieke@blg.example",
    "maarten@blg.example",
    "sanne@blg.example",
    "stranger@evil.example",
    "info@blg.example",
    "bewind@bewind.example",
    "klant1001@thuis.example",
    "KLANT1001@thuis.example",
    "klant1005@thuis.example",
    "klant1006@thuis.example",
    "klant1007@thuis.example",
    "klant1008@thuis.example",
    "+31611112222",
    "+234 803 123 4567",
    "not an address",
)
PARTNER_IDS = ("BLG-1001", " BLG-1001 ", "blg-1001", "BLG-9999", "OTH-2002")
CUSTOMER_NUMBERS = ("1001", "1002", "1003", "1005", "1006", "1007", "1008", "999999")
POSTCODES = ("3511 AB", "3511ab", "1234 ZZ")
HOUSE_NUMBERS = ("12a", "12 A", "13")
NAMES = ("Anna de Vries", "A", "/start")
PASSWORDS = ("een lange zin als wachtwoord", "kort", "Klant 1001")
COMMANDS = (
    "/start",
    "/cancel",
    "/register",
    "/password",
    "/activate",
    "/activation",
    "/help",
    "/resume",
    "/pending",
    "/codes",
    "/employees",
    "/approve 1",
    "/approve 2",
    "/approve #3",
    "/reject 1 onbekend",
    "/reject 2",
    "/release 1",
    "/release 2",
    "/refuse 2 geen huurder",
    "/offboard eva@kantoor.example",
    "/offboard maarten@blg.example",
    "/offboard marieke@blg.example 2026-12-01",
    "/language en",
    "/language nl",
    "/language",
    "/bogus",
    "/start Mijn geheime zin 2026",
)
MENU_DATA = (
    *(pressed(Menu(choice)) for choice in MenuChoice),
    # Data no button of the desk carries: malformed, forged or from an older release.
    "m:nonsense",
    "d:1:a",
    "c:1:r:",
    "x:1:y",
    "",
)
CLOCK_STEPS = (1, 30, 61, 301, 601, 1801, 3601, 86_400, 15 * 86_400)
"""Seconds: inside and past the resend cooldown, a code's life, an hourly limit, a day,
an activation code's 14 days."""

SIX_DIGITS = st.integers(0, 999_999).map(lambda n: f"{n:06}")
TWELVE = st.text(alphabet=ACTIVATION_CODE.alphabet, min_size=12, max_size=12).map(
    lambda s: f"{s[:4]}-{s[4:8]}-{s[8:]}"
)
TEXTS = st.one_of(
    st.sampled_from(
        ADDRESSES + PARTNER_IDS + CUSTOMER_NUMBERS + POSTCODES + HOUSE_NUMBERS + NAMES + PASSWORDS
    ),
    SIX_DIGITS,
    TWELVE,
    st.text(min_size=1, max_size=20).filter(lambda s: bool(s.strip())),
)

FITTING: dict[ConversationState, tuple[str, ...]] = {
    ConversationState.REGISTER_PARTNER_ID: PARTNER_IDS,
    ConversationState.REGISTER_CONTACT: ADDRESSES,
    ConversationState.REGISTER_NAME: NAMES,
    ConversationState.ACTIVATION_CUSTOMER_NUMBER: CUSTOMER_NUMBERS,
    ConversationState.ACTIVATION_POSTCODE: POSTCODES,
    ConversationState.ACTIVATION_HOUSE_NUMBER: HOUSE_NUMBERS,
    ConversationState.ACTIVATION_EMAIL: ADDRESSES,
    ConversationState.REDEEM_CUSTOMER_NUMBER: CUSTOMER_NUMBERS,
    ConversationState.CHOOSE_PASSWORD: PASSWORDS,
    ConversationState.RESET_IDENTIFIER: ADDRESSES,
    ConversationState.RESET_CHOOSE_ACCOUNT: CUSTOMER_NUMBERS,
}
"""What a person would plausibly type at each step, so random runs get deep into flows."""

CODE_STEPS = frozenset(
    {ConversationState.REGISTER_CODE, ConversationState.RESET_CODE, ConversationState.REDEEM_CODE}
)
STEP_OF_PURPOSE = {
    CodePurpose.REGISTRATION: ConversationState.REGISTER_CODE,
    CodePurpose.PASSWORD_RESET: ConversationState.RESET_CODE,
    CodePurpose.ACTIVATION: ConversationState.REDEEM_CODE,
}
INTERNAL_ERRORS = frozenset(Texts(language).template("internal_error") for language in Language)
SHORT_IN_TEXT = re.compile(r"(?<!\d)\d{6}(?!\d)")
_ACTIVATION_CHAR = f"[{ACTIVATION_CODE.alphabet}]"
ACTIVATION_IN_TEXT = re.compile("-".join([_ACTIVATION_CHAR + "{4}"] * 3))


def codes_in(text: str) -> set[str]:
    """Everything in ``text`` that looks like a code, normalized as the desk reads it."""
    found = set(SHORT_IN_TEXT.findall(text))
    found |= {m.replace("-", "") for m in ACTIVATION_IN_TEXT.findall(text)}
    return found


def shape_of(purpose: CodePurpose) -> Any:
    return ACTIVATION_CODE if purpose is CodePurpose.ACTIVATION else SHORT_CODE


# -- the store, read after every step ------------------------------------------------------


Row = Any
"""A row of one table, its columns as attributes (a plain SQLAlchemy Core row: fast)."""


@dataclass
class Snapshot:
    links: dict[int, int]
    """chat -> person (``chat_links``)."""
    customer_links: dict[int, int]
    """customer id -> chat."""
    people: dict[int, Row]
    customers: dict[int, Row]
    codes: dict[int, Row]
    registrations: dict[int, Row]
    activations: dict[int, Row]
    offboards: dict[int, Row]
    states: dict[int, ConversationState]
    outbox: list[Row] = field(default_factory=list)
    """Only the rows queued since the previous snapshot."""

    def decisions(self) -> dict[tuple[str, int], tuple[object, ...]]:
        """Each decided request's verdict, decider and time (what must never change)."""
        decided: dict[tuple[str, int], tuple[object, ...]] = {}
        for r in self.registrations.values():
            if r.status is not RequestStatus.PENDING:
                decided["registration", r.id] = (r.status, r.decided_by_id, r.decided_at)
        for a in self.activations.values():
            if a.status is not ActivationStatus.AWAITING_RELEASE:
                decided["activation", a.id] = (a.status, a.decided_by_id, a.decided_at)
        for o in self.offboards.values():
            if o.status is not OffboardStatus.PENDING:
                decided["offboard", o.id] = (o.status, o.decided_by_id, o.decided_at)
        return decided


def read_snapshot(reader: Engine, outbox_after: int) -> Snapshot:
    """The store as it is now, read through a plain synchronous connection to the same
    SQLite file (the desk has committed; no event loop round trips: fast)."""
    with reader.connect() as connection:

        def rows(model: Any) -> dict[int, Row]:
            return {row.id: row for row in connection.execute(select(model.__table__))}

        customers = rows(Customer)
        outbox = OutboxMessage.__table__
        return Snapshot(
            links={
                row.telegram_user_id: row.person_id
                for row in connection.execute(select(ChatLink.__table__))
            },
            customer_links={
                row.customer_id: row.telegram_user_id
                for row in connection.execute(select(PortalChat.__table__))
            },
            people=rows(Person),
            customers=customers,
            codes=rows(OneTimeCode),
            registrations=rows(RegistrationRequest),
            activations=rows(ActivationRequest),
            offboards=rows(OffboardRequest),
            states={
                row.chat_id: row.state for row in connection.execute(select(Conversation.__table__))
            },
            outbox=[
                # A code's body is sealed in the store: read it opened, as the worker sends it.
                SimpleNamespace(**{**row._asdict(), "body": open_text(TEST_SEALER, row.body)})
                for row in connection.execute(
                    select(outbox).where(outbox.c.id > outbox_after).order_by(outbox.c.id)
                )
            ],
        )


async def build_template(path: Path) -> None:
    """Migrate and seed once; every example starts from a copy of this file."""
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade(url)
    store = Store(create_engine(url))
    clock = FakeClock()
    await seed_demo(store, clock)
    await seed_customers(store, clock)
    await store.close()  # the last connection closing folds the WAL into the file


class EscapedErrors(logging.Handler):
    """Collects the exceptions the desk caught, so a failure shows the traceback."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# -- the state machine -----------------------------------------------------------------------


@dataclass(frozen=True)
class MailedCode:
    code_id: int
    code: str
    """Normalized, as the desk reads it."""
    destination: str
    purpose: CodePurpose
    issued_by_chat: int
    """The chat whose event made the desk send it."""
    customer_id: int | None
    at: datetime


class DeskMachine(RuleBasedStateMachine):
    template: ClassVar[Path | None] = None
    workdir: ClassVar[Path | None] = None

    def __init__(self) -> None:
        super().__init__()
        assert self.template is not None and self.workdir is not None
        self.loop = asyncio.new_event_loop()
        fd, name = tempfile.mkstemp(suffix=".sqlite3", dir=self.workdir)
        os.close(fd)
        self.path = Path(name)
        shutil.copy(self.template, self.path)
        self.store = Store(create_engine(f"sqlite+aiosqlite:///{self.path}"), sealer=TEST_SEALER)
        self.reader = create_sync_engine(f"sqlite:///{self.path}")
        self.clock = FakeClock()
        self.driver = DeskDriver(self.store, self.clock)
        self.errors = EscapedErrors()
        logging.getLogger("balie.desk").addHandler(self.errors)

        self.outbox_seen = 0
        self.snapshot = read_snapshot(self.reader, 0)
        self.outbox_seen = max((m.id for m in self.snapshot.outbox), default=0)
        self.seeded_links = set(self.snapshot.links.items())
        self.ever_linked: set[int] = set(self.snapshot.links)
        self.mailed: dict[int, MailedCode] = {}
        """Code id -> the code as mailed."""
        self.proven: dict[int, set[str]] = {chat: set() for chat in ACTORS}
        """Chat -> destinations it proved (typed a code mailed there because it asked)."""
        self.proven_customers: dict[int, set[int]] = {chat: set() for chat in ACTORS}
        """Chat -> customers whose activation code it typed."""
        self.shown: dict[int, list[str]] = {chat: [] for chat in ACTORS}
        """The buttons of the actor's last answer that had buttons."""
        self.delivered: dict[int, list[str]] = {chat: [] for chat in ACTORS}
        """Buttons of the Telegram messages (cards, Undo) queued for the actor's chat."""
        self.given: dict[int, set[str]] = {chat: set() for chat in ACTORS}
        """All button data the desk ever gave each chat (a press of one is no tampering)."""
        self.signed_anywhere: list[str] = []
        """Every staff and Undo button's data queued for any chat: material for tampering."""
        self.typed_anywhere: set[str] = set()
        """Everything code-like anybody typed (the desk may echo it back)."""
        self.last_actor = USER_A
        self.decided = self.snapshot.decisions()

    def teardown(self) -> None:
        logging.getLogger("balie.desk").removeHandler(self.errors)
        self.reader.dispose()
        self._run(self.store.close())
        self.loop.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    # -- rules ---------------------------------------------------------------------------

    @rule(actor=st.sampled_from(ACTORS), text=TEXTS)
    def send_text(self, actor: int, text: str) -> None:
        self._text(actor, text)

    # Answering the question the desk asked gets a run deep into the flows, where codes are
    # typed and requests decided. Hypothesis picks rules evenly, so two rules do it for
    # whoever is in the middle of something (a flow, or a card to decide).

    @rule(actor=st.sampled_from(ACTORS), pick=st.integers(0, 50))
    def answer_the_desk(self, actor: int, pick: int) -> None:
        self._answer(actor, pick)

    @rule(pick=st.integers(0, 50), answers=st.integers(1, 3))
    def the_last_one_goes_on(self, pick: int, answers: int) -> None:
        """The actor who spoke last answers the next few questions (the same kind of answer:
        ``pick % 5`` stays)."""
        busy = self._busy()
        actor = self.last_actor if self.last_actor in busy else self._busy_one(pick)
        for answer in range(answers):
            self._answer(actor, pick + 5 * answer)

    @rule(pick=st.integers(0, 50))
    def someone_busy_goes_on(self, pick: int) -> None:
        self._answer(self._busy_one(pick), pick)

    # Whole walks through the longer customer flows (each event still checked on its own).

    @rule(
        actor=st.sampled_from(ACTORS),
        number=st.sampled_from(("1001", "1006", "1008", *CUSTOMER_NUMBERS)),
        email=st.sampled_from(("skip", "on file", "own", "administrator", "invalid")),
    )
    def ask_for_an_activation_code(self, actor: int, number: str, email: str) -> None:
        """The four steps, then an e-mail address: the one on file, the actor's own, the
        administrator's (for 1006), or none."""
        for text in ("/activation", number, "3511 AB", "12a"):
            self._text(actor, text)
        if email == "skip":
            self._press(actor, pressed(Menu(MenuChoice.SKIP)))
            return
        typed = {
            "on file": f"klant{number}@thuis.example",
            "own": PERSONAS[actor].addresses[0],
            "administrator": "bewind@bewind.example",
        }.get(email, "klant at thuis")
        self._text(actor, typed)

    @rule(actor=st.sampled_from(ACTORS), pick=st.integers(0, 20), own=st.booleans())
    def redeem_an_activation_code(self, actor: int, pick: int, own: bool) -> None:
        """/activate, a customer number, and the code mailed for it (to the actor's own
        address, or someone else's) or one of the wrong numbers."""
        codes = [
            m
            for m in self._codes_to(actor, own=own)
            if m.purpose is CodePurpose.ACTIVATION and m.customer_id is not None
        ]
        code = codes[-1 - pick % len(codes)] if codes else None
        number = "1001"
        if code is not None and code.customer_id is not None:
            number = self.snapshot.customers[code.customer_id].customer_number
        self._text(actor, "/activate")
        self._text(actor, number if pick % 7 else CUSTOMER_NUMBERS[pick % len(CUSTOMER_NUMBERS)])
        self._text(actor, self._as_typed(code, pick % 2 == 1) if code else "ABCD-EFGH-JKMN")

    @rule(actor=st.sampled_from(ACTORS), formatted=st.booleans())
    def send_own_code(self, actor: int, formatted: bool) -> None:
        """The last code mailed to one of the actor's own addresses."""
        own = self._codes_to(actor, own=True)
        code = own[-1] if own else None
        self._text(actor, self._as_typed(code, formatted) if code else "123456")

    @rule(actor=st.sampled_from(ACTORS), pick=st.integers(0, 20), formatted=st.booleans())
    def send_someone_elses_code(self, actor: int, pick: int, formatted: bool) -> None:
        """A code mailed to another person's address (the attacker read it, or guessed it)."""
        others = self._codes_to(actor, own=False)
        code = others[-1 - pick % len(others)] if others else None
        self._text(actor, self._as_typed(code, formatted) if code else "654321")

    @rule(actor=st.sampled_from(ACTORS), command=st.sampled_from(COMMANDS))
    def send_command(self, actor: int, command: str) -> None:
        self._text(actor, command)

    @rule(actor=st.sampled_from(ACTORS), pick=st.integers(0, 40))
    def press_a_button(self, actor: int, pick: int) -> None:
        """Mostly one the actor was shown (an answer's, or a card's in their chat); else menu
        data at any step: outdated buttons, and data no desk ever sent."""
        choices = self.shown[actor] + self.delivered[actor]
        if choices and pick % 4:
            self._press(actor, choices[pick % len(choices)])
        else:
            self._press(actor, MENU_DATA[pick % len(MENU_DATA)])

    @rule(
        actor=st.sampled_from(ACTORS),
        pick=st.integers(0, 20),
        how=st.sampled_from(
            ("as_is", "other_id", "verdict", "cut", "changed", "unsigned", "kind", "new_chat")
        ),
    )
    def press_tampered_button(self, actor: int, pick: int, how: str) -> None:
        """A real staff or Undo button's data, changed, or pressed in another chat."""
        if not self.signed_anywhere:
            self._press(actor, f"d:{pick}:a:{'A' * 16}")
            return
        self._press(
            actor, tampered(self.signed_anywhere[-1 - pick % len(self.signed_anywhere)], how)
        )

    @rule(
        actor=st.sampled_from(ACTORS),
        phone=st.sampled_from((None, "+31612345678", "+31611112222")),
    )
    def send_sticker_or_contact(self, actor: int, phone: str | None) -> None:
        """A sticker; or Telegram's "share my number", still to be proved by a code."""
        if phone is None:
            self._handle(Event(actor, DeskDriver.sender(actor), EventKind.UNSUPPORTED))
        else:
            self._handle(Event(actor, DeskDriver.sender(actor), EventKind.CONTACT, phone=phone))

    @rule(seconds=st.sampled_from(CLOCK_STEPS))
    def let_time_pass(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)

    # -- driving -------------------------------------------------------------------------

    def _busy(self) -> list[int]:
        """The actors in the middle of a flow, or with a card to decide."""
        idle = ConversationState.IDLE
        return [
            actor
            for actor in ACTORS
            if self.snapshot.states.get(actor, idle) is not idle or self.delivered[actor]
        ]

    def _busy_one(self, pick: int) -> int:
        busy = self._busy() or list(ACTORS)
        return busy[pick % len(busy)]

    def _answer(self, actor: int, pick: int) -> None:
        """What a person would plausibly do at the step they are at, mostly with their own
        details; at a code step their own code, now and then another's or a random one."""
        state = self.snapshot.states.get(actor, ConversationState.IDLE)
        # Hypothesis likes to draw 0: make 0 the common case, so runs go deep.
        mostly = pick % 5 != 1
        persona = PERSONAS[actor]
        if state in CODE_STEPS:
            fits = [m for m in self.mailed.values() if STEP_OF_PURPOSE[m.purpose] is state]
            own = [m for m in fits if m.destination in OWN_ADDRESSES[actor]]
            others = [m for m in fits if m.destination not in OWN_ADDRESSES[actor]]
            if own and pick % 5 in {0, 2, 3}:
                self._text(actor, self._as_typed(own[-1], formatted=pick % 2 == 1))
            elif others and pick % 5 == 1:
                self._text(actor, others[pick % len(others)].code)
            else:
                self._text(actor, f"{pick * 7919 % 1_000_000:06}")
            return
        if state is ConversationState.IDLE:
            cards = self.delivered[actor]
            unredeemed = [
                m
                for m in self._codes_to(actor, own=True)
                if m.purpose is CodePurpose.ACTIVATION
                and self.snapshot.codes[m.code_id].used_at is None
            ]
            if cards and pick % 3 == 0:
                self._press(actor, cards[pick % len(cards)])
            elif unredeemed and pick % 3 == 1:
                self._text(actor, "/activate")
            else:
                self._text(actor, persona.starts[pick % len(persona.starts)])
            return
        if state is ConversationState.ACTIVATION_EMAIL and pick % 3 == 0:
            self._press(actor, pressed(Menu(MenuChoice.SKIP)))
            return
        preferred = {
            ConversationState.REGISTER_PARTNER_ID: ("BLG-1001",),
            ConversationState.REGISTER_CONTACT: persona.addresses,
            ConversationState.RESET_IDENTIFIER: persona.addresses,
            ConversationState.ACTIVATION_EMAIL: persona.addresses,
            ConversationState.ACTIVATION_CUSTOMER_NUMBER: persona.numbers,
            ConversationState.REDEEM_CUSTOMER_NUMBER: persona.numbers,
            ConversationState.RESET_CHOOSE_ACCOUNT: persona.numbers,
            ConversationState.ACTIVATION_POSTCODE: ("3511 AB",),
            ConversationState.ACTIVATION_HOUSE_NUMBER: ("12a",),
            ConversationState.CHOOSE_PASSWORD: ("een lange zin als wachtwoord",),
        }.get(state, ())
        choices = preferred if preferred and mostly else FITTING.get(state, COMMANDS)
        self._text(actor, choices[pick % len(choices)])

    def _codes_to(self, actor: int, *, own: bool) -> list[MailedCode]:
        mine = OWN_ADDRESSES[actor]
        return [m for m in self.mailed.values() if (m.destination in mine) == own]

    @staticmethod
    def _as_typed(code: MailedCode, formatted: bool) -> str:
        if code.purpose is CodePurpose.ACTIVATION and formatted:
            return "-".join(code.code[i : i + 4] for i in range(0, 12, 4)).lower()
        return f"{code.code[:3]} {code.code[3:]}" if formatted else code.code

    def _text(self, actor: int, text: str) -> None:
        self._handle(Event.from_text(actor, DeskDriver.sender(actor), text))

    def _press(self, actor: int, data: str) -> None:
        self._handle(Event(actor, DeskDriver.sender(actor), EventKind.BUTTON, button_data=data))

    def _handle(self, event: Event) -> None:
        self.last_actor = event.chat_id
        before = self.snapshot
        outcome = self._run(self.driver.desk.handle(event))
        after = read_snapshot(self.reader, self.outbox_seen)
        self.outbox_seen = max((m.id for m in after.outbox), default=self.outbox_seen)
        self.snapshot = after
        self._check_answer(event, outcome)
        self._learn_codes(event, before, after)
        self._check_codes_used(event, before, after)
        self._check_links(after)
        self._check_decisions(event, before, after)
        self._check_outbox(event, before, after)
        self._check_tampering(event, before, after)
        self._remember_buttons(event, outcome, after)
        self.ever_linked |= set(after.links) | set(after.customer_links.values())
        self._note(before, after)

    @staticmethod
    def _note(before: Snapshot, after: Snapshot) -> None:
        """What the run reached (``--hypothesis-show-statistics``): is it deep enough?"""
        for row in after.codes.values():
            if row.used_at is not None and (
                row.id not in before.codes or before.codes[row.id].used_at is None
            ):
                event(f"a {row.purpose.value} code confirmed")
        if set(after.links.items()) - set(before.links.items()):
            event("a chat linked to a person")
        if set(after.customer_links.items()) - set(before.customer_links.items()):
            event("a chat linked to a customer")
        for kind in {k for k, _ in after.decisions().keys() - before.decisions().keys()}:
            event(f"a {kind} request decided")

    # -- invariants ----------------------------------------------------------------------

    def _check_answer(self, event: Event, outcome: Outcome) -> None:
        """(4) something is said, nothing is empty; (5) no exception escaped."""
        escaped = [r for r in self.errors.records]
        self.errors.records.clear()
        texts = [reply.text for reply in outcome.replies]
        assert not escaped and not INTERNAL_ERRORS & set(texts), (
            f"an exception escaped handling {event!r}: "
            + "\n".join(logging.Formatter().format(r) for r in escaped)
        )
        assert outcome.replies or outcome.callback_notice, f"no answer at all to {event!r}"
        assert all(t.strip() for t in texts), f"an empty reply to {event!r}: {texts!r}"
        if outcome.callback_notice is not None:
            assert outcome.callback_notice.strip(), f"an empty toast for {event!r}"
        # A code reaches its owner by mail or SMS only, never a chat (what someone typed,
        # echoed back, e.g. as an unknown partner ID or as a name on a card, is no leak).
        self.typed_anywhere |= codes_in(event.typed.upper()) | {
            "".join(event.typed.upper().split()).replace("-", "")
        }
        shown = "\n".join([*texts, outcome.callback_notice or ""])
        leaked = self._codes_only_the_desk_knows() & codes_in(shown)
        assert not leaked, f"a code was shown in chat {event.chat_id}: {shown!r}"

    def _codes_only_the_desk_knows(self) -> set[str]:
        return {m.code for m in self.mailed.values()} - self.typed_anywhere

    def _learn_codes(self, event: Event, before: Snapshot, after: Snapshot) -> None:
        """Find each new code's plain text in the mail that carried it; record who proved
        what by typing a code."""
        for row in after.codes.values():
            if row.id in before.codes:
                continue
            carriers = [
                (m, c) for m in after.outbox for c in codes_in(m.body) if code_matches(row, c)
            ]
            assert carriers, f"code {row.id} ({row.purpose.value}) was not sent anywhere"
            for message, _ in carriers:
                assert message.recipient == row.destination, (
                    f"code {row.id} for {row.destination} went to {message.recipient}"
                )
                assert message.channel is not DeliveryChannel.TELEGRAM
            customer_id = None
            if row.purpose is CodePurpose.REGISTRATION:
                assert row.subject == f"registration:{event.chat_id}", (
                    f"chat {event.chat_id} made a code for {row.subject}"
                )
            elif row.purpose is CodePurpose.PASSWORD_RESET:
                assert row.subject.startswith(f"reset:{event.chat_id}:"), row.subject
            else:
                customer_id = int(row.subject.removeprefix("customer:"))
                customer = after.customers[customer_id]
                on_file = {
                    (a or "").lower() for a in (customer.email, customer.administrator_email)
                }
                assert row.destination in on_file, (
                    f"an activation code for customer {customer.customer_number} went to "
                    f"{row.destination}, not to an address on file"
                )
            self.mailed[row.id] = MailedCode(
                row.id,
                carriers[0][1],
                row.destination,
                row.purpose,
                event.chat_id,
                customer_id,
                self.clock.now(),
            )
        if event.kind not in {EventKind.TEXT, EventKind.COMMAND}:
            return
        for mailed in self.mailed.values():
            if shape_of(mailed.purpose).normalized(event.typed) != mailed.code:
                continue
            if mailed.customer_id is not None:
                self.proven_customers[event.chat_id].add(mailed.customer_id)
            elif mailed.issued_by_chat == event.chat_id:
                self.proven[event.chat_id].add(mailed.destination)

    def _check_codes_used(self, event: Event, before: Snapshot, after: Snapshot) -> None:
        """(2) a code is used only by the chat it was made for, at its own flow's code step,
        in the very step it was typed, unexpired, once."""
        used = [
            row
            for row in after.codes.values()
            if row.used_at is not None
            and (row.id not in before.codes or before.codes[row.id].used_at is None)
        ]
        for row in before.codes.values():
            if row.used_at is not None:
                assert after.codes[row.id].used_at == row.used_at, f"code {row.id} used twice"
        assert len(used) <= 1, f"one event used {len(used)} codes"
        for row in used:
            mailed = self.mailed.get(row.id)
            assert mailed is not None, f"code {row.id} was used but never mailed"
            typed = shape_of(row.purpose).normalized(event.typed) if event.typed else None
            assert typed == mailed.code, f"code {row.id} confirmed by {event!r}, not its code"
            was_at = before.states.get(event.chat_id, ConversationState.IDLE)
            assert was_at is STEP_OF_PURPOSE[row.purpose], (
                f"a {row.purpose.value} code confirmed at step {was_at.value}"
            )
            assert row.used_at is not None and row.used_at < row.expires_at
            if row.purpose is not CodePurpose.ACTIVATION:
                assert mailed.issued_by_chat == event.chat_id, (
                    f"chat {event.chat_id} used a code made for chat {mailed.issued_by_chat}"
                )
                assert row.destination in self.proven[event.chat_id]

    def _check_links(self, after: Snapshot) -> None:
        """(1) every link belongs to a chat that proved the account's address."""
        for chat, person_id in after.links.items():
            if (chat, person_id) in self.seeded_links:
                continue
            person = after.people[person_id]
            addresses = {a for a in (person.email, person.phone) if a}
            assert addresses & self.proven.get(chat, set()), (
                f"chat {chat} is linked to {person.name} ({sorted(addresses)}) but proved "
                f"only {sorted(self.proven.get(chat, set()))}"
            )
            if person.role in RELEASING_ROLES:
                approved = [
                    r
                    for r in after.registrations.values()
                    if r.kind is RequestKind.CHAT_LINK
                    and r.person_id == person_id
                    and r.telegram_user_id == chat
                    and r.status is RequestStatus.APPROVED
                    and r.decided_by_id != person_id
                ]
                assert approved, (
                    f"{person.name}'s powers reached chat {chat} without a second manager"
                )
        for customer_id, chat in after.customer_links.items():
            assert customer_id in self.proven_customers.get(chat, set()), (
                f"chat {chat} is linked to customer "
                f"{after.customers[customer_id].customer_number} without its activation code"
            )

    def _check_decisions(self, event: Event, before: Snapshot, after: Snapshot) -> None:
        """(3) decided at most once, and only by someone allowed to."""
        decided = after.decisions()
        for key, verdict in self.decided.items():
            assert decided.get(key) == verdict, f"{key} was decided again: {decided.get(key)}"
        for key in decided.keys() - self.decided.keys():
            kind, request_id = key
            decider = decided[key][1]
            if kind == "activation" and decider is None:
                # Sent by e-mail at once, or ineligible: decided when it was made.
                assert request_id not in before.activations
                continue
            assert decider is not None, f"{key} decided by nobody"
            assert before.links.get(event.chat_id) == decider, (
                f"{key} was decided for person {decider} from chat {event.chat_id}"
            )
            person = after.people[int(str(decider))]
            roles = RELEASING_ROLES if kind == "activation" else DECIDING_ROLES
            assert person.role in roles, f"{key} decided by a {person.role.value}"
            if kind == "registration":
                assert after.registrations[request_id].person_id != decider, (
                    f"{person.name} decided their own request"
                )
            if kind == "offboard":
                request = after.offboards[request_id]
                assert decider not in {request.requested_by_id, request.subject_person_id}
        self.decided = decided

    def _check_outbox(self, event: Event, before: Snapshot, after: Snapshot) -> None:
        """Chat messages go only to chats that are (or were) linked or that asked; decision
        buttons are signed for the chat they go to, and only staff get them."""
        requesters = {r.telegram_user_id for r in after.registrations.values()} | {
            a.telegram_user_id for a in after.activations.values() if a.telegram_user_id
        }
        known = self.ever_linked | set(after.links) | set(after.customer_links.values())
        for message in after.outbox:
            if message.channel is not DeliveryChannel.TELEGRAM:
                continue
            chat = int(message.recipient)
            assert chat in known | requesters, f"a message to unknown chat {chat}: {message.body}"
            assert not self._codes_only_the_desk_knows() & codes_in(message.body), (
                f"a code in a chat message to {chat}: {message.body}"
            )
            for row in (message.payload or {}).get("buttons") or []:
                for button in row:
                    data = str(button["data"])
                    pressed = decode(data)
                    if isinstance(pressed, Signed):
                        assert verified(TEST_HASHER, pressed, chat), f"{data} not for {chat}"
                        person = after.people.get(after.links.get(chat, -1))
                        assert person is not None and person.role in RELEASING_ROLES, (
                            f"a decision card went to chat {chat}"
                        )
                    else:
                        assert decode_undo(data) is not None, f"unexpected button {data}"

    def _check_tampering(self, event: Event, before: Snapshot, after: Snapshot) -> None:
        """Data the desk never gave this chat changes no request and no link."""
        data = event.button_data
        if event.kind is not EventKind.BUTTON or not data or isinstance(decode(data), Menu):
            return
        if data in self.given[event.chat_id]:
            return
        assert after.decisions() == before.decisions(), f"tampered {data} decided something"
        assert after.links == before.links, f"tampered {data} changed a link"
        assert after.customer_links == before.customer_links, f"tampered {data} relinked"

    def _remember_buttons(self, event: Event, outcome: Outcome, after: Snapshot) -> None:
        shown = [b.data for reply in outcome.replies for row in reply.buttons for b in row]
        if shown:
            self.shown[event.chat_id] = shown
        for message in after.outbox:
            if message.channel is not DeliveryChannel.TELEGRAM:
                continue
            chat = int(message.recipient)
            data = [
                str(b["data"]) for row in (message.payload or {}).get("buttons") or [] for b in row
            ]
            self.signed_anywhere += data
            if chat in self.delivered:
                self.delivered[chat] = (self.delivered[chat] + data)[-8:]
            self.given.setdefault(chat, set()).update(data)
        self.given[event.chat_id].update(shown)
        self.signed_anywhere += [d for d in shown if not isinstance(decode(d), Menu)]
        self.signed_anywhere = list(dict.fromkeys(self.signed_anywhere))[-30:]


def tampered(data: str, how: str) -> str:
    """``data`` changed the way ``how`` says (``as_is``: unchanged, for pressing elsewhere)."""
    head, _, signature = data.rpartition(":")
    if how == "as_is" or not head:
        return data
    if how == "cut":
        return f"{head}:{signature[:-1]}"
    if how == "changed":
        last = "B" if signature.endswith("A") else "A"
        return f"{head}:{signature[:-1]}{last}"
    if how == "unsigned":
        return head
    parts = data.split(":")
    if data.startswith("u:"):
        # u:<kind><account id>:<new chat>:<signature>
        if how in {"other_id", "kind"}:
            kind, number = parts[1][0], int(parts[1][1:])
            parts[1] = (
                ("c" if kind == "p" else "p") + str(number)
                if how == "kind"
                else (f"{kind}{number + 1}")
            )
        else:
            parts[2] = str(STRANGER if parts[2] != str(STRANGER) else USER_A)
        return ":".join(parts)
    # <kind>:<id>:<verdict>:<signature>
    if how == "other_id":
        parts[1] = str(int(parts[1]) + 1)
    elif how == "verdict":
        flip = {"d": {"a": "r", "r": "a"}, "c": {"r": "x", "x": "r"}, "o": {"y": "n", "n": "y"}}
        parts[2] = flip.get(parts[0], {}).get(parts[2], parts[2])
    elif how == "kind":
        parts[0] = {"d": "c", "c": "o", "o": "d"}.get(parts[0], "d")
    else:
        return data
    return ":".join(parts)


class TestDeskOnSqlite(DeskMachine.TestCase):  # type: ignore[misc, valid-type]
    """The state machine above, on SQLite. How many examples the loaded profile says (see
    tests/conftest.py); 20 steps each."""

    settings = settings(settings.default, stateful_step_count=20)

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        # In memory where the system has it: a commit's fsync is most of a step's time.
        shm = Path("/dev/shm")
        workdir = Path(
            tempfile.mkdtemp(prefix="balie-properties-", dir=shm if shm.is_dir() else None)
        )
        template = workdir / "template.sqlite3"
        asyncio.run(build_template(template))
        DeskMachine.template, DeskMachine.workdir = template, workdir

    @classmethod
    def tearDownClass(cls) -> None:
        if DeskMachine.workdir is not None:
            shutil.rmtree(DeskMachine.workdir, ignore_errors=True)
        DeskMachine.template = DeskMachine.workdir = None
        super().tearDownClass()
