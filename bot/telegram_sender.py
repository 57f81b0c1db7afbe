"""The Telegram sender's wiring: the pacer from the settings, and replies kept in the outbox.

The pacing itself is :mod:`handlers.telegram_pacing` (framework-free); each runtime plugs
it into its framework's hook. What cannot be sent now is kept by :class:`OutboxKeeper`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy import select

from bot.settings import Settings
from flows.domain import DeliveryChannel, OutboxStatus
from flows.events import Reply
from flows.outbox_payload import BUTTONS, keyboard_to_payload
from flows.ports import Clock
from handlers.telegram_pacing import Limits, Pacer
from storage.orm import outbox
from storage.uow import Store


def limits(settings: Settings) -> Limits:
    return Limits(
        global_per_second=settings.telegram_rate_global,
        chat_per_second=settings.telegram_rate_per_chat,
        chat_burst=settings.telegram_burst_per_chat,
        group_per_minute=settings.telegram_rate_per_group,
        max_wait=settings.telegram_max_wait,
    )


def pacer(settings: Settings, on_flood: Callable[[], None] = lambda: None) -> Pacer:
    """One per bot: every Bot API call of a runtime goes through it."""
    return Pacer(limits(settings), on_flood)


class OutboxKeeper:
    """A :class:`ReplyKeeper` that puts replies into the store's outbox (channel TELEGRAM),
    which the outbox worker delivers in order once Telegram allows it.

    A chat whose replies were kept is remembered (in this process) until the outbox holds
    no pending Telegram row for it any more, so a later reply cannot overtake them; only
    chats so remembered cost a look into the store.
    """

    def __init__(self, store: Store, clock: Clock, on_kept: Callable[[], None]) -> None:
        self._store = store
        self._clock = clock
        self._on_kept = on_kept
        self._chats: set[int] = set()

    async def holding(self, chat_id: int) -> bool:
        if chat_id not in self._chats:
            return False
        async with self._store.transaction() as tx:
            waiting = await tx.session.scalar(
                select(outbox.c.id)
                .where(
                    outbox.c.channel == DeliveryChannel.TELEGRAM,
                    outbox.c.recipient == str(chat_id),
                    outbox.c.status == OutboxStatus.PENDING,
                )
                .limit(1)
            )
        if waiting is None:
            self._chats.discard(chat_id)
            return False
        return True

    async def keep(self, chat_id: int, replies: Sequence[Reply], retry_after: float | None) -> None:
        now = self._clock.now()
        due = now + timedelta(seconds=retry_after or 0)
        async with self._store.transaction() as tx:
            for reply in replies:
                row = await tx.outbox.add(
                    DeliveryChannel.TELEGRAM,
                    str(chat_id),
                    reply.text,
                    now,
                    payload={BUTTONS: keyboard_to_payload(reply.buttons)},
                    sensitive=True,  # a reply may quote what the person typed: redact once sent
                )
                row.next_attempt_at = due
        self._chats.add(chat_id)
        self._on_kept()
