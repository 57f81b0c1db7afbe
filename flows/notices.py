"""Notices to an account after its first login, by kind, through the channels it chose.

A notice goes to each channel the account keeps on for its kind: Telegram (every linked
chat), e-mail, SMS. Security notices (password changed, device linked or unlinked,
two-step verification changed) cannot be switched off and always go to every chat and the
e-mail address (else the mobile number).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from flows.domain import DeliveryChannel, Language
from flows.own_account import OwnAccount, chats_of
from flows.store import Transaction
from flows.texts import Texts


class NoticeKind(StrEnum):
    DECISIONS = "decisions"
    """Decisions on the person's requests (registration, activation code, release)."""
    CODES = "codes"
    """News about codes (a code released, a letter on its way); never the code asked for
    itself, which goes where it was asked to go."""
    ANNOUNCEMENTS = "announcements"
    """Urgent notices from the organization (seed 004: the same day)."""
    DIGESTS = "digests"
    """The weekly digest of general notices (seed 004: on Friday)."""
    DOCUMENTS = "documents"
    """New documents or forms put ready (seed 003), where an organization sends them."""
    MESSAGES = "messages"
    """A message from the person handling the file (seed 003)."""
    SECURITY = "security"
    """Password changed, device linked or unlinked, two-step changed: always sent."""


SWITCHABLE = tuple(kind for kind in NoticeKind if kind is not NoticeKind.SECURITY)

Words = Callable[[Texts], str]
"""The notice's text in the reader's language."""


def default_channels(account: OwnAccount, kind: NoticeKind) -> frozenset[DeliveryChannel]:
    """Where a kind of notice goes before the account chose: every channel it has for
    security notices; otherwise its chats, or e-mail when it has no chat."""
    return frozenset({DeliveryChannel.TELEGRAM, DeliveryChannel.EMAIL})


async def notify(
    tx: Transaction,
    account: OwnAccount,
    kind: NoticeKind,
    body: Words,
    now: datetime,
    *,
    subject: Words | None = None,
    default_language: Language = Language.NL,
    payload: dict[str, Any] | None = None,
    skip_chat: int | None = None,
    announcement_id: int | None = None,
) -> int:
    """Queue ``body`` to the account on each channel chosen for ``kind``; how many
    messages. ``skip_chat``: a chat that is answered in the conversation already;
    ``announcement_id``: the urgent notice each row carries (for its sender's count)."""
    texts = Texts(account.language_or(default_language))
    channels = default_channels(account, kind)
    queued = 0
    organization_id = account.organization.id
    if DeliveryChannel.TELEGRAM in channels:
        for chat in await chats_of(tx, account.owner):
            if chat == skip_chat:
                continue
            await tx.outbox.add(
                DeliveryChannel.TELEGRAM,
                str(chat),
                body(texts),
                now,
                payload=payload,
                organization_id=organization_id,
                announcement_id=announcement_id,
            )
            queued += 1
    if DeliveryChannel.EMAIL in channels and account.email:
        await tx.outbox.add(
            DeliveryChannel.EMAIL,
            account.email,
            body(texts),
            now,
            subject=subject(texts) if subject else None,
            organization_id=organization_id,
            announcement_id=announcement_id,
        )
        queued += 1
    elif DeliveryChannel.SMS in channels and account.phone:
        await tx.outbox.add(
            DeliveryChannel.SMS,
            account.phone,
            body(texts),
            now,
            organization_id=organization_id,
            announcement_id=announcement_id,
        )
        queued += 1
    return queued
