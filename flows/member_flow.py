"""Shared accounts in chat: the holder's ``/members`` (list, add, remove, read-only) and a
member opening their invitation (``/start member_<token>``).

```mermaid
stateDiagram-v2
    [*] --> MEMBER_NAME: Add a member (the holder's chat)
    MEMBER_NAME --> MEMBER_EMAIL: a name
    MEMBER_EMAIL --> MEMBER_EMAIL: an address that cannot be used (one neutral answer)
    MEMBER_EMAIL --> MEMBER_READ_ONLY: a usable address
    MEMBER_READ_ONLY --> IDLE: Read only / Full access: the member is added and invited
```

Every button here acts on the account, so its data is signed under the server key and
bound to the chat it was sent to (like a staff card's); the desk checks on each press that
the chat is still the holder's and the member still theirs. A refused action is audited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from flows import link_tokens, members, notices
from flows.buttons import Menu, MenuChoice, encode
from flows.domain import AuditAction, ConversationState
from flows.events import Button, Keyboard
from flows.keys import KeyedHasher, message
from flows.masking import mask_email
from flows.members import Inviting, MemberAction, MemberRefused
from flows.model import AccountMember, Customer
from flows.notices import NoticeKind
from flows.own_account import OwnAccount, account_of_chat, of_customer, of_member
from flows.store import Transaction
from flows.turn import DeskPolicy, Turn

# -- buttons ---------------------------------------------------------------------------------


class Verb(StrEnum):
    ADD = "a"
    REMOVE = "r"
    """Asks to confirm."""
    REMOVE_CONFIRMED = "x"
    KEEP = "k"
    READ_ONLY = "w"
    """Make the member read-only (the target state, so a replayed press changes nothing)."""
    FULL = "f"
    NEW_READ_ONLY = "y"
    """While adding: the new member is read-only."""
    NEW_FULL = "n"


@dataclass(frozen=True)
class MemberButton:
    verb: Verb
    member_id: int = 0


_BUTTON = re.compile(r"^mb:([a-z]):(\d{1,11}):([A-Za-z0-9_-]{16})$")
_SIGNATURE_LABEL = "member_button"
_SIGNATURE_LENGTH = 16


def _body(action: MemberButton) -> str:
    return f"{action.verb.value}:{action.member_id}"


def encode_button(hasher: KeyedHasher, action: MemberButton, chat_id: int) -> str:
    """``mb:<verb>:<member id>:<signature>`` for a message sent to ``chat_id``."""
    body = _body(action)
    signature = hasher.sign(_SIGNATURE_LABEL, message(body, chat_id), _SIGNATURE_LENGTH)
    return f"mb:{body}:{signature}"


def is_member_button(data: str | None) -> bool:
    return (data or "").startswith("mb:")


def decode_button(hasher: KeyedHasher, data: str, chat_id: int) -> MemberButton | None:
    """The action, if the data is what the desk signed for this chat; else None."""
    match = _BUTTON.match(data)
    if match is None:
        return None
    verb, member_id, signature = match.groups()
    try:
        action = MemberButton(Verb(verb), int(member_id))
    except ValueError:
        return None
    if not hasher.signature_ok(_SIGNATURE_LABEL, message(_body(action), chat_id), signature):
        return None
    return action


def _button(turn: Turn, key: str, action: MemberButton, **values: object) -> Button:
    return Button(turn.texts(key, **values), encode_button(turn.hasher, action, turn.event.chat_id))


def _cancel(turn: Turn) -> Keyboard:
    return ((turn.button("button_cancel", encode(Menu(MenuChoice.CANCEL))),),)


# -- who may ---------------------------------------------------------------------------------


async def refuse_member(turn: Turn, account: OwnAccount | None, action: MemberAction) -> bool:
    """True (and the chat told, the refusal audited) when the chat's account may not do
    ``action``; each flow calls this at its entry."""
    if members.may(account, action):
        return False
    await turn.audit(
        AuditAction.MEMBER_REFUSED,
        organization_id=account.organization.id if account else None,
        account=account.owner.key if account else None,
        reason=action.value,
        chat_id=turn.event.chat_id,
    )
    if action is MemberAction.MANAGE_MEMBERS:
        member = account is not None and account.member is not None
        turn.say("members_holder_only" if member else "members_no_account")
    else:
        turn.say("member_read_only_refused")
    return True


async def refused_here(turn: Turn, action: MemberAction) -> bool:
    """:func:`refuse_member` for the account of the chat the event came from."""
    account = await account_of_chat(turn.tx, turn.event.chat_id)
    return await refuse_member(turn, account, action)


async def _holder(turn: Turn) -> Customer | None:
    """The portal account whose holder this chat is; None (refused, audited) otherwise."""
    account = await account_of_chat(turn.tx, turn.event.chat_id)
    if await refuse_member(turn, account, MemberAction.MANAGE_MEMBERS):
        return None
    assert account is not None and account.customer is not None
    return account.customer


# -- /members --------------------------------------------------------------------------------


async def show(turn: Turn) -> None:
    """``/members``: the account's members, each with Remove and Read only / Full access."""
    if turn.state in STEPS:
        turn.move(ConversationState.IDLE)
    customer = await _holder(turn)
    if customer is None:
        return
    texts = turn.texts
    rows: list[tuple[Button, ...]] = []
    lines = []
    for member in await turn.tx.members.of_customer(customer.id):
        lines.append(
            texts(
                "members_line",
                name=member.name,
                email=mask_email(member.email),
                access=texts(
                    "member_access_read_only" if member.read_only else "member_access_full"
                ),
                status=texts("member_joined" if member.joined_at else "member_invited"),
            )
        )
        toggle = (
            _button(
                turn, "button_member_full", MemberButton(Verb.FULL, member.id), name=member.name
            )
            if member.read_only
            else _button(
                turn,
                "button_member_read_only",
                MemberButton(Verb.READ_ONLY, member.id),
                name=member.name,
            )
        )
        rows.append(
            (
                toggle,
                _button(
                    turn,
                    "button_member_remove",
                    MemberButton(Verb.REMOVE, member.id),
                    name=member.name,
                ),
            )
        )
    rows.append((_button(turn, "button_member_add", MemberButton(Verb.ADD)),))
    heading = texts("members_heading", org=customer.organization.name)
    body = "\n".join(lines) if lines else texts("members_none")
    turn.say_text(f"{heading}\n{body}", tuple(rows))


