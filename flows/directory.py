"""The directory port: where the accounts live that people log in with.

Balie's account actions take effect in the organization's directory, the system its portal
or office app checks passwords against: Balie's own store (``builtin``), an LDAP v3
directory (``ldap``) or a SCIM 2.0 service (``scim``). The flows speak to it through
:class:`Directory`; ``bot.directories`` has one adapter per kind and picks the one each
organization is set to.

Two kinds of call, treated differently:

* **with a secret** (:meth:`Directory.set_password`): made while the person waits, the
  password in memory only for that call. When the directory is down or refuses, the person
  is told so and nothing says success; the password never goes into the outbox or any
  retry queue.
* **without a secret** (:meth:`Directory.ensure_enabled`, :meth:`Directory.disable`): queued in
  the outbox as a directory operation (:func:`operation_payload`), so an outage delays
  them but loses none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol

from flows.model import Customer, Organization, Person
from flows.store import Transaction


class DirectoryKind(StrEnum):
    BUILTIN = "builtin"
    LDAP = "ldap"
    SCIM = "scim"


class AccountKind(StrEnum):
    CUSTOMER = "customer"
    """A portal account of a tenant, client or parent (seeds 002-004)."""
    PERSON = "person"
    """An employee, manager or staff member (seed 000's office app)."""


@dataclass(frozen=True)
class AccountRef:
    """Which account in the directory: matched on ``login`` (the e-mail address), else on
    ``external_id`` (the customer number, or ``person-<id>`` for an employee)."""

    kind: AccountKind
    local_id: int
    """The row in Balie's store (a customer's or a person's id)."""
    organization_id: int
    login: str | None
    external_id: str
    name: str


def customer_account(customer: Customer) -> AccountRef:
    return AccountRef(
        AccountKind.CUSTOMER,
        customer.id,
        customer.organization_id,
        customer.email,
        customer.customer_number,
        customer.name,
    )


def person_account(person: Person) -> AccountRef:
    return AccountRef(
        AccountKind.PERSON,
        person.id,
        person.organization_id,
        person.email,
        f"person-{person.id}",
        person.name,
    )


@dataclass(frozen=True)
class DirectoryAccount:
    """What the directory says about an account."""

    login: str | None
    external_id: str | None
    active: bool
    disabled_on: date | None = None


class DirectoryError(Exception):
    """Base of what a directory call raises; the message is one line for an operator and
    never holds a password."""


class DirectoryUnavailable(DirectoryError):
    """Down, unreachable, too slow or failing for now: try again later. Nothing changed."""


class DirectoryMisconfigured(DirectoryError):
    """A bad certificate, a refused bind or token, a users base that does not exist: the
    operator must act; start-up (or ``balie org check``) stops with this line."""


class PasswordRejected(DirectoryError):
    """The directory's own password policy refused the password; ``reason`` is its words,
    shown to the person (e.g. "password is too young to change")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AccountMissing(DirectoryError):
    """The account is not in the directory (and this call does not create it)."""


class Directory(Protocol):
    """One organization's directory, as the flows and the outbox worker use it."""

    kind: DirectoryKind

    async def find(self, account: AccountRef) -> DirectoryAccount | None:
        """The account by login, else by external id; None when it is not there."""
        ...

    async def ensure_enabled(self, account: AccountRef) -> DirectoryAccount:
        """Create the account if it is missing, and enable it if it is disabled."""
        ...

    async def set_password(self, account: AccountRef, password: str) -> None:
        """Create or enable the account and set its password; the directory hashes it
        under its own policy (:class:`PasswordRejected` when that refuses)."""
        ...

    async def disable(self, account: AccountRef, on: date) -> None:
        """Disable the account (it can no longer log in) as of ``on``; a missing account
        is fine: there is nothing to close."""
        ...

    async def is_active(self, account: AccountRef) -> bool:
        """Whether the account exists and may log in."""
        ...

    async def check(self) -> None:
        """Reach the directory with the configured credentials (bind, token, base):
        :class:`DirectoryMisconfigured` or :class:`DirectoryUnavailable` with one line."""
        ...


@dataclass(frozen=True)
class PasswordChange:
    """A password to set where an account logs in. Setting it is slow (a network round trip,
    or argon2's tens of milliseconds), so a step asks for it as work done outside its
    transaction (:meth:`flows.turn.Turn.done_outside`) and gets a :class:`PasswordChanged`."""

    kind: DirectoryKind
    account: AccountRef
    password: str = field(repr=False)


@dataclass(frozen=True)
class PasswordChanged:
    """What became of a :class:`PasswordChange`: an error (:class:`PasswordRejected`,
    :class:`DirectoryUnavailable`, a timeout, ...) or success; for the built-in directory
    success carries the argon2 hash the step stores."""

    error: Exception | None = None
    password_hash: str | None = field(default=None, repr=False)


class NeedsOutsideWork(Exception):
    """Raised by a step that needs ``work`` done outside its transaction: the desk rolls the
    transaction back (no lock waits on the work), does it, and runs the step again with the
    result."""

    def __init__(self, work: PasswordChange) -> None:
        super().__init__("a step needs work done outside its transaction")
        self.work = work


class Directories(Protocol):
    """Picks each organization's directory (its ``directory`` setting, else the
    deployment's default)."""

    def kind_for(self, organization: Organization) -> DirectoryKind: ...

    async def change_password(self, change: PasswordChange) -> str | None:
        """Outside any transaction: a networked directory sets the password (raising its
        errors); the built-in one returns the argon2 hash for the step to store."""
        ...

    def open(self, organization: Organization, tx: Transaction, now: datetime) -> Directory:
        """The organization's directory; the built-in one works in ``tx`` (so what it
        writes commits with the step) as of ``now``, the others ignore both.
        :class:`DirectoryMisconfigured` when the organization's kind is not set up."""
        ...


class DirectoryOperation(StrEnum):
    ENABLE = "enable"
    DISABLE = "disable"


DIRECTORY_RECIPIENT = "directory"
"""The outbox ``recipient`` of a directory operation (its channel says the rest)."""


def operation_payload(
    operation: DirectoryOperation, account: AccountRef, on: date | None = None
) -> dict[str, Any]:
    """A directory operation as an outbox payload: no secret, so it may wait and retry."""
    payload: dict[str, Any] = {
        "directory_operation": operation.value,
        "account": {
            "kind": account.kind.value,
            "local_id": account.local_id,
            "organization_id": account.organization_id,
            "login": account.login,
            "external_id": account.external_id,
            "name": account.name,
        },
    }
    if on is not None:
        payload["on"] = on.isoformat()
    return payload


def operation_from_payload(
    payload: dict[str, Any],
) -> tuple[DirectoryOperation, AccountRef, date | None]:
    account = payload["account"]
    ref = AccountRef(
        AccountKind(account["kind"]),
        int(account["local_id"]),
        int(account["organization_id"]),
        account.get("login"),
        str(account["external_id"]),
        str(account.get("name") or ""),
    )
    on = payload.get("on")
    return (
        DirectoryOperation(payload["directory_operation"]),
        ref,
        date.fromisoformat(on) if on else None,
    )
