"""The manager's side of seed 000: see pending registrations, approve or reject, offboard.

A manager takes employees and desk staff out of service alone. Another manager (or an
admin) needs two: the first manager's ``/offboard`` becomes a request with a card for the
organization's other managers, and a different manager confirms it. The CLI, run by the
server's administrator, needs nobody's consent.
"""

from __future__ import annotations

from datetime import date, datetime

from flows import cards, labels, linking, paging
from flows.buttons import ButtonSigner, Decide, Listing, Offboard, signer
from flows.contacts import Contact, parse_email, parse_mobile
from flows.domain import (
    TWO_PERSON_OFFBOARDING_ROLES,
    AccountStatus,
    DeliveryChannel,
    OffboardStatus,
    RequestKind,
    RequestStatus,
    effective_status,
    may_decide_registrations,
)
from flows.events import Button, EventKind, Keyboard
from flows.keys import KeyedHasher
from flows.texts import Texts
from flows.turn import DeskPolicy, Turn
from storage.models import OffboardRequest, Organization, Person, RegistrationRequest
from storage.uow import Transaction


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


async def _acting_manager(turn: Turn, organization_id: int | None) -> Person | None:
    """The caller, if they may decide registrations (for ``organization_id`` when given)."""
    person = await turn.tx.chat_links.person_for(turn.event.sender.user_id)
    if person is None:
        return None
    status = effective_status(person.status, person.out_of_service_on, turn.now.date())
    if not may_decide_registrations(person.role, status):
        return None
    if organization_id is not None and person.organization_id != organization_id:
        return None
    return person


async def _refuse(
    turn: Turn, action: str, organization_id: int | None = None, **detail: object
) -> None:
    caller = await turn.tx.chat_links.person_for(turn.event.sender.user_id)
    await turn.audit(
        "staff_action_refused",
        organization_id=organization_id,
        actor_person_id=caller.id if caller else None,
        attempted=action,
        **detail,
    )
    if turn.event.kind is EventKind.BUTTON:
        turn.outcome.callback_notice = turn.texts("staff_not_allowed")
    turn.say("staff_not_allowed")


async def decide_by_button(turn: Turn, action: Decide) -> None:
    request = await turn.tx.requests.get(action.request_id)
    if request is None:
        turn.outcome.callback_notice = turn.texts("stale_button")
        turn.outcome.clear_pressed_buttons = True
        return
    await _decide(turn, request, action.approve, reason=None)


async def decide_by_command(turn: Turn, approve: bool) -> None:
    manager = await _acting_manager(turn, None)
    if manager is None:
        await _refuse(turn, "approve" if approve else "reject")
        return
    number_text, _, reason = turn.event.text.partition(" ")
    usage = "approve_usage" if approve else "reject_usage"
    number_text = number_text.lstrip("#")
    if not number_text.isdigit() or (not approve and not reason.strip()):
        turn.say(usage)
        return
    request = await turn.tx.requests.by_number(manager.organization_id, int(number_text))
    if request is None:
        turn.say("staff_request_unknown", number=int(number_text), org=manager.organization.name)
        return
    await _decide(turn, request, approve, reason=reason.strip()[:500] or None)


async def _decide(
    turn: Turn, request: RegistrationRequest, approve: bool, reason: str | None
) -> None:
    """Exactly one decision wins; the loser is told who decided and when."""
    manager = await _acting_manager(turn, request.organization_id)
    if manager is None:
        await _refuse(turn, "decide", request.organization_id, number=request.number)
        return
    if manager.id == request.person_id:
        # A chat-link request for one's own account: the point is a second person's check.
        await _refuse(turn, "decide_own", request.organization_id, number=request.number)
        turn.say("staff_not_own_request")
        return
    won = await settle(
        turn.tx, turn.hasher, turn.policy, request, manager, approve, reason, turn.now
    )
    request = await turn.tx.requests.get(request.id) or request
    texts = turn.texts
    if not won:
        notice = texts(
            "staff_already_decided", number=request.number, outcome=_outcome_line(texts, request)
        )
        turn.outcome.clear_pressed_buttons = turn.event.kind is EventKind.BUTTON
        _answer(turn, notice)
        return
    await turn.audit(
        _AUDIT_ACTIONS[request.kind, approve],
        organization_id=request.organization_id,
        actor_person_id=manager.id,
        subject_person_id=request.person_id,
        number=request.number,
        reason=reason,
    )
    _answer(
        turn,
        texts(
            "staff_decided",
            number=request.number,
            name=request.person.name,
            outcome=_outcome_line(texts, request),
        ),
    )


_AUDIT_ACTIONS = {
    (RequestKind.REGISTRATION, True): "registration_approved",
    (RequestKind.REGISTRATION, False): "registration_rejected",
    (RequestKind.CHAT_LINK, True): "chat_link_approved",
    (RequestKind.CHAT_LINK, False): "chat_link_rejected",
}


