"""A fake Telegram Bot API server on 127.0.0.1 for tests.

The real clients (aiogram, python-telegram-bot) talk plain HTTP to it::

    async with FakeBotApi() as tg:
        # aiogram
        bot = Bot(TEST_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
        # python-telegram-bot
        app = (
            Application.builder()
            .token(TEST_TOKEN)
            .base_url(f"{tg.base_url}/bot")
            .base_file_url(f"{tg.base_url}/file/bot")
            .build()
        )

        tg.user_sends_text(42, "/start")
        reply = await tg.wait_for_message(42, "Welcome")
        tg.user_presses_button(42, reply.message_id, reply.callback_data("Yes"))

Behaviour mirrors Telegram where it is cheap to do so and where a mismatch would hide real
bugs: per-chat message ids, "message is not modified" on identical edits, editMessageText
without ``reply_markup`` drops the inline keyboard, clearing the buttons of a message that has
none is "not modified" too, callback_data is limited to 64 bytes, texts to 4096 characters and
toasts (answerCallbackQuery) to 200, HTML / MarkdownV2 texts are checked for the most common parse
errors, getUpdates and an active webhook conflict (409), a second concurrent getUpdates
terminates the first one (409).  Unknown methods answer 404 like the real server.

Everything that arrives as a form field or query parameter is a string on the wire; the
fake JSON-decodes every field except a small set of free-text fields (``text``, ``url``,
``secret_token``, ...), so ``chat_id`` becomes an ``int`` and ``reply_markup`` a ``dict``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import itertools
import json
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, MultipartReader, web

log = logging.getLogger(__name__)

#: A syntactically valid token whose numeric part matches the fake bot's user id.
TEST_TOKEN = "999000:AAFakeTokenForBalieTests_0123456789ab"

BOT_USER: dict[str, Any] = {
    "id": 999000,
    "is_bot": True,
    "first_name": "Balie",
    "username": "balie_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
    "can_connect_to_business": False,
    "has_main_web_app": False,
}

# Form/query fields that are free text and must never be JSON-decoded ("123" stays a str).
_STRING_FIELDS = frozenset(
    {
        "text",
        "caption",
        "callback_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "ip_address",
        "language_code",
        "parse_mode",
        "action",
        "business_connection_id",
        "message_effect_id",
        "emoji",
        "phone_number",
        "first_name",
        "last_name",
        "vcard",
        "title",
        "name",
        "description",
        "short_description",
        "custom_title",
        "file_id",
        "photo",
        "document",
        "sticker",
        "video",
        "audio",
        "voice",
        "animation",
        "thumbnail",
        "payload",
        "start_parameter",
        "address",
        "question",
        "explanation",
        "query_id",
        "method",
    }
)

_UPDATE_KINDS = ("message", "edited_message", "callback_query", "my_chat_member", "chat_member")

_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
_HTML_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>")
_MDV2_RESERVED = frozenset(".!#+-={}()")


class TelegramApiError(Exception):
    """Raise from a method handler to answer ``{"ok": false, ...}`` with this HTTP status."""

    def __init__(
        self, error_code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{error_code}: {description}")
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(description: str) -> TelegramApiError:
    return TelegramApiError(400, f"Bad Request: {description}")


@dataclass
class BotMessage:
    """A message the bot sent, in its current (or snapshot) state."""

    chat_id: int
    message_id: int
    text: str | None
    #: The markup exactly as sent (inline keyboard, reply keyboard, remove/force reply), or None.
    reply_markup: dict[str, Any] | None = None
    parse_mode: str | None = None
    entities: list[dict[str, Any]] | None = None
    date: int = 0
    edit_date: int | None = None
    edited: bool = False
    deleted: bool = False
    #: Raw parameters of the sendMessage call that created it.
    params: dict[str, Any] = field(default_factory=dict)
    #: The image of a sendPhoto call (its caption is ``text``).
    photo: bytes | None = None

    @property
    def inline_keyboard(self) -> list[list[dict[str, Any]]]:
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            return self.reply_markup["inline_keyboard"]
        return []

    @property
    def keyboard(self) -> list[list[dict[str, Any]]]:
        """Rows of a reply keyboard (``ReplyKeyboardMarkup``), or []."""
        if self.reply_markup and "keyboard" in self.reply_markup:
            return [
                [b if isinstance(b, dict) else {"text": b} for b in row]
                for row in self.reply_markup["keyboard"]
            ]
        return []

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """All buttons (inline or reply keyboard), flattened row by row."""
        return [b for row in (self.inline_keyboard or self.keyboard) for b in row]

    def button(self, text: str) -> dict[str, Any]:
        """The button whose text equals ``text`` (or, failing that, contains it)."""
        buttons = self.buttons
        for b in buttons:
            if b.get("text") == text:
                return b
        for b in buttons:
            if text in b.get("text", ""):
                return b
        raise LookupError(f"no button {text!r} in {[b.get('text') for b in buttons]}")

    def callback_data(self, text: str) -> str:
        return self.button(text)["callback_data"]


@dataclass
class UserMessage:
    """A message a (simulated) user sent to the bot."""

    chat_id: int
    message_id: int
    user_id: int
    message: dict[str, Any]
    deleted: bool = False


Handler = Callable[[dict[str, Any]], Any]
Predicate = Callable[[BotMessage], bool]

# Methods Telegram does not flood-limit in this fake: fetching updates, reading, webhooks.
_UNLIMITED = frozenset(
    {"getupdates", "setwebhook", "deletewebhook", "getwebhookinfo", "close", "logout"}
)


@dataclass(frozen=True)
class FloodLimits:
    """Telegram's flood control as the fake enforces it (``FakeBotApi(limits=...)``).

    Calls are counted when they arrive, and only those answered ``ok``:

    * the bot: at most ``per_second`` calls (all but getUpdates, ``get...`` and webhook
      management) in any second;
    * a private chat: messages (send, edit, copy, forward) through a token bucket of
      ``chat_burst`` refilled at ``chat_per_second``;
    * a group (negative id): at most ``group_per_minute`` messages in any minute.

    A call over a limit is answered 429 "Too Many Requests: retry after N" with
    ``parameters.retry_after`` N (whole seconds, rounded up). 0 turns a limit off.
    """

    per_second: int = 30
    chat_per_second: float = 1.0
    chat_burst: int = 1
    group_per_minute: int = 20


@dataclass
class _FloodState:
    answered: list[float] = field(default_factory=list)
    """Arrival times of the bot's limited calls in the last second."""
    chat_tat: dict[int, float] = field(default_factory=dict)
    group_times: dict[int, list[float]] = field(default_factory=dict)


