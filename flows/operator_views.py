"""Read-only views of the store for operators: who is linked to which chat, the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flows.domain import DeliveryChannel, OutboxStatus, Role
from flows.store import Store


@dataclass(frozen=True)
class ChatIdentity:
    user_id: int
    name: str
    role: Role
    organization: str


async def chat_identities(store: Store) -> list[ChatIdentity]:
    async with store.transaction() as tx:
        return [
            ChatIdentity(user_id, person.name, person.role, person.organization.name)
            for user_id, person in await tx.chat_links.identities()
        ]


def find_identity(identities: list[ChatIdentity], wanted: str) -> ChatIdentity | None:
    """By user id, role (first of that role) or part of the name, case-insensitively."""
    wanted = wanted.strip().lower()
    for identity in identities:
        if wanted == str(identity.user_id):
            return identity
    for identity in identities:
        if wanted == identity.role.value:
            return identity
    for identity in identities:
        if wanted and wanted in identity.name.lower():
            return identity
    return None


@dataclass(frozen=True)
class OutboxLine:
    id: int
    created_at: datetime
    channel: DeliveryChannel
    recipient: str
    status: OutboxStatus
    attempts: int
    subject: str | None


async def recent_outbox(store: Store, limit: int = 15) -> list[OutboxLine]:
    async with store.transaction() as tx:
        rows = await tx.outbox.recent(limit)
        return [
            OutboxLine(m.id, m.created_at, m.channel, m.recipient, m.status, m.attempts, m.subject)
            for m in reversed(rows)
        ]
