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

from dataclasses import asdict, dataclass
from datetime import timedelta

from flows import approval
from flows.buttons import Menu, MenuChoice, encode
from flows.codes import CodeHasher, numeric_code
from flows.contacts import Contact, Refusal, parse_contact
from flows.domain import (
    AccountStatus,
    CodePurpose,
    ConversationState,
    DeliveryChannel,
    RequestStatus,
    Role,
    effective_status,
)
from flows.events import EventKind, Keyboard, Reply
from flows.texts import Texts
from flows.turn import Turn
from storage.models import OneTimeCode, Organization, Person, RegistrationRequest

MAX_NAME_LENGTH = 100


@dataclass(frozen=True)
class Draft:
    """What the registration has collected so far; kept in the conversation's data."""

    organization_id: int
    contact: str | None = None
    channel: str | None = None

    @classmethod
    def of(cls, turn: Turn) -> Draft:
        data = turn.data
        return cls(
            organization_id=int(data["organization_id"]),
            contact=data.get("contact"),
            channel=data.get("channel"),
        )

    def with_contact(self, contact: Contact) -> Draft:
        return Draft(self.organization_id, contact.value, contact.channel.value)

    @property
    def verified_contact(self) -> Contact:
        assert self.contact and self.channel, "contact is set before the code step"
        return Contact(DeliveryChannel(self.channel), self.contact)


def _code_subject(turn: Turn) -> str:
    return f"chat:{turn.event.chat_id}"


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
    turn.move(ConversationState.REGISTER_PARTNER_ID)
    turn.say("ask_partner_id", _cancel_keyboard(turn))


async def on_partner_id(turn: Turn) -> None:
    partner_id = turn.event.text.strip()
    organization = await turn.tx.organizations.by_partner_id(partner_id) if partner_id else None
    if organization is None:
        shown = partner_id[:40] or "-"
        turn.say("partner_id_unknown", _cancel_keyboard(turn), partner_id=shown)
        return
    turn.move(ConversationState.REGISTER_CONTACT, asdict(Draft(organization.id)))
    turn.outcome.replies.append(
        _ask_contact_reply(turn, organization.name),
    )


def _ask_contact_reply(turn: Turn, organization_name: str) -> Reply:
    return Reply(turn.texts("ask_contact", org=organization_name), _cancel_keyboard(turn))


async def on_contact(turn: Turn) -> None:
    draft = Draft.of(turn)
    if turn.event.kind is EventKind.CONTACT and turn.event.phone:
        parsed = parse_contact(turn.event.phone)
    else:
        parsed = parse_contact(turn.event.text)
    if isinstance(parsed, Refusal):
        turn.say(parsed.reason, _cancel_keyboard(turn))
        return
    draft = draft.with_contact(parsed)
    turn.move(ConversationState.REGISTER_CODE, asdict(draft))
    await _send_code(turn, draft)


