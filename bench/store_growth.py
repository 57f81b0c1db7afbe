"""Whether a conversation step costs the same in a small store as in a large one.

:func:`grow` fills a migrated store in bulk with an organization of its own, its customers
and handled update ids. The command measures the in-process Desk step (as
``bench/desk_throughput.py`` drives it: customers asking for an activation code, employees
registering, one step at a time) on a store with ``--small`` customers and one with
``--large``, each with as many handled update ids, and prints p50/p95/p99 per size, their
ratio (target: within 1.3x) and the SQL statements per step. Prints figures; asserts nothing.

    .venv/bin/python -m bench.store_growth [--small 1000] [--large 1000000] [--steps 300]

Without --url each size gets a fresh SQLite file in a temporary folder; give the URL printed
by `scripts/postgres.sh url` to measure PostgreSQL (its schema is emptied for each size).
The desk's steady answer time for secret steps is switched off: the step's own cost is
measured, not the wait that hides it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import itertools
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, func, insert, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.desk_throughput import add_managers, empty_schema
from bot.sealing import outbox_sealer
from flows.buttons import Menu, MenuChoice, encode
from flows.desk import Desk
from flows.events import Event, EventKind, Sender
from flows.keys import KeyedHasher
from flows.model import OutboxMessage
from flows.ports import SystemClock
from flows.turn import DeskPolicy
from storage.db import create_engine
from storage.migrate import upgrade
from storage.orm import (
    UTCDateTime,
    activation_requests,
    organizations,
    registration_requests,
)
from storage.orm import customers as customers_table
from storage.orm import handled_updates as handled_updates_table
from storage.uow import Store

PARTNER_ID = "GROEI-1"
NAME = "Groei Wonen"
CHUNK = 10_000
FIRST_UPDATE_ID = 10**12
CODE = re.compile(r"\b(\d{6})\b")
STREETS = ("Dorpsstraat", "Kerkweg", "Molenlaan", "Stationsplein", "Havenkade", "Lindelaan")
CITIES = ("Utrecht", "Zeist", "Amersfoort", "Houten", "Nieuwegein", "Bunnik")


def customer_number(n: int) -> str:
    """The ``n``-th customer's number: nine digits, as a housing corporation's system has."""
    return f"{700_000_000 + n:09d}"


def address(n: int) -> tuple[str, str]:
    """The ``n``-th customer's postcode ("3511 AB") and house number ("12", "12a"), distinct
    for every ``n`` below 6,760,000 (ten thousand postcodes with 676 letter pairs)."""
    digits, rest = 1000 + n % 9000, n // 9000
    letters = chr(65 + rest % 26) + chr(65 + (rest // 26) % 26)
    number = 1 + (rest // 676) % 300
    suffix = "" if n % 7 else "a"
    return f"{digits} {letters}", f"{number}{suffix}"


def _customer_rows(organization_id: int, first: int, count: int, now: Any) -> Iterator[dict]:
    for n in range(first, first + count):
        postcode, house_number = address(n)
        yield {
            "organization_id": organization_id,
            "customer_number": customer_number(n),
            "name": f"Huurder {n}",
            "email": f"huurder{n}@groei.example" if n % 5 else None,
            "phone": f"+316{10_000_000 + n % 90_000_000:08d}" if n % 3 == 0 else None,
            "street": STREETS[n % len(STREETS)],
            "house_number": house_number,
            "postcode": postcode,
            "city": CITIES[n % len(CITIES)],
            "is_tenant": True,
            "institution_coresident": False,
            "payment_arrangement": False,
            "under_administration": False,
            "blocked": False,
            "account_active": n % 4 == 0,
            "created_at": now,
            "updated_at": now,
        }


class _Bulk:
    """One Core ``INSERT`` into ``table``, compiled once and run with the driver's
    executemany: SQLAlchemy's per-row, per-column parameter processing would cost more than
    SQLite's own work. Values of a time column go through the column's type (cached: the
    rows share a few moments), the others need none."""

    def __init__(self, dialect: Dialect, table: Table, columns: list[str]) -> None:
        compiled = insert(table).compile(dialect=dialect, column_keys=columns)
        self.sql = str(compiled)
        self.order = list(compiled.positiontup or [])
        self._processors: dict[str, Any] = {}
        for name in columns:
            column_type = table.c[name].type
            if isinstance(column_type, UTCDateTime):
                self._processors[name] = functools.cache(
                    column_type._cached_bind_processor(dialect) or (lambda value: value)
                )

    def values(self, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        processors, order = self._processors, self.order
        return [
            tuple(
                processors[name](row[name]) if name in processors else row[name] for name in order
            )
            for row in rows
        ]


async def bulk_load(
    engine: AsyncEngine, table: Table, build: Callable[[int], list[dict[str, Any]]], total: int
) -> None:
    """The rows ``build(start)`` for each chunk's start below ``total``, one transaction per
    chunk."""
    if total <= 0:
        return
    bulk = _Bulk(engine.dialect, table, list(build(0)[0]))
    for start in range(0, total, CHUNK):
        chunk = bulk.values(build(start))
        async with engine.begin() as connection:
            await connection.exec_driver_sql(bulk.sql, chunk)


def _roomy_cache(connection: Any, _: Any) -> None:
    """A page cache of 256 MiB for the load: the indexes' pages stay in memory while their
    rows go in (SQLite's default of 2 MiB would read and write each page many times)."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA cache_size=-262144")
    cursor.close()


async def grow(database_url: str, *, customers: int, handled_updates: int) -> None:
    """Add "Groei Wonen" (partner ID ``GROEI-1``) with ``customers`` customers, and
    ``handled_updates`` handled update ids (from 10**12 up, handled over the last day, no
    outcome), to the migrated store at ``database_url``; in bulk, one transaction per
    10,000 rows. Called again on the same store, it adds more after the ones there."""
    clock = SystemClock()
    now = clock.now()
    engine = create_engine(database_url)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _roomy_cache)
    try:
        async with engine.begin() as connection:
            organization_id = await connection.scalar(
                select(organizations.c.id).where(organizations.c.partner_id == PARTNER_ID)
            )
            if organization_id is None:
                organization_id = await connection.scalar(
                    insert(organizations)
                    .values(name=NAME, partner_id=PARTNER_ID, last_request_number=0, created_at=now)
                    .returning(organizations.c.id)
                )
            first_customer = await connection.scalar(
                select(func.count())
                .select_from(customers_table)
                .where(customers_table.c.organization_id == organization_id)
            )
            first_update = await connection.scalar(
                select(func.count())
                .select_from(handled_updates_table)
                .where(handled_updates_table.c.update_id >= FIRST_UPDATE_ID)
            )

        def customer_chunk(start: int) -> list[dict[str, Any]]:
            count = min(CHUNK, customers - start)
            return list(_customer_rows(organization_id, first_customer + start, count, now))

        day = int(timedelta(days=1).total_seconds())

        def update_chunk(start: int) -> list[dict[str, Any]]:
            return [
                {
                    "update_id": FIRST_UPDATE_ID + first_update + n,
                    # to the second: spread over the last day, oldest first
                    "handled_at": now - timedelta(seconds=day - day * n // handled_updates),
                }
                for n in range(start, min(start + CHUNK, handled_updates))
            ]

        await bulk_load(engine, customers_table, customer_chunk, customers)
        await bulk_load(engine, handled_updates_table, update_chunk, handled_updates)
    finally:
        await engine.dispose()


@dataclasses.dataclass
class Measured:
    """One size's step latencies (seconds) and SQL statements."""

    size: int
    grow_seconds: float
    latencies: list[float] = dataclasses.field(default_factory=list)
    statements: int = 0
    made: tuple[int, int] = (0, 0)

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


class _Steps:
    """Drives the desk one step at a time, timing each and counting its statements."""

    def __init__(self, desk: Desk, store: Store, measured: Measured) -> None:
        self.desk, self.store, self.measured = desk, store, measured
        self.counting = False
        self.update_id = 1
        event.listen(store.engine.sync_engine, "before_cursor_execute", self._count)

    def _count(self, *_: Any) -> None:
        if self.counting:
            self.measured.statements += 1

    async def step(self, event_: Event) -> None:
        # Update ids as Telegram gives them: every step is de-duplicated against the store.
        event_ = dataclasses.replace(event_, update_id=self.update_id)
        self.update_id += 1
        self.counting = True
        started = time.perf_counter()
        try:
            await self.desk.handle(event_)
        finally:
            self.measured.latencies.append(time.perf_counter() - started)
            self.counting = False

    async def say(self, user: int, text: str) -> None:
        await self.step(Event.from_text(user, Sender(user, f"Persoon {user}", "nl"), text))

    async def press(self, user: int, choice: MenuChoice) -> None:
        sender = Sender(user, f"Persoon {user}", "nl")
        await self.step(Event(user, sender, EventKind.BUTTON, button_data=encode(Menu(choice))))

    async def activation_request(self, user: int, n: int) -> None:
        """A customer asks for an activation code (seven steps); the code goes by e-mail."""
        postcode, house_number = address(n)
        await self.say(user, "/start")
        await self.press(user, MenuChoice.ACTIVATION_CODE)
        await self.press(user, MenuChoice.REQUEST_CODE)
        await self.say(user, customer_number(n))
        await self.say(user, postcode.replace(" ", "").lower())
        await self.say(user, house_number.upper())
        await self.press(user, MenuChoice.SKIP)

    async def registration(self, user: int) -> None:
        """An employee registers (five steps); the request goes to the two managers."""
        address_ = f"medewerker{user}@groei.example"
        await self.say(user, "/register")
        await self.say(user, PARTNER_ID)
        await self.say(user, address_)
        await self.say(user, await self._code_for(address_))
        await self.say(user, f"Medewerker {user}")

    async def _code_for(self, address_: str) -> str:
        async with self.store.transaction() as tx:
            body = (
                await tx.session.scalars(
                    select(OutboxMessage.body)
                    .where(OutboxMessage.recipient == address_)
                    .order_by(OutboxMessage.id.desc())
                )
            ).first()
        assert body is not None
        match = CODE.search(self.store.opened(body))
        assert match
        return match.group(1)


async def _fresh(url: str | None, folder: Path, name: str) -> str:
    """An empty, migrated store (a SQLite file ``name`` in ``folder`` without ``url``)."""
    if url is None:
        database_url = f"sqlite+aiosqlite:///{folder / name}.sqlite3"
    else:
        database_url = url
        await empty_schema(url)
    await upgrade(database_url)
    return database_url


async def _prepared(url: str | None, folder: Path, size: int, index: int) -> _Steps:
    """A grown store of ``size`` with two managers, and a desk on it."""
    database_url = await _fresh(url, folder, f"growth-{index}-{size}")
    started = time.perf_counter()
    await grow(database_url, customers=size, handled_updates=size)
    measured = Measured(size, time.perf_counter() - started)
    hasher = KeyedHasher.ephemeral()
    store = Store(create_engine(database_url), sealer=outbox_sealer(hasher))
    clock = SystemClock()
    async with store.transaction() as tx:
        await add_managers(tx, PARTNER_ID, "groei.example", clock.now())
    desk = Desk(store, DeskPolicy(steady_answer=timedelta(0)), clock, hasher)
    return _Steps(desk, store, measured)


async def _made(store: Store) -> tuple[int, int]:
    """How many activation and registration requests the steps made (they really ran)."""
    async with store.engine.connect() as connection:
        activations = await connection.scalar(select(func.count()).select_from(activation_requests))
        registrations = await connection.scalar(
            select(func.count()).select_from(registration_requests)
        )
    return int(activations or 0), int(registrations or 0)


async def measure(
    url: str | None, folder: Path, sizes: tuple[int, ...], steps: int
) -> list[Measured]:
    """The sizes' steps, one round (an activation request and a registration) on each store
    in turn: a machine that gets busier or quieter meanwhile weighs on every size alike.
    (PostgreSQL: one store at a time, the server's schema being emptied for each.)"""
    if url is not None:
        return [
            (await _run([await _prepared(url, folder, size, index)], steps))[0]
            for index, size in enumerate(sizes)
        ]
    drivers = [await _prepared(url, folder, size, index) for index, size in enumerate(sizes)]
    return await _run(drivers, steps)


async def _run(drivers: list[_Steps], steps: int) -> list[Measured]:
    chosen = random.Random(0)
    user = 100_000
    for round_ in itertools.count():
        if all(len(d.measured.latencies) >= steps for d in drivers):
            break
        for driver in drivers:
            user += 2
            await driver.activation_request(user, chosen.randrange(driver.measured.size))
            await driver.registration(user + 1)
            if round_ == 0:  # the first round fills the caches: not measured
                driver.measured.latencies.clear()
                driver.measured.statements = 0
    for driver in drivers:
        driver.measured.made = await _made(driver.store)
        await driver.store.close()
    return [driver.measured for driver in drivers]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


async def main(small: int, large: int, steps: int, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        results = await measure(url, Path(folder), (small, large), steps)
    backend = "PostgreSQL" if url else "SQLite"
    print(f"store: {backend}; in-process Desk steps (activation request + registration)")
    print(
        f"{'customers':>10} {'update ids':>10} {'grow s':>7} {'steps':>5} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'mean ms':>7} {'SQL/step':>8}"
    )
    for m in results:
        print(
            f"{m.size:>10,} {m.size:>10,} {m.grow_seconds:>7.1f} {len(m.latencies):>5} "
            f"{_ms(m.percentile(0.50)):>7} {_ms(m.percentile(0.95)):>7} "
            f"{_ms(m.percentile(0.99)):>7} {_ms(statistics.fmean(m.latencies)):>7} "
            f"{m.statements / len(m.latencies):>8.1f}"
        )
    for m in results:
        print(f"{m.size:>10,}: {m.made[0]} activation requests, {m.made[1]} registration requests")
    first, last = results
    ratios = ", ".join(
        f"{name} {last.percentile(q) / first.percentile(q):.2f}x"
        for name, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
    )
    print(f"large / small: {ratios} (target: within 1.3x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--url", help="a postgresql+asyncpg:// URL (default: SQLite files)")
    options = parser.parse_args()
    asyncio.run(main(options.small, options.large, options.steps, options.url))
