"""The table's rows, and measuring one row at one level of concurrent users.

Each level gets a fresh store (a copy of the seeded template), a fresh Bot API server and
SMTP server, and fresh bot process(es); the users warm up, then the window is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import processes
from bench.botapi import BotApi
from bench.mail import Mailbox
from bench.processes import BotSpec
from bench.seed import Databases, Pools
from bench.users import MIX, Identities, Record, Scenario, echo, run_user


@dataclass(frozen=True)
class Row:
    key: str
    """Short name for ``--only``."""
    name: str
    spec: BotSpec
    levels: tuple[int, ...]
    postgres: bool = False
    floor: str | None = None
    """The key of the echo row this row's ratio is taken against."""

    @property
    def scenarios(self) -> tuple[Scenario, ...]:
        return (echo,) if self.spec.kind == "echo" else MIX


ALL_LEVELS = (1, 10, 100, 1000)


def _pg(workers: int, levels: tuple[int, ...]) -> Row:
    return Row(
        f"pg{workers}",
        f"Balie aiogram PostgreSQL webhook {workers} worker{'s' if workers > 1 else ''}",
        BotSpec("balie", webhook=True, workers=workers),
        levels,
        postgres=True,
        floor="echo-webhook",
    )


ROWS: tuple[Row, ...] = (
    Row("echo-polling", "echo aiogram polling", BotSpec("echo"), ALL_LEVELS),
    Row(
        "sqlite",
        "Balie aiogram SQLite polling",
        BotSpec("balie"),
        ALL_LEVELS,
        floor="echo-polling",
    ),
    Row(
        "ptb",
        "Balie PTB SQLite polling",
        BotSpec("balie", runtime="ptb"),
        (1, 10, 100),
        floor="echo-polling",
    ),
    Row(
        "defaults",
        "Balie aiogram SQLite polling, defaults (pacing and steady answer on)",
        BotSpec("balie", pacing=True),
        (10, 100),
        floor="echo-polling",
    ),
    Row("echo-webhook", "echo aiogram webhook", BotSpec("echo", webhook=True), ALL_LEVELS),
    _pg(1, ALL_LEVELS),
    _pg(2, (100,)),
    _pg(3, (100,)),
    _pg(4, ALL_LEVELS),
)


@dataclass
class Options:
    levels: tuple[int, ...]
    seconds: float
    warmup: float
    quick: bool
    postgres_url: str | None
    folder: Path


@dataclass
class Result:
    """One row at one level."""

    row: str
    key: str
    level: int
    steps: int
    seconds: float
    errors: int
    latencies: list[float] = field(repr=False)
    bot_cpu: float
    """Share of one core the bot process(es) used during the window (1.0 = one core)."""
    harness_cpu: float
    scenarios: int = 0
    """Scenarios completed (from the warm-up on)."""
    exhausted: bool = False
    error_samples: list[str] = field(default_factory=list)

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def pools_for(levels: tuple[int, ...], seconds: float, warmup: float) -> Pools:
    """Enough fresh customers for the longest level: at most ~1,000 steps/s, a scenario
    of the mix takes at least 4, each user holds one more, plus some slack."""
    per_kind = int(400 * (seconds + warmup) / 3) + 2 * max(levels) + 500
    return Pools(activation=per_kind, reset=per_kind)


def _cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


async def measure(
    row: Row,
    level: int,
    options: Options,
    databases: Databases | None,
    pools: Pools,
    database_url: str | None = None,
) -> Result:
    """Run ``row`` with ``level`` users for the window; the bot's store is ``database_url``,
    or a fresh copy of the template."""
    url = database_url
    if url is None:
        url = await databases.fresh() if databases else "sqlite+aiosqlite:///unused.sqlite3"
    api = await BotApi().start(connections=level + 10)
    mail = await Mailbox().start()
    running = await processes.start(row.spec, api.base_url, url, mail.port, options.folder)
    users: list[asyncio.Task[None]] = []
    try:
        if row.spec.webhook:
            await processes.wait_listening(running.webhook_urls, running)
            api.webhook_urls = running.webhook_urls
            api.webhook_secret = processes.WEBHOOK_SECRET
        else:
            await processes.wait_for(api.polled, running)
        record = Record()
        ids = Identities(pools)
        end = time.monotonic() + options.warmup + options.seconds
        users = [
            asyncio.create_task(run_user(i, row.scenarios, api, mail, ids, record, end))
            for i in range(level)
        ]
        await asyncio.sleep(options.warmup)
        cpu_before, harness_before = _cpu_seconds(running.pids), time.process_time()
        record.measuring = True
        started = time.monotonic()
        await asyncio.sleep(options.seconds)
        record.measuring = False
        window = time.monotonic() - started
        bot_cpu = (_cpu_seconds(running.pids) - cpu_before) / window
        harness_cpu = (time.process_time() - harness_before) / window
        return Result(
            row.name,
            row.key,
            level,
            len(record.latencies),
            window,
            record.errors,
            record.latencies,
            bot_cpu,
            harness_cpu,
            record.scenarios,
            record.exhausted,
            record.error_samples,
        )
    finally:
        for task in users:
            task.cancel()
        await asyncio.gather(*users, return_exceptions=True)
        await processes.stop(running)
        await mail.stop()
        await api.stop()
        if databases is not None and database_url is None:
            await databases.drop(url)
