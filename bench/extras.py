"""The figures below the table: a grown store, a worker's memory, a paced broadcast, what an
urgent notice and a digest cost the store."""

from __future__ import annotations

import asyncio
import importlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import processes
from bench.botapi import BotApi
from bench.mail import Mailbox
from bench.processes import BotSpec
from bench.rows import ROWS, Options, Result, measure
from bench.seed import Databases, Pools
from bench.users import contains

GROWN_CUSTOMERS = 1_000_000
GROWN_UPDATES = 1_000_000
SMALL = Pools(activation=500, reset=500)
"""The 1,000 customers of the baseline store."""


@dataclass(frozen=True)
class Line:
    """One extra figure: its text, and its values for the JSON."""

    text: str
    values: dict[str, Any]


def _latencies(result: Result) -> str:
    shown = [result.percentile(q) for q in (0.5, 0.95, 0.99)]
    return "/".join("-" if s is None else f"{s * 1000:.1f}" for s in shown) + " ms"


async def growth(options: Options, level: int = 10) -> Line:
    """Step latency at ``level`` users on SQLite with 1,000 customers, then with 1,000,000
    customers and 1,000,000 handled update ids (bench/store_growth.py adds them)."""
    try:
        store_growth = importlib.import_module("bench.store_growth")
    except ImportError:
        return Line("Store growth: n/a (bench/store_growth.py missing)", {})
    row = next(r for r in ROWS if r.key == "sqlite")
    databases = Databases(options.folder / "growth")
    (options.folder / "growth").mkdir(exist_ok=True)
    await databases.make_template(SMALL)
    small = await measure(row, level, options, databases, SMALL)
    url = await databases.fresh()
    started = time.monotonic()
    await store_growth.grow(url, customers=GROWN_CUSTOMERS, handled_updates=GROWN_UPDATES)
    grew = time.monotonic() - started
    try:
        grown = await measure(row, level, options, databases, SMALL, database_url=url)
    finally:
        await databases.drop(url)
    small_p50, grown_p50 = small.percentile(0.5), grown.percentile(0.5)
    ratio = grown_p50 / small_p50 if small_p50 and grown_p50 else None
    shown = "-" if ratio is None else f"{ratio:.2f}"
    text = (
        f"Store growth ({level} users, SQLite, p50/p95/p99): 1,000 customers {_latencies(small)}; "
        f"1,000,000 customers and 1,000,000 handled updates {_latencies(grown)}; "
        f"p50 ratio {shown} (target <= 1.3); errors {small.errors}+{grown.errors}; "
        f"growing took {grew:.0f} s"
    )
    values = {
        "small": [small.percentile(q) for q in (0.5, 0.95, 0.99)],
        "grown": [grown.percentile(q) for q in (0.5, 0.95, 0.99)],
        "p50_ratio": ratio,
        "errors": small.errors + grown.errors,
    }
    return Line(text, values)


async def open_conversations(options: Options, conversations: int, at_once: int = 100) -> Line:
    """Peak RSS of one Balie worker (SQLite, aiogram polling) after ``conversations`` people
    each sent /start and pressed Register, and stopped there."""
    databases = Databases(options.folder)
    await databases.make_template(SMALL)
    url = await databases.fresh()
    api = await BotApi().start(connections=at_once + 10)
    mail = await Mailbox().start()
    running = await processes.start(BotSpec("balie"), api.base_url, url, mail.port, options.folder)
    failed = 0
    try:
        await processes.wait_for(api.polled, running)
        gate = asyncio.Semaphore(at_once)
        first = 30_000_000

        async def person(user: int) -> None:
            nonlocal failed
            async with gate:
                try:
                    menu, _ = await api.step(
                        user, api.text_update(user, "/start"), contains("Welcome")
                    )
                    await api.step(
                        user, api.press_update(user, menu, "Register"), contains("Step 1")
                    )
                except Exception:
                    failed += 1

        started = time.monotonic()
        await asyncio.gather(*(person(first + n) for n in range(conversations)))
        took = time.monotonic() - started
        peak = processes.peak_rss_mib(running.pids[0])
    finally:
        await processes.stop(running)
        await mail.stop()
        await api.stop()
        await databases.drop(url)
    shown = "-" if peak is None else f"{peak:.0f} MiB"
    text = (
        f"Peak RSS of one worker (VmHWM) with {conversations:,} open conversations: {shown} "
        f"(target < 300 MiB); opened in {took:.0f} s, {failed} failed"
    )
    return Line(text, {"conversations": conversations, "peak_mib": peak, "failed": failed})


async def announce_lines(folder: Path, customers: int) -> list[Line]:
    """An urgent notice and a weekly digest to ``customers`` portal accounts (SQLite)."""
    from bench.announcements import measure
    from storage.migrate import upgrade

    url = f"sqlite+aiosqlite:///{folder / 'announce.sqlite3'}"
    await upgrade(url)
    return [Line(text, {}) for text in await measure(url, customers, notices=5)]


async def broadcast_line(folder: Path, chats: int = 10_000, rate: float = 30.0) -> Line:
    """One notice to ``chats`` chats through the paced sender at Telegram's rate."""
    from bench.broadcast import broadcast

    figures = await broadcast(chats, rate, workdir=folder)
    floor = chats / rate
    text = (
        f"Broadcast of one notice to {chats:,} chats at {rate:g}/s: {figures.seconds:.0f} s, "
        f"{figures.seconds / floor:.2f} x the {floor:.0f} s floor "
        f"(delivered {figures.delivered}, 429s {figures.floods}, duplicates {figures.duplicates})"
    )
    values = {"seconds": figures.seconds, "floor": floor, "delivered": figures.delivered}
    return Line(text, values)
