"""aiogram 3 adapter: Telegram updates -> desk events, desk outcomes -> Bot API calls."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace

from aiogram import Bot, F, Router
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
)
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)

from bot.notifications.errors import DeliveryError
from flows.desk import Desk
from flows.events import Event, EventKind, Outcome, Reply, Sender

log = logging.getLogger("balie.aiogram")


def _sender(user: object) -> Sender:
    user_id = getattr(user, "id", 0)
    name = " ".join(
        p for p in (getattr(user, "first_name", ""), getattr(user, "last_name", "")) if p
    )
    return Sender(int(user_id), name, getattr(user, "language_code", None))


def event_from_message(message: Message) -> Event:
    sender = _sender(message.from_user)
    private = message.chat.type == "private"
    if message.text is not None:
        event = Event.from_text(message.chat.id, sender, message.text)
        return Event(
            event.chat_id, sender, event.kind, event.text, event.command, is_private_chat=private
        )
    contact = message.contact
    if contact is not None and contact.user_id == sender.user_id:
        return Event(
            message.chat.id,
            sender,
            EventKind.CONTACT,
            phone=contact.phone_number,
            is_private_chat=private,
        )
    return Event(message.chat.id, sender, EventKind.UNSUPPORTED, is_private_chat=private)


def event_from_callback(query: CallbackQuery) -> Event:
    chat_id = query.message.chat.id if query.message else query.from_user.id
    return Event(chat_id, _sender(query.from_user), EventKind.BUTTON, button_data=query.data)


def markup(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=b.label, callback_data=b.data) for b in row]
            for row in reply.buttons
        ]
    )


async def _send_replies(bot: Bot, chat_id: int, outcome: Outcome) -> None:
    for reply in outcome.replies:
        try:
            await bot.send_message(chat_id, reply.text, reply_markup=markup(reply))
        except (TelegramForbiddenError, TelegramBadRequest) as exc:
            log.warning("reply to chat %s refused: %s", chat_id, type(exc).__name__)


def build_router(desk: Desk, on_handled: Callable[[], None] = lambda: None) -> Router:
    """One router: every message and every button press goes to the desk."""
    router = Router(name="balie")

    @router.message()
    async def on_message(message: Message, bot: Bot, event_update: Update) -> None:
        event = replace(event_from_message(message), update_id=event_update.update_id)
        outcome = await desk.handle(event)
        on_handled()
        if outcome.delete_message:
            try:
                await message.delete()
            except TelegramBadRequest:
                log.warning("could not delete a message in chat %s", message.chat.id)
        await _send_replies(bot, message.chat.id, outcome)

    @router.callback_query(F.data)
    async def on_button(query: CallbackQuery, bot: Bot, event_update: Update) -> None:
        event = replace(event_from_callback(query), update_id=event_update.update_id)
        outcome = await desk.handle(event)
        on_handled()
        await query.answer(outcome.callback_notice)
        if outcome.clear_pressed_buttons and isinstance(query.message, Message):
            with suppress(TelegramBadRequest):  # already without buttons
                await query.message.edit_reply_markup(reply_markup=None)
        await _send_replies(bot, event.chat_id, outcome)

    @router.callback_query()
    async def on_empty_button(query: CallbackQuery) -> None:
        await query.answer()

    return router


class AiogramChat:
    """The outbox's way into Telegram through aiogram (a :class:`flows.ports.ChatPort`)."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, chat_id: int, reply: Reply) -> int:
        try:
            message = await self.bot.send_message(chat_id, reply.text, reply_markup=markup(reply))
        except Exception as exc:
            raise _delivery_error(exc) from None
        return message.message_id

    async def edit(self, chat_id: int, message_id: int, reply: Reply) -> None:
        try:
            await self.bot.edit_message_text(
                text=reply.text, chat_id=chat_id, message_id=message_id, reply_markup=markup(reply)
            )
        except TelegramBadRequest as exc:
            if "not modified" in str(exc):
                return
            raise _delivery_error(exc) from None
        except Exception as exc:
            raise _delivery_error(exc) from None


def _delivery_error(exc: Exception) -> DeliveryError:
    if isinstance(exc, TelegramForbiddenError):
        return DeliveryError("Telegram: the user blocked the bot", permanent=True)
    if isinstance(exc, TelegramRetryAfter):
        return DeliveryError(f"Telegram: flood control, retry after {exc.retry_after}s")
    if isinstance(exc, TelegramBadRequest):
        return DeliveryError("Telegram refused the request (bad request)", permanent=True)
    if isinstance(exc, TelegramNetworkError):
        return DeliveryError("Telegram could not be reached")
    return DeliveryError(f"Telegram: {type(exc).__name__}")
