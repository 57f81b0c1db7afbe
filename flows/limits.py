"""Sliding-window abuse limits kept in the store, so every worker sees the same counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flows.store import Transaction


@dataclass(frozen=True)
class Limit:
    name: str
    max_events: int
    window: timedelta = timedelta(hours=1)

    def key(self, subject: str) -> str:
        return f"{self.name}:{subject}"


async def wait_needed(tx: Transaction, limit: Limit, subject: str, now: datetime) -> timedelta:
    """How long ``subject`` must wait before the next event; zero when it may go on."""
    count, oldest = await tx.rate_events.since(limit.key(subject), now - limit.window)
    if count < limit.max_events or oldest is None:
        return timedelta(0)
    return max(oldest + limit.window - now, timedelta(seconds=1))


async def count(tx: Transaction, limit: Limit, subject: str, now: datetime) -> int:
    number, _ = await tx.rate_events.since(limit.key(subject), now - limit.window)
    return number


async def record(tx: Transaction, limit: Limit, subject: str, now: datetime) -> None:
    await tx.rate_events.add(limit.key(subject), now)


def minutes(wait: timedelta) -> int:
    """Whole minutes to tell a person, rounded up, at least 1."""
    return max(1, -(-int(wait.total_seconds()) // 60))
