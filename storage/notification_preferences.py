"""Each reader's notification preferences (``notification_preferences``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from flows.domain import DeliveryChannel
from flows.model import NotificationPreference
from storage.orm import notification_preferences


class NotificationPreferences:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of_owner(self, owner_key: str) -> Sequence[NotificationPreference]:
        result = await self.session.scalars(
            select(NotificationPreference).where(notification_preferences.c.owner_key == owner_key)
        )
        return result.all()

    async def set(
        self, owner_key: str, kind: str, channel: DeliveryChannel, enabled: bool, now: datetime
    ) -> None:
        row = await self.session.get(NotificationPreference, (owner_key, kind, channel))
        if row is None:
            row = NotificationPreference(
                owner_key=owner_key, kind=kind, channel=channel, enabled=enabled, changed_at=now
            )
            self.session.add(row)
        else:
            row.enabled = enabled
            row.changed_at = now
        await self.session.flush()
