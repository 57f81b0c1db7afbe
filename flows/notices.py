"""Notices to an account after its first login, by kind, through the channels it chose.

A notice goes to each reader of the account (today the account itself; a portal account's
members read its notices too, each with their own choices), on each channel that reader
keeps on for its kind: Telegram (every linked chat), e-mail, SMS.

Defaults, when a reader chose nothing for a kind and channel (no row in
``notification_preferences``): Telegram and e-mail on; SMS off, except for a reader with
neither a linked chat nor an e-mail address, who would hear nothing otherwise. A channel
the reader lacks (no chat, no address, no number) is never used, whatever was chosen.

Security notices (password changed, device linked or unlinked, two-step verification
changed) cannot be switched off: they always go to every chat and the e-mail address
(else the mobile number).

Each row carries its kind and its reader (``outbox_payload.NOTICE_KIND``/``NOTICE_READER``),
so the outbox worker asks :func:`still_wanted` again right before sending: a notice switched
off after it was queued is not sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from flows import own_account
from flows.domain import DeliveryChannel, Language
from flows.outbox_payload import NOTICE_KIND, NOTICE_READER
from flows.own_account import OwnAccount, Owner, OwnerKind, chats_of, of_member
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

CHANNELS = (DeliveryChannel.TELEGRAM, DeliveryChannel.EMAIL, DeliveryChannel.SMS)
"""The channels a reader chooses between, in the order ``/notifications`` shows them."""

Words = Callable[[Texts], str]
"""The notice's text in the reader's language."""

Choices = Mapping[tuple[NoticeKind, DeliveryChannel], bool]
"""What a reader chose (only what is stored; the rest is the default)."""


@dataclass(frozen=True)
class Reach:
    """How a reader can be reached at all."""

    chats: tuple[int, ...]
    email: str | None
    phone: str | None

    def has(self, channel: DeliveryChannel) -> bool:
        if channel is DeliveryChannel.TELEGRAM:
            return bool(self.chats)
        if channel is DeliveryChannel.EMAIL:
            return bool(self.email)
        if channel is DeliveryChannel.SMS:
            return bool(self.phone)
        return False


async def reach_of(tx: Transaction, account: OwnAccount) -> Reach:
    return Reach(tuple(await chats_of(tx, account.owner)), account.email, account.phone)


def default_on(reach: Reach, channel: DeliveryChannel) -> bool:
    """A switchable kind's channel before the reader chose: Telegram and e-mail on, SMS
    only for a reader with nothing else."""
    if channel is DeliveryChannel.SMS:
        return not reach.chats and not reach.email
    return channel in CHANNELS


def security_channels(reach: Reach) -> frozenset[DeliveryChannel]:
    """Every chat and the e-mail address, else the mobile number: never switched off."""
    channels = {DeliveryChannel.TELEGRAM} if reach.chats else set()
    if reach.email:
        channels.add(DeliveryChannel.EMAIL)
    elif reach.phone:
        channels.add(DeliveryChannel.SMS)
    return frozenset(channels)


def channels_for(reach: Reach, choices: Choices, kind: NoticeKind) -> frozenset[DeliveryChannel]:
    """Where a notice of ``kind`` goes for this reader: what it keeps on, and has."""
    if kind is NoticeKind.SECURITY:
        return security_channels(reach)
    return frozenset(
        channel
        for channel in CHANNELS
        if reach.has(channel) and choices.get((kind, channel), default_on(reach, channel))
    )


def default_channels(account: OwnAccount, kind: NoticeKind) -> frozenset[DeliveryChannel]:
    """Where a kind of notice goes before the account chose, for an account with at least
    one linked chat (see :func:`channels_for` for the general rule)."""
    reach = Reach((0,), account.email, account.phone)
    return channels_for(reach, {}, kind)


async def choices_of(
    tx: Transaction, owner: Owner
) -> dict[tuple[NoticeKind, DeliveryChannel], bool]:
    """The reader's stored choices; a row of a kind this Balie no longer knows is ignored."""
    switchable = {kind.value: kind for kind in SWITCHABLE}
    return {
        (switchable[row.kind], row.channel): row.enabled
        for row in await tx.notification_preferences.of_owner(owner.key)
        if row.kind in switchable and row.channel in CHANNELS
    }


