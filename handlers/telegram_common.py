"""What both Telegram adapters (aiogram, python-telegram-bot) share, written once.

An adapter only translates: it reads a framework update into the values below, and gives
:func:`handle_update` an :class:`UpdateActions` that performs chat actions with framework
calls. Which event a message becomes, the order in which an outcome is carried out, and
which command menu goes to which chat are decided here, not in an adapter.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from flows.commands import command_menu
from flows.delivery import DeliveryError
from flows.desk import Desk
from flows.domain import RELEASING_ROLES, Language, Role
from flows.events import Event, EventKind, Outcome, Reply, Sender
from flows.operator_views import chat_identities
from flows.outbox_payload import ChatAction
from flows.store import Store

log = logging.getLogger("balie.telegram")

ALLOWED_UPDATES = ("message", "callback_query")
"""The update types the desk reads; everything else is not even fetched."""

NOT_MODIFIED = "message is not modified"
"""A bad request meaning the edit's effect is there already (no buttons left to clear)."""
ALREADY_DELETED = "message to delete not found"


def sender(
    user_id: int, first_name: str | None, last_name: str | None, language_code: str | None
) -> Sender:
    name = " ".join(part for part in (first_name, last_name) if part)
    return Sender(int(user_id), name, language_code)


def message_event(
    *,
    chat_id: int,
    chat_type: str,
    sender: Sender,
    text: str | None,
    contact_phone: str | None = None,
    contact_user_id: int | None = None,
    update_id: int | None = None,
) -> Event:
    """A message: typed text or a command, the sender's own contact, or unreadable content."""
    private = chat_type == "private"
    if text is not None:
        typed = Event.from_text(chat_id, sender, text)
        return Event(
            chat_id,
            sender,
            typed.kind,
            typed.text,
            typed.command,
            is_private_chat=private,
            update_id=update_id,
            typed=typed.typed,
        )
    if contact_phone is not None and contact_user_id == sender.user_id:
        # Only a contact that is the sender's own: Telegram vouches for that number.
        return Event(
            chat_id,
            sender,
            EventKind.CONTACT,
            phone=contact_phone,
            is_private_chat=private,
            update_id=update_id,
        )
    return Event(
        chat_id, sender, EventKind.UNSUPPORTED, is_private_chat=private, update_id=update_id
    )


def button_event(
    *,
    chat_id: int,
    chat_type: str,
    sender: Sender,
    data: str,
    update_id: int | None = None,
    had_buttons: bool = True,
) -> Event:
    """A button press; ``had_buttons``: the pressed message (as the callback query carries
    it) still has an inline keyboard."""
    return Event(
        chat_id,
        sender,
        EventKind.BUTTON,
        button_data=data,
        is_private_chat=chat_type == "private",
        update_id=update_id,
        pressed_had_buttons=had_buttons,
    )


class UpdateActions(Protocol):
    """Chat actions on the update at hand, each raising :class:`DeliveryError` on failure."""

    @property
    def chat_id(self) -> int: ...

    @property
    def pressed_message_id(self) -> int | None:
        """The message whose button was pressed (None: not a press, or too old to edit)."""
        ...

    @property
    def sent_message_id(self) -> int | None:
        """The message the person sent (None: a button press)."""
        ...

    async def answer_callback(self, notice: str | None) -> None:
        """Answer the pressed button (a toast with ``notice``, or just stop its spinner)."""
        ...

    async def clear_buttons(self) -> None:
        """Remove the buttons from the pressed message; already without buttons is fine."""
        ...

    async def delete_message(self) -> None:
        """Delete the message the person sent."""
        ...

    async def edit_pressed(self, reply: Reply) -> None:
        """Replace the pressed message's text and buttons with ``reply``'s."""
        ...

    async def send(self, reply: Reply) -> None:
        """Send a reply, with its buttons, to the chat."""
        ...


class ReplyKeeper(Protocol):
    """Where replies go that cannot be sent now, to be sent when Telegram allows it."""

    async def holding(self, chat_id: int) -> bool:
        """True while replies kept for ``chat_id`` still wait: a new one goes behind them."""
        ...

    async def keep(self, chat_id: int, replies: Sequence[Reply], retry_after: float | None) -> None:
        """Keep ``replies`` in order, to be sent no earlier than ``retry_after`` from now."""
        ...

    async def keep_action(
        self, chat_id: int, action: ChatAction, message_id: int, retry_after: float | None
    ) -> None:
        """Keep a button clear or a deletion that failed for now, to be done when allowed."""
        ...


async def handle_update(
    desk: Desk,
    event: Event,
    actions: UpdateActions,
    on_handled: Callable[[], None] = lambda: None,
    keeper: ReplyKeeper | None = None,
) -> Outcome:
    """Hand the event to the desk (which commits), then carry out its outcome in the chat.

    The outbox worker is woken (``on_handled``) once the replies are out, so what this
    update queued for the same chat (a card's update after a decision) follows the reply."""
    outcome = await desk.handle(event)
    await perform(event, outcome, actions, keeper)
    on_handled()
    return outcome


