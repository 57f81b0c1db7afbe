"""aiosqlite without its thread: SQLite statements run on the event loop's own thread.

aiosqlite gives each connection a thread and hands every call to it through a queue, and
SQLAlchemy makes four such calls per statement (cursor, execute, fetch, close). With WAL,
``synchronous=NORMAL`` and the file on a local disk a statement takes tens of microseconds,
while each hand-off costs two thread switches and a GIL hand-over: measured, the hand-offs
were most of a conversation step's cost, and under load (more runnable threads than cores)
each waits for the scheduler. So :class:`LoopConnection` keeps aiosqlite's interface (the
``sqlite+aiosqlite`` dialect talks to it unchanged) but calls sqlite3 directly.

The one thing that could block the loop for long is waiting for another process's write
lock (a CLI command's transaction, a migration). SQLite's own busy handler would sleep on
the loop's thread, so the connection is opened with ``busy_timeout=0`` and a busy statement
(it has not taken effect; retrying it is what SQLite's busy handler does) is retried here
with ``asyncio.sleep`` in between, for up to ``busy_seconds``: other chats go on meanwhile.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite

BUSY_SECONDS = 30.0
"""How long a statement waits for another process's lock before it fails (``database is
locked``), as ``busy_timeout`` did."""

_FIRST_RETRY = 0.001
_LONGEST_RETRY = 0.05


class LoopConnection(aiosqlite.Connection):
    """An :class:`aiosqlite.Connection` whose calls run inline on the calling thread."""

    def __init__(
        self, connector: Callable[[], sqlite3.Connection], busy_seconds: float = BUSY_SECONDS
    ) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._busy_seconds = busy_seconds

    def __await__(self) -> Any:
        # No thread to start: aiosqlite's __await__ starts its worker thread here.
        return self._connect().__await__()

    async def _connect(self) -> LoopConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        deadline: float | None = None
        delay = _FIRST_RETRY
        while True:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._busy_seconds
                if now >= deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, _LONGEST_RETRY)

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        self.stop()


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "database is locked" in str(exc)


def loop_connector(database: str | Path, **kwargs: Any) -> Callable[[], Awaitable[LoopConnection]]:
    """An ``async_creator`` for SQLAlchemy: each call opens one :class:`LoopConnection` to
    ``database``. The connection starts in autocommit mode (``isolation_level=None``): the
    engine issues BEGIN itself (see :mod:`storage.db`)."""

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(str(database), isolation_level=None, timeout=0, **kwargs)

    async def connect() -> LoopConnection:
        return await LoopConnection(connector)

    return connect
