"""Housekeeping forgets old update ids and rate events a batch at a time, never all at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event, func, insert, select

from flows.desk import Desk
from storage.orm import handled_updates, rate_events
from storage.uow import Store
from tests.support import FakeClock

OLD, RECENT, BATCH = 2_300, 40, 500


async def _fill(store: Store, clock: FakeClock) -> None:
    now = clock.now()
    old, recent = now - timedelta(days=3), now - timedelta(hours=1)
    async with store.engine.begin() as connection:
        await connection.execute(
            insert(handled_updates),
            [
                {"update_id": 10**9 + n, "handled_at": old if n < OLD else recent}
                for n in range(OLD + RECENT)
            ],
        )
        await connection.execute(
            insert(rate_events),
            [
                {"key": f"code:{n % 97}", "at": old if n < OLD else recent}
                for n in range(OLD + RECENT)
            ],
        )


async def test_housekeeping_deletes_old_rows_in_batches(store: Store, clock: FakeClock) -> None:
    await _fill(store, clock)
    deleted: list[tuple[str, int]] = []
    commits: list[object] = []

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            table = statement.split()[2]
            deleted.append((table, cursor.rowcount))

    def committed(conn: Any) -> None:
        commits.append(conn)

    engine = store.engine.sync_engine
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "commit", committed)
    try:
        await Desk(store, clock=clock).housekeeping(batch=BATCH)
    finally:
        event.remove(engine, "after_cursor_execute", after)
        event.remove(engine, "commit", committed)

    async with store.engine.connect() as connection:
        kept_updates = await connection.scalar(select(func.count()).select_from(handled_updates))
        kept_events = await connection.scalar(select(func.count()).select_from(rate_events))
    assert (kept_updates, kept_events) == (RECENT, RECENT)
    for table in ("handled_updates", "rate_events"):
        counts = [count for name, count in deleted if name == table]
        # 2,300 rows: four full batches, then 300, each its own statement (and transaction).
        assert counts == [BATCH] * 4 + [OLD - 4 * BATCH]
    assert len(commits) == len(deleted)  # one transaction per batch


async def test_housekeeping_with_nothing_old_deletes_nothing(
    store: Store, clock: FakeClock
) -> None:
    await Desk(store, clock=clock).housekeeping()
    async with store.engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(handled_updates)) == 0
