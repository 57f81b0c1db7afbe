"""The built-in directory: Balie's own store is where people log in.

Portals ask Balie whether a password is right (``POST /api/v1/verify``, ``balie account
check``). A customer's account is active once activated and not blocked (seed 002); an
employee's while their status is active and their out-of-service date has not come (seed
000), so an offboarding takes effect here on its day without any further write.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from flows.directory import (
    AccountKind,
    AccountMissing,
    AccountRef,
    DirectoryAccount,
    DirectoryKind,
    PasswordChange,
)
from flows.domain import AccountStatus, DeliveryChannel, effective_status
from flows.model import Customer, Organization, Person
from flows.password_rules import PasswordHasher
from flows.store import Transaction


def customer_is_active(customer: Customer) -> bool:
    return customer.account_active and not customer.blocked


def person_is_active(person: Person, today: date) -> bool:
    status = effective_status(person.status, person.out_of_service_on, today)
    return status is AccountStatus.ACTIVE


class BuiltinDirectory:
    """The directory in the store, working inside the step's own transaction."""

    kind = DirectoryKind.BUILTIN

    def __init__(self, tx: Transaction, today: date, hasher: PasswordHasher | None = None) -> None:
        self._tx = tx
        self._today = today
        self._hasher = hasher or PasswordHasher()

    async def _row(self, account: AccountRef) -> Customer | Person | None:
        if account.kind is AccountKind.CUSTOMER:
            return await self._tx.customers.get(account.local_id)
        return await self._tx.people.get(account.local_id)

    def _active(self, row: Customer | Person) -> bool:
        if isinstance(row, Customer):
            return customer_is_active(row)
        return person_is_active(row, self._today)

    async def find(self, account: AccountRef) -> DirectoryAccount | None:
        row = await self._row(account)
        if row is None:
            return None
        disabled_on = row.out_of_service_on if isinstance(row, Person) else None
        return DirectoryAccount(account.login, account.external_id, self._active(row), disabled_on)

    async def ensure_enabled(self, account: AccountRef) -> DirectoryAccount:
        """The store's own state already says whether the account may log in (activation,
        approval); there is nothing else to switch on."""
        found = await self.find(account)
        if found is None:
            raise AccountMissing(f"no {account.kind.value} #{account.local_id} in the store")
        return found

    async def set_password(self, account: AccountRef, password: str) -> None:
        row = await self._row(account)
        if row is None:
            raise AccountMissing(f"no {account.kind.value} #{account.local_id} in the store")
        row.password_hash = await hash_password(self._hasher, password)

    async def disable(self, account: AccountRef, on: date) -> None:
        """An employee's out-of-service date is the switch (``person_is_active``); a
        customer's account is switched off by ``account_active``."""
        row = await self._row(account)
        if isinstance(row, Customer):
            row.account_active = False

    async def is_active(self, account: AccountRef) -> bool:
        found = await self.find(account)
        return found is not None and found.active

    async def check(self) -> None:
        return None


class BuiltinDirectories:
    """Every organization on the built-in directory (the embedded default, and tests)."""

    def kind_for(self, organization: Organization) -> DirectoryKind:
        return DirectoryKind.BUILTIN

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    def open(self, organization: Organization, tx: Transaction, now: datetime) -> BuiltinDirectory:
        return BuiltinDirectory(tx, now.date(), self._hasher)

    async def change_password(self, change: PasswordChange) -> str:
        return await hash_password(self._hasher, change.password)


async def hash_password(hasher: PasswordHasher, password: str) -> str:
    """The argon2 hash of ``password``, made on a thread (tens of milliseconds of CPU that
    must not stall the event loop) and outside any transaction."""
    return await asyncio.to_thread(hasher.hash, password)


class VerdictStatus(StrEnum):
    ACTIVE = "active"
    """The password is right and the account may log in."""
    DISABLED = "disabled"
    """The password is right, but the account may not log in (offboarded, blocked)."""
    INVALID = "invalid"
    """A wrong password, or a login nobody has: the same answer for both."""


@dataclass(frozen=True)
class Verdict:
    valid: bool
    status: VerdictStatus


@dataclass(frozen=True)
class Candidate:
    """What the store holds for a login, read in a short transaction: the hash is then
    checked outside it (argon2 takes tens of milliseconds, no lock should wait on it)."""

    password_hash: str | None
    active: bool


class PasswordVerifier:
    """Checks a login's password against the store, with the same work for a login nobody
    has (one argon2 verification against a hash of a random password)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy = self._hasher.hash(secrets.token_urlsafe(24))

    async def candidate(
        self, tx: Transaction, organization: Organization, login: str, today: date
    ) -> Candidate:
        row = await _account_for_login(tx, organization, login)
        if row is None:
            return Candidate(None, False)
        if isinstance(row, Customer):
            return Candidate(row.password_hash, customer_is_active(row))
        return Candidate(row.password_hash, person_is_active(row, today))

    async def judge(self, candidate: Candidate, password: str) -> Verdict:
        stored = candidate.password_hash or self._dummy
        right = await asyncio.to_thread(self._hasher.verify, stored, password)
        if not right or candidate.password_hash is None:
            return Verdict(False, VerdictStatus.INVALID)
        if not candidate.active:
            return Verdict(False, VerdictStatus.DISABLED)
        return Verdict(True, VerdictStatus.ACTIVE)

    async def verify(
        self, tx: Transaction, organization: Organization, login: str, password: str, today: date
    ) -> Verdict:
        """Both steps in one go (``balie account check``)."""
        return await self.judge(await self.candidate(tx, organization, login, today), password)


async def _account_for_login(
    tx: Transaction, organization: Organization, login: str
) -> Customer | Person | None:
    """The account a portal's login names: an employee's e-mail address, a customer's
    number, or a customer's e-mail address when exactly one customer has it (a family
    sharing one address logs in by customer number)."""
    login = login.strip()
    if "@" in login:
        person = await tx.people.by_contact(organization.id, DeliveryChannel.EMAIL, login.lower())
        if person is not None:
            return person
        found = await tx.customers.by_contact(organization.id, email=login.lower())
        return found[0] if len(found) == 1 else None
    return await tx.customers.by_number(organization.id, login)
