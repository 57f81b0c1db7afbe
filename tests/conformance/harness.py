"""The conformance suite's channel drivers: one interface, one driver per channel.

A scenario talks to a :class:`Channel` only (a user types, presses a button, expects a
reply) and checks side effects through :class:`Env` (rows in the store, mail in the SMTP
server, SMS in the Twilio stand-in). The drivers:

* :class:`TelegramDriver` runs a real runtime (aiogram or python-telegram-bot, long polling
  or webhook) against the local Bot API server (:class:`tests.fakes.bot_api.FakeBotApi`),
  exactly as ``balie run`` does;
* :class:`TerminalDriver` runs ``balie chat``'s :func:`bot.runtimes.run_terminal` with a
  stdin fed line by line and a stdout that is read back, switching identity with ``/as``.

Expected texts come from the catalog (:func:`T`), so a reworded sentence does not break the
suite, while a wrong flow, a lost button or a missing message does.
"""

from __future__ import annotations

import asyncio
import json
import queue
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from email.message import EmailMessage
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select

from bot.runtimes import run_aiogram, run_terminal
from bot.secret_key import load_hasher
from bot.settings import Runtime, Settings
from flows.activation_codes import subject_of
from flows.domain import AuditAction, CodePurpose, Language
from flows.keys import KeyedHasher
from flows.model import (
    ActivationRequest,
    AuditEntry,
    ChatLink,
    Conversation,
    Customer,
    Letter,
    OneTimeCode,
    Person,
    RegistrationRequest,
)
from flows.texts import Texts
from storage.uow import Store
from tests.fakes.bot_api import BotMessage, FakeBotApi
from tests.fakes.smtp_server import SmtpServer, free_port
from tests.fakes.twilio_api import FakeTwilio, TwilioMessage
from tests.support import code_matches, portal_chats_of

CODE = re.compile(r"\b(\d{6})\b")
ACTIVATION_CODE = re.compile(r"\b([A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4})\b")
"""An activation code as mails and letters show it: ``ABCD-EFGH-JKMN`` (no 0, O, 1, I)."""


def T(key: str, language: Language = Language.EN, **values: object) -> str:
    """The catalog text ``key`` with ``values`` filled in; it stops at the first placeholder
    without a value, so the result is a prefix every channel's message must contain."""
    out: list[str] = []
    for literal, name, spec, _conversion in string.Formatter().parse(Texts(language).template(key)):
        out.append(literal)
        if name is None:
            continue
        if name not in values:
            break
        out.append(format(values[name], spec or ""))
    text = "".join(out)
    assert text.strip(), f"catalog text {key!r} starts with a placeholder: give its value"
    return text


class Capability(StrEnum):
    STICKERS = "stickers"
    """The person can send something that is not text."""
    CONTACTS = "contacts"
    """The person can share their Telegram contact."""
    FORGED_BUTTONS = "forged_buttons"
    """A client can send button data that no message of the bot carries."""
    QUEUES_WHILE_DOWN = "queues_while_down"
    """Messages typed while the bot is down wait for it (Telegram keeps them)."""
    KEEPS_OLD_MESSAGES = "keeps_old_messages"
    """Buttons stay on old messages until the bot edits them away (the terminal only keeps
    the newest buttons of each chat)."""


@dataclass(frozen=True)
class Seen:
    """A message as the person saw it in their chat: sent, or edited in place."""

    chat_id: int
    message_id: int | None
    text: str
    buttons: tuple[str, ...] = ()
    edited: bool = False


Match = str | Callable[[Seen], bool]


def _matcher(match: Match) -> Callable[[Seen], bool]:
    if isinstance(match, str):
        return lambda seen: match in seen.text
    return match


def _any_of(checks: list[Callable[[Seen], bool]]) -> Callable[[Seen], bool]:
    return lambda seen: any(check(seen) for check in checks)


