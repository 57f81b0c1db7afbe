"""The SCIM directory against a real SCIM 2.0 server (scim2-server, scripts/scim.sh): what
the adapter does shows in the server's own state."""

from __future__ import annotations

import dataclasses
import socket
from datetime import date
from pathlib import Path

import pytest

from bot.directories.scim import ScimDirectory, filter_value, plain_reason
from flows.directory import (
    DirectoryKind,
    DirectoryMisconfigured,
    DirectoryUnavailable,
    PasswordRejected,
)
from tests.scim_server import (  # noqa: F401
    ScimServer,
    new_account,
    scim_directory,
    scim_server,
    scim_settings,
)

OFFBOARDING = date(2026, 12, 1)


async def test_set_password_creates_the_user_with_it(
    scim_directory: ScimDirectory,  # noqa: F811
    scim_server: ScimServer,  # noqa: F811
) -> None:
    account = new_account()
    assert scim_directory.kind is DirectoryKind.SCIM
    assert await scim_directory.find(account) is None

    await scim_directory.set_password(account, "Tulp-en-Molen-42")

    state = scim_server.user_state(account.login or "")
    assert state["externalId"] == account.external_id
    assert state["active"] is True
    assert state["displayName"] == "Noor Bakker"
    assert state["emails"][0]["value"] == account.login
    assert "password" not in state  # write-only: the server never returns it
    assert scim_server.password_is(account.login or "", "Tulp-en-Molen-42")


async def test_a_new_password_replaces_the_old_one(
    scim_directory: ScimDirectory,  # noqa: F811
    scim_server: ScimServer,  # noqa: F811
) -> None:
    account = new_account()
    login = account.login or ""
    await scim_directory.set_password(account, "Eerste-Wachtwoord-1")

    await scim_directory.set_password(account, "Tweede-Wachtwoord-2")

    assert scim_server.password_is(login, "Tweede-Wachtwoord-2")
    assert not scim_server.password_is(login, "Eerste-Wachtwoord-1")
    assert scim_server.user_state(login)["active"] is True


async def test_disable_and_enable_toggle_active(
    scim_directory: ScimDirectory,  # noqa: F811
    scim_server: ScimServer,  # noqa: F811
) -> None:
    account = new_account()
    login = account.login or ""
    enabled = await scim_directory.ensure_enabled(account)
    assert enabled.active and enabled.login == login
    assert scim_server.user_state(login)["active"] is True

    await scim_directory.disable(account, OFFBOARDING)

    assert scim_server.user_state(login)["active"] is False
    assert not await scim_directory.is_active(account)
    found = await scim_directory.find(account)
    assert found is not None and not found.active

    await scim_directory.disable(account, OFFBOARDING)  # twice: still fine
    await scim_directory.ensure_enabled(account)

    assert scim_server.user_state(login)["active"] is True
    assert await scim_directory.is_active(account)


async def test_disabling_a_missing_account_is_fine(
    scim_directory: ScimDirectory,  # noqa: F811
    scim_server: ScimServer,  # noqa: F811
) -> None:
    account = new_account()

    await scim_directory.disable(account, OFFBOARDING)

    assert scim_server.user_state(account.login or "") == {}
    assert not await scim_directory.is_active(account)


async def test_set_password_enables_a_disabled_account(
    scim_directory: ScimDirectory,  # noqa: F811
    scim_server: ScimServer,  # noqa: F811
) -> None:
    account = new_account()
    await scim_directory.ensure_enabled(account)
    await scim_directory.disable(account, OFFBOARDING)

    await scim_directory.set_password(account, "Weer-Welkom-7")

    assert scim_server.user_state(account.login or "")["active"] is True
    assert scim_server.password_is(account.login or "", "Weer-Welkom-7")


