"""A lean local Bot API server for the benchmark: real update JSON in, replies timed out.

tests/fakes/bot_api.py checks every call the way Telegram would, which makes it slow; this
one does only what a measurement needs: it answers the methods a bot calls, keeps each
chat's messages (sent or edited) with per-chat message ids, hands updates to getUpdates or
POSTs them to the webhook(s), and wakes the simulated user waiting for a reply at once
(one future per waiting step, no polling loop). The update shapes copy the fake's, which
copy Telegram's.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

BOT_ID = 999000
TOKEN = f"{BOT_ID}:AABenchTokenForBalieBenchmark_0123456"
BOT_USER: dict[str, Any] = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Balie",
    "username": "balie_bench_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
_STRING_FIELDS = frozenset({"text", "callback_query_id", "url", "secret_token", "caption"})


class StepTimeout(Exception):
    """The reply a step waits for did not come in time."""


@dataclass(slots=True)
class Message:
    """One message the bot sent to a chat, as it stands now."""

    chat_id: int
    message_id: int
    text: str
    markup: dict[str, Any] | None
    date: int
    edited: bool = False

    def button_data(self, label: str) -> str:
        """The callback data of the inline button whose label contains ``label``."""
        for row in (self.markup or {}).get("inline_keyboard", []):
            for button in row:
                if label in button.get("text", "") and "callback_data" in button:
                    return str(button["callback_data"])
        raise LookupError(f"no button {label!r} on message {self.message_id}: {self.text[:60]}")

    def as_json(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self.message_id,
            "from": BOT_USER,
            "chat": _private_chat(self.chat_id),
            "date": self.date,
            "text": self.text,
        }
        if self.edited:
            message["edit_date"] = int(time.time())
        if self.markup and "inline_keyboard" in self.markup:
            message["reply_markup"] = self.markup
        return message


Match = Callable[[Message], bool]


@dataclass(slots=True)
class _Waiter:
    match: Match
    future: asyncio.Future[tuple[Message, float]]


@dataclass(slots=True)
class _Chat:
    next_id: int = 0
    messages: dict[int, Message] = field(default_factory=dict)
    waiters: list[_Waiter] = field(default_factory=list)
    sent: int = 0


def _private_chat(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "language_code": "en"}


class BotApi:
    """The server. ``step`` is what a simulated user calls: make one update available and
    wait for the reply that matches, returning it with the step's latency."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self._chats: dict[int, _Chat] = {}
        self._pending: deque[dict[str, Any]] = deque()
        self._poller: asyncio.Future[None] | None = None
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self.webhook_urls: list[str] = []
        """Where updates are POSTed round-robin; set by setWebhook or by the harness."""
        self.webhook_secret: str | None = None
        self._next_target = itertools.count()
        self._http: ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.calls: dict[str, int] = {}
        self.polled = asyncio.Event()
        """Set at the first getUpdates: a polling bot is ready."""
        self.webhook_set = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, connections: int = 100) -> BotApi:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._http = ClientSession(
            connector=TCPConnector(limit=max(connections, 10), force_close=False),
            timeout=ClientTimeout(total=60),
        )
        return self

    async def stop(self) -> None:
        if self._poller is not None and not self._poller.done():
            self._poller.set_result(None)
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ the user side

    def text_update(self, user_id: int, text: str) -> dict[str, Any]:
        chat = self._chat(user_id)
        chat.next_id += 1
        message: dict[str, Any] = {
            "message_id": chat.next_id,
            "from": _user(user_id),
            "chat": _private_chat(user_id),
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"message": message}

    def press_update(self, user_id: int, message: Message, label: str) -> dict[str, Any]:
        return {
            "callback_query": {
                "id": str(4_300_000_000_000 + next(self._query_ids)),
                "from": _user(user_id),
                "message": message.as_json(),
                "chat_instance": str(-(abs(message.chat_id) * 7919 + 1)),
                "data": message.button_data(label),
            }
        }

    async def step(
        self,
        chat_id: int,
        payload: dict[str, Any],
        match: Match | None = None,
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> tuple[Message, float]:
        """Make ``payload`` available as the next update and wait for the first message sent
        to or edited in ``chat_id`` after that which ``match`` accepts (any, by default).
        Returns it and the seconds from the update's availability to its arrival."""
        future: asyncio.Future[tuple[Message, float]] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(match or _any, future)
        chat = self._chat(chat_id)
        chat.waiters.append(waiter)
        update = {"update_id": next(self._update_ids), **payload}
        started = time.monotonic()
        post: asyncio.Task[None] | None = None
        if self.webhook_urls:
            post = asyncio.create_task(self._post(update))
        else:
            self._pending.append(update)
            if self._poller is not None and not self._poller.done():
                self._poller.set_result(None)
        try:
            message, arrived = await self._arrival(chat_id, chat, waiter, timeout, "reply")
        finally:
            if post is not None:
                await post
        return message, arrived - started

    async def wait_message(
        self,
        chat_id: int,
        match: Match,
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> Message:
        """A message in ``chat_id`` that ``match`` accepts: the newest one there already, or
        the next to arrive (not a step: a card the bot pushes by itself)."""
        chat = self._chat(chat_id)
        for message in reversed(chat.messages.values()):
            if match(message):
                return message
        future: asyncio.Future[tuple[Message, float]] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(match, future)
        chat.waiters.append(waiter)
        message, _ = await self._arrival(chat_id, chat, waiter, timeout, "message")
        return message

    @staticmethod
    async def _arrival(
        chat_id: int,
        chat: _Chat,
        waiter: _Waiter,
        timeout: float,  # noqa: ASYNC109
        what: str,
    ) -> tuple[Message, float]:
        """The message ``waiter`` was registered for, and when it arrived; the waiter goes."""
        try:
            return await asyncio.wait_for(waiter.future, timeout)
        except TimeoutError:
            raise StepTimeout(f"no {what} in chat {chat_id} within {timeout:g} s") from None
        finally:
            if waiter in chat.waiters:
                chat.waiters.remove(waiter)

    async def _post(self, update: dict[str, Any]) -> None:
        assert self._http is not None
        url = self.webhook_urls[next(self._next_target) % len(self.webhook_urls)]
        headers = {"Content-Type": "application/json"}
        if self.webhook_secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook_secret
        body = json.dumps(update, separators=(",", ":"))
        async with self._http.post(url, data=body, headers=headers) as response:
            await response.read()
            if response.status >= 300:
                raise StepTimeout(f"the webhook answered {response.status}")

    def messages(self, chat_id: int) -> list[Message]:
        return list(self._chat(chat_id).messages.values())

    def sent_count(self) -> int:
        return sum(chat.sent for chat in self._chats.values())

    # ------------------------------------------------------------------ the bot side

    def _chat(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _Chat()
        return chat

    def _arrived(self, chat: _Chat, message: Message) -> None:
        now = time.monotonic()
        for waiter in chat.waiters:
            if not waiter.future.done() and waiter.match(message):
                waiter.future.set_result((message, now))
                chat.waiters.remove(waiter)
                return

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"].lower()
        self.calls[method] = self.calls.get(method, 0) + 1
        if request.match_info["token"] != self.token:
            return _answer({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        params = await _params(request)
        handler = _METHODS.get(method)
        result: Any = True if handler is None else handler(self, params)
        if isinstance(result, asyncio.Future | asyncio.Task) or asyncio.iscoroutine(result):
            result = await result
        return _answer({"ok": True, "result": result})

    def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return BOT_USER

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.polled.set()
        offset = int(params.get("offset") or 0)
        while self._pending and self._pending[0]["update_id"] < offset:
            self._pending.popleft()
        if not self._pending:
            timeout = min(float(params.get("timeout") or 0), 30.0)
            if timeout > 0:
                self._poller = asyncio.get_running_loop().create_future()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._poller, timeout)
        limit = int(params.get("limit") or 100)
        return list(itertools.islice(self._pending, limit))

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook_set += 1
        self.webhook_secret = params.get("secret_token") or self.webhook_secret
        if not self.webhook_urls and params.get("url"):
            self.webhook_urls = [str(params["url"])]
        return True

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        return True

    def _webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        url = self.webhook_urls[0] if self.webhook_urls else ""
        return {"url": url, "has_custom_certificate": False, "pending_update_count": 0}

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        chat = self._chat(chat_id)
        chat.next_id += 1
        chat.sent += 1
        message = Message(
            chat_id,
            chat.next_id,
            str(params.get("text", "")),
            _markup(params.get("reply_markup")),
            int(time.time()),
        )
        chat.messages[message.message_id] = message
        self._arrived(chat, message)
        return message.as_json()

    def _edit_text(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        message = self._find(params)
        if message is None:
            return True
        message.text = str(params.get("text", message.text))
        message.markup = _markup(params.get("reply_markup"))
        message.edited = True
        self._arrived(self._chat(message.chat_id), message)
        return message.as_json()

    def _edit_markup(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        message = self._find(params)
        if message is None:
            return True
        message.markup = _markup(params.get("reply_markup"))
        message.edited = True
        return message.as_json()

    def _delete_message(self, params: dict[str, Any]) -> bool:
        chat = self._chat(int(params.get("chat_id") or 0))
        chat.messages.pop(int(params.get("message_id") or 0), None)
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return []

    def _find(self, params: dict[str, Any]) -> Message | None:
        if not params.get("chat_id") or not params.get("message_id"):
            return None
        return self._chat(int(params["chat_id"])).messages.get(int(params["message_id"]))


def _any(message: Message) -> bool:
    return True


_METHODS: dict[str, Callable[[BotApi, dict[str, Any]], Any]] = {
    "getme": BotApi._get_me,
    "getupdates": BotApi._get_updates,
    "setwebhook": BotApi._set_webhook,
    "deletewebhook": BotApi._delete_webhook,
    "getwebhookinfo": BotApi._webhook_info,
    "sendmessage": BotApi._send_message,
    "editmessagetext": BotApi._edit_text,
    "editmessagereplymarkup": BotApi._edit_markup,
    "deletemessage": BotApi._delete_message,
    "getmycommands": BotApi._get_my_commands,
}
"""Everything else (answerCallbackQuery, setMyCommands, sendChatAction, ...) answers true."""


def _answer(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )


async def _params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if not request.body_exists:
        return params
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            params.update(body)
        return params
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, str):
            params[key] = value if key in _STRING_FIELDS else _decoded(value)
    return params


def _decoded(value: str) -> Any:
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _markup(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, str):
        raw = _decoded(raw)
    return raw if isinstance(raw, dict) else None
