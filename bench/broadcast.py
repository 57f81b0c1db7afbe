"""One notice to many chats through the paced sender, against a Bot API server that enforces
Telegram's limits; prints how long it took and the figures (the floor is chats / rate).

The notices are outbox rows (channel TELEGRAM), as an announcement or cards to many staff
are; ``balie run``'s runtime (aiogram or python-telegram-bot) delivers them through its
outbox worker and the pacer, and the local Bot API server answers 429 to any call over 30 a
second for the bot or over the per-chat limit. It asserts nothing.

    .venv/bin/python -m bench.broadcast [--chats 1000] [--rate 30] [--runtime aiogram|ptb]
        [--workers 2 --database-url postgresql+asyncpg://... [--redis-url redis://...]]

With ``--workers N`` (on PostgreSQL: SQLite is one process by design) N runtimes share the
store's outbox and Telegram's limits (through the store, or Redis with ``--redis-url``), as
replicas of one bot would.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.settings import Runtime, Settings
from flows.domain import DeliveryChannel
from storage.db import create_engine
from storage.migrate import upgrade
from storage.uow import Store
from tests.conformance.harness import run_runtime
from tests.fakes.bot_api import TEST_TOKEN, FakeBotApi, FloodLimits

NOTICE = "The desk is closed on Friday 27 December."
BENCH_KEY = "bench-only-secret-key-0123456789abcdef"
"""A server key for a throwaway store (PostgreSQL refuses to start without one)."""
FIRST_CHAT = 100_000


@dataclass(frozen=True)
class Figures:
    chats: int
    delivered: int
    duplicates: int
    floods: int
    """429 answers the Bot API server gave."""
    retried: int
    seconds: float
    """From the first notice's arrival to the last's."""

    def line(self) -> str:
        return (
            f"broadcast to {self.chats} chats: delivered {self.delivered}, "
            f"429s {self.floods}, retried {self.retried}, duplicates {self.duplicates}, "
            f"{self.seconds:.1f} s"
        )


async def broadcast(
    chats: int,
    rate: float,
    runtime: Runtime = Runtime.AIOGRAM,
    workdir: Path | None = None,
    *,
    workers: int = 1,
    database_url: str | None = None,
    redis_url: str | None = None,
) -> Figures:
    """Queue one notice for each of ``chats`` chats, run ``workers`` runtimes on the store
    (a SQLite file unless ``database_url``) until all arrived."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = workdir or Path(scratch)
        url = database_url or f"sqlite+aiosqlite:///{folder / 'broadcast.sqlite3'}"
        await upgrade(url)
        await _queue_notices(url, chats)
        limits = FloodLimits(per_second=int(rate), chat_per_second=1.0, chat_burst=1)
        async with FakeBotApi(token=TEST_TOKEN, max_poll_wait=0.2, limits=limits) as tg:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                database_url=url,
                secret_key=BENCH_KEY,
                redis_url=redis_url,
                telegram_token=TEST_TOKEN,
                telegram_api_url=tg.base_url,
                runtime=runtime,
                telegram_rate_global=rate,
                outbox_poll_seconds=0.05,
            )
            stop = asyncio.Event()
            tasks = [
                asyncio.create_task(run_runtime(runtime, settings, stop)) for _ in range(workers)
            ]
            try:
                await tg.wait_until(lambda: _delivered(tg) >= chats, timeout=chats / rate * 3 + 30)
            finally:
                stop.set()
                await asyncio.wait_for(asyncio.gather(*tasks), 30)
            return _figures(tg, chats)


async def _queue_notices(url: str, chats: int) -> None:
    store = Store(create_engine(url))
    try:
        async with store.transaction() as tx:
            now = datetime.now(UTC)
            for index in range(chats):
                await tx.outbox.add(DeliveryChannel.TELEGRAM, str(FIRST_CHAT + index), NOTICE, now)
    finally:
        await store.close()


def _delivered(tg: FakeBotApi) -> int:
    return sum(1 for records in tg.messages.values() for m in records if m.text == NOTICE)


def _figures(tg: FakeBotApi, chats: int) -> Figures:
    per_chat = Counter(
        chat_id for chat_id, records in tg.messages.items() for m in records if m.text == NOTICE
    )
    sends = [p for method, p in tg.calls if method.lower() == "sendmessage"]
    return Figures(
        chats=chats,
        delivered=sum(per_chat.values()),
        duplicates=sum(count - 1 for count in per_chat.values() if count > 1),
        floods=len(tg.floods),
        retried=len(sends) - sum(per_chat.values()),
        seconds=(tg.sent_at[-1] - tg.sent_at[0]) if tg.sent_at else 0.0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=30.0, help="BALIE_TELEGRAM_RATE_GLOBAL")
    parser.add_argument("--runtime", choices=[r.value for r in Runtime], default="aiogram")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database-url", help="an empty PostgreSQL database for --workers")
    parser.add_argument("--redis-url", help="share the limits through Redis, not the store")
    args = parser.parse_args()
    if args.workers > 1 and not args.database_url:
        parser.error("--workers needs --database-url (PostgreSQL)")
    started = time.monotonic()
    figures = asyncio.run(
        broadcast(
            args.chats,
            args.rate,
            Runtime(args.runtime),
            workers=args.workers,
            database_url=args.database_url,
            redis_url=args.redis_url,
        )
    )
    print(figures.line())
    print(
        f"floor {args.chats / args.rate:.1f} s ({args.chats} / {args.rate:g} a second); "
        f"whole run with start and stop {time.monotonic() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