async def readers_of(tx: Transaction, account: OwnAccount) -> list[OwnAccount]:
    """Who reads the notices of ``account``, each with their own choices: a portal
    account's holder and every member who joined it (seed 004: both parents hear from the
    school); any other account alone."""
    if account.owner.kind is not OwnerKind.CUSTOMER or account.customer is None:
        return [account]
    members = await tx.members.of_customer(account.customer.id)
    return [account, *(of_member(member) for member in members if member.joined_at is not None)]


def notice_payload(
    kind: NoticeKind, reader: OwnAccount, payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The row's payload, marked with what it is, for the check at send time."""
    return {**(payload or {}), NOTICE_KIND: kind.value, NOTICE_READER: reader.owner.key}


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
    """Queue ``body`` to each reader of the account on each channel the reader chose for
    ``kind``; how many messages. ``skip_chat``: a chat that is answered in the conversation
    already. ``payload`` (buttons, say) goes on the chat messages. ``announcement_id``: the
    urgent notice each row carries (for its sender's count)."""
    queued = 0
    # A security notice is about the account's own login and devices: its holder's alone.
    readers = [account] if kind is NoticeKind.SECURITY else await readers_of(tx, account)
    for reader in readers:
        queued += await _queue_for(
            tx,
            reader,
            kind,
            body,
            now,
            subject,
            default_language,
            payload,
            skip_chat,
            announcement_id,
        )
    return queued


async def _queue_for(
    tx: Transaction,
    reader: OwnAccount,
    kind: NoticeKind,
    body: Words,
    now: datetime,
    subject: Words | None,
    default_language: Language,
    payload: dict[str, Any] | None,
    skip_chat: int | None,
    announcement_id: int | None,
) -> int:
    texts = Texts(reader.language_or(default_language))
    reach = await reach_of(tx, reader)
    channels = channels_for(reach, await choices_of(tx, reader.owner), kind)
    addresses: list[tuple[DeliveryChannel, str]] = []
    if DeliveryChannel.TELEGRAM in channels:
        addresses += [(DeliveryChannel.TELEGRAM, str(c)) for c in reach.chats if c != skip_chat]
    if DeliveryChannel.EMAIL in channels and reader.email:
        addresses.append((DeliveryChannel.EMAIL, reader.email))
    if DeliveryChannel.SMS in channels and reader.phone:
        addresses.append((DeliveryChannel.SMS, reader.phone))
    for channel, address in addresses:
        # The payload's extras (a message's buttons) are for chats; a subject is for mail.
        in_chat = channel is DeliveryChannel.TELEGRAM
        await tx.outbox.add(
            channel,
            address,
            body(texts),
            now,
            subject=subject(texts) if subject and channel is DeliveryChannel.EMAIL else None,
            payload=notice_payload(kind, reader, payload if in_chat else None),
            organization_id=reader.organization.id,
            announcement_id=announcement_id,
        )
    return len(addresses)


async def still_wanted(
    tx: Transaction, payload: Mapping[str, Any], channel: DeliveryChannel
) -> bool:
    """At send time: whether a queued row may still go out on ``channel``. A row that is no
    notice, and every security notice, always may; a notice whose reader switched its kind
    off on this channel since (or whose reader is gone) may not."""
    kind_value, reader_key = payload.get(NOTICE_KIND), payload.get(NOTICE_READER)
    if kind_value is None or reader_key is None:
        return True
    try:
        kind = NoticeKind(str(kind_value))
    except ValueError:
        return True
    if kind is NoticeKind.SECURITY:
        return True
    owner = Owner.parse(str(reader_key))
    reader = None if owner is None else await own_account.load(tx, owner)
    if reader is None:
        return False
    reach = await reach_of(tx, reader)
    return channel in channels_for(reach, await choices_of(tx, reader.owner), kind)
