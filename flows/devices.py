"""Linked devices (seed 004's "gekoppelde apparaten"): list an account's chats, pair one
more by a one-time deep link, unlink a lost phone from another chat or by the desk.

```mermaid
stateDiagram-v2
    [*] --> Listed: /devices (a linked chat), /devices NAME|NUMBER (desk staff)
    Listed --> Unlinked: Unlink pressed (signed for that chat, the link unchanged since)
    [*] --> Unlinked: /unlink, then its confirm button
    [*] --> Issued: /pair (a linked chat): a link valid 5 minutes, older ones void
    Issued --> Paired: /start pair_TOKEN in a free chat (after the second factor, if any)
    Issued --> Issued: the chat belongs to an account already (said; the token stays usable)
```

Every link and unlink is told to the account's other chats and its e-mail address as a
security notice; the chat that lost the link hears so. A chat's name is what it called
itself in Telegram when it was linked: shown, never trusted.

The token of a pairing link is 192 random bits, shown only in the chat that asked; the store
keeps its keyed hash. Every token that opens nothing gets the same words and counts as a
wrong attempt of the chat that typed it. An Unlink button's data is signed with the server
key over the account, the chat, the chat it was sent to and when the chat was linked: it
cannot be forged, pressed elsewhere, or used again once that link is gone.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flows import link_tokens, step_up
from flows.decisions import Power, acting, may_act, refuse
from flows.domain import AccountStatus, AuditAction, DeliveryChannel, effective_status
from flows.events import Button, EventKind, Keyboard, Reply, Sender
from flows.keys import KeyedHasher, message
from flows.model import DevicePairing, Person
from flows.notices import NoticeKind, notify
from flows.own_account import (
    OwnAccount,
    Owner,
    OwnerKind,
    account_of_chat,
    load,
    of_customer,
    of_member,
    of_person,
)
from flows.step_up import StepUpPurpose
from flows.store import Transaction
from flows.texts import Texts
from flows.turn import Turn

DEVICE_NAME_LENGTH = 100
"""Characters of a chat's name kept (the column's width)."""

PAYLOAD_PREFIX = "pair_"
"""A pairing link's ``start`` payload: ``pair_<token>`` (37 characters of at most 64)."""

TOKEN_LABEL = "device_pairing"
"""The keyed hash's label: a pairing token's digest never equals an invitation's or a code's."""

_UNLINK = re.compile(r"^x:([pcm]\d{1,12}):(\d{1,16}):([A-Za-z0-9_-]{16})$")
_SIGNATURE_LABEL = "unlink_device"
_SIGNATURE_LENGTH = 16
"""96 bits; ``x:`` + a 13-character account + a 16-digit chat + 16 stays below 64 bytes."""

STAFF_LOOKUP_LIMIT = 5
"""Accounts one staff lookup shows at most (people of the same name)."""


def device_name(sender: Sender) -> str | None:
    """What the chat calls itself (its Telegram name), cleaned for display: only ever shown."""
    printable = "".join(
        " " if ch.isspace() else ch
        for ch in sender.display_name
        if ch.isspace() or ch.isprintable()
    )
    return " ".join(printable.split())[:DEVICE_NAME_LENGTH] or None


@dataclass(frozen=True)
class Device:
    """One linked chat of an account, as /devices shows it."""

    chat_id: int
    name: str | None
    linked_at: datetime
    last_used_at: datetime | None
    """When the chat last took a step (its conversation's ``updated_at``)."""


@dataclass(frozen=True)
class UnlinkDevice:
    """Unlink chat ``chat_id`` from ``owner``'s account."""

    owner: Owner
    chat_id: int


# -- the account's chats ---------------------------------------------------------------------


async def devices_of(tx: Transaction, owner: Owner) -> list[Device]:
    """The account's linked chats, oldest link first, each with when it was last used."""
    rows: list[tuple[int, str | None, datetime]] = []
    if owner.kind is OwnerKind.PERSON:
        rows = [
            (link.telegram_user_id, link.device_name, link.linked_at)
            for link in await tx.chat_links.of_person(owner.id)
        ]
    else:
        member_id = owner.id if owner.kind is OwnerKind.MEMBER else None
        customer_id = owner.id
        if member_id is not None:
            member = await tx.members.get(member_id)
            if member is None:
                return []
            customer_id = member.customer_id
        rows = [
            (link.telegram_user_id, link.device_name, link.linked_at)
            for link in await tx.portal_chats.of_customer(customer_id)
            if link.member_id == member_id
        ]
    devices = []
    for chat, name, linked_at in rows:
        conversation = await tx.conversations.peek(chat)
        used = conversation.updated_at if conversation is not None else None
        devices.append(Device(chat, name, linked_at, used))
    return devices


