"""Telegram's limits shared by several workers of one bot: through the store (SQLite,
PostgreSQL) and through Redis, each against the real server. Two pacers with nothing in
common but the shared pace stand for two worker processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from flows.ports import PaceSlot, SharedPace
from handlers.telegram_pacing import Limits, Pacer, Retry
from storage.db import create_engine
from storage.migrate import upgrade
from storage.pace import StorePace
from storage.redis_pace import RedisPace
from tests.conftest import fresh_postgres
from tests.support import sqlite_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "redis"])
async def shared(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Callable[[], SharedPace]]:
    """Makes pace objects that share one state, as two processes would: a new engine or
    Redis connection each."""
    made: list[SharedPace] = []
    engines = []
    if request.param != "redis":
        if request.param == "sqlite":
            database_url = sqlite_url(tmp_path)
        else:
            database_url = await fresh_postgres()
        await upgrade(database_url)

        def make() -> SharedPace:
            engine = create_engine(database_url)
            engines.append(engine)
            pace = StorePace(engine, namespace="42")
            made.append(pace)
            return pace
    else:
        url = request.getfixturevalue("redis_url")

        def make() -> SharedPace:
            pace = RedisPace(url, namespace="42")
            made.append(pace)
            return pace

    yield make
    for pace in made:
        await pace.aclose()
    for engine in engines:
        await engine.dispose()


async def test_slots_are_handed_out_one_interval_apart_after_the_burst(shared) -> None:
    one, other = shared(), shared()
    slot = (PaceSlot("chat:1", 0.5, burst=2),)
    waits = [await pace.reserve(slot) for pace in (one, other, one, other)]
    assert waits[0] == 0 and waits[1] == 0  # the burst
    assert waits[2] == pytest.approx(0.5, abs=0.1)
    assert waits[3] == pytest.approx(1.0, abs=0.1)
    assert await one.reserve((PaceSlot("chat:2", 0.5),)) == 0  # another chat: free


async def test_a_pause_one_worker_met_holds_back_the_other(shared) -> None:
    one, other = shared(), shared()
    await one.pause("chat:5", 3.0)
    wait = await other.reserve((PaceSlot("bot", 0.01), PaceSlot("chat:5", 1.0, burst=3)))
    assert wait == pytest.approx(3.0, abs=0.3)
    assert await other.reserve((PaceSlot("chat:6", 1.0),)) == 0


class Flood(Exception):
    pass


def _classify(exc: Exception) -> Retry | None:
    return Retry(flood=True, after=1.0) if isinstance(exc, Flood) else None


async def test_two_workers_together_keep_to_one_chat_rate(shared) -> None:
    """Each worker alone would send its five at once (a burst of 5); together, after the
    shared burst of 2, one a second (4 a second here, to keep the test short)."""
    limits = Limits(global_per_second=0, chat_per_second=4, chat_burst=2)
    workers = [Pacer(limits, shared=shared()), Pacer(limits, shared=shared())]
    sent_at: list[float] = []

    async def call() -> None:
        sent_at.append(time.monotonic())

    await asyncio.gather(
        *(worker.run("sendMessage", 77, call, _classify) for worker in workers for _ in range(5))
    )
    gaps = sorted(sent_at)
    spread = gaps[-1] - gaps[0]
    print(f"10 messages to one chat from two workers: {spread:.2f} s (floor (10-2)/4 = 2.0 s)")
    assert spread >= 1.9


async def test_a_429_in_one_worker_pauses_the_chat_in_the_other(shared) -> None:
    limits = Limits(global_per_second=0, chat_per_second=0)
    one, other = Pacer(limits, shared=shared()), Pacer(limits, shared=shared())
    flooded = asyncio.Event()

    async def met_a_429() -> None:
        if not flooded.is_set():
            flooded.set()
            raise Flood()  # retry after 1 s

    first = asyncio.create_task(one.run("sendMessage", 9, met_a_429, _classify))
    await flooded.wait()
    await asyncio.sleep(0.05)  # the pause is shared

    async def nothing() -> None:
        return None

    started = time.monotonic()
    await other.run("sendMessage", 9, nothing, _classify)
    waited = time.monotonic() - started
    await first
    print(f"the second worker waited {waited:.2f} s of the first one's 1 s pause")
    assert waited >= 0.8
    started = time.monotonic()
    await other.run("sendMessage", 10, nothing, _classify)  # another chat: not paused
    assert time.monotonic() - started < 0.5
