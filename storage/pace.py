"""Telegram's limits shared through the store (:class:`flows.ports.SharedPace`).

Each key (the bot, a chat) is one row of ``telegram_pace``. A reservation moves the key's
"theoretical arrival time" on by one interval in a single upsert and answers how long the
caller waits for its slot, so two workers never get the same slot. Time is the database
server's clock on PostgreSQL, so workers on hosts with skewed clocks still agree.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import ColumnElement, Float, Table, cast, delete, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flows.ports import PaceSlot
from storage.orm import telegram_pace

_TABLE: Table = telegram_pace
_PRUNE_EVERY = 1000
"""Reservations between two sweeps of keys that no longer hold anyone back."""


class StorePace:
    """The store's ``telegram_pace`` table as the bot's shared pace (one short transaction
    per Bot API call)."""

    def __init__(self, engine: AsyncEngine, namespace: str = "") -> None:
        self._engine = engine
        self._namespace = namespace
        """Keeps two bots on one store apart (the bot's id)."""
        self._postgres = engine.dialect.name == "postgresql"
        self._reservations = 0

    async def reserve(self, slots: tuple[PaceSlot, ...]) -> float:
        if not slots:
            return 0.0
        wait = 0.0
        async with self._engine.begin() as connection:
            now = await self._now(connection)
            # One order for every worker: two reservations never wait on each other's rows.
            for slot in sorted(slots, key=lambda s: s.key):
                tat, paused_until = await self._take(connection, slot, now)
                wait = max(wait, tat - slot.burst * slot.interval - now, paused_until - now)
            self._reservations += 1
            if self._reservations % _PRUNE_EVERY == 0:
                await connection.execute(
                    delete(_TABLE).where(
                        _TABLE.c.tat < now - 60,
                        _TABLE.c.paused_until < now - 60,
                    )
                )
        return max(0.0, wait)

    async def pause(self, key: str, seconds: float) -> None:
        async with self._engine.begin() as connection:
            now = await self._now(connection)
            until = now + seconds
            statement = self._insert().values(key=self._key(key), tat=now, paused_until=until)
            await connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[_TABLE.c.key],
                    set_={"paused_until": self._greatest(_TABLE.c.paused_until, literal(until))},
                )
            )

    async def aclose(self) -> None:
        return None  # the engine belongs to the store

    async def _take(
        self, connection: AsyncConnection, slot: PaceSlot, now: float
    ) -> tuple[float, float]:
        statement = self._insert().values(
            key=self._key(slot.key), tat=now + slot.interval, paused_until=0.0
        )
        statement = statement.on_conflict_do_update(
            index_elements=[_TABLE.c.key],
            set_={
                "tat": self._greatest(_TABLE.c.tat, literal(now), _TABLE.c.paused_until)
                + slot.interval
            },
        ).returning(_TABLE.c.tat, _TABLE.c.paused_until)
        row = (await connection.execute(statement)).one()
        return float(row.tat), float(row.paused_until)

    async def _now(self, connection: AsyncConnection) -> float:
        if not self._postgres:
            return time.time()  # SQLite: one host, its clock
        result = await connection.scalar(
            select(cast(func.extract("epoch", func.clock_timestamp()), Float))
        )
        return float(result or 0.0)

    def _insert(self) -> Any:
        return (pg_insert if self._postgres else sqlite_insert)(_TABLE)

    def _greatest(self, *values: ColumnElement[Any]) -> ColumnElement[float]:
        # PostgreSQL's GREATEST; SQLite's max() with several arguments is the same.
        combined = func.greatest(*values) if self._postgres else func.max(*values)
        return cast(combined, Float)

    def _key(self, key: str) -> str:
        return f"{self._namespace}:{key}" if self._namespace else key