async def expect_each(channel: Channel, user: int, *matches: Match) -> list[Seen]:
    """The next message in ``user``'s chat for each of ``matches``, in whatever order they
    come: for a direct answer and a notification (delivered by the outbox worker, which may
    overtake it on Telegram) in one chat. The matches must not overlap."""
    checks = [_matcher(match) for match in matches]
    found: dict[int, Seen] = {}
    while len(found) < len(checks):
        waiting = [index for index in range(len(checks)) if index not in found]
        seen = await channel.expect(user, _any_of([checks[index] for index in waiting]))
        found[next(i for i in waiting if checks[i](seen))] = seen
    return [found[index] for index in range(len(checks))]


class Channel(Protocol):
    name: str
    capabilities: frozenset[Capability]

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def user_says(self, user: int, text: str) -> None: ...

    async def user_presses(self, user: int, label: str) -> None:
        """Press the button ``label`` on the newest message in ``user``'s chat that has it."""
        ...

    async def user_sends_sticker(self, user: int) -> None: ...

    async def user_shares_contact(self, user: int, phone: str) -> None: ...

    async def user_presses_forged(self, user: int, data: str) -> None: ...

    async def expect(self, user: int, match: Match, timeout: float = 5.0) -> Seen:  # noqa: ASYNC109
        """The next message sent or edited in ``user``'s chat that matches; the ones before
        it are passed over (each chat has a cursor)."""
        ...

    async def expect_notice(self, user: int, text: str) -> str:
        """The notice (Telegram: the toast) for ``user``'s last button press."""
        ...

    async def expect_removed(self, user: int) -> None:
        """The message ``user`` typed last was removed from their chat (Telegram: the bot
        called deleteMessage for it; the terminal: it said so)."""
        ...


