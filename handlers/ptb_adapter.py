"""python-telegram-bot 22 adapter: Telegram updates -> desk events, desk outcomes -> Bot API
calls.

Only translation lives here; what an update means and how an outcome is carried out is in
:mod:`handlers.telegram_common`, shared with the aiogram adapter. Nothing is kept in PTB's
``chat_data``, ``user_data`` or persistence: the conversation lives in Balie's store.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Coroutine, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import timedelta
from typing import Any

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    Update,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    BaseRateLimiter,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from flows import qr
from flows.delivery import DeliveryError
from flows.desk import Desk
from flows.events import Event, Reply
from handlers.telegram_common import (
    ALREADY_DELETED,
    NOT_MODIFIED,
    CommandMenu,
    ReplyKeeper,
    button_event,
    handle_update,
    message_event,
    sender,
)
from handlers.telegram_pacing import Deferred, Pacer, Retry, bulk

log = logging.getLogger("balie.ptb")


def event_from_message(message: Message, update_id: int | None = None) -> Event:
    user = message.from_user
    contact = message.contact
    return message_event(
        chat_id=message.chat.id,
        chat_type=str(message.chat.type),
        sender=sender(
            user.id if user else message.chat.id,
            user.first_name if user else None,
            user.last_name if user else None,
            user.language_code if user else None,
        ),
        text=message.text,
        contact_phone=contact.phone_number if contact else None,
        contact_user_id=contact.user_id if contact else None,
        update_id=update_id,
    )


def event_from_callback(query: CallbackQuery, update_id: int | None = None) -> Event:
    user = query.from_user
    chat = query.message.chat if query.message else None
    return button_event(
        chat_id=chat.id if chat else user.id,
        chat_type=str(chat.type) if chat else "private",
        sender=sender(user.id, user.first_name, user.last_name, user.language_code),
        data=query.data or "",
        update_id=update_id,
        had_buttons=_has_buttons(query),
    )


def _has_buttons(query: CallbackQuery) -> bool:
    """Whether the pressed message still shows an inline keyboard."""
    markup = getattr(query.message, "reply_markup", None)
    return bool(markup is not None and markup.inline_keyboard)


def markup(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.label, callback_data=b.data) for b in row]
            for row in reply.buttons
        ]
    )


class _Actions:
    """:class:`handlers.telegram_common.UpdateActions` on one python-telegram-bot update:
    interactive calls (the person is waiting), made by the same :class:`PtbChat` as the
    outbox's."""

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        message: Message | None = None,
        query: CallbackQuery | None = None,
    ) -> None:
        self._calls = PtbChat(bot, in_bulk=False)
        self._chat_id = chat_id
        self.message = message
        self.query = query

    @property
    def chat_id(self) -> int:
        return self._chat_id

    @property
    def pressed_message_id(self) -> int | None:
        pressed = self.query.message if self.query is not None else None
        # An inaccessible (too old) message cannot be edited.
        return pressed.message_id if isinstance(pressed, Message) else None

    @property
    def sent_message_id(self) -> int | None:
        return self.message.message_id if self.message is not None else None

    async def answer_callback(self, notice: str | None) -> None:
        if self.query is not None:
            with as_delivery_errors():
                await self.query.answer(notice)

    async def clear_buttons(self) -> None:
        if self.pressed_message_id is not None:
            await self._calls.clear_buttons(self._chat_id, self.pressed_message_id)

    async def delete_message(self) -> None:
        if self.sent_message_id is not None:
            await self._calls.delete(self._chat_id, self.sent_message_id)

    async def edit_pressed(self, reply: Reply) -> None:
        if self.pressed_message_id is not None:
            await self._calls.edit(self._chat_id, self.pressed_message_id, reply)

    async def send(self, reply: Reply) -> None:
        await self._calls.send(self._chat_id, reply)


def add_handlers(
    application: Application,
    desk: Desk,
    on_handled: Callable[[], None] = lambda: None,
    keeper: ReplyKeeper | None = None,
) -> None:
    """Every message and every button press goes to the desk; replies that cannot be sent
    now go to ``keeper``."""

    async def on_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None:
            return
        event = event_from_message(message, update.update_id)
        actions = _Actions(context.bot, message.chat.id, message=message)
        await handle_update(desk, event, actions, on_handled, keeper)

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        if not query.data:
            await query.answer()
            return
        event = event_from_callback(query, update.update_id)
        actions = _Actions(context.bot, event.chat_id, query=query)
        await handle_update(desk, event, actions, on_handled, keeper)

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        # The type only: an exception's text may quote what the person typed.
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("update %s failed: %s", update_id, type(context.error).__name__)

    application.add_handler(MessageHandler(filters.UpdateType.MESSAGE, on_message))
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_error_handler(on_error)