# -- adding ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewMember:
    """The member being added: the name, then the address typed."""

    name: str
    email: str = ""


async def begin_add(turn: Turn) -> None:
    if await _holder(turn) is None:
        return
    turn.move(ConversationState.MEMBER_NAME)
    turn.say("member_ask_name", _cancel(turn))


async def on_name(turn: Turn) -> None:
    if await _holder(turn) is None:
        turn.move(ConversationState.IDLE)
        return
    name = " ".join(turn.event.text.split())
    if not name or len(name) > members.MAX_NAME:
        turn.say("member_name_invalid", _cancel(turn))
        return
    turn.move(ConversationState.MEMBER_EMAIL, NewMember(name))
    turn.say("member_ask_email", _cancel(turn), name=name)


async def on_email(turn: Turn) -> None:
    # Whether an address is taken must not show in how long the answer takes.
    turn.outcome.steady_timing = True
    customer = await _holder(turn)
    if customer is None:
        turn.move(ConversationState.IDLE)
        return
    draft = turn.data_as(NewMember)
    try:
        email = await members.member_address(turn.tx, customer, turn.event.text)
    except MemberRefused as refused:
        if refused.reason == members.UNUSABLE_ADDRESS.reason:
            await turn.audit(
                AuditAction.MEMBER_REFUSED,
                organization_id=customer.organization_id,
                account=of_customer(customer).owner.key,
                reason="address",
            )
        turn.say(refused.reason, _cancel(turn))
        return
    turn.move(ConversationState.MEMBER_READ_ONLY, NewMember(draft.name, email))
    _ask_read_only(turn, draft.name)


