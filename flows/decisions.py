"""Staff decisions: who may act, refusing the others, one verdict per request, closed cards.

Registration approval (and a staff account's chat link), activation-code release and a
second manager's offboarding verdict all have the same shape: a card with two buttons goes
to every staff member who may decide; the first verdict wins, is carried out and audited,
the person it is about is told and every copy of the card shows the outcome; whoever comes
second hears who decided and when. This module is that shape once; each kind of request
(:class:`Case`) says only what is its own: what the verdict does, its texts, who is told.

``may_act`` is the desk's one permission check: a role that may, in the caller's
organization, and the *effective* status active (from the out-of-service date on, nobody
acts for an office any more).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, Protocol

from flows import cards
from flows.domain import (
    DECIDING_ROLES,
    RELEASING_ROLES,
    AccountStatus,
    AuditAction,
    Role,
    effective_status,
)
from flows.events import EventKind
from flows.model import Person
from flows.store import Transaction
from flows.texts import Texts
from flows.turn import DeskPolicy, Turn


class Power(Enum):
    """What a staff member may do; each needs the account's effective status active."""

    RELEASE = RELEASING_ROLES
    """Release or refuse activation codes, see the outbox (seed 002: the desk)."""
    DECIDE = DECIDING_ROLES
    """Approve or reject registrations and chat links, offboard (seed 000: the manager)."""

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(self.value)


def may_act(person: Person, power: Power, today: date, organization_id: int | None = None) -> bool:
    """The permission check: ``person`` has ``power`` today (in ``organization_id``)."""
    status = effective_status(person.status, person.out_of_service_on, today)
    return (
        person.role in power.roles
        and status is AccountStatus.ACTIVE
        and (organization_id is None or person.organization_id == organization_id)
    )


async def caller(turn: Turn) -> Person | None:
    """The account linked to the chat the event came from, if any."""
    return await turn.tx.chat_links.person_for(turn.event.sender.user_id)


async def acting(turn: Turn, power: Power, organization_id: int | None = None) -> Person | None:
    """The caller, if they have ``power`` (for ``organization_id`` when given)."""
    person = await caller(turn)
    if person is None or not may_act(person, power, turn.now.date(), organization_id):
        return None
    return person


@dataclass(frozen=True)
class Refusal:
    """How a refused caller is answered."""

    text: str
    """The message id of the answer."""
    also_in_chat: bool
    """A refused button press gets the toast and, as well, the answer as a message."""


REFUSALS = {
    Power.DECIDE: Refusal("staff_not_allowed", also_in_chat=True),
    Power.RELEASE: Refusal("staff_release_not_allowed", also_in_chat=False),
}


async def refuse(
    turn: Turn, power: Power, attempted: str, organization_id: int | None = None, **detail: Any
) -> None:
    """Audit the attempt (who tried what) and tell the caller no, as ``power`` refuses."""
    person = await caller(turn)
    await turn.audit(
        AuditAction.STAFF_ACTION_REFUSED,
        organization_id=organization_id,
        actor_person_id=person.id if person else None,
        attempted=attempted,
        **detail,
    )
    refusal = REFUSALS[power]
    pressed = turn.event.kind is EventKind.BUTTON
    if pressed:
        turn.outcome.callback_notice = turn.texts(refusal.text)
    if not pressed or refusal.also_in_chat:
        turn.say(refusal.text)


def answer(turn: Turn, text: str) -> None:
    """A button press gets a toast (the card itself is edited); a command gets a message."""
    if turn.event.kind is EventKind.BUTTON:
        turn.outcome.callback_notice = text
    else:
        turn.say_text(text)


def stale(turn: Turn) -> None:
    """A button for a request that is gone: the toast, and the pressed buttons go."""
    turn.outcome.callback_notice = turn.texts("stale_button")
    turn.outcome.clear_pressed_buttons = True


def number_and_reason(text: str, reason_needed: bool) -> tuple[int, str | None] | None:
    """``N [reason]`` (or ``#N``) as staff type it after ``/approve``, ``/refuse`` and the
    like; None when the number is missing or a needed reason is."""
    number_text, _, reason = text.partition(" ")
    number_text = number_text.lstrip("#")
    if not number_text.isdigit() or (reason_needed and not reason.strip()):
        return None
    return int(number_text), reason.strip()[:500] or None


class Case(Protocol):
    """One request of one kind, as the shared decision sees it."""

    @property
    def power(self) -> Power:
        """Who may decide it."""

    @property
    def attempted(self) -> str:
        """What a refused decision is audited as."""

    @property
    def organization_id(self) -> int: ...

    @property
    def topic(self) -> str:
        """The cards' topic in the outbox (``cards.push``)."""

    def refusal_detail(self) -> dict[str, Any]:
        """What a refused decision's audit entry names of the request."""

    async def vetoed(self, turn: Turn, decider: Person) -> bool:
        """Refuse (and say so) a decider who may not decide this one request."""

    async def record(
        self,
        tx: Transaction,
        decider: Person | None,
        verdict: bool,
        now: datetime,
        reason: str | None,
    ) -> bool:
        """Record the verdict unless another came first; False: decided already."""

    async def reload(self, tx: Transaction) -> None:
        """Read the request again, with its verdict and who gave it."""

    async def carry_out(self, tx: Transaction, now: datetime) -> None:
        """What the recorded verdict does, and telling the person it is about."""

    async def card_holders(self, tx: Transaction) -> cards.Recipients:
        """Everyone whose chat got the card."""

    def card(self, texts: Texts) -> str: ...

    def outcome(self, texts: Texts) -> str:
        """The decided card's last line: the verdict, who gave it and when."""

    def already(self, texts: Texts) -> str:
        """The answer to a verdict that came second."""

    def decided(self, texts: Texts) -> str:
        """The answer to the verdict that won."""

    def audit_entry(
        self, decider: Person, reason: str | None
    ) -> tuple[AuditAction, dict[str, Any]]:
        """The winning verdict's audit action and details."""


async def settle(
    tx: Transaction,
    case: Case,
    decider: Person | None,
    verdict: bool,
    reason: str | None,
    policy: DeskPolicy,
    now: datetime,
) -> bool:
    """Record the verdict if nobody decided first, carry it out and close every card.
    False: decided already (the case is read again either way). ``decider`` None is an
    admin in the CLI."""
    won = await case.record(tx, decider, verdict, now, reason)
    await case.reload(tx)
    if not won:
        return False
    await case.carry_out(tx, now)
    holders = await case.card_holders(tx)
    await cards.close(tx, holders, case.topic, case.card, case.outcome, policy, now)
    return True


async def decide(turn: Turn, case: Case, verdict: bool, reason: str | None) -> None:
    """A staff member's verdict from a button or a command: exactly one wins; the loser
    is told who decided and when."""
    decider = await acting(turn, case.power, case.organization_id)
    if decider is None:
        await refuse(
            turn, case.power, case.attempted, case.organization_id, **case.refusal_detail()
        )
        return
    if await case.vetoed(turn, decider):
        return
    if not await settle(turn.tx, case, decider, verdict, reason, turn.policy, turn.now):
        turn.outcome.clear_pressed_buttons = turn.event.kind is EventKind.BUTTON
        answer(turn, case.already(turn.texts))
        return
    action, details = case.audit_entry(decider, reason)
    await turn.audit(action, **details)
    answer(turn, case.decided(turn.texts))