async def owner_of_chat(tx: Transaction, chat_id: int) -> Owner | None:
    """The account the chat is linked to, in either table (a person's first)."""
    person = await tx.chat_links.person_for(chat_id)
    if person is not None:
        return Owner(OwnerKind.PERSON, person.id)
    link = await tx.portal_chats.get(chat_id)
    if link is None:
        return None
    if link.member_id is not None:
        return Owner(OwnerKind.MEMBER, link.member_id)
    return Owner(OwnerKind.CUSTOMER, link.customer_id)


async def _device(tx: Transaction, owner: Owner, chat_id: int) -> Device | None:
    return next((d for d in await devices_of(tx, owner) if d.chat_id == chat_id), None)


async def _link(
    tx: Transaction, account: OwnAccount, chat_id: int, now: datetime, name: str | None
) -> None:
    """One more chat for the account; its other chats stay linked."""
    if account.person is not None:
        await tx.chat_links.add(chat_id, account.person.id, now, name)
    elif account.member is not None:
        await tx.portal_chats.link(
            chat_id, account.member.customer_id, now, member_id=account.member.id, device_name=name
        )
    elif account.customer is not None:
        await tx.portal_chats.link(chat_id, account.customer.id, now, device_name=name)


async def _unlink(tx: Transaction, owner: Owner, chat_id: int) -> None:
    if owner.kind is OwnerKind.PERSON:
        await tx.chat_links.unlink(chat_id)
    else:
        await tx.portal_chats.unlink(chat_id)


# -- Unlink buttons --------------------------------------------------------------------------


def _stamp(linked_at: datetime) -> str:
    return str(int(linked_at.timestamp()))


def encode_unlink(hasher: KeyedHasher, action: UnlinkDevice, device: Device, for_chat: int) -> str:
    """``x:<account>:<chat>:<signature>`` for a button sent to chat ``for_chat``."""
    body = f"{action.owner.key}:{action.chat_id}"
    text = message(body, for_chat, _stamp(device.linked_at))
    return f"x:{body}:{hasher.sign(_SIGNATURE_LABEL, text, _SIGNATURE_LENGTH)}"


def decode_unlink(data: str | None) -> tuple[UnlinkDevice, str] | None:
    """The action and its signature, or None when the data is not an Unlink button at all."""
    match = _UNLINK.match(data or "")
    if match is None:
        return None
    key, chat, signature = match.groups()
    owner = Owner.parse(key)
    return None if owner is None else (UnlinkDevice(owner, int(chat)), signature)


# -- what the chat sees ----------------------------------------------------------------------


def _name(texts: Texts, device: Device) -> str:
    return device.name or texts("device_unnamed")


def _listing(
    texts: Texts, devices: Sequence[Device], this_chat: int | None, sign: Callable[[Device], str]
) -> tuple[str, Keyboard]:
    lines: list[str] = []
    buttons: list[tuple[Button, ...]] = []
    for number, device in enumerate(devices, start=1):
        used = texts.when(device.last_used_at) if device.last_used_at else texts("device_never")
        line = texts(
            "devices_line",
            number=number,
            name=_name(texts, device),
            linked=texts.when(device.linked_at),
            used=used,
        )
        if device.chat_id == this_chat:
            line = f"{line} {texts('devices_this_chat')}"
        lines.append(line)
        label = texts("button_unlink_device", number=number, name=_name(texts, device))
        buttons.append((Button(label[:64], sign(device)),))
    if not devices:
        lines.append(texts("devices_none"))
    return "\n".join(lines), tuple(buttons)


def _contact(texts: Texts, account: OwnAccount) -> str:
    return account.organization.desk_contact or texts("desk_contact_default")


