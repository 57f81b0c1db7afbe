"""Linking a chat to an account that already exists, told to the account, and undone by it.

A chat that proves an active account's address (a registration code, an activation code)
takes that account over in chat. That is what a person with a new phone wants, and what an
attacker wants too, so the account hears of it: its previous chat gets a message with an
Undo button, and its address on file a mail (or text). Undo, pressed in the previous chat,
unlinks the new chat and links the previous one again.

The Undo button's data is signed with the server key and bound to the chat it was sent to:
nobody can forge one for another account, or press it from elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from flows.domain import AuditAction, DeliveryChannel, Language
from flows.events import Button, EventKind
from flows.keys import KeyedHasher, message
from flows.model import Customer, Person
from flows.outbox_payload import BUTTONS, keyboard_to_payload
from flows.own_account import correspondence_address
from flows.store import Transaction
from flows.texts import Texts
from flows.turn import DeskPolicy, Turn

_UNDO = re.compile(r"^u:([pc])(\d{1,12}):(\d{1,16}):([A-Za-z0-9_-]{12})$")
_SIGNATURE_LABEL = "undo_link"


class AccountKind(StrEnum):
    PERSON = "p"
    """An employee, manager or desk staff member (``people``)."""
    CUSTOMER = "c"
    """A customer portal account (``customers``)."""


@dataclass(frozen=True)
class UndoLink:
    kind: AccountKind
    account_id: int
    new_chat: int


def encode_undo(hasher: KeyedHasher, action: UndoLink, for_chat: int) -> str:
    """``u:<kind><id>:<new chat>:<signature>``, at most 48 characters."""
    body = f"{action.kind.value}{action.account_id}:{action.new_chat}"
    return f"u:{body}:{hasher.sign(_SIGNATURE_LABEL, message(body, for_chat))}"


def decode_undo(data: str | None) -> tuple[UndoLink, str] | None:
    """The action and its signature, or None when the data is not an Undo button at all."""
    match = _UNDO.match(data or "")
    if match is None:
        return None
    kind, account_id, new_chat, signature = match.groups()
    return UndoLink(AccountKind(kind), int(account_id), int(new_chat)), signature


@dataclass(frozen=True)
class LinkNotice:
    """Who to tell about a new link, in their language."""

    organization_name: str
    account_name: str
    address: tuple[DeliveryChannel, str] | None
    language: Language
    desk_contact: str | None
    organization_id: int


async def link_person(
    tx: Transaction,
    hasher: KeyedHasher,
    policy: DeskPolicy,
    person: Person,
    chat_id: int,
    now: datetime,
    *,
    tell: bool = True,
    device_name: str | None = None,
) -> None:
    """Link ``chat_id`` to ``person`` and tell the previous chat and the address on file
    (``tell`` False: a new account's first chat, which its approval message announces);
    ``device_name``: what the chat calls itself, for /devices."""
    previous = await tx.chat_links.chat_for(person.id)
    await tx.chat_links.link(chat_id, person.id, now, device_name)
    if previous == chat_id or not tell:
        return
    address: tuple[DeliveryChannel, str] | None = None
    if person.email:
        address = (DeliveryChannel.EMAIL, person.email)
    elif person.phone:
        address = (DeliveryChannel.SMS, person.phone)
    notice = LinkNotice(
        person.organization.name,
        person.name,
        address,
        Language(person.language or policy.default_language),
        person.organization.desk_contact,
        person.organization_id,
    )
    undo = UndoLink(AccountKind.PERSON, person.id, chat_id)
    await _tell(tx, hasher, notice, undo, previous, now)


async def link_customer(
    tx: Transaction,
    hasher: KeyedHasher,
    policy: DeskPolicy,
    customer: Customer,
    chat_id: int,
    now: datetime,
    *,
    device_name: str | None = None,
) -> None:
    """Link ``chat_id`` to the portal account in place of the holder's earlier chats (it
    proved the account's address) and, if it had another chat, tell the account."""
    earlier = [
        link.telegram_user_id
        for link in await tx.portal_chats.of_customer(customer.id)
        if link.member_id is None
    ]
    for chat in earlier:
        await tx.portal_chats.unlink(chat)
    await tx.portal_chats.link(chat_id, customer.id, now, device_name=device_name)
    previous = next((chat for chat in reversed(earlier) if chat != chat_id), None)
    if previous is None:
        return
    address = correspondence_address(customer)
    notice = LinkNotice(
        customer.organization.name,
        customer.name,
        (DeliveryChannel.EMAIL, address) if address else None,
        Language(customer.language or policy.default_language),
        customer.organization.desk_contact,
        customer.organization_id,
    )
    undo = UndoLink(AccountKind.CUSTOMER, customer.id, chat_id)
    await _tell(tx, hasher, notice, undo, previous, now)


async def warn_link_requested(
    tx: Transaction, policy: DeskPolicy, person: Person, now: datetime
) -> None:
    """Tell a staff account's own chat and address that a new chat asked for it."""
    texts = Texts(Language(person.language or policy.default_language))
    contact = person.organization.desk_contact or texts("desk_contact_default")
    values = {"org": person.organization.name, "when": texts.when(now), "contact": contact}
    previous = await tx.chat_links.chat_for(person.id)
    if previous is not None:
        await tx.outbox.add(
            DeliveryChannel.TELEGRAM,
            str(previous),
            texts("chat_link_asked_notice", **values),
            now,
            organization_id=person.organization_id,
        )
    if person.email:
        await tx.outbox.add(
            DeliveryChannel.EMAIL,
            person.email,
            texts("mail_chat_link_asked_body", name=person.name, **values),
            now,
            subject=texts("mail_chat_linked_subject"),
            organization_id=person.organization_id,
        )


async def _tell(
    tx: Transaction,
    hasher: KeyedHasher,
    notice: LinkNotice,
    undo: UndoLink,
    previous_chat: int | None,
    now: datetime,
) -> None:
    texts = Texts(notice.language)
    when = texts.when(now)
    contact = notice.desk_contact or texts("desk_contact_default")
    if previous_chat is not None:
        button = Button(texts("button_undo_link"), encode_undo(hasher, undo, previous_chat))
        await tx.outbox.add(
            DeliveryChannel.TELEGRAM,
            str(previous_chat),
            texts("chat_linked_notice", org=notice.organization_name, when=when, contact=contact),
            now,
            payload={BUTTONS: keyboard_to_payload(((button,),))},
            organization_id=notice.organization_id,
        )
    if notice.address is not None:
        channel, address = notice.address
        body = texts(
            "mail_chat_linked_body",
            name=notice.account_name,
            org=notice.organization_name,
            when=when,
            contact=contact,
        )
        subject = texts("mail_chat_linked_subject") if channel is DeliveryChannel.EMAIL else None
        await tx.outbox.add(
            channel, address, body, now, subject=subject, organization_id=notice.organization_id
        )


async def undo(turn: Turn, action: UndoLink, signature: str) -> None:
    """Undo pressed in the previous chat: it gets the account back, the new chat loses it."""
    turn.outcome.clear_pressed_buttons = True
    pressed_in = turn.event.chat_id
    body = f"{action.kind.value}{action.account_id}:{action.new_chat}"
    if not turn.hasher.signature_ok(_SIGNATURE_LABEL, message(body, pressed_in), signature):
        await turn.audit(AuditAction.TAMPERED_BUTTON, data=(turn.event.button_data or "")[:64])
        turn.outcome.callback_notice = turn.texts("stale_button")
        return
    organization_id = await _relink(turn, action, pressed_in)
    if organization_id is None:
        turn.outcome.callback_notice = turn.texts("link_undo_stale")
        turn.say("link_undo_stale")
        return
    await turn.audit(
        AuditAction.CHAT_LINK_UNDONE,
        organization_id=organization_id,
        account=body,
        unlinked_chat=action.new_chat,
    )
    await turn.tx.outbox.add(
        DeliveryChannel.TELEGRAM,
        str(action.new_chat),
        turn.texts("link_undone_other"),
        turn.now,
        organization_id=organization_id,
    )
    if turn.event.kind is EventKind.BUTTON:
        turn.outcome.callback_notice = turn.texts("link_undone_toast")
    turn.say("link_undone")


async def _relink(turn: Turn, action: UndoLink, pressed_in: int) -> int | None:
    """Give the account back to ``pressed_in`` if the new chat still has it; its organization."""
    tx = turn.tx
    if action.kind is AccountKind.PERSON:
        person = await tx.chat_links.person_for(action.new_chat)
        if person is None or person.id != action.account_id:
            return None
        await tx.chat_links.unlink(action.new_chat)
        await tx.chat_links.link(pressed_in, person.id, turn.now)
        return person.organization_id
    customer = await tx.customers.get(action.account_id)
    link = await tx.portal_chats.get(action.new_chat)
    if customer is None or link is None or link.customer_id != customer.id or link.member_id:
        return None
    await tx.portal_chats.unlink(action.new_chat)
    await tx.portal_chats.link(pressed_in, customer.id, turn.now)
    return customer.organization_id
