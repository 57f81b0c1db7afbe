"""A directory connector in memory, for flow tests that need an outage or a refusal on cue
(the real LDAP and SCIM servers are tested in tests/test_directory_ldap.py and _scim.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from flows.directory import AccountRef, DirectoryAccount, DirectoryKind


@dataclass
class Entry:
    login: str | None
    external_id: str
    active: bool = True
    password: str | None = None
    disabled_on: date | None = None


@dataclass
class MemoryDirectory:
    kind: DirectoryKind = DirectoryKind.LDAP
    entries: dict[str, Entry] = field(default_factory=dict)
    failures: list[Exception] = field(default_factory=list)
    """Raised, one per call, before any call does its work."""
    calls: list[str] = field(default_factory=list)

    def _fail_if_asked(self, call: str) -> None:
        self.calls.append(call)
        if self.failures:
            raise self.failures.pop(0)

    def _entry(self, account: AccountRef) -> Entry | None:
        return self.entries.get(account.external_id)

    async def find(self, account: AccountRef) -> DirectoryAccount | None:
        self._fail_if_asked("find")
        entry = self._entry(account)
        if entry is None:
            return None
        return DirectoryAccount(entry.login, entry.external_id, entry.active, entry.disabled_on)

    async def ensure_enabled(self, account: AccountRef) -> DirectoryAccount:
        self._fail_if_asked("ensure_enabled")
        entry = self.entries.setdefault(
            account.external_id, Entry(account.login, account.external_id)
        )
        entry.active, entry.disabled_on = True, None
        return DirectoryAccount(entry.login, entry.external_id, True)

    async def set_password(self, account: AccountRef, password: str) -> None:
        self._fail_if_asked("set_password")
        entry = self.entries.setdefault(
            account.external_id, Entry(account.login, account.external_id)
        )
        entry.active, entry.password = True, password

    async def disable(self, account: AccountRef, on: date) -> None:
        self._fail_if_asked("disable")
        entry = self._entry(account)
        if entry is not None:
            entry.active, entry.disabled_on = False, on

    async def is_active(self, account: AccountRef) -> bool:
        self._fail_if_asked("is_active")
        entry = self._entry(account)
        return entry is not None and entry.active

    async def check(self) -> None:
        self._fail_if_asked("check")

    async def aclose(self) -> None:
        return None
