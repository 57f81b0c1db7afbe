"""Employee self-registration (seed 000): partner ID -> contact -> confirmation code -> request.

```mermaid
stateDiagram-v2
    [*] --> REGISTER_PARTNER_ID: Register / register
    REGISTER_PARTNER_ID --> REGISTER_CONTACT: known partner ID
    REGISTER_CONTACT --> REGISTER_CODE: personal e-mail or mobile, code sent
    REGISTER_CODE --> REGISTER_CONTACT: Different address or number
    REGISTER_CODE --> REGISTER_NAME: right code, not pre-added
    REGISTER_CODE --> IDLE: right code, pre-added (request pending)
    REGISTER_NAME --> IDLE: name given (request pending)
```
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flows import approval, devices, limits, linking, sms_budget
from flows.buttons import Menu, MenuChoice, encode
from flows.contacts import Contact, Refusal, parse_contact
from flows.decisions import Power, may_act
from flows.domain import (
    AccountStatus,
    AuditAction,
    CodePurpose,
    ConversationState,
    DeliveryChannel,
    RequestKind,
    RequestStatus,
    Role,
    effective_status,
)
from flows.events import EventKind, Keyboard, Reply
from flows.flow_data import StaleFlowData
from flows.model import Organization, Person, RegistrationRequest
from flows.texts import Texts
from flows.turn import Turn
from flows.verification import SHORT_CODE, CodeService, Failure, Target

MAX_NAME_LENGTH = 100


@dataclass(frozen=True)
class Draft:
    """What the registration has collected so far; the conversation's data at its steps.

    ``code_id`` is the code the conversation waits for: it is set only once a code was
    actually issued for ``contact``, and only that code confirms it.
    """

    organization_id: int
    contact: str | None = None
    channel: DeliveryChannel | None = None
    code_id: int | None = None

    def with_contact(self, contact: Contact, code_id: int) -> Draft:
        return Draft(self.organization_id, contact.value, contact.channel, code_id)

    @property
    def verified_contact(self) -> Contact:
        if not (self.contact and self.channel):
            raise StaleFlowData("the code step's draft has no contact")
        return Contact(self.channel, self.contact)

    def target(self, turn: Turn) -> Target:
        """What this draft's code is bound to: this chat's draft, its address, its office."""
        return code_target(turn, self.verified_contact, self.organization_id)


def draft_subject(chat_id: int) -> str:
    return f"registration:{chat_id}"


def code_target(turn: Turn, contact: Contact, organization_id: int) -> Target:
    return Target(
        CodePurpose.REGISTRATION, draft_subject(turn.event.chat_id), contact.value, organization_id
    )


async def discard_draft(turn: Turn) -> None:
    """The draft changes or ends (a new partner ID, a new registration): its codes go."""
    await CodeService.of(turn).burn(draft_subject(turn.event.chat_id), CodePurpose.REGISTRATION)


async def leave(turn: Turn) -> None:
    """/start or /cancel: a registration under way loses its draft's codes. Outside one
    there is nothing to burn (saving the step a write): a code left by a registration
    that timed out is accepted only at the code step, and :func:`begin` burns it before
    that step can come again."""
    if turn.state in STEPS:
        await discard_draft(turn)


def _cancel_keyboard(turn: Turn) -> Keyboard:
    return ((turn.button("button_cancel", encode(Menu(MenuChoice.CANCEL))),),)


def _code_keyboard(turn: Turn) -> Keyboard:
    return (
        (turn.button("button_resend", encode(Menu(MenuChoice.RESEND_CODE))),),
        (turn.button("button_change_contact", encode(Menu(MenuChoice.CHANGE_CONTACT))),),
        (turn.button("button_cancel", encode(Menu(MenuChoice.CANCEL))),),
    )


async def begin(turn: Turn) -> None:
    """Start a registration, unless this chat already has a request waiting."""
    pending = await turn.tx.requests.open_for_chat(turn.event.sender.user_id)
    if pending is not None:
        await _say_already_pending(turn, pending)
        turn.move(ConversationState.IDLE)
        return
    await discard_draft(turn)
    turn.move(ConversationState.REGISTER_PARTNER_ID)
    turn.say("ask_partner_id", _cancel_keyboard(turn))


def _partner_id_limit(turn: Turn) -> limits.Limit:
    return limits.Limit("partner_id_guess", turn.policy.partner_id_attempts_per_hour)


async def on_partner_id(turn: Turn) -> None:
    """A few unknown partner IDs an hour per chat, then a neutral wait: no guessing them."""
    chat = f"chat:{turn.event.chat_id}"
    wait = await limits.wait_needed(turn.tx, _partner_id_limit(turn), chat, turn.now)
    if wait:
        turn.move(ConversationState.IDLE)
        turn.say("partner_id_wait", minutes=limits.minutes(wait))
        return
    partner_id = turn.event.text.strip()
    organization = await turn.tx.organizations.by_partner_id(partner_id) if partner_id else None
    if organization is None:
        await limits.record(turn.tx, _partner_id_limit(turn), chat, turn.now)
        shown = partner_id[:40] or "-"
        turn.say("partner_id_unknown", _cancel_keyboard(turn), partner_id=shown)
        return
    await discard_draft(turn)
    turn.move(ConversationState.REGISTER_CONTACT, Draft(organization.id))
    turn.outcome.replies.append(_ask_contact_reply(turn, organization.name))


def _ask_contact_reply(turn: Turn, organization_name: str) -> Reply:
    return Reply(turn.texts("ask_contact", org=organization_name), _cancel_keyboard(turn))


async def on_contact(turn: Turn) -> None:
    """Move to the code step only when a code really went out to the address typed here."""
    draft = turn.data_as(Draft)
    typed = turn.event.phone if turn.event.kind is EventKind.CONTACT else turn.event.text
    parsed = parse_contact(typed or "", countries=turn.policy.sms_countries)
    if isinstance(parsed, Refusal):
        turn.say(parsed.reason, _cancel_keyboard(turn))
        return
    code_id = await _send_code(turn, draft.organization_id, parsed, _cancel_keyboard(turn))
    if code_id is not None:
        turn.move(ConversationState.REGISTER_CODE, draft.with_contact(parsed, code_id))


async def resend(turn: Turn) -> None:
    """A new code to the same address; the one waited for stays valid if none can go now."""
    draft = turn.data_as(Draft)
    contact = draft.verified_contact
    code_id = await _send_code(turn, draft.organization_id, contact, _code_keyboard(turn))
    if code_id is not None:
        turn.move(ConversationState.REGISTER_CODE, draft.with_contact(contact, code_id))


async def _send_code(
    turn: Turn, organization_id: int, contact: Contact, refusal_keyboard: Keyboard
) -> int | None:
    """Queue a new code for ``contact`` and return its id; None (and say why) when a
    cooldown, an hourly limit or the SMS budget says no."""
    refusal = await _why_no_code(turn, organization_id, contact)
    if refusal is not None:
        key, values = refusal
        turn.say(key, refusal_keyboard, **values)
        return None
    organization = await _organization(turn, organization_id)
    policy = turn.policy
    issued = await CodeService.of(turn).issue(
        code_target(turn, contact, organization_id),
        SHORT_CODE,
        policy.code_valid_for,
        policy.code_attempts,
    )
    minutes = int(policy.code_valid_for.total_seconds() // 60)
    await _queue_code_message(turn, organization, contact, issued.code, minutes)
    await turn.audit(
        AuditAction.CODE_SENT, organization_id=organization.id, route=contact.channel.value
    )
    turn.say("code_sent", _code_keyboard(turn), destination=contact.value, minutes=minutes)
    return issued.id


async def _why_no_code(
    turn: Turn, organization_id: int, contact: Contact
) -> tuple[str, dict[str, object]] | None:
    """The text key (and values) that says why no code can go to ``contact`` now."""
    policy, subject = turn.policy, draft_subject(turn.event.chat_id)
    purpose = CodePurpose.REGISTRATION
    last = await turn.tx.codes.last_sent_at(subject, purpose, contact.value)
    if last is not None and turn.now - last < policy.resend_cooldown:
        wait = policy.resend_cooldown - (turn.now - last)
        return "resend_wait", {"seconds": max(1, int(wait.total_seconds()))}
    hour_ago = turn.now - timedelta(hours=1)
    sent = max(
        await turn.tx.codes.sent_since(subject, purpose, hour_ago),
        await turn.tx.codes.sent_to_since(contact.value, purpose, hour_ago),
    )
    if sent >= policy.codes_per_hour:
        await turn.audit(AuditAction.CODE_RATE_LIMITED, organization_id=organization_id)
        return "resend_limit", {"minutes": 60}
    if contact.channel is DeliveryChannel.SMS:
        if not await sms_budget.has_room(turn.tx, policy, organization_id, turn.now):
            await turn.audit(AuditAction.CODE_SMS_BUDGET, organization_id=organization_id)
            return "sms_unavailable", {}
        await sms_budget.spend(turn.tx, policy, organization_id, turn.now)
    return None


async def _queue_code_message(
    turn: Turn, organization: Organization, contact: Contact, code: str, minutes: int
) -> None:
    texts = turn.texts
    organization_name = organization.name
    if contact.channel is DeliveryChannel.EMAIL:
        await turn.tx.outbox.add(
            DeliveryChannel.EMAIL,
            contact.value,
            texts("mail_code_body", org=organization_name, code=code, minutes=minutes),
            turn.now,
            subject=texts("mail_code_subject"),
            sensitive=True,
            expires_at=turn.now + turn.policy.code_valid_for,
            notify_chat=turn.event.chat_id,
            organization_id=organization.id,
        )
    else:
        await turn.tx.outbox.add(
            DeliveryChannel.SMS,
            contact.value,
            texts("sms_code", org=organization_name, code=code, minutes=minutes),
            turn.now,
            sensitive=True,
            expires_at=turn.now + turn.policy.code_valid_for,
            notify_chat=turn.event.chat_id,
            organization_id=organization.id,
        )


async def _organization(turn: Turn, organization_id: int) -> Organization:
    organization = await turn.tx.organizations.get(organization_id)
    assert organization is not None, "organizations are never deleted under a conversation"
    return organization


async def change_contact(turn: Turn) -> None:
    draft = turn.data_as(Draft)
    await discard_draft(turn)
    turn.move(ConversationState.REGISTER_CONTACT, Draft(draft.organization_id))
    organization = await _organization(turn, draft.organization_id)
    turn.outcome.replies.append(_ask_contact_reply(turn, organization.name))


async def on_code(turn: Turn) -> None:
    """Only the code issued for this draft's address and office confirms it."""
    turn.outcome.delete_message = True
    draft = turn.data_as(Draft)
    result = await CodeService.of(turn).verify_bound(
        draft.target(turn), draft.code_id, turn.event.text, SHORT_CODE, turn.event.chat_id
    )
    turn.outcome.wait_before_answer = result.slowdown.total_seconds()
    if result.confirmed:
        await discard_draft(turn)
        await _contact_confirmed(turn, draft)
        return
    await turn.audit(
        AuditAction.CODE_NOT_ACCEPTED,
        organization_id=draft.organization_id,
        reason=result.failure.value if result.failure else None,
    )
    if result.failure is Failure.MALFORMED:
        turn.outcome.delete_message = False
        turn.say("code_not_digits", _code_keyboard(turn))
    elif result.failure is Failure.LOCKED:
        turn.say("attempts_wait", _code_keyboard(turn), minutes=60)
    elif result.failure is Failure.WRONG:
        code = await turn.tx.codes.get(draft.code_id) if draft.code_id else None
        left = code.max_attempts - code.attempts if code else 0
        turn.say("code_wrong", _code_keyboard(turn), left=left)
    elif result.failure is Failure.LAST_TRY:
        turn.say("code_burned", _code_keyboard(turn))
    else:
        turn.say("code_expired", _code_keyboard(turn))


