"""The LDAP directory adapter against a real OpenLDAP (scripts/slapd.sh): ppolicy, TLS, binds."""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Iterator
from datetime import date

import pytest

from bot.directories import ldap_errors
from bot.directories.ldap import LdapDirectory
from flows.directory import (
    DirectoryMisconfigured,
    DirectoryUnavailable,
    PasswordRejected,
)
from tests.ldap_server import LdapServer, ldap_directory, ldap_server, new_account

__all__ = ["ldap_directory", "ldap_server"]  # the fixtures, imported for pytest

TODAY = date(2026, 3, 1)


async def test_set_password_creates_the_account_and_the_person_binds_with_it(
    ldap_directory: LdapDirectory, ldap_server: LdapServer
) -> None:
    account = new_account("Anna de Vries")
    assert await ldap_directory.find(account) is None

    await ldap_directory.set_password(account, "first-choice-1")

    assert ldap_server.can_bind(account.login or "", "first-choice-1")
    assert not ldap_server.can_bind(account.login or "", "something-else")
    found = await ldap_directory.find(account)
    assert found is not None
    assert (found.login, found.external_id, found.active) == (
        account.login,
        account.external_id,
        True,
    )
    entry = ldap_server.attributes(account.login or "", "cn", "sn", "uid", "userPassword")
    assert entry["cn"] == ["Anna de Vries"] and entry["sn"] == ["Vries"]
    assert entry["uid"] == [account.login]
    assert entry["userPassword"][0].startswith("{SSHA}"), "the server hashed it"


async def test_a_new_password_replaces_the_old_one(
    ldap_directory: LdapDirectory, ldap_server: LdapServer
) -> None:
    account = new_account()
    await ldap_directory.set_password(account, "old-password-1")
    await ldap_directory.set_password(account, "new-password-2")
    assert ldap_server.can_bind(account.login or "", "new-password-2")
    assert not ldap_server.can_bind(account.login or "", "old-password-1")


async def test_a_password_too_short_for_the_policy_is_rejected_in_plain_words(
    ldap_directory: LdapDirectory, ldap_server: LdapServer
) -> None:
    account = new_account()
    await ldap_directory.set_password(account, "good-password-1")
    with pytest.raises(PasswordRejected) as refused:
        await ldap_directory.set_password(account, "short")
    assert refused.value.reason == "The password is too short for the directory's password policy."
    assert "short" not in str(refused.value).replace("too short", "")
    assert ldap_server.can_bind(account.login or "", "good-password-1"), "nothing changed"


async def test_a_password_in_the_history_is_rejected_in_plain_words(
    ldap_directory: LdapDirectory, ldap_server: LdapServer
) -> None:
    account = new_account()
    await ldap_directory.set_password(account, "history-one-1")
    await ldap_directory.set_password(account, "history-two-2")
    with pytest.raises(PasswordRejected) as refused:
        await ldap_directory.set_password(account, "history-one-1")
    assert "used before" in refused.value.reason
    assert "history-one-1" not in str(refused.value)
    assert ldap_server.can_bind(account.login or "", "history-two-2")


async def test_disable_locks_the_account_and_ensure_enabled_opens_it_again(
    ldap_directory: LdapDirectory, ldap_server: LdapServer
) -> None:
    account = new_account()
    await ldap_directory.set_password(account, "door-password-1")

    await ldap_directory.disable(account, TODAY)

    assert ldap_server.is_locked(account.login or "")
    assert not ldap_server.can_bind(account.login or "", "door-password-1")
    assert await ldap_directory.is_active(account) is False
    found = await ldap_directory.find(account)
    assert found is not None and not found.active
    await ldap_directory.disable(account, TODAY)  # twice is fine

    enabled = await ldap_directory.ensure_enabled(account)

    assert enabled.active
    assert not ldap_server.is_locked(account.login or "")
    assert ldap_server.can_bind(account.login or "", "door-password-1")
    assert await ldap_directory.is_active(account) is True


async def test_a_refused_password_leaves_a_disabled_account_disabled(
    ldap_directory: LdapDirectory, ldap_server: LdapServer
) -> None:
    account = new_account()
    await ldap_directory.set_password(account, "before-leave-1")
    await ldap_directory.disable(account, TODAY)

    with pytest.raises(PasswordRejected):
        await ldap_directory.set_password(account, "tiny")
    assert ldap_server.is_locked(account.login or "")

    await ldap_directory.set_password(account, "after-return-2")
    assert not ldap_server.is_locked(account.login or "")
    assert ldap_server.can_bind(account.login or "", "after-return-2")


async def test_disabling_a_missing_account_is_fine(ldap_directory: LdapDirectory) -> None:
    account = new_account()
    await ldap_directory.disable(account, TODAY)
    assert await ldap_directory.find(account) is None
    assert await ldap_directory.is_active(account) is False


async def test_ensure_enabled_creates_the_entry_and_find_matches_on_the_external_id(
    ldap_directory: LdapDirectory, ldap_server: LdapServer
) -> None:
    account = new_account("Bram")
    created = await ldap_directory.ensure_enabled(account)
    assert created.active
    entry = ldap_server.attributes(account.login or "", "employeeNumber", "mail", "sn")
    assert entry == {
        "employeeNumber": [account.external_id],
        "mail": [account.login],
        "sn": ["Bram"],
    }

    by_number = dataclasses.replace(account, login=None)
    found = await ldap_directory.find(by_number)
    assert found is not None and found.login == account.login
    moved = dataclasses.replace(account, login="someone-else@example.test")
    assert (await ldap_directory.find(moved)) == found, "login unknown: the customer number"
    assert (await ldap_directory.ensure_enabled(account)).active, "a second call creates nothing"


