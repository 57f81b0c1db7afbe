"""Webhook updates between "Telegram was answered" and "the desk handled it"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from flows.model import InboxUpdate
from storage.orm import webhook_inbox


class Inbox:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def keep(
        self, update_id: int, payload: dict[str, Any], now: datetime, chat_id: int | None = None
    ) -> None:
        await self.keep_all([(update_id, payload, chat_id)], now)

    async def keep_all(
        self, updates: Sequence[tuple[int, dict[str, Any], int | None]], now: datetime
    ) -> None:
        """Keep each ``(update_id, payload, chat_id)`` not kept already: one INSERT that
        skips the ids there are (a webhook Telegram sent again)."""
        if not updates:
            return
        rows = [
            {"update_id": update_id, "payload": payload, "received_at": now, "chat_id": chat_id}
            for update_id, payload, chat_id in {u[0]: u for u in updates}.values()
        ]
        dialect = self.session.bind.dialect.name if self.session.bind is not None else ""
        insert = sqlite_insert if dialect == "sqlite" else pg_insert
        await self.session.execute(
            insert(webhook_inbox).on_conflict_do_nothing(
                index_elements=[webhook_inbox.c.update_id]
            ),
            rows,
        )

    async def forget(self, update_ids: Sequence[int]) -> None:
        await self.session.execute(
            delete(InboxUpdate).where(webhook_inbox.c.update_id.in_(list(update_ids)))
        )

    async def waiting(self) -> list[dict[str, Any]]:
        """Updates kept but not handled, oldest first (a crash or kill left them)."""
        rows = await self.session.scalars(select(InboxUpdate).order_by(webhook_inbox.c.update_id))
        return [row.payload for row in rows]