def _ask_read_only(turn: Turn, name: str) -> None:
    turn.say(
        "member_ask_read_only",
        (
            (_button(turn, "button_member_new_read_only", MemberButton(Verb.NEW_READ_ONLY)),),
            (_button(turn, "button_member_new_full", MemberButton(Verb.NEW_FULL)),),
            _cancel(turn)[0],
        ),
        name=name,
    )


async def on_read_only_text(turn: Turn) -> None:
    """Text typed where a button is asked for: the question again."""
    _ask_read_only(turn, turn.data_as(NewMember).name)


async def _finish_add(turn: Turn, customer: Customer, read_only: bool) -> None:
    draft = turn.data_as(NewMember)
    turn.move(ConversationState.IDLE)
    inviting = Inviting(turn.hasher, turn.policy, turn.links)
    try:
        invited = await members.add(
            turn.tx, inviting, customer, draft.name, draft.email, read_only, turn.now
        )
    except MemberRefused as refused:  # taken in the meantime
        turn.say(refused.reason)
        return
    member = invited.member
    await turn.audit(
        AuditAction.MEMBER_ADDED,
        organization_id=customer.organization_id,
        account=of_customer(customer).owner.key,
        member_id=member.id,
        read_only=read_only,
    )
    turn.say(
        "member_invitation_sent",
        name=member.name,
        email=mask_email(member.email),
        until=turn.texts.when(invited.invitation.expires_at),
    )


# -- the buttons -----------------------------------------------------------------------------


async def on_button(turn: Turn) -> None:
    """A press of a members button: acts only with data the desk signed for this chat."""
    turn.outcome.clear_pressed_buttons = True
    data = turn.event.button_data or ""
    action = decode_button(turn.hasher, data, turn.event.chat_id)
    if action is None:
        account = await account_of_chat(turn.tx, turn.event.chat_id)
        await turn.audit(
            AuditAction.TAMPERED_BUTTON,
            organization_id=account.organization.id if account else None,
            data=data[:64],
            chat_id=turn.event.chat_id,
        )
        turn.outcome.callback_notice = turn.texts("stale_button")
        return
    customer = await _holder(turn)
    if customer is None:
        return
    if action.verb is Verb.ADD:
        await begin_add(turn)
        return
    if action.verb in {Verb.NEW_READ_ONLY, Verb.NEW_FULL}:
        if turn.state is not ConversationState.MEMBER_READ_ONLY:
            _stale(turn)
            return
        await _finish_add(turn, customer, read_only=action.verb is Verb.NEW_READ_ONLY)
        return
    member = await members.of_holder(turn.tx, customer, action.member_id)
    if member is None:
        _stale(turn)
        return
    if action.verb is Verb.REMOVE:
        turn.say(
            "member_remove_confirm",
            (
                (
                    _button(
                        turn,
                        "button_member_remove_yes",
                        MemberButton(Verb.REMOVE_CONFIRMED, member.id),
                    ),
                    _button(turn, "button_member_keep", MemberButton(Verb.KEEP, member.id)),
                ),
            ),
            name=member.name,
        )
    elif action.verb is Verb.REMOVE_CONFIRMED:
        await remove(turn.tx, turn.policy, member, turn.now)
        await _audit_removed(turn, customer, member)
        turn.say("member_removed", name=member.name)
    elif action.verb is Verb.KEEP:
        turn.say("member_kept", name=member.name)
    else:
        read_only = action.verb is Verb.READ_ONLY
        changed = member.read_only != read_only
        member.read_only = read_only
        if changed:
            await turn.audit(
                AuditAction.MEMBER_READ_ONLY_CHANGED,
                organization_id=customer.organization_id,
                account=of_customer(customer).owner.key,
                member_id=member.id,
                read_only=read_only,
            )
        turn.say("member_now_read_only" if read_only else "member_now_full", name=member.name)


def _stale(turn: Turn) -> None:
    turn.outcome.callback_notice = turn.texts("stale_button")
    turn.say("stale_button")