async def test_find_by_user_name_and_by_external_id(
    scim_directory: ScimDirectory,  # noqa: F811
) -> None:
    account = new_account()
    await scim_directory.ensure_enabled(account)

    by_login = await scim_directory.find(dataclasses.replace(account, external_id="K-other"))
    by_number = await scim_directory.find(dataclasses.replace(account, login=None))
    # The login wins: an e-mail address that changed in Balie still finds the number's user.
    by_number_new_mail = await scim_directory.find(
        dataclasses.replace(account, login="nieuw.adres@example.org")
    )

    for found in (by_login, by_number, by_number_new_mail):
        assert found is not None
        assert (found.login, found.external_id) == (account.login, account.external_id)
        assert found.active
    assert await scim_directory.find(new_account()) is None


async def test_quotes_in_a_login_are_escaped_in_the_filter(
    scim_directory: ScimDirectory,  # noqa: F811
    scim_server: ScimServer,  # noqa: F811
) -> None:
    account = new_account()
    odd = dataclasses.replace(account, login=(account.login or "").replace("noor", 'n"o\\or'))

    await scim_directory.ensure_enabled(odd)

    assert scim_server.user_state(odd.login or "")["externalId"] == account.external_id
    assert filter_value('a"b\\c') == '"a\\"b\\\\c"'


async def test_a_password_the_policy_refuses_changes_nothing(
    scim_directory: ScimDirectory,  # noqa: F811
    scim_server: ScimServer,  # noqa: F811
) -> None:
    """scim2-server applies RFC 8265's PRECIS rules: a control character is refused."""
    account = new_account()
    login = account.login or ""
    await scim_directory.set_password(account, "Goed-Wachtwoord-3")
    refused = "Slecht\x07Wachtwoord"

    with pytest.raises(PasswordRejected) as caught:
        await scim_directory.set_password(account, refused)

    assert refused not in str(caught.value)
    assert "\\x07" not in caught.value.reason
    assert caught.value.reason.startswith("The password")
    assert scim_server.password_is(login, "Goed-Wachtwoord-3")

    with pytest.raises(PasswordRejected):  # a new account is not created either
        await scim_directory.set_password(new_account(), refused)


def test_plain_reason_keeps_the_password_out() -> None:
    detail = "Password 'Geheim123' was used before; choose another"

    assert plain_reason(detail, "Geheim123") == ("Password '…' was used before; choose another.")
    assert plain_reason("", "x") == "The directory refused this password."


async def test_check_passes_with_the_right_token(
    scim_directory: ScimDirectory,  # noqa: F811
) -> None:
    await scim_directory.check()


async def test_a_wrong_token_is_misconfigured(scim_server: ScimServer) -> None:  # noqa: F811
    directory = ScimDirectory(scim_settings(scim_server.url, "not-the-token"))
    try:
        with pytest.raises(DirectoryMisconfigured, match="refused the token") as caught:
            await directory.check()
        assert "not-the-token" not in str(caught.value)
        with pytest.raises(DirectoryMisconfigured):
            await directory.set_password(new_account(), "Wachtwoord-Geheim-9")
    finally:
        await directory.aclose()


async def test_a_wrong_path_is_misconfigured(scim_server: ScimServer) -> None:  # noqa: F811
    directory = ScimDirectory(scim_settings(scim_server.url + "/nope", scim_server.token))
    try:
        with pytest.raises(DirectoryMisconfigured, match="404"):
            await directory.check()
    finally:
        await directory.aclose()


def test_an_unreadable_ca_file_is_misconfigured(tmp_path: Path) -> None:
    settings = scim_settings("https://scim.example.org/v2", "some-token")
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    for ca_file in (tmp_path / "missing.pem", tmp_path / "ca.pem"):
        with pytest.raises(DirectoryMisconfigured, match="BALIE_SCIM_CA_FILE"):
            ScimDirectory(settings.model_copy(update={"ca_file": ca_file}))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_service_is_unavailable() -> None:
    directory = ScimDirectory(
        scim_settings(f"http://127.0.0.1:{_closed_port()}/v2", "some-token", timeout=2)
    )
    try:
        with pytest.raises(DirectoryUnavailable) as caught:
            await directory.check()
        with pytest.raises(DirectoryUnavailable) as during_password:
            await directory.set_password(new_account(), "Wachtwoord-Geheim-9")
    finally:
        await directory.aclose()
    assert "some-token" not in str(caught.value)
    assert "Wachtwoord-Geheim-9" not in str(during_password.value)