async def _contact_confirmed(turn: Turn, draft: Draft) -> None:
    organization = await _organization(turn, draft.organization_id)
    contact = draft.verified_contact
    person = await turn.tx.people.by_contact(organization.id, contact.channel, contact.value)
    if person is None:
        turn.move(ConversationState.REGISTER_NAME, draft)
        turn.say("ask_name", _cancel_keyboard(turn))
        return
    await _request_for(turn, organization, person, contact)


async def on_name(turn: Turn) -> None:
    name = " ".join(turn.event.text.split())
    if not (2 <= len(name) <= MAX_NAME_LENGTH) or name.startswith("/"):
        turn.say("name_invalid", _cancel_keyboard(turn))
        return
    draft = turn.data_as(Draft)
    organization = await _organization(turn, draft.organization_id)
    contact = draft.verified_contact
    person = await turn.tx.people.by_contact(organization.id, contact.channel, contact.value)
    if person is None:
        person = await turn.tx.people.add(
            organization_id=organization.id,
            name=name,
            role=Role.EMPLOYEE,
            status=AccountStatus.PENDING,
            now=turn.now,
            email=contact.value if contact.channel is DeliveryChannel.EMAIL else None,
            phone=contact.value if contact.channel is DeliveryChannel.SMS else None,
            pre_registered=False,
            language=turn.language.value,
        )
    await _request_for(turn, organization, person, contact)