async def _send_code(turn: Turn, draft: Draft) -> None:
    """Queue a new code, unless a cooldown or the hourly limit says wait."""
    organization = await _organization(turn, draft)
    contact = draft.verified_contact
    subject = _code_subject(turn)
    policy = turn.policy
    last = await turn.tx.codes.last_sent_at(subject, CodePurpose.REGISTRATION)
    if last is not None and turn.now - last < policy.resend_cooldown:
        wait = policy.resend_cooldown - (turn.now - last)
        turn.say("resend_wait", _code_keyboard(turn), seconds=max(1, int(wait.total_seconds())))
        return
    hour_ago = turn.now - timedelta(hours=1)
    sent = max(
        await turn.tx.codes.sent_since(subject, CodePurpose.REGISTRATION, hour_ago),
        await turn.tx.codes.sent_to_since(contact.value, CodePurpose.REGISTRATION, hour_ago),
    )
    if sent >= policy.codes_per_hour:
        await turn.audit("code_rate_limited", organization_id=organization.id)
        turn.say("resend_limit", _cancel_keyboard(turn), minutes=60)
        return

    code = numeric_code(6)
    await turn.tx.codes.burn_all(subject, CodePurpose.REGISTRATION)
    await turn.tx.codes.add(
        OneTimeCode(
            purpose=CodePurpose.REGISTRATION,
            subject=subject,
            destination=contact.value,
            code_hash=await CodeHasher().hash_async(code),
            created_at=turn.now,
            expires_at=turn.now + policy.code_valid_for,
            attempts=0,
            max_attempts=policy.code_attempts,
            burned=False,
        )
    )
    minutes = int(policy.code_valid_for.total_seconds() // 60)
    texts = turn.texts
    if contact.channel is DeliveryChannel.EMAIL:
        await turn.tx.outbox.add(
            DeliveryChannel.EMAIL,
            contact.value,
            texts("mail_code_body", org=organization.name, code=code, minutes=minutes),
            turn.now,
            subject=texts("mail_code_subject"),
            sensitive=True,
        )
    else:
        await turn.tx.outbox.add(
            DeliveryChannel.SMS,
            contact.value,
            texts("sms_code", org=organization.name, code=code, minutes=minutes),
            turn.now,
            sensitive=True,
        )
    await turn.audit("code_sent", organization_id=organization.id, route=contact.channel.value)
    turn.say("code_sent", _code_keyboard(turn), destination=contact.value, minutes=minutes)


async def _organization(turn: Turn, draft: Draft) -> Organization:
    organization = await turn.tx.organizations.get(draft.organization_id)
    assert organization is not None, "organizations are never deleted under a conversation"
    return organization


async def resend(turn: Turn) -> None:
    await _send_code(turn, Draft.of(turn))


async def change_contact(turn: Turn) -> None:
    draft = Draft.of(turn)
    await turn.tx.codes.burn_all(_code_subject(turn), CodePurpose.REGISTRATION)
    turn.move(ConversationState.REGISTER_CONTACT, asdict(Draft(draft.organization_id)))
    organization = await _organization(turn, draft)
    turn.outcome.replies.append(_ask_contact_reply(turn, organization.name))


async def on_code(turn: Turn) -> None:
    typed = "".join(turn.event.text.split())
    if not (typed.isdigit() and len(typed) == 6):
        turn.say("code_not_digits", _code_keyboard(turn))
        return
    code = await turn.tx.codes.current(_code_subject(turn), CodePurpose.REGISTRATION)
    if code is None:
        turn.say("code_expired", _code_keyboard(turn))
        return
    if turn.now >= code.expires_at:
        code.burned = True
        turn.say("code_expired", _code_keyboard(turn))
        return
    if not await CodeHasher().matches_async(code.code_hash, typed):
        code.attempts += 1
        left = code.max_attempts - code.attempts
        if left <= 0:
            code.burned = True
            await turn.audit("code_burned", reason="attempts")
            turn.say("code_burned", _code_keyboard(turn))
        else:
            turn.say("code_wrong", _code_keyboard(turn), left=left)
        return
    code.used_at = turn.now
    await _contact_confirmed(turn, Draft.of(turn))


async def _contact_confirmed(turn: Turn, draft: Draft) -> None:
    organization = await _organization(turn, draft)
    contact = draft.verified_contact
    person = await turn.tx.people.by_contact(organization.id, contact.channel, contact.value)
    if person is None:
        turn.move(ConversationState.REGISTER_NAME, asdict(draft))
        turn.say("ask_name", _cancel_keyboard(turn))
        return
    await _request_for(turn, organization, person, contact)


async def on_name(turn: Turn) -> None:
    name = " ".join(turn.event.text.split())
    if not (2 <= len(name) <= MAX_NAME_LENGTH) or name.startswith("/"):
        turn.say("name_invalid", _cancel_keyboard(turn))
        return
    draft = Draft.of(turn)
    organization = await _organization(turn, draft)
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
    if status is AccountStatus.ACTIVE:
        await turn.tx.chat_links.link(turn.event.sender.user_id, person.id, turn.now)
        await turn.audit(
            "chat_linked", organization_id=organization.id, subject_person_id=person.id
        )
        turn.say("already_active", org=organization.name)
        return
    if status is not AccountStatus.PENDING:
        await turn.audit(
            "registration_refused",
            organization_id=organization.id,
            subject_person_id=person.id,
            status=status.value,
        )
        turn.say("account_unavailable")
        return
    open_request = await turn.tx.requests.open_for_person(person.id)
    if open_request is not None:
        await _say_already_pending(turn, open_request)
        return

    person.language = turn.language.value
    request = await turn.tx.requests.add(
        RegistrationRequest(
            organization_id=organization.id,
            number=await turn.tx.organizations.next_request_number(organization.id),
            person_id=person.id,
            contact=contact.value,
            contact_channel=contact.channel,
            telegram_user_id=turn.event.sender.user_id,
            pre_registered=person.pre_registered,
            status=RequestStatus.PENDING,
            created_at=turn.now,
        )
    )
    await turn.audit(
        "registration_requested",
        organization_id=organization.id,
        subject_person_id=person.id,
        number=request.number,
        pre_registered=person.pre_registered,
    )
    await approval.announce(turn.tx, request, organization, person, turn.policy, turn.now)
    route = "route_email" if contact.channel is DeliveryChannel.EMAIL else "route_sms"
    turn.say(
        "request_created", number=request.number, org=organization.name, route=turn.texts(route)
    )


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