async def settle(
    tx: Transaction,
    hasher: KeyedHasher,
    policy: DeskPolicy,
    request: RegistrationRequest,
    decided_by: Person | None,
    approve: bool,
    reason: str | None,
    now: datetime,
) -> bool:
    """Record the verdict if nobody decided first, and carry it out: the account (or its new
    chat) is linked, the person told, every manager's card closed. False: decided already.
    ``decided_by`` None is an admin in the CLI."""
    verdict = RequestStatus.APPROVED if approve else RequestStatus.REJECTED
    decider_id = decided_by.id if decided_by else None
    if not await tx.requests.decide(request.id, verdict, decider_id, now, reason):
        return False
    request = await tx.requests.get(request.id) or request
    person, organization = request.person, request.organization
    if approve:
        person.status = AccountStatus.ACTIVE
        await linking.link_person(
            tx,
            hasher,
            policy,
            person,
            request.telegram_user_id,
            now,
            tell=request.kind is RequestKind.CHAT_LINK,
        )
    await _tell_person(tx, request, organization, person, policy, now)
    await _update_manager_cards(tx, request, organization, person, policy, now)
    return True


def _answer(turn: Turn, text: str) -> None:
    """A button press gets a toast (the card itself is edited); a command gets a message."""
    if turn.event.kind is EventKind.BUTTON:
        turn.outcome.callback_notice = text
    else:
        turn.say_text(text)


async def _tell_person(
    tx: Transaction,
    request: RegistrationRequest,
    organization: Organization,
    person: Person,
    policy: DeskPolicy,
    now: datetime,
) -> None:
    texts = cards.texts_for(person, policy)
    if request.kind is RequestKind.CHAT_LINK:
        # The account's address and old chat hear of an approved link from the linking.
        reason = texts("reason_suffix", reason=request.reason) if request.reason else ""
        approved = request.status is RequestStatus.APPROVED
        message = texts(
            "approved_link_chat" if approved else "rejected_link_chat",
            org=organization.name,
            reason="" if approved else reason,
        )
        await tx.outbox.add(DeliveryChannel.TELEGRAM, str(request.telegram_user_id), message, now)
        return
    if request.status is RequestStatus.APPROVED:
        message = texts("approved_chat", org=organization.name)
    else:
        reason = texts("reason_suffix", reason=request.reason) if request.reason else ""
        message = texts("rejected_chat", org=organization.name, reason=reason)
    await tx.outbox.add(DeliveryChannel.TELEGRAM, str(request.telegram_user_id), message, now)
    await tx.outbox.add(
        request.contact_channel,
        request.contact,
        message,
        now,
        subject=texts("mail_decision_subject", org=organization.name)
        if request.contact_channel is DeliveryChannel.EMAIL
        else None,
    )


async def _update_manager_cards(
    tx: Transaction,
    request: RegistrationRequest,
    organization: Organization,
    person: Person,
    policy: DeskPolicy,
    now: datetime,
) -> None:
    """Edit every manager's copy in place: the outcome, who decided and when; no buttons."""
    await cards.close(
        tx,
        await tx.people.deciders_with_chats(organization.id),
        _topic(request),
        lambda texts: _request_card(texts, request, organization, person),
        lambda texts: _outcome_line(texts, request),
        policy,
        now,
    )