async def set_command_menu(bot: Bot, menu: CommandMenu) -> None:
    """One :class:`CommandMenu` as a setMyCommands call."""
    scope = (
        BotCommandScopeAllPrivateChats()
        if menu.chat_id is None
        else BotCommandScopeChat(chat_id=menu.chat_id)
    )
    await bot.set_my_commands(
        [BotCommand(name, text) for name, text in menu.commands],
        scope=scope,
        language_code=menu.language_code or None,
    )


class PacedRateLimiter(BaseRateLimiter[None]):
    """python-telegram-bot's rate-limiter hook (``Application.builder().rate_limiter(...)``)
    making every Bot API call but getUpdates through the
    :class:`~handlers.telegram_pacing.Pacer`, the same as aiogram's :class:`PacedRequests`."""

    def __init__(self, pacer: Pacer) -> None:
        self.pacer = pacer

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat_id = data.get("chat_id")
        return await self.pacer.run(
            endpoint,
            chat_id if isinstance(chat_id, int) else None,
            lambda: callback(*args, **kwargs),
            retry_of,
        )


def retry_of(exc: Exception) -> Retry | None:
    """PTB's flood control and network errors are retried; a bad request (a NetworkError
    in PTB) or anything else is not."""
    if isinstance(exc, RetryAfter):
        with warnings.catch_warnings():  # PTB 22.2+ warns that it becomes a timedelta
            warnings.simplefilter("ignore")
            after = exc.retry_after
        seconds = after.total_seconds() if isinstance(after, timedelta) else float(after)
        return Retry(flood=True, after=seconds)
    if isinstance(exc, BadRequest):
        return None
    if isinstance(exc, NetworkError):
        return Retry(flood=False)
    return None


class PtbChat:
    """Bot API calls on messages by id, through python-telegram-bot: the outbox's way into
    Telegram (a ``ChatPort``, whose calls are bulk: they yield to replies to people who are
    typing) and, with ``in_bulk=False``, the replies' way."""

    def __init__(self, bot: Bot, *, in_bulk: bool = True) -> None:
        self.bot = bot
        self._in_bulk = in_bulk

    async def send(self, chat_id: int, reply: Reply) -> int:
        with self._priority(), as_delivery_errors():
            if reply.qr is not None:
                await self.bot.send_photo(chat_id, InputFile(qr.png(reply.qr), filename="qr.png"))
            message = await self.bot.send_message(chat_id, reply.text, reply_markup=markup(reply))
        return message.message_id

    async def edit(self, chat_id: int, message_id: int, reply: Reply) -> None:
        with self._priority(), as_delivery_errors(unless=NOT_MODIFIED):
            await self.bot.edit_message_text(
                reply.text, chat_id=chat_id, message_id=message_id, reply_markup=markup(reply)
            )

    async def clear_buttons(self, chat_id: int, message_id: int) -> None:
        with self._priority(), as_delivery_errors(unless=NOT_MODIFIED):
            await self.bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=message_id, reply_markup=None
            )

    async def delete(self, chat_id: int, message_id: int) -> None:
        with self._priority(), as_delivery_errors(unless=ALREADY_DELETED):
            await self.bot.delete_message(chat_id, message_id)

    def _priority(self) -> AbstractContextManager[None]:
        return bulk() if self._in_bulk else nullcontext()


@contextmanager
def as_delivery_errors(unless: str | None = None) -> Iterator[None]:
    """A failed Bot API call as a :class:`DeliveryError`; a bad request whose text contains
    ``unless`` means the call's effect is there already and is not an error."""
    try:
        yield
    except BadRequest as exc:  # before NetworkError: PTB's BadRequest is one
        if unless is None or unless not in str(exc).lower():
            raise delivery_error(exc) from None
    except Exception as exc:
        raise delivery_error(exc) from None


def delivery_error(exc: Exception) -> DeliveryError:
    # BadRequest is a NetworkError in PTB: test it first.
    if isinstance(exc, Forbidden):
        return DeliveryError("Telegram: the user blocked the bot", undeliverable=True)
    if isinstance(exc, RetryAfter):
        retry = retry_of(exc)
        return DeliveryError(f"Telegram: {exc.message}", retry_after=retry.after if retry else None)
    if isinstance(exc, Deferred):
        return DeliveryError(f"Telegram: {exc}", retry_after=exc.retry_after)
    if isinstance(exc, BadRequest):
        return DeliveryError("Telegram refused the request (bad request)", permanent=True)
    if isinstance(exc, NetworkError):
        return DeliveryError("Telegram could not be reached")
    return DeliveryError(f"Telegram: {type(exc).__name__}")
