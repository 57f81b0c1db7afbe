"""Webhook updates between "Telegram was answered" and "the desk handled it"."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from flows.model import InboxUpdate
from storage.orm import webhook_inbox


class Inbox:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def keep(
        self, update_id: int, payload: dict[str, Any], now: datetime, chat_id: int | None = None
    ) -> None:
        if await self.session.get(InboxUpdate, update_id) is None:
            self.session.add(
                InboxUpdate(update_id=update_id, payload=payload, received_at=now, chat_id=chat_id)
            )
            await self.session.flush()

    async def forget(self, update_id: int) -> None:
        await self.session.execute(
            delete(InboxUpdate).where(webhook_inbox.c.update_id == update_id)
        )

    async def waiting(self) -> list[dict[str, Any]]:
        """Updates kept but not handled, oldest first (a crash or kill left them)."""
        rows = await self.session.scalars(select(InboxUpdate).order_by(webhook_inbox.c.update_id))
        return [row.payload for row in rows]
