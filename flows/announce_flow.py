"""``/announce``: desk staff send a notice to their organization's people (issue 13).

```mermaid
stateDiagram-v2
    [*] --> ANNOUNCE_AUDIENCE: /announce (desk staff, managers, admins)
    ANNOUNCE_AUDIENCE --> ANNOUNCE_URGENCY: all customers / all employees / an office
    ANNOUNCE_URGENCY --> ANNOUNCE_TEXT: urgent / general
    ANNOUNCE_TEXT --> ANNOUNCE_CONFIRM: the text (1 to 1000 characters): the preview
    ANNOUNCE_CONFIRM --> IDLE: Confirm: urgent queued now, general kept for the digest
    ANNOUNCE_AUDIENCE --> IDLE: /cancel or Cancel, at every step
```

The choice buttons act on the organization's people, so their data is signed under the
server's key and bound to the chat, like the staff decision buttons (:mod:`flows.buttons`);
every press checks again that the presser is desk staff, and an office button only names an
office of the presser's own organization. Cancel is the plain menu button (/cancel's).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flows import announcements, digest
from flows.announcements import Audience, NoticeTextRefused
from flows.buttons import Menu, MenuChoice, encode
from flows.decisions import Power, acting, refuse
from flows.domain import AnnouncementAudience, AuditAction, ConversationState
from flows.events import Button, Keyboard
from flows.keys import KeyedHasher, message
from flows.model import Person
from flows.turn import Turn

PREFIX = "n:"
_LABEL = "announce"
SIGNATURE_LENGTH = 16
MAX_OFFICE_BUTTONS = 30
"""Office buttons shown at most (one per row)."""

_CUSTOMERS, _EMPLOYEES, _OFFICE = "c", "e", "o"
_URGENT, _GENERAL, _CONFIRM = "u", "g", "y"
_AT = {
    _CUSTOMERS: ConversationState.ANNOUNCE_AUDIENCE,
    _EMPLOYEES: ConversationState.ANNOUNCE_AUDIENCE,
    _OFFICE: ConversationState.ANNOUNCE_AUDIENCE,
    _URGENT: ConversationState.ANNOUNCE_URGENCY,
    _GENERAL: ConversationState.ANNOUNCE_URGENCY,
    _CONFIRM: ConversationState.ANNOUNCE_CONFIRM,
}
"""The step each kind of button belongs to."""


@dataclass(frozen=True)
class Pressed:
    """A press of one of the dialog's buttons, with the signature its data carried."""

    choice: str
    office_id: int | None
    code: str
    signature: str


@dataclass(frozen=True)
class AnnounceDraft:
    audience: AnnouncementAudience | None = None
    office_id: int | None = None
    urgent: bool = False
    text: str = ""


def _signed(hasher: KeyedHasher, code: str, chat_id: int) -> str:
    signature = hasher.sign(_LABEL, message(PREFIX + code, chat_id), SIGNATURE_LENGTH)
    return f"{PREFIX}{code}:{signature}"


def decode(data: str | None) -> Pressed | None:
    """The dialog's button data; anything else (or malformed) gives None."""
    if not data or not data.startswith(PREFIX):
        return None
    code, _, signature = data[len(PREFIX) :].partition(":")
    choice, number = code[:1], code[1:]
    if choice not in _AT:
        return None
    if choice == _OFFICE:
        if not (number.isascii() and number.isdigit() and len(number) < 12):
            return None
        return Pressed(choice, int(number), code, signature)
    return None if number else Pressed(choice, None, code, signature)


def _verified(turn: Turn, pressed: Pressed) -> bool:
    if len(pressed.signature) != SIGNATURE_LENGTH:
        return False
    return turn.hasher.signature_ok(
        _LABEL, message(PREFIX + pressed.code, turn.event.chat_id), pressed.signature
    )


def _button(turn: Turn, label: str, code: str) -> Button:
    return Button(label, _signed(turn.hasher, code, turn.event.chat_id))


def _cancel_row(turn: Turn) -> tuple[Button, ...]:
    return (turn.button("button_cancel", encode(Menu(MenuChoice.CANCEL))),)


