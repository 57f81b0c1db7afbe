"""Webhook updates between "Telegram was answered" and "the desk handled it"."""

from __future__ import annotations

from collections.abc import Sequence
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
        await self.keep_all([(update_id, payload, chat_id)], now)

    async def keep_all(
        self, updates: Sequence[tuple[int, dict[str, Any], int | None]], now: datetime
    ) -> None:
        """Keep each ``(update_id, payload, chat_id)`` not kept already: one query for the
        ones there are, one INSERT for the rest."""
        ids = [update_id for update_id, _, _ in updates]
        there = set(
            await self.session.scalars(
                select(webhook_inbox.c.update_id).where(webhook_inbox.c.update_id.in_(ids))
            )
        )
        for update_id, payload, chat_id in updates:
            if update_id not in there:
                there.add(update_id)
                self.session.add(
                    InboxUpdate(
                        update_id=update_id, payload=payload, received_at=now, chat_id=chat_id
                    )
                )
        await self.session.flush()

    async def forget(self, update_ids: Sequence[int]) -> None:
        await self.session.execute(
            delete(InboxUpdate).where(webhook_inbox.c.update_id.in_(list(update_ids)))
        )

    async def waiting(self) -> list[dict[str, Any]]:
        """Updates kept but not handled, oldest first (a crash or kill left them)."""
        rows = await self.session.scalars(select(InboxUpdate).order_by(webhook_inbox.c.update_id))
        return [row.payload for row in rows]
