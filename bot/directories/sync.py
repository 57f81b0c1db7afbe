"""Carries out the directory operations the outbox holds (enable, disable): no secret, so
they wait out an outage and are retried with the outbox's backoff."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from bot.notifications.errors import DeliveryError
from flows import account_sync
from flows.builtin_directory import customer_is_active
from flows.directory import (
    AccountKind,
    AccountMissing,
    AccountRef,
    Directories,
    Directory,
    DirectoryError,
    DirectoryKind,
    DirectoryMisconfigured,
    DirectoryOperation,
    operation_from_payload,
)
from flows.domain import AccountStatus, AuditAction, effective_status
from flows.model import Customer, Organization, Person
from flows.ports import Clock
from storage.uow import Store, Transaction

log = logging.getLogger("balie.directory")


class DirectorySync:
    """The outbox worker's sender for ``DeliveryChannel.DIRECTORY`` rows."""

    def __init__(self, store: Store, directories: Directories, clock: Clock) -> None:
        self._store = store
        self._directories = directories
        self._clock = clock

    async def apply(self, payload: dict[str, Any]) -> None:
        """Carry out one operation; :class:`DeliveryError` (temporary unless the account is
        gone from the store) when the directory cannot."""
        operation, account, on = operation_from_payload(dict(payload))
        now = self._clock.now()
        async with self._store.transaction() as tx:
            organization = await tx.organizations.get(account.organization_id)
            row = await _row(tx, account)
            if organization is None or row is None:
                log.info("directory %s of a removed account: nothing to do", operation.value)
                return
            if not _still_wanted(operation, row, now):
                log.info(
                    "directory %s of %s no longer wanted", operation.value, account.external_id
                )
                return
            directory = self._directory(organization, tx, now)
            if directory.kind is DirectoryKind.BUILTIN:
                # The store is the directory: the operation commits with this transaction.
                await _run(directory, operation, account, on or now.date())
                await _audit(tx, operation, account, directory.kind, now)
                return
        await _run(directory, operation, account, on or now.date())
        async with self._store.transaction() as tx:
            await _audit(tx, operation, account, directory.kind, self._clock.now())

    def _directory(self, organization: Organization, tx: Transaction, now: datetime) -> Directory:
        try:
            return self._directories.open(organization, tx, now)
        except DirectoryMisconfigured as exc:
            raise DeliveryError(f"directory not set up: {exc}") from None


async def _row(tx: Transaction, account: AccountRef) -> Customer | Person | None:
    if account.kind is AccountKind.CUSTOMER:
        return await tx.customers.get(account.local_id)
    return await tx.people.get(account.local_id)


def _still_wanted(operation: DirectoryOperation, row: Customer | Person, now: datetime) -> bool:
    """Whether the operation still fits the account as it is now: a disable queued for an
    out-of-service date that was moved, or an enable of someone since offboarded, is not
    carried out (the new state queues its own)."""
    if isinstance(row, Customer):
        active = customer_is_active(row)
    else:
        active = effective_status(row.status, row.out_of_service_on, now.date()) is (
            AccountStatus.ACTIVE
        )
    return active if operation is DirectoryOperation.ENABLE else not active


async def _run(
    directory: Directory, operation: DirectoryOperation, account: AccountRef, on: date
) -> None:
    try:
        if operation is DirectoryOperation.ENABLE:
            await directory.ensure_enabled(account)
        else:
            await directory.disable(account, on)
    except AccountMissing as exc:
        raise DeliveryError(str(exc), permanent=True) from None
    except DirectoryError as exc:
        raise DeliveryError(f"{directory.kind.value}: {exc}") from None


async def _audit(
    tx: Transaction,
    operation: DirectoryOperation,
    account: AccountRef,
    kind: DirectoryKind,
    now: datetime,
) -> None:
    action = (
        AuditAction.DIRECTORY_ACCOUNT_ENABLED
        if operation is DirectoryOperation.ENABLE
        else AuditAction.DIRECTORY_ACCOUNT_DISABLED
    )
    await tx.audit.add(
        action,
        actor="balie",
        channel="worker",
        now=now,
        organization_id=account.organization_id,
        subject_person_id=account.local_id if account.kind is AccountKind.PERSON else None,
        directory=kind.value,
        done=True,
    )


async def close_due_accounts(store: Store, clock: Clock) -> int:
    """Queue the disabling of every account whose out-of-service date has come."""
    async with store.transaction() as tx:
        count = await account_sync.close_due_accounts(tx, clock.now())
    if count:
        log.info("queued %d account(s) to be disabled in the directory", count)
    return count