async def _tell(
    turn: Turn, account: OwnAccount, key: str, name: str | None, skip_chat: int | None
) -> None:
    """The security notice to the account's other chats and its address."""
    now = turn.now
    await notify(
        turn.tx,
        account,
        NoticeKind.SECURITY,
        lambda texts: texts(
            key,
            name=name or texts("device_unnamed"),
            org=account.organization.name,
            when=texts.when(now),
            contact=_contact(texts, account),
        ),
        now,
        subject=lambda texts: texts("mail_devices_subject", org=account.organization.name),
        default_language=turn.policy.default_language,
        skip_chat=skip_chat,
    )


# -- /devices, /unlink -----------------------------------------------------------------------


async def show(turn: Turn) -> None:
    """``/devices``: this chat's account's linked chats; ``/devices NAME|NUMBER``: desk
    staff looking up someone else's."""
    query = turn.event.text.strip()
    if query:
        await show_for_staff(turn, query)
        return
    account = await account_of_chat(turn.tx, turn.event.chat_id)
    if account is None:
        turn.say("devices_not_linked")
        return
    await _show_own(turn, account)


async def _show_own(turn: Turn, account: OwnAccount) -> None:
    chat = turn.event.chat_id
    devices = await devices_of(turn.tx, account.owner)

    def sign(device: Device) -> str:
        return encode_unlink(turn.hasher, UnlinkDevice(account.owner, device.chat_id), device, chat)

    body, buttons = _listing(turn.texts, devices, chat, sign)
    header = turn.texts("devices_header", org=account.organization.name)
    turn.say_text(f"{header}\n{body}\n\n{turn.texts('devices_footer')}", buttons)


async def ask_unlink(turn: Turn) -> None:
    """``/unlink``: unlink this chat, once its confirm button is pressed."""
    chat = turn.event.chat_id
    account = await account_of_chat(turn.tx, chat)
    device = None if account is None else await _device(turn.tx, account.owner, chat)
    if account is None or device is None:
        turn.say("devices_not_linked")
        return
    data = encode_unlink(turn.hasher, UnlinkDevice(account.owner, chat), device, chat)
    turn.say(
        "devices_unlink_confirm",
        ((turn.button("button_unlink_this", data),),),
        org=account.organization.name,
    )


async def press_unlink(turn: Turn, action: UnlinkDevice, signature: str) -> None:
    """An Unlink button: it acts only if signed for this chat over the link as it still is,
    pressed by a chat of the same account or by desk staff who may manage it."""
    turn.outcome.clear_pressed_buttons = True
    pressed_in = turn.event.chat_id
    tx = turn.tx
    device = await _device(tx, action.owner, action.chat_id)
    if device is None:
        # Gone (pressed twice, or unlinked elsewhere) or never there: the same answer, so a
        # forged button tells nobody which chats an account has.
        turn.hasher.dummy(_SIGNATURE_LABEL)
        _stale(turn)
        return
    body = f"{action.owner.key}:{action.chat_id}"
    text = message(body, pressed_in, _stamp(device.linked_at))
    if not turn.hasher.signature_ok(_SIGNATURE_LABEL, text, signature):
        await turn.audit(AuditAction.TAMPERED_BUTTON, data=(turn.event.button_data or "")[:64])
        _stale(turn)
        return
    account = await load(tx, action.owner)
    if account is None:
        _stale(turn)
        return
    presser = await owner_of_chat(tx, pressed_in)
    if presser == account.owner:
        await unlink(turn, account, device, staff=None)
        return
    staff = await _staff_for(turn, account)
    if staff is None:
        await refuse(turn, Power.RELEASE, "unlink_device", account.organization.id)
        return
    await unlink(turn, account, device, staff=staff)


def _stale(turn: Turn) -> None:
    turn.outcome.callback_notice = turn.texts("stale_button")
    turn.say("stale_button")


