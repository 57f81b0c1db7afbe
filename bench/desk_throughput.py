"""How many chat events per second one desk process handles, and how fast the outbox drains.

Runs whole registrations (partner ID, address, code, name) for many people at once through
the real Desk on a real store, then delivers the outbox to the local sink. Prints figures;
asserts nothing.

    .venv/bin/python bench/desk_throughput.py [--people 200] [--concurrency 20] [--url URL]

Without --url it uses a fresh SQLite file in a temporary folder; give the URL printed by
`scripts/postgres.sh url` to measure PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from bot.notifications.sink import LocalSink
from bot.notifications.worker import OutboxWorker
from bot.sealing import outbox_sealer
from flows import accounts
from flows.desk import Desk
from flows.domain import Role
from flows.events import Event, Sender
from flows.keys import KeyedHasher
from flows.model import OutboxMessage
from flows.ports import SystemClock
from flows.turn import DeskPolicy
from storage.db import create_engine
from storage.migrate import upgrade
from storage.uow import Store, Transaction

CODE = re.compile(r"\b(\d{6})\b")
PARTNER_ID = "BENCH-1"


async def _seed(store: Store, clock: SystemClock) -> None:
    """One organization with two managers, who each get every request card."""
    now = clock.now()
    async with store.transaction() as tx:
        await accounts.add_organization(tx, "Bench Wonen", PARTNER_ID, now)
        await add_managers(tx, PARTNER_ID, "bench.example", now)


async def add_managers(tx: Transaction, partner_id: str, domain: str, now: datetime) -> None:
    """Two managers of ``partner_id`` with chats (900 + n), who get every request card."""
    for number in (1, 2):
        await accounts.add_staff(
            tx,
            partner_id=partner_id,
            name=f"Manager {number}",
            role=Role.MANAGER,
            email=f"manager{number}@{domain}",
            phone=None,
            telegram_id=900 + number,
            now=now,
        )


async def empty_schema(url: str) -> None:
    """Start from an empty schema on the given PostgreSQL server."""
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        await connection.exec_driver_sql("CREATE SCHEMA public")
    await engine.dispose()


async def _code_for(store: Store, address: str) -> str:
    async with store.transaction() as tx:
        body = (
            await tx.session.scalars(
                select(OutboxMessage.body)
                .where(OutboxMessage.recipient == address)
                .order_by(OutboxMessage.id.desc())
            )
        ).first()
    assert body is not None
    match = CODE.search(store.opened(body))  # the code's mail is sealed in the store
    assert match
    return match.group(1)


async def _register(desk: Desk, store: Store, user: int, latencies: list[float]) -> None:
    sender = Sender(user, f"Person {user}", "en")
    address = f"person{user}@bench.example"

    async def say(text: str) -> None:
        started = time.perf_counter()
        await desk.handle(Event.from_text(user, sender, text))
        latencies.append(time.perf_counter() - started)

    await say("/register")
    await say(PARTNER_ID)
    await say(address)
    await say(await _code_for(store, address))
    await say(f"Person {user}")


async def main(people: int, concurrency: int, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        database_url = url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}"
        if url:
            await empty_schema(url)
        await upgrade(database_url)
        hasher = KeyedHasher.ephemeral()
        store = Store(create_engine(database_url), sealer=outbox_sealer(hasher))
        clock = SystemClock()
        await _seed(store, clock)
        desk = Desk(store, DeskPolicy(), clock, hasher)

        latencies: list[float] = []
        gate = asyncio.Semaphore(concurrency)

        async def one(user: int) -> None:
            async with gate:
                await _register(desk, store, user, latencies)

        started = time.perf_counter()
        await asyncio.gather(*(one(100_000 + n) for n in range(people)))
        elapsed = time.perf_counter() - started

        sink = LocalSink(Path(folder) / "sink.jsonl")
        worker = OutboxWorker(
            store, email=sink.email, sms=sink.sms, chat=None, clock=clock, batch=100
        )
        drain_started = time.perf_counter()
        delivered = 0
        while sent := await worker.deliver_due():
            delivered += sent
        drained = time.perf_counter() - drain_started
        await store.close()

    backend = "PostgreSQL" if url else "SQLite"
    latencies.sort()
    print(f"store: {backend}; {people} registrations, {concurrency} at a time")
    print(f"events: {len(latencies)} in {elapsed:.2f} s = {len(latencies) / elapsed:.0f} events/s")
    print(
        f"latency per event: median {statistics.median(latencies) * 1000:.1f} ms, "
        f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.1f} ms, "
        f"max {latencies[-1] * 1000:.1f} ms"
    )
    print(
        f"outbox: {delivered} e-mails delivered to the local sink in {drained:.2f} s "
        f"= {delivered / drained:.0f} messages/s"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--url", help="a postgresql+asyncpg:// URL (default: a SQLite file)")
    options = parser.parse_args()
    asyncio.run(main(options.people, options.concurrency, options.url))
