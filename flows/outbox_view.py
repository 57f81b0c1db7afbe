"""The outbox for operators: counts by state, dead letters with their reason, a retry.

Shared by ``balie outbox list|retry`` and the staff chat's ``/outbox``. Nothing here shows a
message's body (it may hold a code); addresses and numbers are masked (``e•••@domain``,
``+31•••78``), and so is anything address-like in a provider's reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from flows import labels
from flows.decisions import Power, acting, refuse
from flows.domain import DeliveryChannel, OutboxStatus
from flows.masking import mask_addresses, mask_email
from flows.model import OutboxMessage
from flows.store import Transaction
from flows.texts import Texts
from flows.turn import Turn

GIVEN_UP = (OutboxStatus.DEAD, OutboxStatus.FAILED)


class OutboxError(Exception):
    """A refused operator action; the message is one line."""


def mask_recipient(channel: DeliveryChannel, recipient: str) -> str:
    """Enough to recognise a recipient, not enough to harvest one."""
    if channel is DeliveryChannel.EMAIL:
        return mask_email(recipient)
    if channel is DeliveryChannel.SMS:
        return f"{recipient[:3]}•••{recipient[-2:]}" if len(recipient) > 6 else "•••"
    if channel is DeliveryChannel.DIRECTORY:
        return recipient  # "directory:person:12": an id, not an address
    return f"chat •••{recipient[-3:]}"


def safe_reason(reason: str | None) -> str:
    """A stored failure reason with addresses and numbers masked (a server may quote them)."""
    if not reason:
        return "-"
    return mask_addresses(reason)


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    channel: DeliveryChannel
    recipient: str
    """Masked."""
    status: OutboxStatus
    attempts: int
    created_at: datetime
    reason: str
    """Masked; ``-`` when there was no failure."""

    @classmethod
    def of(cls, row: OutboxMessage) -> OutboxEntry:
        return cls(
            row.id,
            row.channel,
            mask_recipient(row.channel, row.recipient),
            row.status,
            row.attempts,
            row.created_at,
            safe_reason(row.last_error),
        )

    def line(self) -> str:
        """One line for the terminal, e.g. ``#12 email e•••@x.nl dead 8 attempts ...``."""
        when = self.created_at.strftime("%Y-%m-%d %H:%M")
        return (
            f"#{self.id} {self.channel.value} {self.recipient} {self.status.value} "
            f"{self.attempts} attempt{'' if self.attempts == 1 else 's'} {when} UTC: {self.reason}"
        )


async def entries(
    tx: Transaction, state: OutboxStatus | None = None, limit: int = 20
) -> list[OutboxEntry]:
    """The newest rows (in ``state`` when given), newest first."""
    rows = await tx.outbox.latest(None if state is None else [state], limit)
    return [OutboxEntry.of(row) for row in rows]


async def retry(tx: Transaction, message_id: int, now: datetime) -> OutboxEntry:
    """Make a row pending and due now, its attempts forgotten; a refused address is
    forgiven (the operator says it is worth another try). Refused for an unknown id, a sent
    row, and one whose body held a code and was removed (the person asks for a new code)."""
    row = await tx.outbox.get(message_id)
    if row is None:
        raise OutboxError(f"no outbox message #{message_id}")
    if row.status is OutboxStatus.SENT:
        raise OutboxError(f"outbox message #{message_id} was sent; it is not sent again")
    if row.sensitive and row.status in GIVEN_UP:
        raise OutboxError(
            f"outbox message #{message_id} held a code, removed when it was given up; "
            "the person asks for a new code"
        )
    await tx.undeliverable.forget(row.channel, row.recipient)
    await tx.outbox.requeue(row, now)
    return OutboxEntry.of(row)


async def show(turn: Turn, dead_letters: int = 5) -> None:
    """``/outbox`` in a staff chat: counts by state, the last given-up rows, refused
    addresses, all of the caller's own organization (operators see the whole deployment
    with ``balie outbox list``). Desk staff and managers only; never a body, addresses
    masked."""
    person = await acting(turn, Power.RELEASE)
    if person is None:
        await refuse(turn, Power.RELEASE, "outbox")
        return
    texts, tx, own = turn.texts, turn.tx, person.organization_id
    counts = await tx.outbox.counts(own)
    lines = [texts("outbox_summary", **{s.value: counts[s] for s in OutboxStatus})]
    lines += _given_up_lines(texts, await tx.outbox.latest(GIVEN_UP, dead_letters, own))
    refused = await tx.undeliverable.latest(dead_letters, own)
    if refused:
        count = await tx.undeliverable.count(own)
        lines.append(texts("outbox_undeliverable_header", count=count))
        lines += [
            texts(
                "outbox_undeliverable_line",
                channel=mark.channel.value,
                address=mask_recipient(mark.channel, mark.address),
                when=texts.when(mark.recorded_at),
                reason=safe_reason(mark.reason),
            )
            for mark in refused
        ]
    turn.say_text("\n".join(lines)[:4000])


def _given_up_lines(texts: Texts, given_up: Sequence[OutboxMessage]) -> list[str]:
    """The last rows given up on, masked, or the line saying there are none."""
    if not given_up:
        return [texts("outbox_dead_none")]
    lines = [texts("outbox_dead_header")]
    for row in given_up:
        entry = OutboxEntry.of(row)
        lines.append(
            texts(
                "outbox_dead_line",
                id=entry.id,
                channel=entry.channel.value,
                recipient=entry.recipient,
                state=texts(labels.GIVEN_UP_STATE[entry.status]),
                when=texts.when(entry.created_at),
                reason=entry.reason,
            )
        )
    return lines
