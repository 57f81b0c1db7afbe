"""aiogram 3 adapter: Telegram updates -> desk events, desk outcomes -> Bot API calls.

Only translation lives here; what an update means and how an outcome is carried out is in
:mod:`handlers.telegram_common`, shared with the python-telegram-bot adapter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from aiogram import Bot, F, Router
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
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

log = logging.getLogger("balie.aiogram")


def event_from_message(message: Message, update_id: int | None = None) -> Event:
    user = message.from_user
    contact = message.contact
    return message_event(
        chat_id=message.chat.id,
        chat_type=message.chat.type,
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
        chat_type=chat.type if chat else "private",
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
        inline_keyboard=[
            [InlineKeyboardButton(text=b.label, callback_data=b.data) for b in row]
            for row in reply.buttons
        ]
    )


class _Actions:
    """:class:`handlers.telegram_common.UpdateActions` on one aiogram update: interactive
    calls (the person is waiting), made by the same :class:`AiogramChat` as the outbox's."""

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        message: Message | None = None,
        query: CallbackQuery | None = None,
    ) -> None:
        self._calls = AiogramChat(bot, in_bulk=False)
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


def build_router(
    desk: Desk,
    on_handled: Callable[[], None] = lambda: None,
    keeper: ReplyKeeper | None = None,
) -> Router:
    """One router: every message and every button press goes to the desk; replies that
    cannot be sent now go to ``keeper``."""
    router = Router(name="balie")

    @router.message()
    async def on_message(message: Message, bot: Bot, event_update: Update) -> None:
        event = event_from_message(message, event_update.update_id)
        actions = _Actions(bot, message.chat.id, message=message)
        await handle_update(desk, event, actions, on_handled, keeper)

    @router.callback_query(F.data)
    async def on_button(query: CallbackQuery, bot: Bot, event_update: Update) -> None:
        event = event_from_callback(query, event_update.update_id)
        actions = _Actions(bot, event.chat_id, query=query)
        await handle_update(desk, event, actions, on_handled, keeper)

    @router.callback_query()
    async def on_empty_button(query: CallbackQuery) -> None:
        await query.answer()

    return router


async def set_command_menu(bot: Bot, menu: CommandMenu) -> None:
    """One :class:`CommandMenu` as a setMyCommands call."""
    scope = (
        BotCommandScopeAllPrivateChats()
        if menu.chat_id is None
        else BotCommandScopeChat(chat_id=menu.chat_id)
    )
    await bot.set_my_commands(
        [BotCommand(command=name, description=text) for name, text in menu.commands],
        scope=scope,
        language_code=menu.language_code or None,
    )


class PacedRequests(BaseRequestMiddleware):
    """A session middleware that makes every Bot API call of the bot through the
    :class:`~handlers.telegram_pacing.Pacer` (``bot.session.middleware(PacedRequests(p))``)."""

    def __init__(self, pacer: Pacer) -> None:
        self.pacer = pacer
        self._response_types: dict[Any, type[Response[Any]]] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        self._keep_response_type(method)
        chat_id = getattr(method, "chat_id", None)
        return await self.pacer.run(
            method.__api_method__,
            chat_id if isinstance(chat_id, int) else None,
            lambda: make_request(bot, method),
            retry_of,
        )

    def _keep_response_type(self, method: TelegramMethod[Any]) -> None:
        """aiogram checks each answer as ``Response[method's result type]``, and pydantic
        keeps such a parametrized model only while something references it: unreferenced,
        it is built again for every call (about 0.6 ms, measured: a fifth of a step). A
        reference per result type makes pydantic's cache hit."""
        returning = method.__returning__
        if returning not in self._response_types:
            self._response_types[returning] = Response[returning]  # type: ignore[valid-type]


def retry_of(exc: Exception) -> Retry | None:
    """aiogram's flood control, network and server errors are retried; nothing else."""
    if isinstance(exc, TelegramRetryAfter):
        return Retry(flood=True, after=float(exc.retry_after))
    if isinstance(exc, TelegramNetworkError | TelegramServerError):
        return Retry(flood=False)
    return None


class AiogramChat:
    """Bot API calls on messages by id, through aiogram: the outbox's way into Telegram (a
    :class:`flows.ports.ChatPort`, whose calls are bulk: they yield to replies to people who
    are typing) and, with ``in_bulk=False``, the replies' way."""

    def __init__(self, bot: Bot, *, in_bulk: bool = True) -> None:
        self.bot = bot
        self._in_bulk = in_bulk

    async def send(self, chat_id: int, reply: Reply) -> int:
        with self._priority(), as_delivery_errors():
            if reply.qr is not None:
                await self.bot.send_photo(chat_id, BufferedInputFile(qr.png(reply.qr), "qr.png"))
            message = await self.bot.send_message(chat_id, reply.text, reply_markup=markup(reply))
        return message.message_id

    async def edit(self, chat_id: int, message_id: int, reply: Reply) -> None:
        with self._priority(), as_delivery_errors(unless=NOT_MODIFIED):
            await self.bot.edit_message_text(
                text=reply.text, chat_id=chat_id, message_id=message_id, reply_markup=markup(reply)
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
    except TelegramBadRequest as exc:
        if unless is None or unless not in str(exc).lower():
            raise delivery_error(exc) from None
    except Exception as exc:
        raise delivery_error(exc) from None


def delivery_error(exc: Exception) -> DeliveryError:
    if isinstance(exc, TelegramForbiddenError):
        return DeliveryError("Telegram: the user blocked the bot", undeliverable=True)
    if isinstance(exc, TelegramRetryAfter):
        return DeliveryError(
            f"Telegram: flood control, retry after {exc.retry_after}s",
            retry_after=float(exc.retry_after),
        )
    if isinstance(exc, Deferred):
        return DeliveryError(f"Telegram: {exc}", retry_after=exc.retry_after)
    if isinstance(exc, TelegramBadRequest):
        return DeliveryError("Telegram refused the request (bad request)", permanent=True)
    if isinstance(exc, TelegramNetworkError):
        return DeliveryError("Telegram could not be reached")
    return DeliveryError(f"Telegram: {type(exc).__name__}")