@dataclass
class Env:
    """Everything outside the channel: the store, the SMTP server, the Twilio stand-in."""

    settings: Settings
    store: Store
    smtp: SmtpServer
    twilio: FakeTwilio
    telegram: FakeBotApi
    workdir: Path
    """A directory of this test's own (for exported files)."""

    @property
    def hasher(self) -> KeyedHasher:
        """The server key the runtime under test uses (its data folder's key file)."""
        return load_hasher(self.settings)

    def code_matches(self, row: OneTimeCode, code: str) -> bool:
        return code_matches(row, code, self.hasher)

    async def mails(self, to: str, count: int = 1, timeout: float = 5.0) -> list[EmailMessage]:  # noqa: ASYNC109
        """The mails ``to`` received, once there are at least ``count``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(found := self.smtp.mail.messages_to(to)) < count:
            if loop.time() > deadline:
                raise AssertionError(f"{len(found)} mail(s) to {to}, expected {count}")
            await asyncio.sleep(0.02)
        return found

    async def codes_to(self, destination: str, purpose: CodePurpose) -> list[OneTimeCode]:
        """Every code of ``purpose`` ever sent to ``destination``, oldest first."""
        async with self.store.transaction() as tx:
            rows = await tx.session.scalars(
                select(OneTimeCode)
                .where(OneTimeCode.destination == destination, OneTimeCode.purpose == purpose)
                .order_by(OneTimeCode.id)
            )
            return list(rows.all())

    @staticmethod
    def text(mail: EmailMessage) -> str:
        """A mail's text with plain newlines (SMTP carries CRLF)."""
        return str(mail.get_content()).replace("\r\n", "\n")

    async def mail_code(self, to: str, count: int = 1) -> str:
        body = (await self.mails(to, count))[count - 1].get_content()
        match = CODE.search(body)
        assert match, body
        return match.group(1)

    async def mail_activation_code(self, to: str, count: int = 1) -> str:
        """The activation code (``ABCD-EFGH-JKMN``) in the ``count``-th mail to ``to``."""
        body = (await self.mails(to, count))[count - 1].get_content()
        match = ACTIVATION_CODE.search(body)
        assert match, body
        return match.group(1)

    async def sms(self, to: str) -> TwilioMessage:
        """The next SMS to ``to`` (each call returns the one after the previous call's)."""
        return await self.twilio.wait_for_message(to)

    async def requests(self) -> list[RegistrationRequest]:
        async with self.store.transaction() as tx:
            rows = await tx.session.scalars(
                select(RegistrationRequest).order_by(RegistrationRequest.id)
            )
            return list(rows.all())

    async def person(self, *, email: str | None = None, phone: str | None = None) -> Person:
        async with self.store.transaction() as tx:
            column = Person.email if email else Person.phone
            person = (
                await tx.session.scalars(select(Person).where(column == (email or phone)))
            ).first()
        assert person is not None, f"no person with {email or phone}"
        return person

    async def conversation(self, chat_id: int) -> Conversation | None:
        async with self.store.transaction() as tx:
            return await tx.session.get(Conversation, chat_id)

    async def linked_person(self, user_id: int) -> Person | None:
        async with self.store.transaction() as tx:
            link = await tx.session.get(ChatLink, user_id)
            return None if link is None else link.person

    async def audit(self, action: AuditAction) -> list[AuditEntry]:
        async with self.store.transaction() as tx:
            rows = await tx.session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
            return list(rows.all())

    async def customer(self, number: str) -> Customer:
        async with self.store.transaction() as tx:
            found = (
                await tx.session.scalars(select(Customer).where(Customer.customer_number == number))
            ).first()
        assert found is not None, f"no customer {number}"
        return found

    async def customer_chats(self, number: str) -> list[int]:
        """The chats linked to the customer's portal account (its holder's)."""
        return await portal_chats_of(self.store, (await self.customer(number)).id)

    async def activation_requests(self) -> list[ActivationRequest]:
        async with self.store.transaction() as tx:
            rows = await tx.session.scalars(
                select(ActivationRequest).order_by(ActivationRequest.id)
            )
            return list(rows.all())

    async def letters(self) -> list[Letter]:
        async with self.store.transaction() as tx:
            rows = await tx.session.scalars(select(Letter).order_by(Letter.id))
            return list(rows.all())

    async def current_code(self, customer: Customer, purpose: CodePurpose) -> OneTimeCode | None:
        """The customer's newest usable code of ``purpose`` (None once used or burned)."""
        async with self.store.transaction() as tx:
            return await tx.codes.current(subject_of(customer), purpose)

    async def codes(self, customer: Customer, purpose: CodePurpose) -> list[OneTimeCode]:
        """Every code of ``purpose`` ever issued to the customer, oldest first."""
        async with self.store.transaction() as tx:
            rows = await tx.session.scalars(
                select(OneTimeCode)
                .where(OneTimeCode.subject == subject_of(customer), OneTimeCode.purpose == purpose)
                .order_by(OneTimeCode.id)
            )
            return list(rows.all())

    async def card_button(self, chat_id: int, label: str) -> str:
        """The data of button ``label`` on the newest card sent to ``chat_id`` that had it
        (signed for that chat), as a client that still shows the card would send it."""

        def find() -> str | None:
            for record in reversed(self.telegram.messages.get(chat_id, [])):
                markup = record.params.get("reply_markup") or {}
                if isinstance(markup, str):
                    markup = json.loads(markup)
                for row in markup.get("inline_keyboard") or []:
                    for button in row:
                        if button.get("text") == label:
                            return str(button["callback_data"])
            return None

        try:
            return str(await self.telegram.wait_until(find))
        except TimeoutError:
            raise AssertionError(f"no card for chat {chat_id} had a button {label!r}") from None

    @staticmethod
    def today() -> date:
        return datetime.now(UTC).date()


# -- Telegram -------------------------------------------------------------------------------


async def run_runtime(runtime: Runtime, settings: Settings, stop: asyncio.Event) -> None:
    if runtime is Runtime.PTB:
        from bot.ptb_runtime import run_ptb

        await run_ptb(settings, stop)
    else:
        await run_aiogram(settings, stop)