async def _request_for(
    turn: Turn, organization: Organization, person: Person, contact: Contact
) -> None:
    """The contact is confirmed: file the request, or say why none is needed or allowed."""
    turn.move(ConversationState.IDLE)
    status = effective_status(person.status, person.out_of_service_on, turn.now.date())
    if may_act(person, Power.RELEASE, turn.now.date()):  # any staff power is linked with care
        await _ask_second_manager(turn, organization, person, contact)
        return
    if status is AccountStatus.ACTIVE:
        await linking.link_person(
            turn.tx,
            turn.hasher,
            turn.policy,
            person,
            turn.event.sender.user_id,
            turn.now,
            device_name=devices.device_name(turn.event.sender),
        )
        await turn.audit(
            AuditAction.CHAT_LINKED, organization_id=organization.id, subject_person_id=person.id
        )
        turn.say("already_active", org=organization.name)
        return
    if status is not AccountStatus.PENDING:
        await turn.audit(
            AuditAction.REGISTRATION_REFUSED,
            organization_id=organization.id,
            subject_person_id=person.id,
            status=status.value,
        )
        turn.say("account_unavailable")
        return
    person.language = turn.language.value
    request = await _file_request(turn, organization, person, contact, RequestKind.REGISTRATION)
    if request is not None:
        route = "route_email" if contact.channel is DeliveryChannel.EMAIL else "route_sms"
        turn.say(
            "request_created",
            number=request.number,
            org=organization.name,
            route=turn.texts(route),
        )