class FakeBotApi:
    """Telegram Bot API stand-in.  See the module docstring.

    State for assertions:

    * ``calls`` - every API call as ``(method, params)``, in order (including failed ones).
    * ``messages[chat_id]`` - :class:`BotMessage` records of what the bot sent, kept current
      (``edited`` / ``deleted`` flags, current ``text`` and ``reply_markup``).
    * ``user_messages[chat_id]`` - :class:`UserMessage` records of simulated user messages.
    * ``updates`` - every update ever queued; ``pending_updates`` - those not yet confirmed.
    * ``webhook`` - ``{"url", "secret_token", "allowed_updates", "max_connections"}``.
    * ``commands[(scope_json, language_code)]`` - lists set by setMyCommands.
    * ``callback_answers[callback_query_id]`` - params of answerCallbackQuery.
    * ``webhook_deliveries`` - ``(update_id, http_status_or_error)`` per webhook POST.
    * ``webhook_replies`` - ``(method, params)`` executed from webhook response bodies
      (also logged in ``calls``).
    * ``errors`` - ``(method, params, description)`` of every call answered with an error,
      e.g. "Bad Request: message is not modified: ..." (a test asserts there are none).
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_poll_wait: float = 1.0,
        strict_chats: bool = False,
        validate_markup: bool = True,
        webhook_retry_delay: float = 0.2,
        limits: FloodLimits | None = None,
    ) -> None:
        """
        :param token: if given, requests for any other token get 401 Unauthorized.
        :param max_poll_wait: cap for getUpdates' ``timeout`` so tests stay fast.
        :param strict_chats: if True, sending to a chat no simulated user has written in
            answers 400 "chat not found" (like Telegram for users who never pressed Start).
        :param validate_markup: check HTML / MarkdownV2 texts for common parse errors.
        :param limits: enforce Telegram's flood control (:class:`FloodLimits`); None: off.
        """
        self.token = token
        self.host = host
        self.port = port
        self.max_poll_wait = max_poll_wait
        self.strict_chats = strict_chats
        self.validate_markup = validate_markup
        self.webhook_retry_delay = webhook_retry_delay
        self.bot_user: dict[str, Any] = dict(BOT_USER)
        self.limits = limits
        #: Every 429 answered: ``(method, chat_id, retry_after)``, by limits or by a test.
        self.floods: list[tuple[str, int | None, int]] = []
        self._flood = _FloodState()
        #: ``time.monotonic()`` of each message sent (sendMessage answered ok).
        self.sent_at: list[float] = []
        self._disconnects: dict[str, int] = {}

        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.errors: list[tuple[str, dict[str, Any], str]] = []
        self.messages: dict[int, list[BotMessage]] = {}
        self.user_messages: dict[int, list[UserMessage]] = {}
        self.updates: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] = {
            "url": "",
            "secret_token": None,
            "allowed_updates": None,
            "max_connections": 40,
        }
        self.webhook_deliveries: list[tuple[int, int | str]] = []
        self.webhook_replies: list[tuple[str, dict[str, Any]]] = []
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.chat_actions: list[tuple[int, str]] = []
        self.blocked_by: set[int] = set()

        self._pending: list[dict[str, Any]] = []
        self._allowed_updates: list[str] | None = None
        self._update_ids = itertools.count(1001)
        self._callback_ids = itertools.count(1)
        self._message_counters: dict[int, int] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._open_callback_queries: set[str] = set()
        self._failures: dict[str, list[TelegramApiError]] = {}
        self._extra_methods: dict[str, Handler] = {}
        self._message_events: list[tuple[str, BotMessage]] = []
        self._message_cursor: dict[int, int] = {}
        self._call_cursor: dict[str, int] = {}
        self._poll_generation = 0
        self._last_webhook_error: tuple[int, str] | None = None
        self._waiters: set[asyncio.Future[None]] = set()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._http: ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None

        self._methods: dict[str, Handler] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "deletemycommands": self._delete_my_commands,
            "getmycommands": self._get_my_commands,
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "deletemessages": self._delete_messages,
            "answercallbackquery": self._answer_callback_query,
            "sendchataction": self._send_chat_action,
            "close": self._true,
            "logout": self._true,
        }

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("FakeBotApi is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def bot_id(self) -> int:
        return int(self.bot_user["id"])

    async def start(self) -> FakeBotApi:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._handle_file)
        self._closing = False
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._http = ClientSession(timeout=ClientTimeout(total=10))
        self._webhook_task = asyncio.create_task(self._webhook_loop(), name="fake-bot-api-webhook")
        return self

    async def stop(self) -> None:
        self._closing = True
        self._notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ test helpers: users

    def user_sends_text(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str = "Test",
        language_code: str = "en",
        chat_id: int | None = None,
        username: str | None = None,
        last_name: str | None = None,
    ) -> dict[str, Any]:
        """Queue a text message update.  A leading ``/command`` gets a bot_command entity."""
        user = self._user(user_id, first_name, language_code, username, last_name)
        message = self._user_message(user, chat_id)
        message["text"] = text
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(command)}
            ]
        return self._queue_message(message)

    def user_sends_contact(
        self,
        user_id: int,
        phone: str,
        *,
        first_name: str = "Test",
        last_name: str | None = None,
        language_code: str = "en",
        chat_id: int | None = None,
        contact_user_id: int | None = None,
    ) -> dict[str, Any]:
        """Queue a shared contact.  By default it is the user's own contact (``user_id`` set),
        as produced by a ``request_contact`` keyboard button.  Note: real Telegram clients
        usually send ``phone_number`` without the leading "+", pass it the way you want to
        test it."""
        user = self._user(user_id, first_name, language_code, None, last_name)
        message = self._user_message(user, chat_id)
        contact: dict[str, Any] = {
            "phone_number": phone,
            "first_name": first_name,
            "user_id": user_id if contact_user_id is None else contact_user_id,
        }
        if last_name:
            contact["last_name"] = last_name
        message["contact"] = contact
        return self._queue_message(message)

    def user_sends_sticker(
        self,
        user_id: int,
        *,
        emoji: str = "👍",
        first_name: str = "Test",
        language_code: str = "en",
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        user = self._user(user_id, first_name, language_code, None, None)
        message = self._user_message(user, chat_id)
        n = message["message_id"]
        message["sticker"] = {
            "file_id": f"CAACAgIAAxkBAAI{n:08d}",
            "file_unique_id": f"AgAD{n:08d}",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "set_name": "BalieTestStickers",
            "file_size": 12345,
        }
        return self._queue_message(message)

    def user_presses_button(
        self,
        user_id: int,
        message_id: int,
        data: str,
        chat_id: int | None = None,
        *,
        first_name: str = "Test",
        language_code: str = "en",
        force: bool = False,
    ) -> dict[str, Any]:
        """Queue a callback_query for an inline button on one of the bot's messages.

        Raises LookupError if the message does not exist / was deleted, or (unless ``force``)
        if no inline button on it currently carries ``data`` - a real user could not do that.
        """
        chat_id = user_id if chat_id is None else chat_id
        record = self._find_message(chat_id, message_id)
        if record is None or record.deleted:
            raise LookupError(f"bot message {message_id} in chat {chat_id} does not exist")
        available = [b.get("callback_data") for row in record.inline_keyboard for b in row]
        if not force and data not in available:
            raise LookupError(
                f"message {message_id} has no button with callback_data {data!r}; "
                f"available: {available}"
            )
        user = self._user(user_id, first_name, language_code, None, None)
        query_id = str(4_300_000_000_000_000_000 + next(self._callback_ids))
        self._open_callback_queries.add(query_id)
        query = {
            "id": query_id,
            "from": user,
            "message": self._message_json(record),
            "chat_instance": str(-(abs(chat_id) * 7919 + 1)),
            "data": data,
        }
        return self._queue({"callback_query": query})

    def user_blocks_bot(self, user_id: int) -> None:
        """From now on sending to this user answers 403 "bot was blocked by the user"."""
        self.blocked_by.add(user_id)

    def fail_next(
        self,
        method: str,
        *,
        error_code: int = 400,
        description: str = "Bad Request: simulated failure",
        count: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """Make the next ``count`` calls of ``method`` fail (e.g. 429 with ``retry_after``,
        403 "Forbidden: bot was blocked by the user")."""
        params = {"retry_after": retry_after} if retry_after is not None else None
        errors = self._failures.setdefault(method.lower(), [])
        errors.extend(TelegramApiError(error_code, description, params) for _ in range(count))

    def flood_next(self, method: str, retry_after: int = 1, count: int = 1) -> None:
        """Answer the next ``count`` calls of ``method`` with Telegram's 429 flood answer."""
        self.fail_next(
            method,
            error_code=429,
            description=f"Too Many Requests: retry after {retry_after}",
            count=count,
            retry_after=retry_after,
        )

    def disconnect_next(self, method: str, count: int = 1) -> None:
        """Drop the connection of the next ``count`` calls of ``method`` without an answer
        (a network error for the client; the call is not executed)."""
        key = method.lower()
        self._disconnects[key] = self._disconnects.get(key, 0) + count

    def sent_texts(self, chat_id: int) -> list[str]:
        """The texts the bot sent to ``chat_id`` (not edits), in order."""
        return [m.text or "" for m in self.messages.get(chat_id, [])]

    def add_method(self, method: str, handler: Handler) -> None:
        """Serve an extra Bot API method: ``handler(params) -> result`` (sync or async);
        raise :class:`TelegramApiError` to answer an error."""
        self._extra_methods[method.lower()] = handler

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        return list(self._pending)

    @property
    def deliver_via_webhook(self) -> bool:
        """True while a webhook URL is set: queued updates are POSTed there, not polled."""
        return bool(self.webhook["url"])

    # ------------------------------------------------------------------ test helpers: waiting

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: Predicate | str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a plain number is the friendlier test API
    ) -> BotMessage:
        """Wait until the bot sends or edits a message in ``chat_id`` that matches.

        ``predicate`` is a callable on :class:`BotMessage` or a substring of its text.
        Each chat has a cursor: only sends/edits after the one returned by the previous
        ``wait_for_message`` for that chat are considered (earlier ones are consumed, also
        non-matching ones that precede the match).  Returns a snapshot of the message as it
        was right after that send/edit; the live record is in ``messages[chat_id]``.
        """
        check = _as_predicate(predicate)

        def find() -> BotMessage | None:
            start = self._message_cursor.get(chat_id, 0)
            for index in range(start, len(self._message_events)):
                kind, snapshot = self._message_events[index]
                if kind == "deleted" or snapshot.chat_id != chat_id:
                    continue
                if check(snapshot):
                    self._message_cursor[chat_id] = index + 1
                    return snapshot
            return None

        found = await self._wait_until(find, timeout)
        if found is None:
            sent = [
                (("edited " if r.edited else "") + repr(r.text))
                for r in self.messages.get(chat_id, [])
            ]
            raise TimeoutError(
                f"bot sent no matching message to chat {chat_id} within {timeout}s; "
                f"messages in that chat: {sent}; last calls: {self._recent_calls()}"
            )
        return found

    async def assert_no_message(self, chat_id: int, within: float = 0.3) -> None:
        """Fail if the bot sends/edits anything in ``chat_id`` (after the cursor) in time."""
        try:
            record = await self.wait_for_message(chat_id, timeout=within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected bot message in chat {chat_id}: {record.text!r}")

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Wait for an API call of ``method`` (case-insensitive) whose params match.

        Cursor semantics per method, like :meth:`wait_for_message`.  Returns the params.
        """
        key = method.lower()

        def find() -> dict[str, Any] | None:
            for index in range(self._call_cursor.get(key, 0), len(self.calls)):
                name, params = self.calls[index]
                if name.lower() == key and (predicate is None or predicate(params)):
                    self._call_cursor[key] = index + 1
                    return params
            return None

        found = await self._wait_until(find, timeout)
        if found is None:
            raise TimeoutError(
                f"no matching {method} call within {timeout}s; last calls: {self._recent_calls()}"
            )
        return found

    async def wait_until(
        self,
        condition: Callable[[], Any],
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Any:
        """Wait until ``condition()`` is truthy (re-checked after every call, queued update
        and webhook delivery); returns its value."""
        result = await self._wait_until(lambda: condition() or None, timeout)
        if result is None:
            raise TimeoutError(f"condition still false after {timeout}s")
        return result

    async def wait_until_consumed(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until every queued update has been confirmed (polling offset) or delivered."""
        ok = await self._wait_until(lambda: True if not self._pending else None, timeout)
        if ok is None:
            raise TimeoutError(f"{len(self._pending)} update(s) still pending after {timeout}s")

    def commands_for(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        return self.commands.get((_scope_key(scope), language_code or ""), [])

    # ------------------------------------------------------------------ HTTP plumbing

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        if self.token is not None and token != self.token:
            return _json_response(TelegramApiError(401, "Unauthorized").payload(), 401)
        try:
            params = await _read_params(request)
        except ValueError as exc:
            error = _bad_request(f"can't parse request: {exc}")
            return _json_response(error.payload(), 400)
        if self._disconnects.get(method.lower()):
            self._disconnects[method.lower()] -= 1
            self.calls.append((method, params))
            if request.transport is not None:
                request.transport.close()
            raise ConnectionResetError("dropped by the test")
        try:
            result = await self.call(method, params)
        except TelegramApiError as exc:
            return _json_response(exc.payload(), exc.error_code)
        return _json_response({"ok": True, "result": result}, 200)

    async def _handle_file(self, request: web.Request) -> web.Response:
        return _json_response(TelegramApiError(404, "Not Found").payload(), 404)

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """Execute an API method as if it came in over HTTP (logged in ``calls``)."""
        self.calls.append((method, params))
        self._notify()
        key = method.lower()
        failures = self._failures.get(key)
        if failures:
            failure = failures.pop(0)
            if failure.error_code == 429:
                self.floods.append((method, _chat_of(params), _retry_after(failure)))
            raise failure
        handler = self._extra_methods.get(key) or self._methods.get(key)
        if handler is None:
            raise TelegramApiError(404, "Not Found: method not found")
        commit = self._check_flood(key, params)
        try:
            result = handler(params)
            if inspect.isawaitable(result):
                result = await result
        except TelegramApiError as exc:
            self.errors.append((method, params, exc.description))
            self._notify()
            raise
        commit()
        self._notify()
        return result

    def not_modified_calls(self) -> list[tuple[str, dict[str, Any]]]:
        """Every edit the fake refused as "message is not modified" (Telegram does too)."""
        return [
            (method, params)
            for method, params, description in self.errors
            if "message is not modified" in description
        ]

    def _check_flood(self, method: str, params: dict[str, Any]) -> Callable[[], None]:
        """Raise 429 if the call is over a limit; else return what counts it once it succeeded."""
        limits = self.limits
        if limits is None or method in _UNLIMITED or method.startswith("get"):
            return lambda: None
        now = time.monotonic()
        state = self._flood
        state.answered = [t for t in state.answered if t > now - 1.0]
        waits: list[float] = []
        if limits.per_second and len(state.answered) >= limits.per_second:
            waits.append(state.answered[0] + 1.0 - now)
        chat_id = _chat_of(params)
        in_chat = chat_id is not None and _is_chat_message(method)
        interval = 1.0 / limits.chat_per_second if limits.chat_per_second else 0.0
        if in_chat and chat_id is not None and chat_id > 0 and interval:
            tat = state.chat_tat.get(chat_id, now)
            if now < tat - (limits.chat_burst - 1) * interval:
                waits.append(tat - (limits.chat_burst - 1) * interval - now)
        group: list[float] = []
        if in_chat and chat_id is not None and chat_id < 0 and limits.group_per_minute:
            group = [t for t in state.group_times.get(chat_id, []) if t > now - 60.0]
            state.group_times[chat_id] = group
            if len(group) >= limits.group_per_minute:
                waits.append(group[0] + 60.0 - now)
        if waits:
            seconds = max(1, math.ceil(max(waits)))
            self.floods.append((method, chat_id, seconds))
            raise TelegramApiError(
                429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds}
            )

        def commit() -> None:
            state.answered.append(now)
            if in_chat and chat_id is not None and chat_id > 0 and interval:
                state.chat_tat[chat_id] = max(state.chat_tat.get(chat_id, now), now) + interval
            if in_chat and chat_id is not None and chat_id < 0 and limits.group_per_minute:
                group.append(now)

        return commit

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _wait_until(self, check: Callable[[], Any], seconds: float) -> Any:
        """Re-run ``check`` after every state change until it returns non-None."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            result = check()
            if result is not None:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                pass
            finally:
                self._waiters.discard(waiter)

    def _recent_calls(self, n: int = 8) -> list[str]:
        return [name for name, _ in self.calls[-n:]]

    # ------------------------------------------------------------------ updates

    def _user(
        self,
        user_id: int,
        first_name: str,
        language_code: str,
        username: str | None,
        last_name: str | None,
    ) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        if user_id not in self._chats:
            chat = {k: v for k, v in user.items() if k in ("first_name", "last_name", "username")}
            self._chats[user_id] = {"id": user_id, "type": "private", **chat}
        return user

    def _user_message(self, user: dict[str, Any], chat_id: int | None) -> dict[str, Any]:
        chat_id = user["id"] if chat_id is None else chat_id
        return {
            "message_id": self._next_message_id(chat_id),
            "from": user,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
        }

    def _queue_message(self, message: dict[str, Any]) -> dict[str, Any]:
        chat_id = message["chat"]["id"]
        self.user_messages.setdefault(chat_id, []).append(
            UserMessage(chat_id, message["message_id"], message["from"]["id"], message)
        )
        return self._queue({"message": message})

    def _queue(self, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **payload}
        self.updates.append(update)
        self._pending.append(update)
        self._notify()
        return update

    def _next_message_id(self, chat_id: int) -> int:
        self._message_counters[chat_id] = self._message_counters.get(chat_id, 0) + 1
        return self._message_counters[chat_id]

    def _chat(self, chat_id: int) -> dict[str, Any]:
        chat = self._chats.get(chat_id)
        if chat is None:
            if chat_id > 0:
                chat = {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}
            elif chat_id < -1_000_000_000_000:
                chat = {"id": chat_id, "type": "supergroup", "title": f"Group {chat_id}"}
            else:
                chat = {"id": chat_id, "type": "group", "title": f"Group {chat_id}"}
            self._chats[chat_id] = chat
        return dict(chat)

    @staticmethod
    def _update_kind(update: dict[str, Any]) -> str:
        return next(k for k in update if k != "update_id")

    def _is_allowed(self, update: dict[str, Any], allowed: list[str] | None) -> bool:
        if not allowed:
            return True
        return self._update_kind(update) in allowed

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        elif offset < 0:
            self._pending = self._pending[offset:]

    # ------------------------------------------------------------------ methods

    async def _true(self, params: dict[str, Any]) -> bool:
        return True

    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return dict(self.bot_user)

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.deliver_via_webhook:
            raise TelegramApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(0.0, float(params.get("timeout") or 0))
        if "allowed_updates" in params:
            self._allowed_updates = params["allowed_updates"] or None
        self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # wakes an older long poll, which then answers 409

        def ready() -> list[dict[str, Any]] | None:
            if self._closing or generation != self._poll_generation:
                return []
            batch = [u for u in self._pending if self._is_allowed(u, self._allowed_updates)]
            return batch[:limit] or None

        batch = await self._wait_until(ready, min(timeout, self.max_poll_wait))
        if generation != self._poll_generation and not self._closing:
            raise TelegramApiError(
                409,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
            )
        return copy.deepcopy(batch or [])

    async def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url") or ""
        if url and not url.startswith(("http://", "https://")):
            raise _bad_request("bad webhook: HTTPS url must be provided for webhook")
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook = {
            "url": url,
            "secret_token": params.get("secret_token"),
            "allowed_updates": params.get("allowed_updates") or None,
            "max_connections": params.get("max_connections") or 40,
        }
        self._last_webhook_error = None
        return True

    async def _delete_webhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook = {
            "url": "",
            "secret_token": None,
            "allowed_updates": None,
            "max_connections": 40,
        }
        return True

    async def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook["url"]:
            info["max_connections"] = self.webhook["max_connections"]
            if self.webhook["allowed_updates"]:
                info["allowed_updates"] = self.webhook["allowed_updates"]
            if self._last_webhook_error:
                info["last_error_date"], info["last_error_message"] = self._last_webhook_error
        return info

    async def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request('parameter "commands" is required')
        for command in commands:
            name = command.get("command", "") if isinstance(command, dict) else ""
            description = command.get("description", "") if isinstance(command, dict) else ""
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name) or not 1 <= len(description) <= 256:
                raise _bad_request("BOT_COMMAND_INVALID")
        key = (_scope_key(params.get("scope")), params.get("language_code") or "")
        if commands:
            self.commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            self.commands.pop(key, None)
        return True

    async def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        key = (_scope_key(params.get("scope")), params.get("language_code") or "")
        self.commands.pop(key, None)
        return True

    async def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        key = (_scope_key(params.get("scope")), params.get("language_code") or "")
        return copy.deepcopy(self.commands.get(key, []))

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._target_chat(params)
        text = params.get("text")
        if text is None or not str(text).strip():
            raise _bad_request("message text is empty")
        text = str(text)
        self._check_text(text, params.get("parse_mode"))
        markup = _parse_markup(params.get("reply_markup"))
        record = BotMessage(
            chat_id=chat_id,
            message_id=self._next_message_id(chat_id),
            text=text,
            reply_markup=markup,
            parse_mode=params.get("parse_mode"),
            entities=params.get("entities"),
            date=int(time.time()),
            params=params,
        )
        self.messages.setdefault(chat_id, []).append(record)
        self.sent_at.append(time.monotonic())
        self._record_event("sent", record)
        return self._message_json(record)

    async def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._target_chat(params)
        photo = params.get("photo")
        if isinstance(photo, str) and photo.startswith("attach://"):
            photo = params.get(photo.removeprefix("attach://"))  # aiogram's way to upload
        if not isinstance(photo, dict) or not photo.get("content"):
            raise _bad_request("there is no photo in the request")
        caption = params.get("caption")
        record = BotMessage(
            chat_id=chat_id,
            message_id=self._next_message_id(chat_id),
            text=str(caption) if caption else None,
            reply_markup=_parse_markup(params.get("reply_markup")),
            date=int(time.time()),
            params={k: v for k, v in params.items() if not isinstance(v, dict)},
            photo=bytes(photo["content"]),
        )
        self.messages.setdefault(chat_id, []).append(record)
        self.sent_at.append(time.monotonic())
        self._record_event("sent", record)
        return self._message_json(record)

    def photos(self, chat_id: int) -> list[bytes]:
        """The images sent to the chat, oldest first."""
        return [m.photo for m in self.messages.get(chat_id, []) if m.photo is not None]

    async def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            return True
        record = self._editable(params, "message to edit not found")
        text = params.get("text")
        if text is None or not str(text).strip():
            raise _bad_request("message text is empty")
        text = str(text)
        self._check_text(text, params.get("parse_mode"))
        markup = _parse_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad_request("inline keyboard expected")
        if record.reply_markup is not None and "inline_keyboard" not in record.reply_markup:
            markup = record.reply_markup  # a reply keyboard is not part of the message
        if text == record.text and markup == record.reply_markup:
            raise _bad_request(
                "message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message"
            )
        record.text = text
        record.parse_mode = params.get("parse_mode")
        record.entities = params.get("entities")
        record.reply_markup = markup  # omitting reply_markup removes the inline keyboard
        return self._mark_edited(record)

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            return True
        record = self._editable(params, "message to edit not found")
        markup = _parse_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad_request("inline keyboard expected")
        if markup == record.reply_markup or (not markup and not record.inline_keyboard):
            raise _bad_request(
                "message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message"
            )
        record.reply_markup = markup
        return self._mark_edited(record)

    async def _delete_message(self, params: dict[str, Any]) -> bool:
        chat_id = _require_int(params, "chat_id")
        message_id = _require_int(params, "message_id")
        if not self._delete_one(chat_id, message_id):
            raise _bad_request("message to delete not found")
        return True

    async def _delete_messages(self, params: dict[str, Any]) -> bool:
        chat_id = _require_int(params, "chat_id")
        for message_id in params.get("message_ids") or []:
            self._delete_one(chat_id, int(message_id))
        return True

    async def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._open_callback_queries:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = params.get("text")
        if text is not None and _utf16_len(str(text)) > 200:
            raise _bad_request("MESSAGE_TOO_LONG")  # what Telegram answers to a long toast
        self._open_callback_queries.discard(query_id)
        self.callback_answers[query_id] = params
        return True

    async def _send_chat_action(self, params: dict[str, Any]) -> bool:
        chat_id = self._target_chat(params)
        action = params.get("action")
        if not action:
            raise _bad_request('parameter "action" is required')
        self.chat_actions.append((chat_id, str(action)))
        return True

    # ------------------------------------------------------------------ method helpers

    def _target_chat(self, params: dict[str, Any]) -> int:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad_request("chat_id is empty")
        if not isinstance(chat_id, int):
            raise _bad_request("chat not found")
        if chat_id in self.blocked_by:
            raise TelegramApiError(403, "Forbidden: bot was blocked by the user")
        if self.strict_chats and chat_id not in self._chats:
            raise _bad_request("chat not found")
        return chat_id

    def _find_message(self, chat_id: int, message_id: int) -> BotMessage | None:
        for record in self.messages.get(chat_id, []):
            if record.message_id == message_id:
                return record
        return None

    def _editable(self, params: dict[str, Any], missing: str) -> BotMessage:
        chat_id = _require_int(params, "chat_id")
        message_id = _require_int(params, "message_id")
        record = self._find_message(chat_id, message_id)
        if record is None or record.deleted:
            if any(m.message_id == message_id for m in self.user_messages.get(chat_id, [])):
                raise _bad_request("message can't be edited")
            raise _bad_request(missing)
        return record

    def _mark_edited(self, record: BotMessage) -> dict[str, Any]:
        record.edited = True
        record.edit_date = int(time.time())
        self._record_event("edited", record)
        return self._message_json(record)

    def _delete_one(self, chat_id: int, message_id: int) -> bool:
        record = self._find_message(chat_id, message_id)
        if record is not None and not record.deleted:
            record.deleted = True
            self._record_event("deleted", record)
            return True
        for user_message in self.user_messages.get(chat_id, []):
            if user_message.message_id == message_id and not user_message.deleted:
                user_message.deleted = True
                return True
        return False

    def _record_event(self, kind: str, record: BotMessage) -> None:
        snapshot = copy.deepcopy(record)
        self._message_events.append((kind, snapshot))

    def _message_json(self, record: BotMessage) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": record.message_id,
            "from": dict(self.bot_user),
            "chat": self._chat(record.chat_id),
            "date": record.date,
        }
        if record.edit_date is not None:
            message["edit_date"] = record.edit_date
        if record.photo is not None:
            size = {"file_id": f"photo-{record.message_id}", "width": 512, "height": 512}
            message["photo"] = [{**size, "file_unique_id": size["file_id"]}]
            if record.text is not None:
                message["caption"] = record.text
        elif record.text is not None:
            message["text"] = record.text
        if record.entities:
            message["entities"] = copy.deepcopy(record.entities)
        if record.inline_keyboard:
            message["reply_markup"] = copy.deepcopy(record.reply_markup)
        return message

    def _check_text(self, text: str, parse_mode: Any) -> None:
        if _utf16_len(text) > 4096:
            raise _bad_request("message is too long")
        if not self.validate_markup or not parse_mode:
            return
        mode = str(parse_mode).lower()
        problem = None
        if mode == "html":
            problem = _html_problem(text)
        elif mode == "markdownv2":
            problem = _markdown_v2_problem(text)
        if problem:
            raise _bad_request(f"can't parse entities: {problem}")

    # ------------------------------------------------------------------ webhook delivery

    async def _webhook_loop(self) -> None:
        while True:
            await self._wait_until(
                lambda: True if self._closing or (self.webhook["url"] and self._pending) else None,
                3600,
            )
            if self._closing:
                return
            update = self._pending[0]
            allowed = self.webhook["allowed_updates"]
            if not self._is_allowed(update, allowed):
                self._pending.pop(0)
                continue
            try:
                delivered = await self._post_update(update)
            except (ClientError, TimeoutError) as exc:
                delivered = False
                self.webhook_deliveries.append((update["update_id"], type(exc).__name__))
                self._last_webhook_error = (int(time.time()), f"Connection failed: {exc}")
            if delivered and self._pending and self._pending[0] is update:
                self._pending.pop(0)
            self._notify()
            if not delivered:
                await asyncio.sleep(self.webhook_retry_delay)

    async def _post_update(self, update: dict[str, Any]) -> bool:
        assert self._http is not None
        headers = {}
        if self.webhook["secret_token"]:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
        async with self._http.post(self.webhook["url"], json=update, headers=headers) as resp:
            self.webhook_deliveries.append((update["update_id"], resp.status))
            if not 200 <= resp.status < 300:
                message = f"Wrong response from the webhook: {resp.status} {resp.reason or ''}"
                self._last_webhook_error = (int(time.time()), message.strip())
                return False
            await self._run_webhook_reply(resp)
            return True

    async def _run_webhook_reply(self, resp: Any) -> None:
        """Telegram executes a method returned in the webhook response body."""
        params: dict[str, Any] = {}
        if resp.content_type == "application/json":
            body = await resp.json()
            if not isinstance(body, dict):
                return
            params = dict(body)
        elif resp.content_type == "multipart/form-data":
            reader = MultipartReader.from_response(resp)
            while (part := await reader.next()) is not None:
                if part.filename:
                    params[part.name] = {"filename": part.filename, "content": await part.read()}
                else:
                    params[part.name] = _decode_field(part.name, await part.text())
        method = params.pop("method", None)
        if not method:
            return
        self.webhook_replies.append((str(method), params))
        try:
            await self.call(str(method), params)
        except TelegramApiError as exc:  # Telegram silently drops failed webhook replies
            log.warning("webhook reply %s failed: %s", method, exc)


# ---------------------------------------------------------------------- module helpers


def _json_response(body: dict[str, Any], status: int) -> web.Response:
    return web.json_response(body, status=status)


async def _read_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = {k: _decode_field(k, v) for k, v in request.query.items()}
    if request.method not in ("POST", "PUT") or not request.body_exists:
        return params
    if request.content_type == "application/json":
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("JSON body must be an object")
        params.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = {"filename": value.filename, "content": value.file.read()}
            else:
                params[key] = _decode_field(key, str(value))
    return params


def _decode_field(key: str, value: str) -> Any:
    if key in _STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _require_int(params: dict[str, Any], key: str) -> int:
    value = params.get(key)
    if value is None or value == "":
        raise _bad_request(f"{key} is empty" if key == "chat_id" else f"{key} is required")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad_request("chat not found" if key == "chat_id" else f"invalid {key}") from None


def _chat_of(params: dict[str, Any]) -> int | None:
    chat_id = params.get("chat_id")
    return chat_id if isinstance(chat_id, int) else None


def _is_chat_message(method: str) -> bool:
    return method != "sendchataction" and method.startswith(("send", "edit", "copy", "forward"))


def _retry_after(error: TelegramApiError) -> int:
    return int((error.parameters or {}).get("retry_after", 0))


def _scope_key(scope: Any) -> str:
    if isinstance(scope, str):
        scope = json.loads(scope) if scope else None
    return json.dumps(scope or {"type": "default"}, sort_keys=True)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _as_predicate(predicate: Predicate | str | None) -> Predicate:
    if predicate is None:
        return lambda record: True
    if isinstance(predicate, str):
        needle = predicate
        return lambda record: record.text is not None and needle in record.text
    return predicate


def _parse_markup(raw: Any) -> dict[str, Any] | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise _bad_request("can't parse reply keyboard markup JSON object") from None
    if not isinstance(raw, dict):
        raise _bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in raw:
        rows = raw["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise _bad_request('can\'t parse inline keyboard button: field "inline_keyboard"')
        for row in rows:
            for button in row:
                _check_inline_button(button)
    return raw


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not button.get("text"):
        raise _bad_request("can't parse inline keyboard button: Text must be non-empty")
    actions = set(button) - {"text", "icon_custom_emoji_id", "style"}
    if not actions:
        raise _bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= 64:
            raise _bad_request("BUTTON_DATA_INVALID")


def _html_problem(text: str) -> str | None:
    stack: list[str] = []
    position = 0
    for match in _HTML_TAG_RE.finditer(text):
        gap = text[position : match.start()]
        if "<" in gap:
            offset = len(text[: position + gap.index("<")].encode())
            return f'Unsupported start tag "" at byte offset {offset}'
        position = match.end()
        closing, name = match.group(1), match.group(2).lower()
        offset = len(text[: match.start()].encode())
        if name not in _HTML_TAGS:  # e.g. <br>, <p>, <div> are rejected by Telegram
            return f'Unsupported start tag "{name}" at byte offset {offset}'
        if closing:
            if not stack or stack[-1] != name:
                return f"Unexpected end tag at byte offset {offset}"
            stack.pop()
        else:
            stack.append(name)
    tail = text[position:]
    if "<" in tail:
        offset = len(text[: position + tail.index("<")].encode())
        return f'Unsupported start tag "" at byte offset {offset}'
    if stack:
        return f'Can\'t find end tag corresponding to start tag "{stack[-1]}"'
    return None


def _markdown_v2_problem(text: str) -> str | None:
    i = 0
    in_code = False
    in_url = False
    line_start = True
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            line_start = False
            continue
        if char == "`":
            fence = 3 if text.startswith("```", i) else 1
            in_code = not in_code
            i += fence
            continue
        if in_code:
            i += 1
            continue
        if in_url:
            if char == ")":
                in_url = False
            i += 1
            continue
        if char == "]" and text.startswith("(", i + 1):
            in_url = True
            i += 2
            continue
        if char in _MDV2_RESERVED or (char == ">" and not line_start):
            return f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
        line_start = char == "\n"
        i += 1
    return None
