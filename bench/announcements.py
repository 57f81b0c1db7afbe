"""What one urgent notice and one weekly digest cost the store for a large audience (issue 13):
an urgent notice is queued for every recipient in one transaction (all of it or none), and a
digest run queues each recipient's digest page by page. Prints figures; asserts nothing.

    .venv/bin/python -m bench.announcements [--customers 10000] [--notices 5] [--url URL]

The store gets "Groei Wonen" (as ``bench.store_growth`` grows it) with ``--customers``
activated portal accounts, each with a Telegram chat, four in five with an e-mail address and
one in three with a mobile number. It measures: queuing one urgent notice to all customers
(the Confirm's transaction, which queues the first page, and the worker tick's page-sized
transactions for the rest); then ``--notices`` general notices and the digest tick
at Friday 16:00 (seconds, rows) and a second tick of the same week (rows: none). Sending the
rows is the paced sender's work, measured by ``bench.broadcast``. Without ``--url`` a fresh
SQLite file in a temporary folder; give the URL printed by ``scripts/postgres.sh url`` to
measure PostgreSQL (its schema is emptied first).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from bench.desk_throughput import empty_schema
from bench.store_growth import CHUNK, PARTNER_ID, bulk_load, grow
from flows import announcements
from flows.digest import NoticeScheduler
from flows.domain import AnnouncementAudience, Language
from flows.model import Organization
from storage.db import create_engine
from storage.migrate import upgrade
from storage.orm import customers as customers_table
from storage.orm import outbox, portal_chats
from storage.uow import Store

WEDNESDAY = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
FRIDAY_1600 = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)  # 16:00 in Amsterdam (CET)
FIRST_CHAT = 2_000_000_000


@dataclass
class Clock:
    current: datetime

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


async def _fill(url: str, customers: int) -> None:
    """``customers`` activated accounts of Groei Wonen, each with one Telegram chat."""
    await grow(url, customers=customers, handled_updates=0)
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(update(customers_table).values(account_active=True))
            ids = list(
                (await connection.scalars(select(customers_table.c.id).order_by("id"))).all()
            )

        def chats(start: int) -> list[dict[str, Any]]:
            return [
                {
                    "telegram_user_id": FIRST_CHAT + n,
                    "customer_id": ids[n],
                    "member_id": None,
                    "linked_at": WEDNESDAY,
                    "device_name": None,
                    "last_used_at": None,
                }
                for n in range(start, min(start + CHUNK, len(ids)))
            ]

        await bulk_load(engine, portal_chats, chats, len(ids))
    finally:
        await engine.dispose()


async def _rows(store: Store) -> int:
    async with store.transaction() as tx:
        return int(await tx.session.scalar(select(func.count()).select_from(outbox)) or 0)


async def _notice(store: Store, *, urgent: bool, text: str, now: datetime) -> announcements.Sent:
    async with store.transaction() as tx:
        organization = await tx.session.scalar(
            select(Organization).where(Organization.partner_id == PARTNER_ID)
        )
        assert organization is not None
        return await announcements.send(
            tx,
            organization,
            announcements.Audience(AnnouncementAudience.CUSTOMERS, None),
            urgent=urgent,
            text=text,
            now=now,
            sender=announcements.Sender("bench", "bench", default_language=Language.NL),
        )


async def measure(url: str, customers: int, notices: int) -> list[str]:
    await _fill(url, customers)
    store = Store(create_engine(url))
    try:
        started = time.perf_counter()
        sent = await _notice(store, urgent=True, text="Storing: geen warm water.", now=WEDNESDAY)
        confirm = time.perf_counter() - started
        ticking = NoticeScheduler(store, Clock(WEDNESDAY))
        started = time.perf_counter()
        await ticking.queue_urgent()
        rest = time.perf_counter() - started
        rows = await _rows(store)
        pages = -(
            -max(sent.recipients - announcements.FAN_OUT_PAGE, 0) // announcements.FAN_OUT_PAGE
        )
        lines = [
            f"urgent notice to {sent.recipients} customers: {rows} outbox rows; Confirm's "
            f"transaction (the first {announcements.FAN_OUT_PAGE}) {confirm:.2f} s, the rest in "
            f"{pages + 1} transactions of the tick {rest:.2f} s "
            f"({rest / (pages + 1):.2f} s each, {rows / (confirm + rest):,.0f} rows/s)"
        ]
        before = await _rows(store)
        for n in range(notices):
            await _notice(store, urgent=False, text=f"Nieuws {n + 1}.", now=WEDNESDAY)
        scheduler = NoticeScheduler(store, Clock(FRIDAY_1600))
        started = time.perf_counter()
        await scheduler.tick()
        seconds = time.perf_counter() - started
        digests = await _rows(store) - before
        await scheduler.tick()
        again = await _rows(store) - before - digests
        lines.append(
            f"weekly digest of {notices} general notices: {digests} outbox rows queued in "
            f"{seconds:.2f} s ({digests / seconds:,.0f} rows/s); the same week's next tick "
            f"queued {again}"
        )
        return lines
    finally:
        await store.close()


async def main(options: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="balie-bench-announce-") as folder:
        url = options.url or f"sqlite+aiosqlite:///{Path(folder) / 'announce.sqlite3'}"
        if options.url:
            await empty_schema(url)
        await upgrade(url)
        for line in await measure(url, options.customers, options.notices):
            print(line)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--notices", type=int, default=5)
    parser.add_argument("--url", help="a PostgreSQL URL (its schema is emptied)")
    asyncio.run(main(parser.parse_args()))
