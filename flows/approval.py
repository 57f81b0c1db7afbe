"""The manager's side of seed 000: see pending registrations, approve or reject, offboard.

A manager takes employees and desk staff out of service alone. Another manager (or an
admin) needs two: the first manager's ``/offboard`` becomes a request with a card for the
organization's other managers, and a different manager confirms it. The CLI, run by the
server's administrator, needs nobody's consent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flows import (
    account_sync,
    cards,
    decisions,
    invitations,
    labels,
    linking,
    notices,
    own_account,
    paging,
)
from flows.buttons import ButtonSigner, Decide, Listing, Offboard, signer
from flows.contacts import Contact, parse_email, parse_mobile
from flows.decisions import Power, acting, decide, may_act, number_and_reason, refuse, stale
from flows.domain import (
    TWO_PERSON_OFFBOARDING_ROLES,
    AccountStatus,
    AuditAction,
    DeliveryChannel,
    OffboardStatus,
    RequestKind,
    RequestStatus,
    effective_status,
)
from flows.events import Button, Keyboard
from flows.keys import KeyedHasher
from flows.model import Invitation, OffboardRequest, Organization, Person, RegistrationRequest
from flows.notices import NoticeKind
from flows.ports import DeepLinks, TypedStart
from flows.store import Transaction
from flows.texts import Texts
from flows.turn import DeskPolicy, Turn


def _topic(request: RegistrationRequest) -> str:
    return f"registration:{request.id}"


def _request_card(
    texts: Texts, request: RegistrationRequest, organization: Organization, person: Person
) -> str:
    if request.kind is RequestKind.CHAT_LINK:
        return texts(
            "staff_new_link_request",
            number=request.number,
            org=organization.name,
            name=person.name,
            contact=request.contact,
            when=texts.when(request.created_at),
        )
    listed = texts("staff_listed" if request.pre_registered else "staff_not_listed")
    return texts(
        "staff_new_request",
        number=request.number,
        org=organization.name,
        name=person.name,
        contact=request.contact,
        listed=listed,
        when=texts.when(request.created_at),
    )


def _decision_keyboard(texts: Texts, request: RegistrationRequest, sign: ButtonSigner) -> Keyboard:
    return (
        (
            Button(texts("button_approve"), sign(Decide(request.id, approve=True))),
            Button(texts("button_reject"), sign(Decide(request.id, approve=False))),
        ),
    )


def _outcome_line(texts: Texts, request: RegistrationRequest) -> str:
    decided_by = request.decided_by.name if request.decided_by else texts("decided_by_admin")
    when = texts.when(request.decided_at) if request.decided_at else ""
    if request.status is RequestStatus.APPROVED:
        return texts("staff_outcome_approved", by=decided_by, when=when)
    reason = texts("reason_suffix", reason=request.reason) if request.reason else ""
    return texts("staff_outcome_rejected", by=decided_by, when=when, reason=reason)


async def announce(
    tx: Transaction,
    request: RegistrationRequest,
    organization: Organization,
    person: Person,
    hasher: KeyedHasher,
    policy: DeskPolicy,
    now: datetime,
) -> None:
    """Push the new request to every manager of the organization with a linked chat."""
    await cards.push(
        tx,
        await tx.people.deciders_with_chats(organization.id),
        _topic(request),
        lambda texts: _request_card(texts, request, organization, person),
        lambda texts, sign: _decision_keyboard(texts, request, sign),
        hasher,
        policy,
        now,
    )


@dataclass
class _Request:
    """A registration or chat-link request, as :func:`decisions.decide` decides it."""

    request: RegistrationRequest
    hasher: KeyedHasher
    policy: DeskPolicy
    links: DeepLinks = field(default_factory=TypedStart)
    power = Power.DECIDE
    attempted = "decide"

    @property
    def organization_id(self) -> int:
        return self.request.organization_id

    @property
    def topic(self) -> str:
        return _topic(self.request)

    def refusal_detail(self) -> dict[str, Any]:
        return {"number": self.request.number}

    async def vetoed(self, turn: Turn, decider: Person) -> bool:
        if decider.id != self.request.person_id:
            return False
        # A chat-link request for one's own account: the point is a second person's check.
        await refuse(
            turn, Power.DECIDE, "decide_own", self.organization_id, **self.refusal_detail()
        )
        turn.say("staff_not_own_request")
        return True

    async def record(
        self,
        tx: Transaction,
        decider: Person | None,
        verdict: bool,
        now: datetime,
        reason: str | None,
    ) -> bool:
        status = RequestStatus.APPROVED if verdict else RequestStatus.REJECTED
        decider_id = decider.id if decider else None
        return await tx.requests.decide(self.request.id, status, decider_id, now, reason)

    async def reload(self, tx: Transaction) -> None:
        self.request = await tx.requests.get(self.request.id) or self.request

    async def carry_out(self, tx: Transaction, now: datetime) -> None:
        """Approved: the account (or its new chat) is linked; the person is told."""
        request, person = self.request, self.request.person
        if request.status is RequestStatus.APPROVED:
            person.status = AccountStatus.ACTIVE
            if request.kind is RequestKind.REGISTRATION:
                await account_sync.queue_enable(tx, person, now)
            tell = request.kind is RequestKind.CHAT_LINK
            await linking.link_person(
                tx, self.hasher, self.policy, person, request.telegram_user_id, now, tell=tell
            )
        await _tell_person(tx, request, request.organization, person, self.policy, now)
        if request.status is RequestStatus.APPROVED and request.kind is RequestKind.REGISTRATION:
            await self._invite(tx, person, now)

    async def _invite(self, tx: Transaction, person: Person, now: datetime) -> None:
        """Seed 000's approved employee chooses a password too: an invitation by deep link
        to their e-mail address (none without one)."""
        if not person.email:
            return
        inviter = invitations.Inviter(self.hasher, self.policy, self.links, self.request.decided_by)
        try:
            await invitations.issue(tx, inviter, person.organization, person.email, None, now)
        except invitations.InvitationRefused:
            return  # e.g. a role address kept from before: no invitation, the approval stands

    async def card_holders(self, tx: Transaction) -> cards.Recipients:
        return await tx.people.deciders_with_chats(self.organization_id)

    def card(self, texts: Texts) -> str:
        request = self.request
        return _request_card(texts, request, request.organization, request.person)

    def outcome(self, texts: Texts) -> str:
        return _outcome_line(texts, self.request)

    def already(self, texts: Texts) -> str:
        number = self.request.number
        return texts("staff_already_decided", number=number, outcome=self.outcome(texts))

    def decided(self, texts: Texts) -> str:
        request = self.request
        return texts(
            "staff_decided",
            number=request.number,
            name=request.person.name,
            outcome=self.outcome(texts),
        )

    def audit_entry(
        self, decider: Person, reason: str | None
    ) -> tuple[AuditAction, dict[str, Any]]:
        request = self.request
        approved = request.status is RequestStatus.APPROVED
        return DECISION_ACTIONS[request.kind, approved], {
            "organization_id": request.organization_id,
            "actor_person_id": decider.id,
            "subject_person_id": request.person_id,
            "number": request.number,
            "reason": reason,
        }


DECISION_ACTIONS = {
    (RequestKind.REGISTRATION, True): AuditAction.REGISTRATION_APPROVED,
    (RequestKind.REGISTRATION, False): AuditAction.REGISTRATION_REJECTED,
    (RequestKind.CHAT_LINK, True): AuditAction.CHAT_LINK_APPROVED,
    (RequestKind.CHAT_LINK, False): AuditAction.CHAT_LINK_REJECTED,
}
"""What a verdict on a request is audited as, given in chat or by an admin in the CLI."""


async def decide_by_button(turn: Turn, action: Decide) -> None:
    request = await turn.tx.requests.get(action.request_id)
    if request is None:
        stale(turn)
        return
    await decide(
        turn, _Request(request, turn.hasher, turn.policy, turn.links), action.approve, reason=None
    )


async def decide_by_command(turn: Turn, approve: bool) -> None:
    manager = await acting(turn, Power.DECIDE)
    if manager is None:
        await refuse(turn, Power.DECIDE, "approve" if approve else "reject")
        return
    typed = number_and_reason(turn.event.text, reason_needed=not approve)
    if typed is None:
        turn.say("approve_usage" if approve else "reject_usage")
        return
    number, reason = typed
    request = await turn.tx.requests.by_number(manager.organization_id, number)
    if request is None:
        turn.say("staff_request_unknown", number=number, org=manager.organization.name)
        return
    await decide(turn, _Request(request, turn.hasher, turn.policy, turn.links), approve, reason)


async def settle(
    tx: Transaction,
    hasher: KeyedHasher,
    policy: DeskPolicy,
    request: RegistrationRequest,
    decided_by: Person | None,
    approve: bool,
    reason: str | None,
    now: datetime,
    links: DeepLinks | None = None,
) -> bool:
    """Record the verdict if nobody decided first, and carry it out: the account (or its new
    chat) is linked, the person told, every manager's card closed. False: decided already.
    ``decided_by`` None is an admin in the CLI."""
    case = _Request(request, hasher, policy, links or TypedStart())
    return await decisions.settle(tx, case, decided_by, approve, reason, policy, now)


async def _tell_person(
    tx: Transaction,
    request: RegistrationRequest,
    organization: Organization,
    person: Person,
    policy: DeskPolicy,
    now: datetime,
) -> None:
    """The verdict to the asking chat and, for a registration, to the address it gave (a
    chat link's account address and old chat hear of it from the linking)."""
    texts = cards.texts_for(person, policy)
    message = _verdict(texts, request, organization)
    await tx.outbox.add(
        DeliveryChannel.TELEGRAM,
        str(request.telegram_user_id),
        message,
        now,
        organization_id=organization.id,
    )
    if request.kind is RequestKind.CHAT_LINK:
        return
    await tx.outbox.add(
        request.contact_channel,
        request.contact,
        message,
        now,
        subject=texts("mail_decision_subject", org=organization.name)
        if request.contact_channel is DeliveryChannel.EMAIL
        else None,
        organization_id=organization.id,
    )


def _verdict(texts: Texts, request: RegistrationRequest, organization: Organization) -> str:
    reason = texts("reason_suffix", reason=request.reason) if request.reason else ""
    approved = request.status is RequestStatus.APPROVED
    if request.kind is RequestKind.CHAT_LINK:
        key = "approved_link_chat" if approved else "rejected_link_chat"
        return texts(key, org=organization.name, reason="" if approved else reason)
    if approved:
        return texts("approved_chat", org=organization.name)
    return texts("rejected_chat", org=organization.name, reason=reason)


async def list_pending(turn: Turn, number: int = 1) -> None:
    """``/pending`` (or its page ``number``): a page of open requests, then their cards."""
    manager = await acting(turn, Power.DECIDE)
    if manager is None:
        await refuse(turn, Power.DECIDE, "pending")
        return
    total = await turn.tx.requests.count_pending(manager.organization_id)
    texts = turn.texts
    if not total:
        turn.say("pending_none")
        return
    where = paging.window(total, number)
    shown = where.of(
        await turn.tx.requests.pending(
            manager.organization_id, offset=where.offset, limit=where.limit
        )
    )
    lines = [
        texts(
            "pending_line",
            number=request.number,
            name=request.person.name,
            contact=request.contact,
            listed=texts("listed_short" if request.pre_registered else "not_listed_short"),
            age=texts.age(turn.now - request.created_at),
        )
        for request in shown.items
    ]
    header = texts("pending_header", org=manager.organization.name)
    turn.say_text(
        paging.text(texts, header, lines, shown), paging.keyboard(texts, Listing.PENDING, shown)
    )
    sign = signer(turn.hasher, turn.event.chat_id)
    for request in shown.items:
        turn.say_text(
            _request_card(texts, request, request.organization, request.person),
            _decision_keyboard(texts, request, sign),
        )


def status_label(texts: Texts, person: Person, today: date) -> str:
    """How a manager's list shows an employee, with the out-of-service date where set."""
    status = effective_status(person.status, person.out_of_service_on, today)
    if status is AccountStatus.OUT_OF_SERVICE and person.out_of_service_on:
        return texts("status_out_of_service", date=texts.day(person.out_of_service_on))
    if person.out_of_service_on and status is AccountStatus.ACTIVE:
        return texts("status_leaving", date=texts.day(person.out_of_service_on))
    return texts(labels.ACCOUNT_STATUS[status], date="")


async def list_employees(turn: Turn, number: int = 1) -> None:
    """``/employees`` (or its page ``number``)."""
    manager = await acting(turn, Power.DECIDE)
    if manager is None:
        await refuse(turn, Power.DECIDE, "employees")
        return
    total = await turn.tx.people.count_employees(manager.organization_id)
    texts = turn.texts
    if not total:
        turn.say("employees_none")
        return
    where = paging.window(total, number)
    shown = where.of(
        await turn.tx.people.employees(
            manager.organization_id, offset=where.offset, limit=where.limit
        )
    )
    lines = []
    for person in shown.items:
        contact = " / ".join(c for c in (person.email, person.phone) if c)
        offices = f" ({', '.join(o.name for o in person.offices)})" if person.offices else ""
        lines.append(
            texts(
                "employees_line",
                name=person.name + offices,
                contact=contact,
                status=status_label(texts, person, turn.now.date()),
            )
        )
        invitation = await turn.tx.invitations.latest_for(person.id)
        if invitation is not None:
            lines.append(invitation_line(texts, invitation))
    header = texts("employees_header", org=manager.organization.name)
    turn.say_text(
        paging.text(texts, header, lines, shown), paging.keyboard(texts, Listing.EMPLOYEES, shown)
    )


def invitation_line(texts: Texts, invitation: Invitation) -> str:
    """Seed 001's "invitation sent ..., confirmed ...", with when its link was opened."""
    if invitation.withdrawn_at is not None and invitation.opened_at is None:
        return texts("employees_invitation_withdrawn", when=texts.when(invitation.withdrawn_at))
    never = texts("employees_invitation_not_yet")
    return texts(
        "employees_invitation",
        sent=texts.when(invitation.created_at),
        opened=texts.when(invitation.opened_at) if invitation.opened_at else never,
        confirmed=texts.when(invitation.confirmed_at) if invitation.confirmed_at else never,
    )


def parse_lookup_contact(text: str) -> Contact | None:
    """An employee's address or number as a manager types it (role addresses allowed here)."""
    text = text.strip()
    if "@" in text:
        email = parse_email(text)
        return email if isinstance(email, Contact) else Contact(DeliveryChannel.EMAIL, text.lower())
    phone = parse_mobile(text)
    return phone if isinstance(phone, Contact) else None


async def offboard(turn: Turn) -> None:
    """``/offboard CONTACT [YYYY-MM-DD]``: seed 000's out-of-service date, set in chat."""
    manager = await acting(turn, Power.DECIDE)
    if manager is None:
        await refuse(turn, Power.DECIDE, "offboard")
        return
    typed = _read_offboard(turn)
    if typed is None:
        return
    contact, day = typed
    person = await _employee(turn, manager.organization, contact)
    if person is None:
        return
    if person.id == manager.id:
        await turn.audit(
            AuditAction.STAFF_ACTION_REFUSED,
            organization_id=manager.organization_id,
            actor_person_id=manager.id,
            subject_person_id=person.id,
            attempted="offboard_self",
        )
        turn.say("offboard_self")
    elif person.role in TWO_PERSON_OFFBOARDING_ROLES:
        await _ask_second_manager(turn, manager, person, day)
    else:
        await _offboard_now(turn, manager, person, day)


def _read_offboard(turn: Turn) -> tuple[str, date] | None:
    """The typed address or number and the date (today when left out); None, and the
    reason said, when the command does not read."""
    parts = turn.event.text.split()
    if not parts or len(parts) > 2:
        turn.say("offboard_usage")
        return None
    try:
        day = date.fromisoformat(parts[1]) if len(parts) == 2 else turn.now.date()
    except ValueError:
        turn.say("offboard_bad_date")
        return None
    return parts[0], day


async def _employee(turn: Turn, organization: Organization, typed: str) -> Person | None:
    """The organization's person with the typed address or number; None (said) if none."""
    contact = parse_lookup_contact(typed)
    person = (
        await turn.tx.people.by_contact(organization.id, contact.channel, contact.value)
        if contact
        else None
    )
    if person is None:
        turn.say("offboard_unknown", org=organization.name, contact=typed[:80])
    return person


async def _offboard_now(turn: Turn, manager: Person, person: Person, day: date) -> None:
    """An employee or desk staff member: one manager's word is enough."""
    await account_sync.offboarded(turn.tx, person, day, turn.now, turn.actor)
    await turn.audit(
        AuditAction.EMPLOYEE_OFFBOARDED,
        organization_id=manager.organization_id,
        actor_person_id=manager.id,
        subject_person_id=person.id,
        date=day.isoformat(),
    )
    turn.say("offboard_done", name=person.name, date=turn.texts.day(day))


# -- offboarding another manager: two managers ------------------------------------------------


def _offboard_topic(request: OffboardRequest) -> str:
    return f"offboard:{request.id}"


def _offboard_card(texts: Texts, request: OffboardRequest) -> str:
    subject = request.subject
    return texts(
        "staff_offboard_card",
        org=request.organization.name,
        by=request.requested_by.name,
        name=subject.name,
        role=texts(labels.ROLE[subject.role]),
        contact=subject.email or subject.phone or "-",
        date=texts.day(request.out_of_service_on),
        when=texts.when(request.created_at),
    )


def _offboard_keyboard(texts: Texts, request: OffboardRequest, sign: ButtonSigner) -> Keyboard:
    return (
        (
            Button(texts("button_confirm"), sign(Offboard(request.id, confirm=True))),
            Button(texts("button_refuse"), sign(Offboard(request.id, confirm=False))),
        ),
    )


def _offboard_outcome(texts: Texts, request: OffboardRequest) -> str:
    by = request.decided_by.name if request.decided_by else "?"
    when = texts.when(request.decided_at) if request.decided_at else ""
    if request.status is OffboardStatus.CONFIRMED:
        return texts("staff_outcome_offboard_confirmed", by=by, when=when)
    return texts("staff_outcome_offboard_refused", by=by, when=when)


async def _second_managers(
    tx: Transaction, organization_id: int, requester_id: int, subject_id: int, today: date
) -> cards.Recipients:
    """Who may confirm: the organization's acting managers in chat, except the manager who
    asked and the person it is about."""
    return [
        (person, chat_id)
        for person, chat_id in await tx.people.deciders_with_chats(organization_id)
        if person.id not in {requester_id, subject_id} and may_act(person, Power.DECIDE, today)
    ]


async def _ask_second_manager(turn: Turn, manager: Person, person: Person, day: date) -> None:
    """Record the request and put a card with Confirm and Refuse before the other managers;
    without one in chat, refuse and point to the CLI."""
    texts = turn.texts
    organization = manager.organization
    role = texts(labels.ROLE[person.role])
    if await turn.tx.offboard_requests.pending_for(person.id) is not None:
        turn.say("offboard_already_pending", name=person.name)
        return
    confirmers = await _second_managers(
        turn.tx, organization.id, manager.id, person.id, turn.now.date()
    )
    if not confirmers:
        await turn.audit(
            AuditAction.STAFF_ACTION_REFUSED,
            organization_id=organization.id,
            actor_person_id=manager.id,
            subject_person_id=person.id,
            attempted="offboard_manager",
            reason="no_second_manager",
        )
        turn.say("offboard_no_second_manager", name=person.name, role=role, org=organization.name)
        return
    request = await _file_offboard_request(turn, manager, person, day)
    await _ask_confirmers(turn, confirmers, request)
    turn.say(
        "offboard_needs_second",
        name=person.name,
        role=role,
        date=texts.day(day),
        org=organization.name,
    )


async def _ask_confirmers(
    turn: Turn, confirmers: cards.Recipients, request: OffboardRequest
) -> None:
    """A card with Confirm and Refuse to each manager who may confirm ``request``."""
    await cards.push(
        turn.tx,
        confirmers,
        _offboard_topic(request),
        lambda t: _offboard_card(t, request),
        lambda t, sign: _offboard_keyboard(t, request, sign),
        turn.hasher,
        turn.policy,
        turn.now,
    )


async def _file_offboard_request(
    turn: Turn, manager: Person, person: Person, day: date
) -> OffboardRequest:
    """Record (and audit) ``manager``'s request to take ``person`` out of service."""
    organization = manager.organization
    added = await turn.tx.offboard_requests.add(
        OffboardRequest(
            organization_id=organization.id,
            subject_person_id=person.id,
            requested_by_id=manager.id,
            out_of_service_on=day,
            status=OffboardStatus.PENDING,
            created_at=turn.now,
        )
    )
    request = await turn.tx.offboard_requests.get(added.id) or added
    await turn.audit(
        AuditAction.OFFBOARD_REQUESTED,
        organization_id=organization.id,
        actor_person_id=manager.id,
        subject_person_id=person.id,
        date=day.isoformat(),
        request_id=request.id,
    )
    return request


@dataclass
class _Offboarding:
    """A request to take a manager out of service, as a second manager decides it."""

    request: OffboardRequest
    today: date
    policy: DeskPolicy
    power = Power.DECIDE
    attempted = "decide_offboard"

    @property
    def organization_id(self) -> int:
        return self.request.organization_id

    @property
    def topic(self) -> str:
        return _offboard_topic(self.request)

    def refusal_detail(self) -> dict[str, Any]:
        return {"request_id": self.request.id}

    async def vetoed(self, turn: Turn, decider: Person) -> bool:
        """Neither the manager it is about nor the one who asked may decide it."""
        request = self.request
        if decider.id == request.subject_person_id:
            await refuse(
                turn, Power.DECIDE, self.attempted, self.organization_id, **self.refusal_detail()
            )
            return True
        if decider.id != request.requested_by_id:
            return False
        await turn.audit(
            AuditAction.STAFF_ACTION_REFUSED,
            organization_id=request.organization_id,
            actor_person_id=decider.id,
            subject_person_id=request.subject_person_id,
            attempted="confirm_own_offboard",
            request_id=request.id,
        )
        turn.outcome.callback_notice = turn.texts("offboard_own_request")
        return True

    async def record(
        self,
        tx: Transaction,
        decider: Person | None,
        verdict: bool,
        now: datetime,
        reason: str | None,
    ) -> bool:
        assert decider is not None  # only a manager in chat decides these
        status = OffboardStatus.CONFIRMED if verdict else OffboardStatus.REFUSED
        return await tx.offboard_requests.decide(self.request.id, status, decider.id, now)

    async def reload(self, tx: Transaction) -> None:
        self.request = await tx.offboard_requests.get(self.request.id) or self.request

    async def carry_out(self, tx: Transaction, now: datetime) -> None:
        """Confirmed: the date is set; either way the manager who asked hears the outcome."""
        request = self.request
        if request.status is OffboardStatus.CONFIRMED:
            await account_sync.offboarded(
                tx, request.subject, request.out_of_service_on, now, "balie"
            )
        # A decision on the asking manager's request: a notice to their account, on the
        # channels they keep on for decisions.
        await notices.notify(
            tx,
            own_account.of_person(request.requested_by),
            NoticeKind.DECISIONS,
            lambda texts: texts(
                "offboard_outcome_chat",
                name=request.subject.name,
                date=texts.day(request.out_of_service_on),
                outcome=self.outcome(texts),
            ),
            now,
            subject=lambda texts: texts("mail_offboard_outcome_subject", name=request.subject.name),
            default_language=self.policy.default_language,
        )

    async def card_holders(self, tx: Transaction) -> cards.Recipients:
        asked = self.request
        subject, asker = asked.subject_person_id, asked.requested_by_id
        return await _second_managers(tx, asked.organization_id, asker, subject, self.today)

    def card(self, texts: Texts) -> str:
        return _offboard_card(texts, self.request)

    def outcome(self, texts: Texts) -> str:
        return _offboard_outcome(texts, self.request)

    def already(self, texts: Texts) -> str:
        return texts("offboard_already_decided", outcome=self.outcome(texts))

    def decided(self, texts: Texts) -> str:
        name = self.request.subject.name
        return texts("offboard_decided", name=name, outcome=self.outcome(texts))

    def audit_entry(
        self, decider: Person, reason: str | None
    ) -> tuple[AuditAction, dict[str, Any]]:
        request = self.request
        confirmed = request.status is OffboardStatus.CONFIRMED
        action = AuditAction.EMPLOYEE_OFFBOARDED if confirmed else AuditAction.OFFBOARD_REFUSED
        return action, {
            "organization_id": request.organization_id,
            "actor_person_id": decider.id,
            "subject_person_id": request.subject_person_id,
            "date": request.out_of_service_on.isoformat(),
            "requested_by_person_id": request.requested_by_id,
            "request_id": request.id,
        }


async def offboard_by_button(turn: Turn, action: Offboard) -> None:
    """A second manager confirms or refuses; exactly one verdict wins."""
    request = await turn.tx.offboard_requests.get(action.request_id)
    if request is None:
        stale(turn)
        return
    case = _Offboarding(request, turn.now.date(), turn.policy)
    await decide(turn, case, action.confirm, reason=None)