class TelegramDriver:
    """A Telegram runtime against the local Bot API server, polling or with a webhook."""

    capabilities = frozenset(Capability)

    def __init__(self, env: Env, runtime: Runtime, *, webhook: bool) -> None:
        self.env = env
        self.tg = env.telegram
        self.runtime = runtime
        self.webhook = webhook
        self.name = f"{runtime.value}-webhook" if webhook else runtime.value
        settings = replace_settings(env.settings, runtime=runtime)
        if webhook:
            port = free_port()
            settings = replace_settings(
                settings,
                webhook_url=f"http://127.0.0.1:{port}/telegram/webhook",
                webhook_host="127.0.0.1",
                webhook_port=port,
            )
        self.settings = settings
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._queries: dict[int, str] = {}

    async def start(self) -> None:
        assert self._task is None, "already running"
        self._stop = asyncio.Event()
        ready_method = "setwebhook" if self.webhook else "getupdates"
        calls_before = len(self.tg.calls)
        self._task = asyncio.create_task(run_runtime(self.runtime, self.settings, self._stop))

        def ready() -> bool:
            if self._task is not None and self._task.done():
                return True
            return any(m.lower() == ready_method for m, _ in self.tg.calls[calls_before:])

        waiting = asyncio.ensure_future(self.tg.wait_until(ready, timeout=15))
        await asyncio.wait({waiting, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task.done():
            waiting.cancel()
            task, self._task = self._task, None
            task.result()  # raises what stopped the runtime
            raise AssertionError(f"{self.name} stopped right after starting")
        await waiting

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stop.set()
        task, self._task = self._task, None
        await asyncio.wait_for(task, 20)

    async def user_says(self, user: int, text: str) -> None:
        self.tg.user_sends_text(user, text, first_name=f"User{user}")

    async def expect_removed(self, user: int) -> None:
        typed = self.tg.user_messages.get(user, [])
        assert typed, f"user {user} typed nothing"
        last = typed[-1]

        def deleted() -> bool:
            return any(
                method.lower() == "deletemessage"
                and int(params.get("chat_id", 0)) == user
                and int(params.get("message_id", 0)) == last.message_id
                for method, params in self.tg.calls
            )

        try:
            await self.tg.wait_until(deleted)
        except TimeoutError:
            raise AssertionError(
                f"the bot did not delete message {last.message_id} in chat {user}"
            ) from None
        assert last.deleted

    async def user_presses(self, user: int, label: str) -> None:
        for record in reversed(self.tg.messages.get(user, [])):
            if record.deleted:
                continue
            for button in record.buttons:
                if button.get("text") == label:
                    update = self.tg.user_presses_button(
                        user, record.message_id, button["callback_data"]
                    )
                    self._queries[user] = update["callback_query"]["id"]
                    return
        raise AssertionError(f"no message in chat {user} has a button {label!r}")

    async def user_presses_forged(self, user: int, data: str) -> None:
        messages = [m for m in self.tg.messages.get(user, []) if not m.deleted]
        assert messages, f"the bot never wrote to chat {user}"
        update = self.tg.user_presses_button(user, messages[-1].message_id, data, force=True)
        self._queries[user] = update["callback_query"]["id"]

    async def user_sends_sticker(self, user: int) -> None:
        self.tg.user_sends_sticker(user)

    async def user_shares_contact(self, user: int, phone: str) -> None:
        self.tg.user_sends_contact(user, phone, contact_user_id=user)

    async def expect(self, user: int, match: Match, timeout: float = 5.0) -> Seen:  # noqa: ASYNC109
        check = _matcher(match)
        record = await self.tg.wait_for_message(user, lambda m: check(_seen(m)), timeout=timeout)
        return _seen(record)

    async def expect_notice(self, user: int, text: str) -> str:
        query_id = self._queries.get(user)
        assert query_id, f"user {user} pressed no button"
        await self.tg.wait_until(lambda: query_id in self.tg.callback_answers)
        notice = str(self.tg.callback_answers[query_id].get("text") or "")
        assert text in notice, f"notice {notice!r} does not contain {text!r}"
        return notice


def _seen(record: BotMessage) -> Seen:
    return Seen(
        record.chat_id,
        record.message_id,
        record.text or "",
        tuple(str(b.get("text")) for b in record.buttons),
        record.edited,
    )


def replace_settings(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update=changes)


# -- terminal -------------------------------------------------------------------------------


class _LineFeed:
    """``run_terminal``'s stdin: lines are handed in one by one; :meth:`wait_until_reading`
    returns once the channel asks for the next line, i.e. the previous one is fully handled
    (replies shown, due notifications delivered)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._reading = asyncio.Event()

    def isatty(self) -> bool:
        return False

    def readline(self) -> str:  # runs in a worker thread (asyncio.to_thread)
        self._loop.call_soon_threadsafe(self._reading.set)
        return self._lines.get()

    def put(self, line: str) -> None:
        self._reading.clear()
        self._lines.put(line + "\n")

    def close(self) -> None:
        self._lines.put("")  # end of input

    async def wait_until_reading(self, timeout: float = 15.0) -> None:  # noqa: ASYNC109
        await asyncio.wait_for(self._reading.wait(), timeout)


class _Transcript:
    """``run_terminal``'s stdout: every write is one printed item (a message, a buttons line,
    a header), which the driver reads back."""

    def __init__(self) -> None:
        self.chunks: list[str] = []

    def write(self, text: str) -> int:
        self.chunks.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


_SENT = re.compile(r"--- message for chat (-?\d+) ---")
_EDITED = re.compile(r"--- chat (-?\d+): message (\d+) updated ---")
_DELIVERED = re.compile(r"--- (?:e-mail|SMS) arrived for .* ---")
_BUTTON = re.compile(r"\[(\d+)\] (.+?)(?=  \[\d+\] |$)")
_REMOVED = "(your message was removed from the chat)"


@dataclass
class _Chat:
    seen: list[Seen] = field(default_factory=list)
    cursor: int = 0
    notices: list[str] = field(default_factory=list)
    notice_cursor: int = 0
    said: int = 0
    """How many lines the user typed (button presses not counted)."""
    removed: set[int] = field(default_factory=set)
    """Which of those (by count) the terminal said it removed from the chat."""


class TerminalDriver:
    """``balie chat`` in-process: identity switches with ``/as USER_ID`` before each turn."""

    name = "terminal"
    capabilities: frozenset[Capability] = frozenset()

    def __init__(self, env: Env) -> None:
        self.env = env
        self.settings = replace_settings(env.settings, telegram_token=None)
        self._chats: dict[int, _Chat] = {}
        self._task: asyncio.Task[None] | None = None
        self._feed: _LineFeed | None = None
        self._out = _Transcript()
        self._parsed = 0
        self._acting = 0
        self._next_message_id = 1

    def _chat(self, chat_id: int) -> _Chat:
        return self._chats.setdefault(chat_id, _Chat())

    async def start(self) -> None:
        assert self._task is None, "already running"
        self._feed = _LineFeed(asyncio.get_running_loop())
        self._out = _Transcript()
        self._parsed = 0
        self._acting = 1  # the terminal starts as its guest
        self._next_message_id = 1  # a new channel numbers its messages from 1
        self._task = asyncio.create_task(
            run_terminal(self.settings, stdin=self._feed, stdout=self._out)  # type: ignore[arg-type]
        )
        await self._settle()

    async def stop(self) -> None:
        if self._task is None or self._feed is None:
            return
        task, self._task = self._task, None
        self._feed.put("/quit")
        self._feed.close()
        await asyncio.wait_for(task, 20)

    async def _settle(self) -> None:
        assert self._feed is not None and self._task is not None
        reading = asyncio.ensure_future(self._feed.wait_until_reading())
        await asyncio.wait({reading, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task.done():
            reading.cancel()
            self._task.result()
            raise AssertionError("the terminal channel stopped")
        await reading
        self._read_output()

    async def _line(self, user: int, line: str) -> None:
        assert self._feed is not None, "the terminal channel is not running"
        if user != self._acting:
            self._feed.put(f"/as {user}")
            await self._settle()
            self._acting = user
        self._feed.put(line)
        await self._settle()

    def _read_output(self) -> None:
        """File what the terminal printed since the last turn under the chats it is for."""
        target: tuple[str, int, int | None] | None = ("reply", self._acting, None)
        last: tuple[int, int] | None = None  # (chat, index) of the last message seen
        for chunk in self._out.chunks[self._parsed :]:
            text = chunk[:-1] if chunk.endswith("\n") else chunk
            if text.startswith("You are now ") or text.startswith("No identity matches"):
                continue
            if sent := _SENT.fullmatch(text):
                chat_id = int(sent.group(1))
                target = ("sent", chat_id, self._next_message_id)
                self._next_message_id += 1
                continue
            if edited := _EDITED.fullmatch(text):
                target = ("edited", int(edited.group(1)), int(edited.group(2)))
                continue
            if _DELIVERED.fullmatch(text):
                target = None  # e-mail or SMS through the local sink: not a chat message
                continue
            if text.startswith("[1] ") and last is not None:
                chat_id, index = last
                labels = tuple(label for _, label in _BUTTON.findall(text))
                chat = self._chat(chat_id)
                chat.seen[index] = replace(chat.seen[index], buttons=labels)
                continue
            if target is None:
                continue
            kind, chat_id, message_id = target
            if kind == "reply" and text == _REMOVED:
                chat = self._chat(chat_id)
                chat.removed.add(chat.said)
                continue
            if kind == "reply" and text.startswith("(") and text.endswith(")"):
                if not text.startswith("(pressed: "):
                    self._chat(chat_id).notices.append(text[1:-1])
                continue
            chat = self._chat(chat_id)
            chat.seen.append(Seen(chat_id, message_id, text, (), kind == "edited"))
            last = (chat_id, len(chat.seen) - 1)
            if kind != "reply":
                target = None  # a header announces exactly one message
        self._parsed = len(self._out.chunks)

    async def user_says(self, user: int, text: str) -> None:
        self._chat(user).said += 1
        await self._line(user, text)

    async def expect_removed(self, user: int) -> None:
        chat = self._chat(user)
        assert chat.said, f"user {user} typed nothing"
        assert chat.said in chat.removed, (
            f"the terminal did not say it removed line {chat.said} of user {user}"
        )

    async def user_presses(self, user: int, label: str) -> None:
        # The terminal presses by number, on the newest keyboard shown in that chat.
        keyboards = [seen.buttons for seen in self._chat(user).seen if seen.buttons]
        assert keyboards, f"no buttons were shown in chat {user}"
        assert label in keyboards[-1], (
            f"the newest buttons in chat {user} are {keyboards[-1]}, not {label!r}"
        )
        await self._line(user, str(keyboards[-1].index(label) + 1))

    async def user_sends_sticker(self, user: int) -> None:
        raise NotImplementedError("the terminal has no stickers")

    async def user_shares_contact(self, user: int, phone: str) -> None:
        raise NotImplementedError("the terminal cannot share a contact")

    async def user_presses_forged(self, user: int, data: str) -> None:
        raise NotImplementedError("the terminal only presses the buttons it shows")

    async def expect(self, user: int, match: Match, timeout: float = 5.0) -> Seen:  # noqa: ASYNC109
        # Every turn is handled, and its notifications delivered, before the next line.
        check = _matcher(match)
        chat = self._chat(user)
        for index in range(chat.cursor, len(chat.seen)):
            if check(chat.seen[index]):
                chat.cursor = index + 1
                return chat.seen[index]
        shown = [seen.text[:80] for seen in chat.seen[chat.cursor :]]
        raise AssertionError(
            f"no matching message in terminal chat {user}; after the cursor: {shown}"
        )

    async def expect_notice(self, user: int, text: str) -> str:
        chat = self._chat(user)
        for index in range(chat.notice_cursor, len(chat.notices)):
            if text in chat.notices[index]:
                chat.notice_cursor = index + 1
                return chat.notices[index]
        raise AssertionError(f"no notice {text!r} in terminal chat {user}: {chat.notices}")


CHANNELS = ("aiogram", "ptb", "aiogram-webhook", "ptb-webhook", "terminal")
"""Every channel a scenario runs on: each Telegram runtime with long polling and with a
webhook, and the terminal."""


def make_channel(name: str, env: Env) -> Channel:
    if name == "terminal":
        return TerminalDriver(env)
    runtime, _, mode = name.partition("-")
    return TelegramDriver(env, Runtime(runtime), webhook=mode == "webhook")