async def _ask_second_manager(
    turn: Turn, organization: Organization, person: Person, contact: Contact
) -> None:
    """A manager's, staff member's or admin's account from a new chat: powers like theirs
    are linked only when another manager (or an admin in the CLI) agrees."""
    request = await _file_request(turn, organization, person, contact, RequestKind.CHAT_LINK)
    if request is not None:
        await linking.warn_link_requested(turn.tx, turn.policy, person, turn.now)
        turn.say("chat_link_needs_approval", number=request.number, org=organization.name)


_REQUESTED_ACTIONS = {
    RequestKind.REGISTRATION: AuditAction.REGISTRATION_REQUESTED,
    RequestKind.CHAT_LINK: AuditAction.CHAT_LINK_REQUESTED,
}


async def _file_request(
    turn: Turn, organization: Organization, person: Person, contact: Contact, kind: RequestKind
) -> RegistrationRequest | None:
    """File a request for the managers and push its card; None (and say so) when one is
    already waiting for this person."""
    open_request = await turn.tx.requests.open_for_person(person.id)
    if open_request is not None:
        await _say_already_pending(turn, open_request)
        return None
    request = await turn.tx.requests.add(
        RegistrationRequest(
            organization_id=organization.id,
            number=await turn.tx.organizations.next_request_number(organization.id),
            person_id=person.id,
            contact=contact.value,
            contact_channel=contact.channel,
            telegram_user_id=turn.event.sender.user_id,
            pre_registered=person.pre_registered or kind is RequestKind.CHAT_LINK,
            status=RequestStatus.PENDING,
            kind=kind,
            created_at=turn.now,
        )
    )
    await turn.audit(
        _REQUESTED_ACTIONS[kind],
        organization_id=organization.id,
        subject_person_id=person.id,
        number=request.number,
        pre_registered=request.pre_registered,
    )
    await approval.announce(
        turn.tx, request, organization, person, turn.hasher, turn.policy, turn.now
    )
    return request


async def _say_already_pending(turn: Turn, request: RegistrationRequest) -> None:
    texts: Texts = turn.texts
    turn.say(
        "already_pending",
        number=request.number,
        when=texts.when(request.created_at),
        org=request.organization.name,
    )


PROMPTS = {
    ConversationState.REGISTER_PARTNER_ID: "ask_partner_id",
    ConversationState.REGISTER_CONTACT: "contact_type_it",
    ConversationState.REGISTER_CODE: "code_type_it",
    ConversationState.REGISTER_NAME: "name_invalid",
}
"""What to repeat when someone comes back, or sends a sticker or photo, at a step."""

STEPS = {
    ConversationState.REGISTER_PARTNER_ID: on_partner_id,
    ConversationState.REGISTER_CONTACT: on_contact,
    ConversationState.REGISTER_CODE: on_code,
    ConversationState.REGISTER_NAME: on_name,
}


async def repeat_step(turn: Turn) -> None:
    in_code_step = turn.state is ConversationState.REGISTER_CODE
    keyboard = _code_keyboard(turn) if in_code_step else _cancel_keyboard(turn)
    turn.say(PROMPTS[turn.state], keyboard)
