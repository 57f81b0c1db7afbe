"""One step of a conversation: the event, its conversation, the store and what to answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flows.builtin_directory import BuiltinDirectories
from flows.directory import (
    Directories,
    Directory,
    NeedsOutsideWork,
    PasswordChange,
    PasswordChanged,
)
from flows.domain import AuditAction, ConversationState, Language
from flows.events import Button, Event, Keyboard, Outcome, Reply
from flows.flow_data import D, FlowData, from_json, to_json
from flows.keys import KeyedHasher
from flows.model import Conversation, Organization
from flows.ports import DeepLinks, TypedStart
from flows.store import Transaction
from flows.texts import Texts


@dataclass(frozen=True)
class DeskPolicy:
    """The desk's tunable rules; defaults follow seed 000 and the issue's numbers."""

    default_language: Language = Language.NL
    code_valid_for: timedelta = timedelta(minutes=10)
    code_attempts: int = 5
    resend_cooldown: timedelta = timedelta(seconds=60)
    codes_per_hour: int = 5
    channel: str = "telegram"
    """Recorded in the audit log as the channel actions came through, and as the prefix of
    their actor (``telegram:<user id>``, ``terminal:<user id>``)."""
    code_requests_per_hour: int = 3
    """Activation and reset codes one chat, or one account, may ask for in an hour."""
    wrong_attempts_per_hour: int = 10
    """Wrong codes (and unmatched identifications) one chat may type in an hour."""
    wrong_attempts_per_account: int = 5
    """Wrong codes one chat may type for one account (or customer number) in an hour; the
    account's code stays valid for everyone else."""
    partner_id_attempts_per_hour: int = 5
    """Unknown partner IDs one chat may type in an hour before a neutral wait."""
    slowdown_after: int = 20
    """Failed verifications for one account from all chats in an hour before each further
    answer about it is slowed down."""
    slowdown_max: timedelta = timedelta(seconds=8)
    steady_answer: timedelta = timedelta(milliseconds=80)
    """How long an answer that could tell known from unknown takes at least (identification
    and code steps): longer than the store's work on any of their paths."""
    sms_countries: frozenset[str] = frozenset({"NL"})
    """Countries (ISO codes) whose mobile numbers get codes by SMS."""
    sms_per_hour_per_org: int = 100
    sms_per_hour: int = 500
    reset_code_by_email_valid_for: timedelta = timedelta(minutes=30)
    reset_code_by_sms_valid_for: timedelta = timedelta(minutes=10)
    directory_timeout: timedelta = timedelta(seconds=10)
    """The longest a password step waits for the directory; then it says "try again"."""
    invitation_valid_for: timedelta = timedelta(days=7)
    """How long an invitation's deep link may be opened (seed 003's first e-mail)."""
    pairing_valid_for: timedelta = timedelta(minutes=5)
    """How long a ``/pair`` link (one more linked device, seed 004) may be opened."""
    staff_step_up_idle: timedelta = timedelta(hours=12)
    """Where an organization requires two-step of its staff: after this long without a
    staff command, the next one asks for the second factor again."""


@dataclass
class Turn:
    event: Event
    conversation: Conversation
    tx: Transaction
    policy: DeskPolicy
    now: datetime
    hasher: KeyedHasher = field(default_factory=KeyedHasher.ephemeral)
    """Keyed hashes of codes and signatures of buttons, under the server's secret key."""
    outcome: Outcome = field(default_factory=Outcome)
    directories: Directories = field(default_factory=BuiltinDirectories)
    """Where each organization's accounts live (Balie's store, LDAP, SCIM)."""
    links: DeepLinks = field(default_factory=TypedStart)
    """How an invitation's link opens the bot's chat."""
    done: dict[PasswordChange, PasswordChanged] = field(default_factory=dict)
    """Work this step asked for and the desk did outside the transaction (see
    :meth:`done_outside`)."""

    @property
    def language(self) -> Language:
        return Language(self.conversation.language or self.policy.default_language)

    @property
    def texts(self) -> Texts:
        return Texts(self.language)

    @property
    def state(self) -> ConversationState:
        return self.conversation.state

    def data_as(self, kind: type[D]) -> D:
        """The flow's data as its dataclass; ``StaleFlowData`` when what is kept does not
        fit, which the desk answers by starting over."""
        return from_json(kind, dict(self.conversation.data or {}))

    def move(self, state: ConversationState, data: FlowData | None = None) -> None:
        """Go to ``state``; ``data`` replaces the flow's data (None clears it)."""
        self.conversation.state = state
        self.conversation.data = to_json(data) if data is not None else {}

    def directory(self, organization: Organization) -> Directory:
        return self.directories.open(organization, self.tx, self.now)

    def done_outside(self, work: PasswordChange) -> PasswordChanged:
        """The result of ``work``, which must not run inside the step's transaction (it
        would hold the store's write lock through a network call or argon2). The first
        time, this raises :class:`NeedsOutsideWork`: the desk rolls the transaction back,
        does the work, and runs the step again, which then gets the result here."""
        result = self.done.get(work)
        if result is None:
            raise NeedsOutsideWork(work)
        return result

    def say(self, key: str, buttons: Keyboard = (), **values: object) -> None:
        self.outcome.replies.append(Reply(self.texts(key, **values), buttons))

    def say_text(self, text: str, buttons: Keyboard = ()) -> None:
        self.outcome.replies.append(Reply(text, buttons))

    def button(self, key: str, data: str) -> Button:
        return Button(self.texts(key), data)

    @property
    def actor(self) -> str:
        """Who acts, named after the channel it came through: ``terminal:1001``."""
        return f"{self.policy.channel}:{self.event.sender.user_id}"

    async def audit(self, action: AuditAction, **details: Any) -> None:
        await self.tx.audit.add(
            action,
            actor=self.actor,
            channel=self.policy.channel,
            now=self.now,
            **details,
        )
