"""How long each verification path takes to answer, known against unknown.

The answer must not tell a stranger whether an account exists. The hashing work is equal on
every path (``tests/test_verification_work.py`` counts it); what still differs is the store's
work, e.g. the rows a real request writes. This prints the median and 90th percentile of
each path's answer time so that difference is visible. It asserts nothing.

    .venv/bin/python -m bench.verification_timing [--rounds 200] [--steady-ms 80] [--url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from flows.activation_codes import issue
from flows.turn import DeskPolicy
from storage.uow import Store
from tests.support import DeskDriver, FakeClock, migrated_store, seed_customers, seed_demo

Step = Callable[[int], Awaitable[Callable[[], Awaitable[object]]]]


def paths(desk: DeskDriver) -> dict[str, Step]:
    """Each path: set a chat up (untimed), return the one step to time."""

    async def redeem(user: int, number: str, code: str) -> Callable[[], Awaitable[object]]:
        await desk.send(user, "/activate")
        await desk.send(user, number)
        return lambda: desk.send(user, code)

    async def right_code(user: int) -> Callable[[], Awaitable[object]]:
        async with desk.store.transaction() as tx:
            [customer] = await tx.customers.with_number("1001")
            issued = await issue(
                tx, desk.desk.hasher, customer, "klant1001@thuis.example", desk.clock.now(), 14
            )
        return await redeem(user, "1001", issued.code)

    async def reset(user: int, address: str) -> Callable[[], Awaitable[object]]:
        await desk.send(user, "/password")
        return lambda: desk.send(user, address)

    async def request(user: int, number: str) -> Callable[[], Awaitable[object]]:
        for text in ("/activation", number, "3511 AB", "12a"):
            await desk.send(user, text)
        return lambda: desk.press(user, "m:skip")

    return {
        "redeem: unknown number": lambda u: redeem(u, "424242", "AAAA-BBBB-CCCC"),
        "redeem: known, wrong code": lambda u: redeem(u, "1001", "AAAA-BBBB-CCCC"),
        "redeem: known, right code": right_code,
        "reset: unknown address": lambda u: reset(u, "nobody@nowhere.example"),
        "reset: known address": lambda u: reset(u, "klant1001@thuis.example"),
        "activation: unknown": lambda u: request(u, "424242"),
        "activation: known, by e-mail": lambda u: request(u, "1001"),
        "activation: known, by letter": lambda u: request(u, "1002"),
    }


async def measure(store: Store, rounds: int, steady_ms: float) -> None:
    clock = FakeClock()
    await seed_demo(store, clock)
    await seed_customers(store, clock)
    async with store.transaction() as tx:
        [customer] = await tx.customers.with_number("1001")
        customer.account_active = True
    policy = DeskPolicy(default_language="en", steady_answer=timedelta(milliseconds=steady_ms))  # type: ignore[arg-type]
    desk = DeskDriver(store, clock, policy)
    user = 100_000
    print(f"{'path':34} {'median ms':>10} {'p90 ms':>8}")
    for name, prepare in paths(desk).items():
        times = []
        for _ in range(rounds):
            user += 1
            clock.advance(minutes=61)  # no hourly limit in the way: each round is a fresh ask
            step = await prepare(user)
            started = time.perf_counter()
            await step()
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        p90 = times[int(len(times) * 0.9)]
        print(f"{name:34} {statistics.median(times):10.2f} {p90:8.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--url", help="a database URL (default: a fresh SQLite file)")
    parser.add_argument(
        "--steady-ms", type=float, default=80, help="the steady answer time (0: off)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}"
        store = await migrated_store(url)
        try:
            await measure(store, args.rounds, args.steady_ms)
        finally:
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