async def unlink(turn: Turn, account: OwnAccount, device: Device, *, staff: Person | None) -> None:
    """Unlink ``device`` (by the account itself, or by ``staff``); told to the account's other
    chats and address, and to the chat that lost the link."""
    tx = turn.tx
    pressed_in = turn.event.chat_id
    await _unlink(tx, account.owner, device.chat_id)
    by = "staff" if staff is not None else "self" if device.chat_id == pressed_in else "device"
    await turn.audit(
        AuditAction.DEVICE_UNLINKED,
        organization_id=account.organization.id,
        actor_person_id=staff.id if staff else account.person.id if account.person else None,
        account=account.owner.key,
        unlinked_chat=device.chat_id,
        by=by,
    )
    key = "devices_unlinked_by_desk_notice" if staff else "devices_unlinked_notice"
    await _tell(turn, account, key, device.name, None if staff else pressed_in)
    if device.chat_id != pressed_in:
        texts = Texts(account.language_or(turn.policy.default_language))
        await tx.outbox.add(
            DeliveryChannel.TELEGRAM,
            str(device.chat_id),
            texts("devices_unlinked_you", org=account.organization.name),
            turn.now,
            organization_id=account.organization.id,
        )
    if turn.event.kind is EventKind.BUTTON:
        turn.outcome.callback_notice = turn.texts("devices_unlinked_toast")
    if by == "self":
        turn.say("devices_unlinked_this", org=account.organization.name)
        return
    turn.say("devices_unlinked_done", name=_name(turn.texts, device))
    if staff is None:
        await _show_own(turn, account)


# -- desk staff ------------------------------------------------------------------------------


def _may_manage(staff: Person, account: OwnAccount, turn: Turn) -> bool:
    """Staff manage the devices of their own organization's accounts; a staff account's
    (someone with staff powers) only a manager may touch."""
    today = turn.now.date()
    if not may_act(staff, Power.RELEASE, today, account.organization.id):
        return False
    return not account.is_staff or may_act(staff, Power.DECIDE, today)


async def _staff_for(turn: Turn, account: OwnAccount) -> Person | None:
    staff = await acting(turn, Power.RELEASE, account.organization.id)
    return staff if staff is not None and _may_manage(staff, account, turn) else None


async def _find(tx: Transaction, staff: Person, query: str) -> list[OwnAccount]:
    """Accounts of the staff member's organization a lookup names: a customer number (the
    holder and the account's members), or a person's name."""
    found: list[OwnAccount] = []
    customer = await tx.customers.by_number(staff.organization_id, query)
    if customer is not None:
        found.append(of_customer(customer))
        found.extend(of_member(member) for member in await tx.members.of_customer(customer.id))
    people = await tx.people.named(staff.organization_id, query, STAFF_LOOKUP_LIMIT)
    found.extend(of_person(person) for person in people)
    return found


async def show_for_staff(turn: Turn, query: str) -> None:
    """``/devices NAME|NUMBER``: desk staff see (and may unlink) the devices of someone of
    their organization who lost their phone and has no other device."""
    staff = await acting(turn, Power.RELEASE)
    if staff is None:
        await refuse(turn, Power.RELEASE, "devices")
        return
    query = query[:200]
    accounts = [a for a in await _find(turn.tx, staff, query) if _may_manage(staff, a, turn)]
    if not accounts:
        turn.say("devices_staff_none", query=query[:60], org=staff.organization.name)
        return
    chat = turn.event.chat_id
    for account in accounts:
        devices = await devices_of(turn.tx, account.owner)

        def sign(device: Device, owner: Owner = account.owner) -> str:
            return encode_unlink(turn.hasher, UnlinkDevice(owner, device.chat_id), device, chat)

        body, buttons = _listing(turn.texts, devices, None, sign)
        header = turn.texts("devices_staff_header", name=account.name, account=account.owner.key)
        turn.say_text(f"{header}\n{body}", buttons)
        await turn.audit(
            AuditAction.DEVICES_LISTED_BY_STAFF,
            organization_id=account.organization.id,
            actor_person_id=staff.id,
            account=account.owner.key,
        )


# -- /pair and opening its link --------------------------------------------------------------


def _may_pair(account: OwnAccount, turn: Turn) -> bool:
    """A person's account pairs only while active (not blocked, not out of service)."""
    person = account.person
    if person is None:
        return True
    today = turn.now.date()
    return effective_status(person.status, person.out_of_service_on, today) is (
        AccountStatus.ACTIVE
    )


