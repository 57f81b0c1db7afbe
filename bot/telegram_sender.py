"""The Telegram sender's wiring: the pacer from the settings, and replies kept in the outbox.

The pacing itself is :mod:`handlers.telegram_pacing` (framework-free); each runtime plugs
it into its framework's hook. What cannot be sent now is kept by :class:`OutboxKeeper`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

from bot.settings import Settings
from flows.domain import DeliveryChannel
from flows.events import Reply
from flows.outbox_payload import BUTTONS, ChatAction, action_payload, keyboard_to_payload
from flows.ports import Clock, SharedPace
from handlers.telegram_pacing import Limits, Pacer
from storage.pace import StorePace
from storage.redis_pace import RedisPace
from storage.uow import Store


def limits(settings: Settings) -> Limits:
    return Limits(
        global_per_second=settings.telegram_rate_global,
        chat_per_second=settings.telegram_rate_per_chat,
        chat_burst=settings.telegram_burst_per_chat,
        group_per_minute=settings.telegram_rate_per_group,
        max_wait=settings.telegram_max_wait,
    )


def pacer(
    settings: Settings,
    on_flood: Callable[[], None] = lambda: None,
    shared: SharedPace | None = None,
) -> Pacer:
    """One per bot and process: every Bot API call of a runtime goes through it; with
    ``shared``, it takes its turns together with the bot's other workers."""
    return Pacer(limits(settings), on_flood, shared)


def shared_pace(settings: Settings, store: Store) -> SharedPace | None:
    """Where the bot's workers meet to share Telegram's limits: Redis when
    ``BALIE_REDIS_URL`` is set, else the store on PostgreSQL. On SQLite (one process by
    design) the pacer alone keeps the limits."""
    bot_id = bot_namespace(settings)
    if settings.redis_url is not None:
        return RedisPace(settings.redis_url.get_secret_value(), bot_id)
    if store.engine.dialect.name == "postgresql":
        return StorePace(store.engine, bot_id)
    return None


def bot_namespace(settings: Settings) -> str:
    """The bot's numeric id (the token's part before the colon): two bots on one store or
    Redis keep their limits apart; never the secret part."""
    token = settings.telegram_token.get_secret_value() if settings.telegram_token else ""
    return token.split(":", 1)[0] if ":" in token else ""


class OutboxKeeper:
    """A :class:`ReplyKeeper` that puts replies into the store's outbox (channel TELEGRAM),
    which the outbox worker delivers in order once Telegram allows it.

    A later reply never overtakes kept ones: it goes behind them while the outbox holds a
    pending Telegram row for its chat. A process that is the bot's only sender knows which
    chats those are (the chats it kept rows for, and at start those with rows left from
    before, see :meth:`load`), so a reply to any other chat costs nothing; with workers that
    share the bot (``shared``), any of them may have kept rows, so every reply asks the
    outbox (one query on an index).
    """

    def __init__(
        self, store: Store, clock: Clock, on_kept: Callable[[], None], *, shared: bool = False
    ) -> None:
        self._store = store
        self._clock = clock
        self._on_kept = on_kept
        self._shared = shared
        self._chats: set[int] = set()

    async def load(self) -> None:
        """Remember the chats that still have Telegram rows waiting (kept before a restart)."""
        async with self._store.transaction() as tx:
            waiting = await tx.outbox.recipients_waiting(DeliveryChannel.TELEGRAM)
        self._chats = {int(chat) for chat in waiting if chat.lstrip("-").isdigit()}

    async def holding(self, chat_id: int) -> bool:
        if not self._shared and chat_id not in self._chats:
            return False
        async with self._store.transaction() as tx:
            waiting = await tx.outbox.waiting_for(DeliveryChannel.TELEGRAM, str(chat_id))
        if not waiting:
            self._chats.discard(chat_id)
        return waiting

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

    async def keep_action(
        self, chat_id: int, action: ChatAction, message_id: int, retry_after: float | None
    ) -> None:
        now = self._clock.now()
        async with self._store.transaction() as tx:
            row = await tx.outbox.add(
                DeliveryChannel.TELEGRAM,
                str(chat_id),
                "",
                now,
                payload=action_payload(action, message_id),
            )
            row.next_attempt_at = now + timedelta(seconds=retry_after or 0)
        self._chats.add(chat_id)
        self._on_kept()
