"""The LDAP v3 directory: OpenLDAP, 389 Directory Server or Active Directory.

ldap3 is pure Python (no libldap or compiler on the machine, the same TLS stack as the rest of
Balie) but synchronous, so every call runs in a worker thread. Each call opens a connection
(StartTLS or ldaps, the certificate always verified) bound as the configured bind DN, or reuses
the one idle connection after a Who am I? probe; a connection that carried a password is closed
at once, never kept. Passwords go to the server with the Password Modify extended operation
(RFC 3062), so the server hashes them under its own policy; Active Directory takes them through
``unicodePwd`` instead. Disabling sets ``disable_attribute`` (OpenLDAP ppolicy's
``pwdAccountLockedTime``), or bit 2 of ``userAccountControl`` on Active Directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from ldap3 import BASE, MODIFY_DELETE, MODIFY_REPLACE, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.directories import ldap_errors
from flows.directory import (
    AccountRef,
    DirectoryAccount,
    DirectoryError,
    DirectoryKind,
    DirectoryMisconfigured,
    DirectoryUnavailable,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

PERMANENT_LOCK = "000001010000Z"
"""OpenLDAP ppolicy's ``pwdAccountLockedTime`` for "locked by an administrator"."""
AD_ACCOUNT_DISABLED = 0x2
"""``ACCOUNTDISABLE`` in Active Directory's ``userAccountControl``."""
AD_NORMAL_ACCOUNT = 0x200
NO_SUCH_ATTRIBUTE = 16
ENTRY_ALREADY_EXISTS = 68


