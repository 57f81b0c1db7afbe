"""One paced sender for every Bot API call, whichever framework makes it.

Both runtimes hand each outgoing call to one :class:`Pacer` (aiogram through a session
request middleware, python-telegram-bot through its ``BaseRateLimiter`` hook), so aiogram
and python-telegram-bot keep to the same limits in the same way:

* the whole bot: at most ``global_per_second`` calls in any second;
* a private chat: a short burst (``chat_burst``), then ``chat_per_second`` messages a second;
* a group chat (a negative id): at most ``group_per_minute`` messages in any minute;
* a chat's calls leave one at a time in the order they came; across chats, interactive calls
  (replies to a person who is typing, the default) get the bot's budget before bulk ones
  (outbox deliveries, command menus: inside :func:`bulk`);
* a 429 pauses that chat (or the whole bot: a call without a chat, or a second chat told to
  wait within a second) for ``retry_after``, and the call is made again after it; a network
  error or a 5xx is retried with exponential backoff and full jitter.

A call is counted from when it is let through until its answer arrived, so the Bot API
server, which counts when a request reaches it, never sees more than the limits, however
long each request takes on the way (see :class:`_Budget`).

With several workers for one bot (replicas, or a webhook server beside a second outbox
worker), each worker's pacer also takes its turn from a :class:`~flows.ports.SharedPace`
(the store, or Redis with ``BALIE_REDIS_URL``): the workers then keep to the limits
together, and a 429 one of them met pauses that chat (or the bot) in all of them.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple, TypeVar

from flows.ports import PaceSlot, SharedPace

log = logging.getLogger("balie.telegram.pacing")

T = TypeVar("T")


class Priority(IntEnum):
    INTERACTIVE = 0
    """A reply to a person who is typing: first in line."""
    BULK = 1
    """A notification nobody is waiting for at this moment: yields to interactive calls."""


_priority: ContextVar[Priority] = ContextVar(
    "balie_telegram_priority", default=Priority.INTERACTIVE
)


@contextmanager
def bulk() -> Iterator[None]:
    """Bot API calls made inside this block (in this task) yield to interactive ones."""
    token = _priority.set(Priority.BULK)
    try:
        yield
    finally:
        _priority.reset(token)


def current_priority() -> Priority:
    return _priority.get()


@dataclass(frozen=True)
class Limits:
    """Telegram's published limits (https://core.telegram.org/bots/faq), and how long a call
    may wait out flood control before its caller is told to keep it for later."""

    global_per_second: float = 30.0
    """0: no limit (a local Bot API server, paid broadcasts)."""
    chat_per_second: float = 1.0
    """Private chats, after the burst; 0: no limit."""
    chat_burst: int = 3
    group_per_minute: int = 20
    """0: no limit."""
    max_wait: float = 15.0
    """The longest pause (a 429's ``retry_after``) a call waits out; longer: :class:`Deferred`."""
    network_attempts: int = 4
    flood_attempts: int = 5
    """429s one call may meet before it is deferred (Telegram keeps saying "wait")."""
    first_backoff: float = 0.5
    """Seconds before the second attempt after a network error; doubling, fully jittered."""


class Deferred(Exception):
    """The chat (or the whole bot) must wait longer than ``max_wait``: keep the call for later."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"flood control: retry after {retry_after:.0f}s")
        self.retry_after = retry_after


class Retry(NamedTuple):
    """How a framework's exception may be retried: after a 429 (``flood``, waiting ``after``
    seconds) or as a network error (with backoff)."""

    flood: bool
    after: float = 0.0


Classify = Callable[[Exception], Retry | None]
"""A framework's exception -> how to retry it, or None: not retried, raised to the caller."""

SHARED_HEADROOM = 1.1
"""Workers that share the bot-wide rate space their slots 10% wider: between a slot and the
request's arrival at Telegram each process adds its own delay, and a slot spacing of exactly
1/rate let a 31st request into one second now and then (seen in the two-worker broadcast)."""

BOT_KEY = "bot"
"""The shared pace key of the bot as a whole."""