async def pair(turn: Turn) -> None:
    """``/pair``: a one-time link (and its QR code) that links one more chat to this chat's
    account; any earlier link of the account that was not opened becomes void."""
    tx, chat = turn.tx, turn.event.chat_id
    account = await account_of_chat(tx, chat)
    if account is None or not _may_pair(account, turn):
        turn.say("devices_not_linked")
        return
    await tx.device_pairings.void_open(account.owner.key, turn.now)
    token = secrets.token_urlsafe(24)
    expires = turn.now + turn.policy.pairing_valid_for
    pairing = await tx.device_pairings.add(
        DevicePairing(
            organization_id=account.organization.id,
            owner=account.owner.key,
            token_hash=turn.hasher.digest(TOKEN_LABEL, token),
            created_at=turn.now,
            expires_at=expires,
            used_at=None,
            used_by_chat=None,
            voided_at=None,
        )
    )
    await turn.audit(
        AuditAction.DEVICE_PAIRING_ISSUED,
        organization_id=account.organization.id,
        account=account.owner.key,
        pairing_id=pairing.id,
    )
    link = turn.links.start_link(f"{PAYLOAD_PREFIX}{token}")
    minutes = int(turn.policy.pairing_valid_for.total_seconds() // 60)
    text = turn.texts("devices_pair_link", link=link, minutes=minutes)
    turn.outcome.replies.append(Reply(text, qr=link if turn.links.clickable else None))


async def _usable(turn: Turn, token: str) -> tuple[DevicePairing, OwnAccount] | None:
    pairing = await turn.tx.device_pairings.by_digest(turn.hasher.digests(TOKEN_LABEL, token))
    if (
        pairing is None
        or pairing.used_at is not None
        or pairing.voided_at is not None
        or turn.now >= pairing.expires_at
    ):
        return None
    owner = Owner.parse(pairing.owner)
    account = None if owner is None else await load(turn.tx, owner)
    if account is None or not _may_pair(account, turn):
        return None
    return pairing, account


async def open_pairing(turn: Turn, token: str) -> bool:
    """``/start pair_<token>``; False when it opened nothing (the caller shows the menu)."""
    tx, chat = turn.tx, turn.event.chat_id
    guard = link_tokens.DEVICE_PAIRING
    if await guard.limited(turn):
        return False
    usable = await _usable(turn, token)
    if usable is None:
        await guard.count_wrong(turn)
    current = await owner_of_chat(tx, chat)
    if current is not None:
        # A chat of an account is never moved by a link: the token stays usable, and the
        # answer is the same whatever the token is.
        if usable is not None and usable[1].owner == current:
            turn.say("devices_pair_already_yours")
            return True
        await turn.audit(
            AuditAction.DEVICE_PAIRING_REFUSED,
            organization_id=usable[1].organization.id if usable else None,
            reason="chat_linked",
            chat_id=chat,
        )
        turn.say("devices_pair_chat_taken")
        return True
    if usable is None:
        await turn.audit(AuditAction.DEVICE_PAIRING_REFUSED, reason="unusable", chat_id=chat)
        turn.say("devices_pair_unusable")
        return False
    pairing, account = usable
    pairing.used_at = turn.now
    pairing.used_by_chat = chat
    data = {"pairing": pairing.id}
    if await step_up.require(turn, account, StepUpPurpose.PAIR_DEVICE, data):
        await finish_pairing(turn, account, data)
    return True


async def finish_pairing(turn: Turn, account: OwnAccount, data: dict[str, Any]) -> None:
    """Link this chat as one more device of ``account`` (its pairing link was opened here,
    and the second factor given if it has one); told to its other chats and address."""
    tx, chat = turn.tx, turn.event.chat_id
    pairing_id = data.get("pairing")
    pairing = await tx.device_pairings.get(pairing_id) if isinstance(pairing_id, int) else None
    if pairing is None or pairing.used_by_chat != chat or pairing.owner != account.owner.key:
        # Not the link this chat opened (data kept by an older Balie, or damaged).
        turn.say("devices_pair_unusable")
        return
    current = await owner_of_chat(tx, chat)
    if current is not None and current != account.owner:
        turn.say("devices_pair_chat_taken")
        return
    name = device_name(turn.event.sender)
    if current is None:
        await _link(tx, account, chat, turn.now, name)
    await turn.audit(
        AuditAction.DEVICE_LINKED,
        organization_id=account.organization.id,
        actor_person_id=account.person.id if account.person else None,
        account=account.owner.key,
        chat_id=chat,
        pairing_id=pairing.id,
    )
    await _tell(turn, account, "devices_linked_notice", name, chat)
    turn.say("devices_paired", name=account.name, org=account.organization.name)