async def list_pending(turn: Turn, number: int = 1) -> None:
    """``/pending`` (or its page ``number``): a page of open requests, then their cards."""
    manager = await _acting_manager(turn, None)
    if manager is None:
        await _refuse(turn, "pending")
        return
    requests = await turn.tx.requests.pending(manager.organization_id)
    texts = turn.texts
    if not requests:
        turn.say("pending_none")
        return
    shown = paging.page(requests, number)
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
    manager = await _acting_manager(turn, None)
    if manager is None:
        await _refuse(turn, "employees")
        return
    employees = await turn.tx.people.employees(manager.organization_id)
    texts = turn.texts
    if not employees:
        turn.say("employees_none")
        return
    shown = paging.page(employees, number)
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
    header = texts("employees_header", org=manager.organization.name)
    turn.say_text(
        paging.text(texts, header, lines, shown), paging.keyboard(texts, Listing.EMPLOYEES, shown)
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
    manager = await _acting_manager(turn, None)
    if manager is None:
        await _refuse(turn, "offboard")
        return
    parts = turn.event.text.split()
    if not parts or len(parts) > 2:
        turn.say("offboard_usage")
        return
    contact = parse_lookup_contact(parts[0])
    try:
        day = date.fromisoformat(parts[1]) if len(parts) == 2 else turn.now.date()
    except ValueError:
        turn.say("offboard_bad_date")
        return
    organization = manager.organization
    person = (
        await turn.tx.people.by_contact(organization.id, contact.channel, contact.value)
        if contact
        else None
    )
    if person is None:
        turn.say("offboard_unknown", org=organization.name, contact=parts[0][:80])
        return
    if person.id == manager.id:
        await turn.audit(
            "staff_action_refused",
            organization_id=organization.id,
            actor_person_id=manager.id,
            subject_person_id=person.id,
            attempted="offboard_self",
        )
        turn.say("offboard_self")
        return
    if person.role in TWO_PERSON_OFFBOARDING_ROLES:
        await _ask_second_manager(turn, manager, person, day)
        return
    await turn.tx.people.set_out_of_service(person, day)
    await turn.audit(
        "employee_offboarded",
        organization_id=organization.id,
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
        if person.id not in {requester_id, subject_id}
        and may_decide_registrations(
            person.role, effective_status(person.status, person.out_of_service_on, today)
        )
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
            "staff_action_refused",
            organization_id=organization.id,
            actor_person_id=manager.id,
            subject_person_id=person.id,
            attempted="offboard_manager",
            reason="no_second_manager",
        )
        turn.say("offboard_no_second_manager", name=person.name, role=role, org=organization.name)
        return
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
        "offboard_requested",
        organization_id=organization.id,
        actor_person_id=manager.id,
        subject_person_id=person.id,
        date=day.isoformat(),
        request_id=request.id,
    )
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
    turn.say(
        "offboard_needs_second",
        name=person.name,
        role=role,
        date=texts.day(day),
        org=organization.name,
    )


async def offboard_by_button(turn: Turn, action: Offboard) -> None:
    """A second manager confirms or refuses; exactly one verdict wins."""
    request = await turn.tx.offboard_requests.get(action.request_id)
    if request is None:
        turn.outcome.callback_notice = turn.texts("stale_button")
        turn.outcome.clear_pressed_buttons = True
        return
    manager = await _acting_manager(turn, request.organization_id)
    if manager is None or manager.id == request.subject_person_id:
        await _refuse(turn, "decide_offboard", request.organization_id, request_id=request.id)
        return
    texts = turn.texts
    if manager.id == request.requested_by_id:
        await turn.audit(
            "staff_action_refused",
            organization_id=request.organization_id,
            actor_person_id=manager.id,
            subject_person_id=request.subject_person_id,
            attempted="confirm_own_offboard",
            request_id=request.id,
        )
        turn.outcome.callback_notice = texts("offboard_own_request")
        return
    verdict = OffboardStatus.CONFIRMED if action.confirm else OffboardStatus.REFUSED
    won = await turn.tx.offboard_requests.decide(request.id, verdict, manager.id, turn.now)
    request = await turn.tx.offboard_requests.get(request.id) or request
    if not won:
        turn.outcome.clear_pressed_buttons = True
        turn.outcome.callback_notice = texts(
            "offboard_already_decided", outcome=_offboard_outcome(texts, request)
        )
        return
    await _carry_out_offboard(turn, request, manager)
    turn.outcome.callback_notice = texts(
        "offboard_decided", name=request.subject.name, outcome=_offboard_outcome(texts, request)
    )


async def _carry_out_offboard(turn: Turn, request: OffboardRequest, manager: Person) -> None:
    """The decided request's effect, its audit entry, the closed cards and the asker's news."""
    subject = request.subject
    if request.status is OffboardStatus.CONFIRMED:
        await turn.tx.people.set_out_of_service(subject, request.out_of_service_on)
    await turn.audit(
        "employee_offboarded" if request.status is OffboardStatus.CONFIRMED else "offboard_refused",
        organization_id=request.organization_id,
        actor_person_id=manager.id,
        subject_person_id=subject.id,
        date=request.out_of_service_on.isoformat(),
        requested_by_person_id=request.requested_by_id,
        request_id=request.id,
    )
    await cards.close(
        turn.tx,
        await _second_managers(
            turn.tx,
            request.organization_id,
            request.requested_by_id,
            subject.id,
            turn.now.date(),
        ),
        _offboard_topic(request),
        lambda t: _offboard_card(t, request),
        lambda t: _offboard_outcome(t, request),
        turn.policy,
        turn.now,
    )
    asker_chat = await turn.tx.chat_links.chat_for(request.requested_by_id)
    if asker_chat is not None:
        asker_texts = cards.texts_for(request.requested_by, turn.policy)
        await turn.tx.outbox.add(
            DeliveryChannel.TELEGRAM,
            str(asker_chat),
            asker_texts(
                "offboard_outcome_chat",
                name=subject.name,
                date=asker_texts.day(request.out_of_service_on),
                outcome=_offboard_outcome(asker_texts, request),
            ),
            turn.now,
        )
