"""Whose turn it is in a chat, across the workers that share one PostgreSQL store.

Each worker answers a webhook 200 only once the update is kept in the shared inbox, but two
updates of one chat may reach two workers, and the one with the later update may be first.
So a worker takes the chat's turn before it handles an update: a session-level advisory lock
keyed by the chat id, and in the same statement the chat's kept updates up to its own, in
update id order. It handles all of them (earlier ones another worker also holds first) and
lets go of the turn once they are answered and forgotten; a worker that then takes the turn
for an update already handled no longer finds it in the inbox, and skips it.

Why an advisory lock and not the conversation row lock: the turn must cover sending the
replies too (they go out after the desk's transaction commits), or a chat's replies could
still cross. Why a session lock on a connection of its own rather than a transaction lock:
a transaction held open around each update would take a second pooled connection per busy
chat, and with as many busy chats as the pool has connections every step would wait for a
connection the others hold. The one connection is shared by the worker's chats: taking a
turn never blocks it (``pg_try_advisory_lock``); a chat another worker is in is tried again
after a short pause, which is rare (two updates of one chat on two workers at once).
Balie takes no other advisory locks, so the chat id alone is the key.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from storage.orm import webhook_inbox
from storage.uow import Store

RETRY_DELAYS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
"""Seconds between tries for a chat another worker is in (then every 0.2 s)."""


def turn_query(chat_id: int, update_id: int) -> Any:
    """One statement: try the chat's lock, and if got, its kept updates up to ``update_id``
    (on the inbox's chat index): ``(got, payload)`` rows, at least one."""
    inbox = webhook_inbox.c
    turn = select(func.pg_try_advisory_lock(chat_id).label("got")).cte("turn")
    turn = turn.prefix_with("MATERIALIZED")  # the lock is tried exactly once
    return (
        select(turn.c.got, inbox.payload)
        .select_from(
            turn.outerjoin(
                webhook_inbox,
                and_(turn.c.got, inbox.chat_id == chat_id, inbox.update_id <= update_id),
            )
        )
        .order_by(inbox.update_id)
    )


class ChatTurns:
    """Advisory locks per chat on one connection of this process (PostgreSQL only)."""

    def __init__(self, engine: AsyncEngine) -> None:
        # Its own single connection, outside the store's pool: the locks live as long as it.
        self._engine = create_async_engine(
            engine.url,
            pool_size=1,
            max_overflow=0,
            pool_pre_ping=True,
            hide_parameters=True,
            isolation_level="AUTOCOMMIT",
        )
        self._connection: AsyncConnection | None = None
        self._using = asyncio.Lock()

    @classmethod
    def of(cls, store: Store) -> ChatTurns | None:
        """Turns for ``store``'s workers; None on SQLite, which is one process by design."""
        if store.engine.dialect.name == "sqlite":
            return None
        return cls(store.engine)

    async def take(self, chat_id: int, update_id: int) -> list[dict[str, Any]]:
        """Wait for the chat's turn; then the payloads of its kept updates up to
        ``update_id``, oldest first (without ``update_id`` when another worker handled it).
        Every call must be followed by :meth:`release`."""
        query = turn_query(chat_id, update_id)
        tries = 0
        while True:
            rows = (await self._execute(query)).all()
            if rows and rows[0].got:
                return [row.payload for row in rows if row.payload is not None]
            await asyncio.sleep(RETRY_DELAYS[min(tries, len(RETRY_DELAYS) - 1)])
            tries += 1

    async def release(self, chat_id: int) -> None:
        await self._execute(select(func.pg_advisory_unlock(chat_id)))

    async def _execute(self, query: Any) -> Any:
        async with self._using:
            if self._connection is None:
                self._connection = await self._engine.connect()
            try:
                return await self._connection.execute(query)
            except Exception:
                # A lost connection lost its locks too: the next call starts on a new one.
                connection, self._connection = self._connection, None
                await connection.invalidate()
                raise

    async def close(self) -> None:
        async with self._using:
            if self._connection is not None:
                await self._connection.close()
                self._connection = None
        await self._engine.dispose()