def chat_key(chat_id: int) -> str:
    return f"chat:{chat_id}"


_NOT_PACED = frozenset(
    {"getupdates", "setwebhook", "deletewebhook", "getwebhookinfo", "close", "logout"}
)


def is_paced(method: str) -> bool:
    """Everything but fetching updates, reading (``get...``) and webhook management."""
    name = method.lower()
    return name not in _NOT_PACED and not name.startswith("get")


def counts_in_chat(method: str) -> bool:
    """Calls that put something in a chat count against its limit: sending, editing,
    copying, forwarding (a chat action, a deletion or a callback answer do not)."""
    name = method.lower()
    return name != "sendchataction" and name.startswith(("send", "edit", "copy", "forward"))


@dataclass
class Figures:
    """What the pacer did, for tests, benchmarks and logs."""

    sent: int = 0
    """Calls that got an answer (success or a refusal that is not retried)."""
    floods: int = 0
    """429 answers met."""
    retried: int = 0
    """Calls made again (after a 429 or a network error)."""
    deferred: int = 0
    """Calls handed back because the pause was longer than ``max_wait``."""


class _Budget:
    """At most ``limit`` calls in any ``period`` seconds, handed out by priority.

    A call counts from when it is let through until ``period`` after its answer arrived.
    The server counts a request when it arrives, which is between those two moments, so any
    ``period`` the server looks at holds at most ``limit`` of them, whatever the latency.
    """

    def __init__(self, limit: int | None, period: float) -> None:
        self.limit = limit
        self.period = period
        self.paused_until = 0.0
        self._in_flight = 0
        self._answered: deque[float] = deque()
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    async def acquire(self, priority: Priority) -> None:
        loop = asyncio.get_running_loop()
        granted: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._waiting, (int(priority), next(self._order), granted))
        self._pump()
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():  # let through, then cancelled
                self.release(loop.time())
            raise

    def release(self, answered_at: float) -> None:
        self._in_flight -= 1
        if self.limit is not None:
            self._answered.append(answered_at)
        self._pump()

    def pause(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self.paused_until = max(self.paused_until, loop.time() + seconds)
        self._pump()

    def _pump(self) -> None:
        """Let through every waiting call the budget allows now, best priority first; when
        something waits, come back at the moment the budget next allows a call."""
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = loop.time()
        while self._answered and self._answered[0] <= now - self.period:
            self._answered.popleft()
        while self._waiting:
            granted = self._waiting[0][2]
            if granted.done():  # cancelled while waiting
                heapq.heappop(self._waiting)
                continue
            wait = self._wait(now)
            if wait > 0:
                if wait != float("inf"):  # else: the next answer comes back here
                    self._timer = loop.call_later(wait, self._pump)
                return
            heapq.heappop(self._waiting)
            self._in_flight += 1
            granted.set_result(None)

    def _wait(self, now: float) -> float:
        pause = max(0.0, self.paused_until - now)
        if self.limit is None:
            return pause
        used = self._in_flight + len(self._answered)
        if used < self.limit:
            return pause
        must_expire = used - self.limit + 1
        if must_expire > len(self._answered):
            return float("inf")
        return max(pause, self._answered[must_expire - 1] + self.period - now)


@dataclass
class _Chat:
    """One chat's queue (a FIFO lock), rate and pause."""

    chat_id: int
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    paused_until: float = 0.0
    theoretical: float = 0.0
    """Private chats: the "theoretical arrival time" of the generic cell rate algorithm."""
    answered: deque[float] = field(default_factory=deque)
    """Group chats: when the messages of the last minute were answered."""

    def wait(self, now: float, limits: Limits) -> float:
        """Seconds until this chat may get its next message."""
        if self.chat_id < 0:
            if not limits.group_per_minute:
                return 0.0
            while self.answered and self.answered[0] <= now - 60.0:
                self.answered.popleft()
            if len(self.answered) < limits.group_per_minute:
                return 0.0
            return self.answered[0] + 60.0 - now
        if not limits.chat_per_second:
            return 0.0
        interval = 1.0 / limits.chat_per_second
        tolerance = (limits.chat_burst - 1) * interval
        return max(0.0, self.theoretical - tolerance - now)

    def record(self, answered_at: float, limits: Limits) -> None:
        if self.chat_id < 0:
            if limits.group_per_minute:
                self.answered.append(answered_at)
        elif limits.chat_per_second:
            self.theoretical = max(self.theoretical, answered_at) + 1.0 / limits.chat_per_second

    def idle(self, now: float) -> bool:
        return (
            self.users == 0
            and self.paused_until <= now
            and self.theoretical <= now
            and not any(t > now - 60.0 for t in self.answered)
        )


class Pacer:
    """The pacing core shared by both runtimes; see the module docstring."""

    def __init__(
        self,
        limits: Limits | None = None,
        on_flood: Callable[[], None] = lambda: None,
        shared: SharedPace | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self._on_flood_met = on_flood
        self._shared = shared
        """Other workers' calls for this bot; None: this process is the bot's only sender."""
        """Told of every 429 (the operators' metrics count them)."""
        rate = self.limits.global_per_second
        # Whole calls per second: a fractional limit is met by a longer period.
        if rate and rate < 1:
            self._budget = _Budget(1, 1.0 / rate)
        else:
            self._budget = _Budget(int(rate) if rate else None, 1.0)
        self._chats: dict[int, _Chat] = {}
        self._last_flood: tuple[int | None, float] | None = None
        self._calls = 0
        self.figures = Figures()

    async def run(
        self,
        method: str,
        chat_id: int | None,
        call: Callable[[], Awaitable[T]],
        classify: Classify,
    ) -> T:
        """Make ``call`` (the Bot API call ``method`` for ``chat_id``) within the limits,
        retrying 429s and network errors; raises :class:`Deferred` or the call's error."""
        if not is_paced(method):
            return await call()
        in_chat = counts_in_chat(method)
        if chat_id is None:
            return await self._attempts(None, in_chat, call, classify)
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _Chat(chat_id)
        chat.users += 1
        try:
            async with chat.lock:  # a chat's calls leave one by one, in the order they came
                return await self._attempts(chat, in_chat, call, classify)
        finally:
            chat.users -= 1
            self._forget_idle(chat)

    def _forget_idle(self, chat: _Chat) -> None:
        """Drop the state of chats with nothing pending, so memory follows the active chats."""
        now = asyncio.get_running_loop().time()
        if chat.idle(now):
            self._chats.pop(chat.chat_id, None)
        self._calls += 1
        if self._calls % 1000 == 0:
            for chat_id in [key for key, state in self._chats.items() if state.idle(now)]:
                del self._chats[chat_id]

    async def _attempts(
        self,
        chat: _Chat | None,
        in_chat: bool,
        call: Callable[[], Awaitable[T]],
        classify: Classify,
    ) -> T:
        loop = asyncio.get_running_loop()
        network_failures = floods = 0
        while True:
            await self._take_turn(chat, in_chat)
            try:
                result = await call()
            except Exception as exc:
                self._answered(chat, in_chat, loop.time())
                retry = classify(exc)
                if retry is None:
                    self.figures.sent += 1
                    raise
                if retry.flood:
                    self.figures.floods += 1
                    floods += 1
                    await self._share_pause(self._on_flood(chat, retry.after), retry.after)
                    if floods >= self.limits.flood_attempts:
                        self.figures.deferred += 1
                        raise Deferred(retry.after) from None
                else:
                    network_failures += 1
                    if network_failures >= self.limits.network_attempts:
                        raise
                    await asyncio.sleep(self._backoff(network_failures))
                self.figures.retried += 1
                continue
            except BaseException:  # cancelled: the call may have reached Telegram
                self._answered(chat, in_chat, loop.time())
                raise
            self._answered(chat, in_chat, loop.time())
            self.figures.sent += 1
            return result

    async def _take_turn(self, chat: _Chat | None, in_chat: bool) -> None:
        """Wait until the chat's pace, the bot-wide slots and the call budget all allow the
        next call (the budget by this call's priority)."""
        await self._wait_for_turn(chat, in_chat)
        await self._wait_for_shared_turn(chat, in_chat)
        await self._budget.acquire(current_priority())

    def _answered(self, chat: _Chat | None, in_chat: bool, at: float) -> None:
        self._budget.release(at)
        if chat is not None and in_chat:
            chat.record(at, self.limits)

    async def _wait_for_turn(self, chat: _Chat | None, in_chat: bool) -> None:
        """Wait out the chat's pause and rate; a pause longer than ``max_wait`` defers."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            paused = max(self._budget.paused_until, chat.paused_until if chat else 0.0) - now
            if paused > self.limits.max_wait:
                self.figures.deferred += 1
                raise Deferred(paused)
            wait = max(paused, chat.wait(now, self.limits) if chat and in_chat else 0.0)
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    async def _wait_for_shared_turn(self, chat: _Chat | None, in_chat: bool) -> None:
        """Take this call's turn among all workers of the bot; a store or Redis that cannot
        be reached leaves only this process's pacing (logged), it never stops a reply."""
        if self._shared is None:
            return
        try:
            wait = await self._shared.reserve(self._slots(chat, in_chat))
        except Exception as exc:
            log.warning("shared pacing unavailable, pacing this worker alone: %s", type(exc))
            return
        if wait > self.limits.max_wait:
            self.figures.deferred += 1
            raise Deferred(wait)
        if wait > 0:
            await asyncio.sleep(wait)

    def _slots(self, chat: _Chat | None, in_chat: bool) -> tuple[PaceSlot, ...]:
        """The bot's key and the chat's, each with its rate (interval 0: no limit, but a
        pause another worker met still holds)."""
        limits = self.limits
        rate = limits.global_per_second
        slots = [PaceSlot(BOT_KEY, SHARED_HEADROOM / rate if rate else 0.0)]
        if chat is not None:
            if not in_chat:
                slots.append(PaceSlot(chat_key(chat.chat_id), 0.0))
            elif chat.chat_id < 0:
                per_minute = limits.group_per_minute
                slots.append(
                    PaceSlot(chat_key(chat.chat_id), 60.0 / per_minute if per_minute else 0)
                )
            else:
                rate = limits.chat_per_second
                slots.append(
                    PaceSlot(chat_key(chat.chat_id), 1.0 / rate if rate else 0.0, limits.chat_burst)
                )
        return tuple(slots)

    async def _share_pause(self, key: str, seconds: float) -> None:
        if self._shared is None:
            return
        try:
            await self._shared.pause(key, seconds)
        except Exception as exc:
            log.warning("could not share a flood pause with other workers: %s", type(exc))

    def _on_flood(self, chat: _Chat | None, seconds: float) -> str:
        """A 429 pauses its chat; the whole bot when it has no chat, or when another chat was
        told to wait within the last second (then the bot as a whole is over its limit).
        Returns the paused key (:data:`BOT_KEY` or the chat's)."""
        self._on_flood_met()
        now = asyncio.get_running_loop().time()
        chat_id = chat.chat_id if chat else None
        earlier = self._last_flood
        self._last_flood = (chat_id, now)
        whole_bot = chat is None or (
            earlier is not None and earlier[0] != chat_id and now - earlier[1] < 1.0
        )
        log.info(
            "Telegram asked to wait %.0fs (%s)",
            seconds,
            "the whole bot" if whole_bot else f"chat {chat_id}",
        )
        if whole_bot or chat is None:
            self._budget.pause(seconds)
            return BOT_KEY
        chat.paused_until = max(chat.paused_until, now + seconds)
        return chat_key(chat.chat_id)

    def _backoff(self, failures: int) -> float:
        """Full jitter: a random wait up to first_backoff * 2^(failures-1)."""
        return random.uniform(0, self.limits.first_backoff * 2 ** (failures - 1))

    def paused_for(self, chat_id: int) -> float:
        """Seconds until ``chat_id`` (or the whole bot) may be sent to again."""
        now = asyncio.get_running_loop().time()
        chat = self._chats.get(chat_id)
        until = max(self._budget.paused_until, chat.paused_until if chat else 0.0)
        return max(0.0, until - now)
