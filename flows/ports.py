"""Small interfaces the core needs from the outside world."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from flows.events import Reply


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None:
        """Wait (a test's clock just moves on)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class StepRecord:
    """One handled update, for operators: never what was typed."""

    update_id: int | None
    chat_id: int
    flow: str
    """Which flow the update went to (``registration``, ``activation``, ``password``,
    ``staff``, ``menu``)."""
    step: str
    """The conversation's state when the update arrived."""
    outcome: str
    """``ok``, ``duplicate`` (a redelivered update) or ``error``."""
    seconds: float


class DeskObserver(Protocol):
    def handled(self, record: StepRecord) -> None: ...


class NoObserver:
    def handled(self, record: StepRecord) -> None:
        return None


class Sealing(Protocol):
    """Encryption at rest under the server key (:class:`bot.sealing.Sealer`)."""

    def seal(self, value: dict[str, Any]) -> str: ...

    def unseal(self, token: str) -> dict[str, Any]: ...


class ChatPort(Protocol):
    """What the outbox worker needs from a chat channel to reach someone who is not typing."""

    async def send(self, chat_id: int, reply: Reply) -> int:
        """Send a message; returns its message id so it can be edited later."""
        ...

    async def edit(self, chat_id: int, message_id: int, reply: Reply) -> None:
        """Replace a sent message's text and buttons in place."""
        ...

    async def clear_buttons(self, chat_id: int, message_id: int) -> None:
        """Remove a sent message's buttons (a message already without any is fine)."""
        ...

    async def delete(self, chat_id: int, message_id: int) -> None:
        """Delete a message (e.g. one in which a person typed a password)."""
        ...


@dataclass(frozen=True)
class PaceSlot:
    """One limit a Bot API call counts against: at most one call per ``interval`` seconds
    on ``key``, after a burst of ``burst`` calls (the generic cell rate algorithm)."""

    key: str
    interval: float
    burst: int = 1


class SharedPace(Protocol):
    """Telegram's limits counted across every worker of one bot (the store or Redis), so
    two replicas together keep to what one may send."""

    async def reserve(self, slots: tuple[PaceSlot, ...]) -> float:
        """Take the next free slot on each key; seconds to wait before the call may go (a
        pause set by :meth:`pause` included)."""
        ...

    async def pause(self, key: str, seconds: float) -> None:
        """Telegram said "retry after": no call on ``key`` for ``seconds``, in any worker."""
        ...

    async def aclose(self) -> None: ...


class OutboxDelivery(Protocol):
    """Delivers what the outbox holds now (:class:`bot.notifications.worker.OutboxWorker`);
    the terminal channel runs it after each line, so its replies appear in order."""

    async def deliver_due(self) -> int:
        """Deliver the due rows; returns how many were sent (0: nothing left)."""
        ...


class DeepLinks(Protocol):
    """Links that open a chat with the bot and start it with ``payload`` (an invitation's
    token): Telegram's ``https://t.me/<bot>?start=<payload>`` once the bot's username is
    known (from ``getMe``), else the words to type."""

    def start_link(self, payload: str) -> str: ...

    @property
    def clickable(self) -> bool:
        """Whether :meth:`start_link` is a link to open (and worth a QR code), not words to
        type."""
        ...


class TypedStart:
    """No bot username (the terminal channel, or no Telegram token): ``/start <payload>``,
    to type in the chat."""

    clickable = False

    def start_link(self, payload: str) -> str:
        return f"/start {payload}"


@dataclass(frozen=True)
class TelegramLinks:
    """``https://t.me/<username>?start=<payload>``: Telegram opens the bot's chat and sends
    ``/start <payload>`` when the person presses Start."""

    username: str
    clickable = True

    def start_link(self, payload: str) -> str:
        return f"https://t.me/{self.username}?start={payload}"
