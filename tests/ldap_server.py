"""The real slapd that scripts/slapd.sh starts, for the LDAP directory tests.

A fixture module, not a conftest: a test module imports what it uses
(``from tests.ldap_server import ldap_directory, ldap_server``). Without
``BALIE_TEST_LDAP_URL`` the tests skip, or fail when CI=true; scripts/test.sh sets it from
``scripts/slapd.sh env``. The server outlives a test, so each test makes accounts of its own
(:func:`new_account`).
"""

from __future__ import annotations

import os
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ldap3 import SUBTREE, Connection, Server, Tls
from ldap3.utils.conv import escape_filter_chars
from pydantic import SecretStr

from bot.directories.ldap import PERMANENT_LOCK, LdapDirectory, LdapSettings
from flows.directory import AccountKind, AccountRef

LDAP_URL_VARIABLE = "BALIE_TEST_LDAP_URL"


@dataclass(frozen=True)
class LdapServer:
    """Where the test slapd is, and what the tests check on it behind the adapter's back."""

    url: str
    ldaps_url: str
    ca_file: Path
    bind_dn: str
    bind_password: str
    users_dn: str

    def settings(self, **changes: Any) -> LdapSettings:
        """Settings for this server (StartTLS with the test CA), ``changes`` applied."""
        values: dict[str, Any] = {
            "url": self.url,
            "ca_file": self.ca_file,
            "bind_dn": self.bind_dn,
            "bind_password": SecretStr(self.bind_password),
            "users_dn": self.users_dn,
            "timeout": 5,
        }
        values.update(changes)
        return LdapSettings(_env_file=None, **values)

    def can_bind(self, dn_or_login: str, password: str) -> bool:
        """Whether a simple bind (after StartTLS) as this entry and password succeeds."""
        dn = dn_or_login if "=" in dn_or_login else self.dn_of(dn_or_login)
        if dn is None:
            return False
        connection = Connection(self._server(), user=dn, password=password, receive_timeout=5)
        try:
            connection.open()
            connection.start_tls()
            return bool(connection.bind())
        finally:
            connection.unbind()

    def is_locked(self, login: str) -> bool:
        """Whether the entry with this mail has ppolicy's administrator lock."""
        entry = self._read(login, "pwdAccountLockedTime")
        if entry is None:
            return False
        values = entry["raw_attributes"].get("pwdAccountLockedTime") or []
        return [value.decode() for value in values] == [PERMANENT_LOCK]

    def dn_of(self, login: str) -> str | None:
        entry = self._read(login, "mail")
        return str(entry["dn"]) if entry else None

    def attributes(self, login: str, *names: str) -> dict[str, list[str]]:
        """The entry's values of ``names`` (as text), read as the bind DN."""
        entry = self._read(login, *names)
        assert entry is not None, f"no entry with mail={login}"
        raw = {key.lower(): value for key, value in entry["raw_attributes"].items()}
        return {name: [value.decode() for value in raw.get(name.lower(), [])] for name in names}

    def _read(self, login: str, *attributes: str) -> dict[str, Any] | None:
        connection = Connection(
            self._server(), user=self.bind_dn, password=self.bind_password, receive_timeout=5
        )
        try:
            connection.open()
            connection.start_tls()
            assert connection.bind(), connection.result
            connection.search(
                self.users_dn,
                f"(mail={escape_filter_chars(login)})",
                SUBTREE,
                attributes=list(attributes),
            )
            found = [item for item in connection.response or [] if item["type"] == "searchResEntry"]
            return found[0] if found else None
        finally:
            connection.unbind()

    def _server(self) -> Server:
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(self.ca_file))
        return Server(self.url, tls=tls, connect_timeout=5)


def new_account(name: str = "Test Person", *, login: bool = True) -> AccountRef:
    """An account no other test (or earlier run against the same server) has used."""
    tag = uuid.uuid4().hex[:12]
    return AccountRef(
        AccountKind.CUSTOMER,
        local_id=1,
        organization_id=1,
        login=f"{tag}@example.test" if login else None,
        external_id=f"C-{tag}",
        name=name,
    )


@pytest.fixture
def ldap_server() -> LdapServer:
    """The slapd of scripts/slapd.sh; skip (or fail in CI) without one."""
    return running_ldap_server()


def running_ldap_server() -> LdapServer:
    """The slapd of scripts/slapd.sh; skip (or fail in CI) without one."""
    url = os.environ.get(LDAP_URL_VARIABLE)
    if not url:
        reason = f"{LDAP_URL_VARIABLE} is not set: start a server with scripts/slapd.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the LDAP tests, but {reason}")
        pytest.skip(reason)
    return LdapServer(
        url=url,
        ldaps_url=os.environ["BALIE_TEST_LDAPS_URL"],
        ca_file=Path(os.environ["BALIE_TEST_LDAP_CA_FILE"]),
        bind_dn=os.environ["BALIE_TEST_LDAP_BIND_DN"],
        bind_password=os.environ["BALIE_TEST_LDAP_BIND_PASSWORD"],
        users_dn=os.environ["BALIE_TEST_LDAP_USERS_DN"],
    )


@pytest.fixture
async def ldap_directory(ldap_server: LdapServer) -> AsyncIterator[LdapDirectory]:
    """An :class:`LdapDirectory` on the test slapd (StartTLS, the test CA), closed after."""
    directory = LdapDirectory(ldap_server.settings())
    yield directory
    await directory.aclose()