class LdapSettings(BaseSettings):
    """``BALIE_LDAP_*``: where the directory is, how Balie binds, where the accounts live."""

    model_config = SettingsConfigDict(
        env_prefix="BALIE_LDAP_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    url: str
    """``ldap://host[:port]`` (upgraded with StartTLS while ``starttls``) or ``ldaps://``."""
    starttls: bool = True
    ca_file: Path | None = None
    """PEM file of the CA to trust; unset, the system's trust store."""
    bind_dn: str
    bind_password: SecretStr
    users_dn: str
    """The base searched (subtree) for accounts, and where new ones are created."""
    login_attribute: str = "mail"
    id_attribute: str = "employeeNumber"
    """Holds ``AccountRef.external_id`` (the customer number, ``person-<id>``)."""
    disable_attribute: str = "pwdAccountLockedTime"
    disable_value: str = PERMANENT_LOCK
    """Written to ``disable_attribute`` to disable (389 DS: ``nsAccountLock`` = ``TRUE``)."""
    active_directory: bool = False
    """Passwords through ``unicodePwd``, disabling through ``userAccountControl``."""
    timeout: int = Field(default=10, ge=1)
    """Seconds for connecting and for each answer (whole seconds: ldap3 sets SO_RCVTIMEO)."""

    @field_validator("url")
    @classmethod
    def _ldap_url(cls, value: str) -> str:
        if not value.lower().startswith(("ldap://", "ldaps://")):
            raise ValueError("must start with ldap:// or ldaps://")
        return value


@dataclass(frozen=True)
class _Entry:
    dn: str
    account: DirectoryAccount
    control: int | None = None
    """Active Directory's userAccountControl, when read."""


class LdapDirectory:
    """:class:`flows.directory.Directory` over LDAP v3."""

    kind = DirectoryKind.LDAP

    def __init__(self, settings: LdapSettings) -> None:
        self._settings = settings
        self._ldaps = settings.url.lower().startswith("ldaps://")
        self._tls = Tls(
            validate=ssl.CERT_REQUIRED,  # always: a bad certificate stops the call
            ca_certs_file=str(settings.ca_file) if settings.ca_file else None,
        )
        self._server = self._new_server()
        self._where = f"the LDAP server at {self._server.host}:{self._server.port}"
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        if not self._ldaps and not settings.starttls:
            log.warning("%s is used without TLS: passwords cross the network in clear", self._where)

    # ------------------------------------------------------------------ the port

    async def find(self, account: AccountRef) -> DirectoryAccount | None:
        entry = await self._run(lambda connection: self._lookup(connection, account))
        return entry.account if entry else None

    async def ensure_enabled(self, account: AccountRef) -> DirectoryAccount:
        def work(connection: Connection) -> DirectoryAccount:
            entry = self._lookup(connection, account) or self._create(connection, account)
            if not entry.account.active:
                self._enable(connection, entry)
            return self._account(entry, active=True)

        return await self._run(work)

    async def set_password(self, account: AccountRef, password: str) -> None:
        # The password is set before the account is enabled: a refused password leaves a
        # disabled account disabled.
        def work(connection: Connection) -> None:
            entry = self._lookup(connection, account) or self._create(connection, account)
            self._set_password(connection, entry.dn, password)
            if not entry.account.active:
                self._enable(connection, entry)

        await self._run(work, reuse=False)

    async def disable(self, account: AccountRef, on: date) -> None:
        def work(connection: Connection) -> None:
            entry = self._lookup(connection, account)
            if entry is not None and entry.account.active:
                self._disable(connection, entry)

        await self._run(work)

    async def is_active(self, account: AccountRef) -> bool:
        found = await self.find(account)
        return found is not None and found.active

    async def check(self) -> None:
        def work(connection: Connection) -> None:
            users_dn = self._settings.users_dn
            connection.search(users_dn, "(objectClass=*)", BASE, attributes=["1.1"])
            if connection.result.get("result") == ldap_errors.NO_SUCH_OBJECT:
                raise DirectoryMisconfigured(
                    f"{self._where} has no entry {users_dn} (BALIE_LDAP_USERS_DN), "
                    "or the bind DN may not read it"
                )
            self._ensure(connection, f"read {users_dn}")

        await self._run(work)

    async def aclose(self) -> None:
        """Close the idle connection; calls after this raise DirectoryUnavailable."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            await asyncio.to_thread(_unbind, connection)

    # ------------------------------------------------------------ the operations

    def _lookup(self, connection: Connection, account: AccountRef) -> _Entry | None:
        """By login, else by external id (escaped filters, subtree of ``users_dn``)."""
        s = self._settings
        attributes = [s.login_attribute, s.id_attribute, s.disable_attribute]
        if s.active_directory:
            attributes.append("userAccountControl")
        for attribute, value in (
            (s.login_attribute, account.login),
            (s.id_attribute, account.external_id),
        ):
            if not value:
                continue
            query = f"({attribute}={escape_filter_chars(value)})"
            connection.search(
                s.users_dn,
                query,
                SUBTREE,
                attributes=attributes,
                size_limit=2,
                time_limit=s.timeout,
            )
            if connection.result.get("result") == ldap_errors.NO_SUCH_OBJECT:
                raise DirectoryMisconfigured(
                    f"{self._where} has no entry {s.users_dn} (BALIE_LDAP_USERS_DN)"
                )
            if connection.result.get("result") != 4:  # sizeLimitExceeded: more than one
                self._ensure(connection, f"search {s.users_dn}")
            found = [
                item for item in connection.response or [] if item.get("type") == "searchResEntry"
            ]
            if found:
                if len(found) > 1:
                    log.warning("more than one LDAP entry has %s; using the first", query)
                return self._entry(found[0])
        return None

    def _create(self, connection: Connection, account: AccountRef) -> _Entry:
        s = self._settings
        handle = account.login or account.external_id
        name = account.name.strip() or handle
        attributes: dict[str, Any] = {
            "cn": name,
            "sn": name.split()[-1],
            s.id_attribute: account.external_id,
        }
        if account.login:
            attributes["mail"] = account.login
            attributes[s.login_attribute] = account.login
        if s.active_directory:
            dn = f"CN={escape_rdn(handle)},{s.users_dn}"
            attributes["objectClass"] = ["top", "person", "organizationalPerson", "user"]
            attributes["userAccountControl"] = str(AD_NORMAL_ACCOUNT | AD_ACCOUNT_DISABLED)
            if account.login:
                attributes["userPrincipalName"] = account.login
        else:
            dn = f"uid={escape_rdn(handle)},{s.users_dn}"
            attributes["objectClass"] = ["inetOrgPerson"]
            attributes["uid"] = handle
        connection.add(dn, attributes=attributes)
        if connection.result.get("result") == ENTRY_ALREADY_EXISTS:
            entry = self._lookup(connection, account)
            if entry is not None:
                return entry
        self._ensure(connection, f"add {dn}")
        log.info("created LDAP entry %s", dn)
        active = not s.active_directory
        control = AD_NORMAL_ACCOUNT | AD_ACCOUNT_DISABLED if s.active_directory else None
        return _Entry(dn, DirectoryAccount(account.login, account.external_id, active), control)

    def _set_password(self, connection: Connection, dn: str, password: str) -> None:
        if self._settings.active_directory:
            value = f'"{password}"'.encode("utf-16-le")
            connection.modify(dn, {"unicodePwd": [(MODIFY_REPLACE, [value])]})
        else:
            control = (ldap_errors.PPOLICY_OID, False, None)
            connection.extend.standard.modify_password(dn, None, password, controls=[control])
        result = connection.result
        if result.get("result") != ldap_errors.SUCCESS and ldap_errors.is_policy_refusal(result):
            raise ldap_errors.rejection(result)
        self._ensure(connection, f"set the password of {dn}")

    def _enable(self, connection: Connection, entry: _Entry) -> None:
        s = self._settings
        if s.active_directory:
            control = (entry.control or AD_NORMAL_ACCOUNT) & ~AD_ACCOUNT_DISABLED
            connection.modify(entry.dn, {"userAccountControl": [(MODIFY_REPLACE, [str(control)])]})
        else:
            connection.modify(entry.dn, {s.disable_attribute: [(MODIFY_DELETE, [])]})
            if connection.result.get("result") == NO_SUCH_ATTRIBUTE:
                return
        self._ensure(connection, f"enable {entry.dn}")
        log.info("enabled LDAP entry %s", entry.dn)

    def _disable(self, connection: Connection, entry: _Entry) -> None:
        s = self._settings
        if s.active_directory:
            control = (entry.control or AD_NORMAL_ACCOUNT) | AD_ACCOUNT_DISABLED
            change = {"userAccountControl": [(MODIFY_REPLACE, [str(control)])]}
        else:
            change = {s.disable_attribute: [(MODIFY_REPLACE, [s.disable_value])]}
        connection.modify(entry.dn, change)
        self._ensure(connection, f"disable {entry.dn}")
        log.info("disabled LDAP entry %s", entry.dn)

    def _entry(self, item: dict[str, Any]) -> _Entry:
        s = self._settings
        raw = {key.lower(): values for key, values in (item.get("raw_attributes") or {}).items()}

        def first(attribute: str) -> str | None:
            values = raw.get(attribute.lower()) or []
            return values[0].decode("utf-8", "replace") if values else None

        lock = first(s.disable_attribute)
        control: int | None = None
        if s.active_directory:
            control = int(first("userAccountControl") or AD_NORMAL_ACCOUNT)
            active = not control & AD_ACCOUNT_DISABLED
        else:
            active = lock is None
        account = DirectoryAccount(
            first(s.login_attribute), first(s.id_attribute), active, _locked_on(lock)
        )
        return _Entry(str(item["dn"]), account, control)

    def _account(self, entry: _Entry, *, active: bool) -> DirectoryAccount:
        found = entry.account
        return DirectoryAccount(found.login, found.external_id, active)

    def _ensure(self, connection: Connection, doing: str) -> None:
        """Raise the port's error unless the last operation succeeded."""
        if connection.result.get("result") != ldap_errors.SUCCESS:
            raise ldap_errors.from_result(connection.result, self._where, doing)

    # ------------------------------------------------------------- connections

    async def _run(self, work: Callable[[Connection], T], *, reuse: bool = True) -> T:
        return await asyncio.to_thread(self._call, work, reuse)

    def _call(self, work: Callable[[Connection], T], reuse: bool) -> T:
        connection = self._acquire()
        kept = False
        try:
            result = work(connection)
            kept = reuse
            return result
        except DirectoryError:
            raise
        except (LDAPException, OSError) as exc:
            raise ldap_errors.from_exception(exc, self._where) from exc
        finally:
            self._release(connection, kept)

    def _acquire(self) -> Connection:
        with self._lock:
            if self._closed:
                raise DirectoryUnavailable(f"the connection to {self._where} was closed")
            connection = self._idle.pop() if self._idle else None
        if connection is not None:
            if _alive(connection):
                return connection
            _unbind(connection)
        return self._connect()

    def _release(self, connection: Connection, keep: bool) -> None:
        with self._lock:
            if keep and not self._closed and not self._idle and not connection.closed:
                self._idle.append(connection)
                return
        _unbind(connection)

    def _new_server(self) -> Server:
        """ldap3 remembers an address that failed and refuses it for a while ("invalid
        server address"): each new connection gets a fresh Server, so the first try after
        an outage reaches the directory again."""
        return Server(
            self._settings.url,
            use_ssl=self._ldaps,
            tls=self._tls,
            get_info=NONE,
            connect_timeout=self._settings.timeout,
        )

    def _connect(self) -> Connection:
        s = self._settings
        connection = Connection(
            self._new_server(),
            user=s.bind_dn,
            password=s.bind_password.get_secret_value(),
            receive_timeout=s.timeout,
            raise_exceptions=False,
            read_only=False,
        )
        try:
            connection.open()
            if not self._ldaps and s.starttls and not connection.start_tls():
                raise ldap_errors.from_result(connection.result, self._where, "start TLS")
            if not connection.bind():
                raise ldap_errors.from_result(
                    connection.result, self._where, f"bind as {s.bind_dn}"
                )
        except DirectoryError:
            _unbind(connection)
            raise
        except (LDAPException, OSError) as exc:
            _unbind(connection)
            raise ldap_errors.from_exception(exc, self._where) from exc
        return connection


def _alive(connection: Connection) -> bool:
    try:
        connection.extend.standard.who_am_i()
    except (LDAPException, OSError):
        return False
    return bool(connection.result.get("result") == ldap_errors.SUCCESS)


def _unbind(connection: Connection) -> None:
    with contextlib.suppress(LDAPException, OSError):
        connection.unbind()


def _locked_on(value: str | None) -> date | None:
    """The day of a ``pwdAccountLockedTime`` (``YYYYMMDDhhmmssZ``); None for the
    administrator's permanent lock or anything else."""
    if not value or value == PERMANENT_LOCK or len(value) < 8 or not value[:8].isdigit():
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return None