async def _audit_removed(turn: Turn, customer: Customer, member: AccountMember) -> None:
    await turn.audit(
        AuditAction.MEMBER_REMOVED,
        organization_id=customer.organization_id,
        account=of_customer(customer).owner.key,
        member_id=member.id,
    )


# -- the work that tells someone (also the CLI's) -------------------------------------------


async def remove(tx: Transaction, policy: DeskPolicy, member: AccountMember, now: datetime) -> None:
    """The member's chats and address are told, then the member and its chats go."""
    customer = member.customer
    await notices.notify(
        tx,
        of_member(member),
        NoticeKind.SECURITY,
        lambda texts: texts(
            "member_removed_notice", holder=customer.name, org=customer.organization.name
        ),
        now,
        subject=lambda texts: texts("mail_member_removed_subject", org=customer.organization.name),
        default_language=policy.default_language,
    )
    await tx.members.remove(member)


async def _tell_joined(turn: Turn, member: AccountMember, chat: int) -> None:
    """The holder's chats and address hear that a member joined (it is their account)."""
    customer = member.customer
    await notices.notify(
        turn.tx,
        of_customer(customer),
        NoticeKind.SECURITY,
        lambda texts: texts(
            "member_joined_notice",
            name=member.name,
            email=mask_email(member.email),
            when=texts.when(turn.now),
        ),
        turn.now,
        subject=lambda texts: texts("mail_member_joined_subject", org=customer.organization.name),
        default_language=turn.policy.default_language,
        skip_chat=chat,
    )


# -- opening an invitation -------------------------------------------------------------------


async def open_invitation(turn: Turn, token: str) -> bool:
    """``/start member_<token>``; False when it opened nothing (the caller shows the menu).
    Every token that opens nothing gets the words an employee's unusable invitation gets,
    and counts as a wrong attempt; a chat of another account is refused, the token kept."""
    chat = turn.event.chat_id
    guard = link_tokens.MEMBER_INVITATION
    if await guard.limited(turn):
        return False
    invitation = await members.find(turn.tx, turn.hasher, token)
    if invitation is None or not members.usable(invitation, turn.now):
        await guard.count_wrong(turn)
        await turn.audit(
            AuditAction.MEMBER_INVITATION_REFUSED,
            organization_id=invitation.member.customer.organization_id if invitation else None,
            reason="unusable",
            chat_id=chat,
        )
        turn.say("invitation_unusable")
        return False
    member = invitation.member
    organization = member.customer.organization
    linked = await account_of_chat(turn.tx, chat)
    if linked is not None:
        await turn.audit(
            AuditAction.MEMBER_INVITATION_REFUSED,
            organization_id=organization.id,
            account=linked.owner.key,
            member_id=member.id,
            reason="chat_linked",
        )
        turn.say("invitation_chat_taken", name=linked.name, org=linked.organization.name)
        return False
    await members.join(
        turn.tx,
        invitation,
        chat,
        turn.language.value,
        turn.now,
        turn.event.sender.display_name[:100] or None,
    )
    await turn.audit(
        AuditAction.MEMBER_JOINED,
        organization_id=organization.id,
        member_id=member.id,
        chat_id=chat,
    )
    await _tell_joined(turn, member, chat)
    turn.say(
        "member_welcome",
        name=member.name,
        holder=member.customer.name,
        org=organization.name,
        access=turn.texts("member_access_read_only" if member.read_only else "member_access_full"),
    )
    return True


STEPS = {
    ConversationState.MEMBER_NAME: on_name,
    ConversationState.MEMBER_EMAIL: on_email,
    ConversationState.MEMBER_READ_ONLY: on_read_only_text,
}


async def repeat_step(turn: Turn) -> None:
    """The current step's question again (after a sticker, or when a channel reopens)."""
    if turn.state is ConversationState.MEMBER_NAME:
        turn.say("member_ask_name", _cancel(turn))
    elif turn.state is ConversationState.MEMBER_EMAIL:
        turn.say("member_ask_email", _cancel(turn), name=turn.data_as(NewMember).name)
    else:
        await on_read_only_text(turn)
