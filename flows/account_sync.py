"""Directory operations without a secret, queued in the outbox: an outage delays them but
loses none, and they run in order per account.

Seed 000: an approved employee's account is enabled; from their out-of-service date on they
can no longer log in. The date may lie months ahead, so the disabling is not queued when it
is set: :func:`close_due_accounts`, run by the worker every few minutes, queues it for each
person whose day has come (catching up on any days the worker was down), and marks them so
it is queued once.
"""

from __future__ import annotations

from datetime import date, datetime

from flows.directory import (
    DIRECTORY_RECIPIENT,
    AccountRef,
    DirectoryOperation,
    operation_payload,
    person_account,
)
from flows.domain import AuditAction, DeliveryChannel
from flows.model import Person
from flows.store import Transaction

CLOSING_BATCH = 200


def recipient_of(account: AccountRef) -> str:
    """One outbox recipient per account, so its operations go in the order queued."""
    return f"{DIRECTORY_RECIPIENT}:{account.kind.value}:{account.local_id}"


async def queue(
    tx: Transaction,
    operation: DirectoryOperation,
    account: AccountRef,
    now: datetime,
    on: date | None = None,
) -> None:
    await tx.outbox.add(
        DeliveryChannel.DIRECTORY,
        recipient_of(account),
        f"{operation.value} {account.kind.value} {account.external_id}",
        now,
        payload=operation_payload(operation, account, on),
        organization_id=account.organization_id,
    )


async def queue_enable(tx: Transaction, person: Person, now: datetime) -> None:
    """An employee approved (or invited and opened): their account opens in the directory."""
    await queue(tx, DirectoryOperation.ENABLE, person_account(person), now)


async def close_account(tx: Transaction, person: Person, now: datetime, actor: str) -> None:
    """Queue the disabling of ``person``'s account for their out-of-service date."""
    assert person.out_of_service_on is not None
    await queue(
        tx, DirectoryOperation.DISABLE, person_account(person), now, person.out_of_service_on
    )
    person.directory_closed_at = now
    await tx.audit.add(
        AuditAction.DIRECTORY_ACCOUNT_DISABLED,
        actor=actor,
        channel=actor.split(":", 1)[0],
        now=now,
        organization_id=person.organization_id,
        subject_person_id=person.id,
        date=person.out_of_service_on.isoformat(),
        queued=True,
    )


async def offboarded(tx: Transaction, person: Person, day: date, now: datetime, actor: str) -> None:
    """Set ``person``'s out-of-service date; a date already come closes the account in the
    directory at once (queued now), a later one on its day (:func:`close_due_accounts`)."""
    await tx.people.set_out_of_service(person, day)
    if day <= now.date():
        await close_account(tx, person, now, actor)


async def close_due_accounts(tx: Transaction, now: datetime, actor: str = "balie") -> int:
    """Queue the disabling of every account whose out-of-service date has come; how many."""
    due = await tx.people.due_for_closing(now.date(), CLOSING_BATCH)
    for person in due:
        await close_account(tx, person, now, actor)
    return len(due)