async def perform(
    event: Event, outcome: Outcome, actions: UpdateActions, keeper: ReplyKeeper | None = None
) -> None:
    """Carry out an outcome: a pressed button is answered first, so its spinner stops at
    once; a failed action is logged (never the text) and the rest still happens. Replies
    that cannot be sent now (flood control, Telegram unreachable) go to ``keeper``."""
    replies = list(outcome.replies)
    if event.kind is EventKind.BUTTON:
        await _attempt("answer a button", actions, actions.answer_callback(outcome.callback_notice))
        if outcome.edit_pressed is not None and not await _edited(actions, outcome.edit_pressed):
            replies.insert(0, outcome.edit_pressed)
        # Clearing a message without buttons is an edit Telegram refuses as "not modified".
        if outcome.clear_pressed_buttons and event.pressed_had_buttons:
            await _attempt_or_keep(
                ChatAction.CLEAR_BUTTONS, actions.pressed_message_id, actions, keeper
            )
    elif outcome.delete_message:
        await _attempt_or_keep(ChatAction.DELETE, actions.sent_message_id, actions, keeper)
    await _send_replies(actions, replies, keeper)


async def _edited(actions: UpdateActions, reply: Reply) -> bool:
    """Edit the pressed message into ``reply``; False: it cannot be (too old, or Telegram
    refused), and ``reply`` is to be sent as a new message."""
    if actions.pressed_message_id is None:
        return False
    try:
        await actions.edit_pressed(reply)
    except DeliveryError as exc:
        log.warning("could not edit a message in chat %s: %s", actions.chat_id, exc.reason)
        return False
    return True


async def _send_replies(
    actions: UpdateActions, replies: Sequence[Reply], keeper: ReplyKeeper | None
) -> None:
    """Each reply in order; from the first one that must wait on, the rest are kept behind
    it, and so is every reply to a chat whose kept replies are still waiting."""
    for index, reply in enumerate(replies):
        if keeper is not None and await keeper.holding(actions.chat_id):
            await keeper.keep(actions.chat_id, replies[index:], None)
            return
        try:
            await actions.send(reply)
        except DeliveryError as exc:
            if exc.permanent or keeper is None:
                log.warning("could not send a reply in chat %s: %s", actions.chat_id, exc.reason)
                continue
            log.info(
                "reply in chat %s kept for later (%d message(s)): %s",
                actions.chat_id,
                len(replies) - index,
                exc.reason,
            )
            await keeper.keep(actions.chat_id, replies[index:], exc.retry_after)
            return


async def _attempt_or_keep(
    action: ChatAction, message_id: int | None, actions: UpdateActions, keeper: ReplyKeeper | None
) -> None:
    """Clear the pressed buttons or delete the sent message (a typed password); when
    Telegram cannot be reached or asks to wait, the action is kept and done later, so stale
    decision buttons and a typed secret do not stay in the chat."""
    if message_id is None:
        return
    try:
        if action is ChatAction.CLEAR_BUTTONS:
            await actions.clear_buttons()
        else:
            await actions.delete_message()
    except DeliveryError as exc:
        if exc.permanent or exc.undeliverable or keeper is None:
            log.warning("could not %s in chat %s: %s", action.value, actions.chat_id, exc.reason)
            return
        log.info("%s in chat %s kept for later: %s", action.value, actions.chat_id, exc.reason)
        await keeper.keep_action(actions.chat_id, action, message_id, exc.retry_after)


async def _attempt(what: str, actions: UpdateActions, action: Awaitable[None]) -> None:
    try:
        await action
    except DeliveryError as exc:
        log.warning("could not %s in chat %s: %s", what, actions.chat_id, exc.reason)


# -- command menus -------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandMenu:
    """One setMyCommands call: ``chat_id`` None means all private chats."""

    chat_id: int | None
    language_code: str
    """``nl``, ``en``, or "" for everyone whose Telegram language is neither."""
    commands: list[tuple[str, str]]


async def command_menus(store: Store, default_language: Language) -> list[CommandMenu]:
    """The user menu for all private chats, and a staff menu for each linked chat of desk
    staff and managers (by role); each in Dutch, English and the default."""
    staff_chats: list[tuple[int | None, Role | None]] = [
        (identity.user_id, identity.role)
        for identity in await chat_identities(store)
        if identity.role in RELEASING_ROLES
    ]
    menus: list[CommandMenu] = []
    for chat_id, role in [(None, None), *staff_chats]:
        for language in Language:
            menus.append(CommandMenu(chat_id, language.value, command_menu(language, role)))
        menus.append(CommandMenu(chat_id, "", command_menu(default_language, role)))
    return menus


async def set_command_menus(
    store: Store,
    default_language: Language,
    apply: Callable[[CommandMenu], Awaitable[None]],
) -> int:
    """Set every menu with the adapter's ``apply``; a failure is logged, never fatal.

    Returns how many menus were set."""
    done = 0
    for menu in await command_menus(store, default_language):
        try:
            await apply(menu)
        except Exception as exc:
            log.warning(
                "could not set the command menu for %s (%s): %s",
                "private chats" if menu.chat_id is None else f"chat {menu.chat_id}",
                menu.language_code or "default",
                type(exc).__name__,
            )
        else:
            done += 1
    return done