async def begin(turn: Turn) -> None:
    """``/announce``: the command table let only desk staff through."""
    staff = await acting(turn, Power.RELEASE)
    if staff is None:
        await refuse(turn, Power.RELEASE, "announce")
        return
    turn.move(ConversationState.ANNOUNCE_AUDIENCE, AnnounceDraft())
    await _ask_audience(turn, staff)


async def _ask_audience(turn: Turn, staff: Person) -> None:
    texts = turn.texts
    offices = list(await turn.tx.announcements.offices(staff.organization_id))
    rows: list[tuple[Button, ...]] = [
        (_button(turn, texts("announce_audience_customers"), _CUSTOMERS),),
        (_button(turn, texts("announce_audience_employees"), _EMPLOYEES),),
    ]
    rows += [
        (_button(turn, texts("announce_audience_office", office=o.name), f"{_OFFICE}{o.id}"),)
        for o in offices[:MAX_OFFICE_BUTTONS]
    ]
    rows.append(_cancel_row(turn))
    turn.say("announce_ask_audience", tuple(rows), org=staff.organization.name)


def _urgency_buttons(turn: Turn) -> Keyboard:
    return (
        (
            _button(turn, turn.texts("announce_urgent"), _URGENT),
            _button(turn, turn.texts("announce_general"), _GENERAL),
        ),
        _cancel_row(turn),
    )


async def _audience(turn: Turn, staff: Person, draft: AnnounceDraft) -> Audience | None:
    if draft.audience is None:
        return None
    office = None
    if draft.office_id is not None:
        office = await turn.tx.announcements.office(staff.organization_id, draft.office_id)
        if office is None:
            return None
    return Audience(draft.audience, office)


async def on_button(turn: Turn, pressed: Pressed) -> None:
    """A press of the dialog's buttons: signed for this chat, at its step, by desk staff."""
    if not _verified(turn, pressed):
        caller = await turn.tx.chat_links.person_for(turn.event.sender.user_id)
        await turn.audit(
            AuditAction.TAMPERED_BUTTON,
            organization_id=caller.organization_id if caller else None,
            actor_person_id=caller.id if caller else None,
            data=(turn.event.button_data or "")[:64],
            chat_id=turn.event.chat_id,
        )
        turn.outcome.callback_notice = turn.texts("stale_button")
        return
    staff = await acting(turn, Power.RELEASE)
    if staff is None:
        turn.move(ConversationState.IDLE)
        await refuse(turn, Power.RELEASE, "announce")
        return
    if turn.state is not _AT[pressed.choice]:
        _stale(turn)
        return
    turn.outcome.clear_pressed_buttons = True
    draft = turn.data_as(AnnounceDraft)
    if pressed.choice in {_CUSTOMERS, _EMPLOYEES, _OFFICE}:
        await _chose_audience(turn, staff, pressed)
    elif pressed.choice in {_URGENT, _GENERAL}:
        urgent = pressed.choice == _URGENT
        turn.move(
            ConversationState.ANNOUNCE_TEXT,
            AnnounceDraft(draft.audience, draft.office_id, urgent),
        )
        turn.say("announce_ask_text", (_cancel_row(turn),), limit=announcements.MAX_TEXT)
    else:
        await _confirm(turn, staff, draft)


def _stale(turn: Turn) -> None:
    turn.outcome.callback_notice = turn.texts("stale_button")
    turn.outcome.clear_pressed_buttons = True
    turn.say("stale_button")


async def _chose_audience(turn: Turn, staff: Person, pressed: Pressed) -> None:
    if pressed.choice == _OFFICE:
        assert pressed.office_id is not None
        office = await turn.tx.announcements.office(staff.organization_id, pressed.office_id)
        if office is None:
            # Not an office of the presser's organization (or gone): nothing to choose.
            await turn.audit(
                AuditAction.STAFF_ACTION_REFUSED,
                organization_id=staff.organization_id,
                actor_person_id=staff.id,
                attempted="announce",
                office_id=pressed.office_id,
            )
            _stale(turn)
            return
        draft = AnnounceDraft(AnnouncementAudience.OFFICE, office.id)
    elif pressed.choice == _CUSTOMERS:
        draft = AnnounceDraft(AnnouncementAudience.CUSTOMERS)
    else:
        draft = AnnounceDraft(AnnouncementAudience.EMPLOYEES)
    turn.move(ConversationState.ANNOUNCE_URGENCY, draft)
    turn.say("announce_ask_urgency", _urgency_buttons(turn))