async def test_an_account_without_login_is_created_under_its_external_id(
    ldap_directory: LdapDirectory,
) -> None:
    account = new_account(login=False)
    await ldap_directory.ensure_enabled(account)
    found = await ldap_directory.find(account)
    assert found is not None and (found.login, found.external_id) == (None, account.external_id)


async def test_check_binds_and_reads_the_users_base(ldap_directory: LdapDirectory) -> None:
    await ldap_directory.check()


async def test_ldaps_works_with_the_ca_file(ldap_server: LdapServer) -> None:
    directory = LdapDirectory(ldap_server.settings(url=ldap_server.ldaps_url))
    try:
        await directory.check()
        account = new_account()
        await directory.set_password(account, "over-ldaps-1")
    finally:
        await directory.aclose()
    assert ldap_server.can_bind(account.login or "", "over-ldaps-1")


@pytest.mark.parametrize("scheme", ["starttls", "ldaps"])
async def test_a_certificate_the_system_store_does_not_trust_is_one_clear_line(
    ldap_server: LdapServer, scheme: str
) -> None:
    url = ldap_server.url if scheme == "starttls" else ldap_server.ldaps_url
    directory = LdapDirectory(ldap_server.settings(url=url, ca_file=None))
    with pytest.raises(DirectoryMisconfigured) as failed:
        await directory.check()
    message = str(failed.value)
    assert "\n" not in message
    assert "certificate" in message and "BALIE_LDAP_CA_FILE" in message
    assert ldap_server.bind_password not in message


async def test_a_wrong_bind_password_is_misconfigured_without_the_password(
    ldap_server: LdapServer,
) -> None:
    directory = LdapDirectory(ldap_server.settings(bind_password="not-the-bind-password"))
    with pytest.raises(DirectoryMisconfigured) as failed:
        await directory.check()
    message = str(failed.value)
    assert "invalid credentials" in message and ldap_server.bind_dn in message
    assert "not-the-bind-password" not in message and "\n" not in message
    with pytest.raises(DirectoryMisconfigured):
        await directory.set_password(new_account(), "some-password-1")


async def test_a_users_base_that_does_not_exist_is_misconfigured(ldap_server: LdapServer) -> None:
    directory = LdapDirectory(ldap_server.settings(users_dn="ou=nobody,dc=balie,dc=test"))
    with pytest.raises(DirectoryMisconfigured, match="ou=nobody"):
        await directory.check()
    with pytest.raises(DirectoryMisconfigured, match="ou=nobody"):
        await directory.find(new_account())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_server_that_cannot_be_reached_is_unavailable(ldap_server: LdapServer) -> None:
    directory = LdapDirectory(ldap_server.settings(url=f"ldap://127.0.0.1:{_free_port()}"))
    with pytest.raises(DirectoryUnavailable) as failed:
        await directory.set_password(new_account(), "never-sent-1")
    assert "never-sent-1" not in str(failed.value)
    with pytest.raises(DirectoryUnavailable):
        await directory.check()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers: a server that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


async def test_a_server_that_does_not_answer_is_unavailable_after_the_timeout(
    ldap_server: LdapServer, silent_server: int
) -> None:
    url = f"ldap://127.0.0.1:{silent_server}"
    directory = LdapDirectory(ldap_server.settings(url=url, timeout=1))
    with pytest.raises(DirectoryUnavailable):
        await directory.check()


async def test_the_idle_connection_is_reused_and_closed(
    ldap_directory: LdapDirectory, ldap_server: LdapServer
) -> None:
    account = new_account()
    await ldap_directory.ensure_enabled(account)
    await ldap_directory.disable(account, TODAY)
    assert await ldap_directory.is_active(account) is False

    await ldap_directory.aclose()

    with pytest.raises(DirectoryUnavailable):
        await ldap_directory.find(account)


# ---------------------------------------------------------------- without a server


def test_the_ppolicy_control_gives_the_reason() -> None:
    def result(error: int) -> dict[str, object]:
        value = bytes([0x30, 0x03, 0x81, 0x01, error])
        controls = {ldap_errors.PPOLICY_OID: {"value": value}}
        return {
            "result": 19,
            "message": "Password fails quality checking policy",
            "controls": controls,
        }

    assert ldap_errors.rejection_reason(result(6)).startswith("The password is too short")
    assert "used before" in ldap_errors.rejection_reason(result(8))
    assert ldap_errors.rejection_reason(result(99)) == "Password fails quality checking policy."


def test_a_diagnostic_message_becomes_a_short_plain_sentence() -> None:
    assert ldap_errors.plain_sentence("  password is\n too young to change\x00") == (
        "Password is too young to change."
    )
    assert (
        ldap_errors.rejection_reason(
            {
                "result": 19,
                "message": "0000052D: AtrErr: DSID-03190F80, #1:\n\t0: 0000052D: problem 1005",
            }
        )
        == ldap_errors.AD_POLICY_REASON
    )
    assert len(ldap_errors.plain_sentence("word " * 100)) <= 164
    assert ldap_errors.rejection_reason({"result": 19}) == ldap_errors.DEFAULT_REASON