async def typed_text(turn: Turn) -> None:
    """The notice's text, then the preview with Confirm and Cancel."""
    staff = await acting(turn, Power.RELEASE)
    if staff is None:
        turn.move(ConversationState.IDLE)
        await refuse(turn, Power.RELEASE, "announce")
        return
    draft = turn.data_as(AnnounceDraft)
    audience = await _audience(turn, staff, draft)
    if audience is None:
        turn.move(ConversationState.IDLE)
        turn.say("announce_office_gone")
        return
    try:
        text = announcements.checked_text(turn.event.text)
    except NoticeTextRefused as refused:
        turn.say_text(refused.said(turn.texts), (_cancel_row(turn),))
        return
    turn.move(
        ConversationState.ANNOUNCE_CONFIRM,
        AnnounceDraft(draft.audience, draft.office_id, draft.urgent, text),
    )
    recipients = await announcements.count(turn.tx, staff.organization, audience, turn.now.date())
    texts = turn.texts
    when = (
        texts("announce_when_urgent")
        if draft.urgent
        else texts("announce_when_digest", when=texts.when(_next_digest(turn, staff)))
    )
    turn.say(
        "announce_preview",
        (
            (
                _button(turn, texts("announce_confirm"), _CONFIRM),
                turn.button("button_cancel", encode(Menu(MenuChoice.CANCEL))),
            ),
        ),
        audience=audience.label(texts),
        recipients=recipients,
        when=when,
        notice=text,
    )


def _next_digest(turn: Turn, staff: Person) -> datetime:
    return digest.schedule_of(staff.organization).next_due(turn.now)


async def _confirm(turn: Turn, staff: Person, draft: AnnounceDraft) -> None:
    audience = await _audience(turn, staff, draft)
    turn.move(ConversationState.IDLE)
    if audience is None or not draft.text:
        turn.say("announce_office_gone")
        return
    sent = await announcements.send(
        turn.tx,
        staff.organization,
        audience,
        urgent=draft.urgent,
        text=draft.text,
        now=turn.now,
        sender=announcements.Sender(
            turn.actor,
            turn.policy.channel,
            staff,
            turn.event.chat_id,
            turn.policy.default_language,
        ),
    )
    number = sent.announcement.id
    if draft.urgent:
        turn.say("announce_queued", number=number, recipients=sent.recipients)
    else:
        turn.say("announce_kept", number=number, when=turn.texts.when(_next_digest(turn, staff)))


async def repeat_step(turn: Turn) -> None:
    """Typed text (or a sticker) where a button is expected, or a channel reopened: the
    step's question again."""
    staff = await acting(turn, Power.RELEASE)
    if staff is None:
        turn.move(ConversationState.IDLE)
        await refuse(turn, Power.RELEASE, "announce")
        return
    if turn.state is ConversationState.ANNOUNCE_AUDIENCE:
        await _ask_audience(turn, staff)
    elif turn.state is ConversationState.ANNOUNCE_URGENCY:
        turn.say("announce_ask_urgency", _urgency_buttons(turn))
    elif turn.state is ConversationState.ANNOUNCE_TEXT:
        turn.say("announce_ask_text", (_cancel_row(turn),), limit=announcements.MAX_TEXT)
    else:
        turn.say("announce_confirm_or_cancel")


async def _at_button_step(turn: Turn) -> None:
    await repeat_step(turn)


STEPS = {
    ConversationState.ANNOUNCE_AUDIENCE: _at_button_step,
    ConversationState.ANNOUNCE_URGENCY: _at_button_step,
    ConversationState.ANNOUNCE_TEXT: typed_text,
    ConversationState.ANNOUNCE_CONFIRM: _at_button_step,
}
