"""Issue 11 end to end, once per directory: the real aiogram client against the local Bot
API server, mail through aiosmtpd, and each directory's real server (Balie's own portal
API for the built-in one, slapd for LDAP, scim2-server for SCIM).

For each: activate an account with an activation code and choose a password, then log in
with it at the directory; reset it and see the old one refused; offboard an employee with a
date in the past and see the account disabled there; and (for the networked ones) take the
directory down during a password step: an honest reply, nothing changed, the next try works.
"""

from __future__ import annotations

import asyncio
import re
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from bot.directories.ldap import LdapDirectory
from bot.directories.scim import ScimDirectory
from bot.directories.select import Connector
from bot.settings import Settings
from flows import account_sync, accounts, portal_api
from flows.builtin_directory import BuiltinDirectory
from flows.directory import DirectoryKind, person_account
from flows.domain import AccountStatus, DeliveryChannel
from flows.ports import SystemClock
from handlers.web_api import VERIFY_PATH
from storage.db import create_engine
from storage.uow import Store
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.smtp_server import SmtpServer, free_port
from tests.fakes.tcp_proxy import TcpProxy
from tests.ldap_server import running_ldap_server
from tests.scim_server import running_scim_server, scim_settings
from tests.support import FakeClock, seed_customers
from tests.test_telegram_aiogram import running_bot, settings, telegram  # noqa: F401

TENANT = 8301
TENANT_MAIL = "klant1001@thuis.example"
EMPLOYEE_MAIL = "eva@kantoor.example"
EMPLOYEE_PASSWORD = f"rode vlieger boven het duin {uuid.uuid4().hex[:6]}"


def fresh(words: str) -> str:
    """A password nobody chose before: a real directory outlives a test (and a run) and
    remembers earlier passwords (ppolicy's history refuses them)."""
    return f"{words} {uuid.uuid4().hex[:6]}"


@dataclass
class Target:
    """One directory under test, and how the test looks into it."""

    kind: DirectoryKind
    settings: Settings
    password_works: Callable[[str, str], Awaitable[bool]]
    """Whether (login, password) may log in at the directory."""
    disabled: Callable[[str, str], Awaitable[bool]]
    """Whether (login, its password)'s account is disabled there."""
    set_employee_password: Callable[[Store, int], Awaitable[None]]
    proxy: TcpProxy | None = None
    """The directory's connection, to take down (None: it cannot go down apart from the
    store, as the built-in directory is the store)."""
    logins: dict[str, str] = field(default_factory=dict)
    """The login each account has at this directory (a customer's number for the portal
    API, else the e-mail address)."""


async def _builtin(base: Settings) -> Target:
    port = free_port()
    store = Store(create_engine(base.database_url))
    async with store.transaction() as tx:
        organization = await accounts.organization(tx, "BLG-1001")
        _, key = await portal_api.create_key(tx, organization, "e2e", SystemClock().now())
    await store.close()
    url = f"http://127.0.0.1:{port}{VERIFY_PATH}"

    async def verify(login: str, password: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {key}"}
        body = {"login": login, "password": password}
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json=body, headers=headers) as response,
        ):
            assert response.status == 200, await response.text()
            return dict(await response.json())

    async def works(login: str, password: str) -> bool:
        return bool((await verify(login, password))["valid"])

    async def disabled(login: str, password: str) -> bool:
        return (await verify(login, password))["status"] == "disabled"

    async def set_employee_password(store: Store, person_id: int) -> None:
        async with store.transaction() as tx:
            person = await tx.people.get(person_id)
            assert person is not None
            builtin = BuiltinDirectory(tx, SystemClock().now().date())
            await builtin.set_password(person_account(person), EMPLOYEE_PASSWORD)

    return Target(
        DirectoryKind.BUILTIN,
        base.model_copy(update={"directory": DirectoryKind.BUILTIN, "api_port": port}),
        works,
        disabled,
        set_employee_password,
        logins={TENANT_MAIL: "1001", EMPLOYEE_MAIL: EMPLOYEE_MAIL},
    )


async def _set_through(store: Store, person_id: int, directory: Connector) -> None:
    """Give the person ``EMPLOYEE_PASSWORD`` in a networked directory, as set up before."""
    async with store.transaction() as tx:
        person = await tx.people.get(person_id)
        assert person is not None
    try:
        await directory.set_password(person_account(person), EMPLOYEE_PASSWORD)
    finally:
        await directory.aclose()


async def _ldap(base: Settings, monkeypatch: pytest.MonkeyPatch) -> Target:
    server = running_ldap_server()
    host, port = server.url.removeprefix("ldap://").rsplit(":", 1)
    proxy = await TcpProxy(host, int(port)).start()
    url = f"ldap://{host}:{proxy.port}"
    for name, value in {
        "URL": url,
        "CA_FILE": str(server.ca_file),
        "BIND_DN": server.bind_dn,
        "BIND_PASSWORD": server.bind_password,
        "USERS_DN": server.users_dn,
        "TIMEOUT": "3",
    }.items():
        monkeypatch.setenv(f"BALIE_LDAP_{name}", value)

    async def works(login: str, password: str) -> bool:
        return await asyncio.to_thread(server.can_bind, login, password)

    async def disabled(login: str, password: str) -> bool:
        return await asyncio.to_thread(server.is_locked, login)

    async def set_employee_password(store: Store, person_id: int) -> None:
        await _set_through(store, person_id, LdapDirectory(server.settings()))

    return Target(
        DirectoryKind.LDAP,
        base.model_copy(update={"directory": DirectoryKind.LDAP, "ldap_url": url}),
        works,
        disabled,
        set_employee_password,
        proxy,
        logins={TENANT_MAIL: TENANT_MAIL, EMPLOYEE_MAIL: EMPLOYEE_MAIL},
    )


async def _scim(base: Settings, monkeypatch: pytest.MonkeyPatch) -> Target:
    server = running_scim_server()
    parts = urllib.parse.urlsplit(server.url)
    assert parts.hostname and parts.port
    proxy = await TcpProxy(parts.hostname, parts.port).start()
    url = parts._replace(netloc=f"{parts.hostname}:{proxy.port}").geturl()
    monkeypatch.setenv("BALIE_SCIM_URL", url)
    monkeypatch.setenv("BALIE_SCIM_TOKEN", server.token)
    monkeypatch.setenv("BALIE_SCIM_TIMEOUT", "3")

    async def works(login: str, password: str) -> bool:
        """SCIM keeps passwords write-only; the test server matches a ``password eq``
        filter against the one it holds, and only an active user may log in."""
        state = await asyncio.to_thread(server.user_state, login)
        matches = await asyncio.to_thread(server.password_is, login, password)
        return matches and bool(state.get("active", True))

    async def disabled(login: str, password: str) -> bool:
        return (await asyncio.to_thread(server.user_state, login)).get("active") is False

    async def set_employee_password(store: Store, person_id: int) -> None:
        await _set_through(store, person_id, ScimDirectory(scim_settings(server.url, server.token)))

    return Target(
        DirectoryKind.SCIM,
        base.model_copy(update={"directory": DirectoryKind.SCIM, "scim_url": url}),
        works,
        disabled,
        set_employee_password,
        proxy,
        logins={TENANT_MAIL: TENANT_MAIL, EMPLOYEE_MAIL: EMPLOYEE_MAIL},
    )


TARGETS: dict[str, Callable[[Settings, pytest.MonkeyPatch], Awaitable[Target]]] = {
    "builtin": lambda base, _: _builtin(base),
    "ldap": _ldap,
    "scim": _scim,
}


@pytest.fixture(params=list(TARGETS))
async def target(
    request: pytest.FixtureRequest,
    settings: Settings,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Target]:
    store = Store(create_engine(settings.database_url))
    await seed_customers(store, FakeClock())
    await store.close()
    found = await TARGETS[request.param](settings, monkeypatch)
    try:
        yield found
    finally:
        if found.proxy is not None:
            await found.proxy.stop()


async def _mail(smtp: SmtpServer, address: str, count: int) -> str:
    for _ in range(300):
        messages = smtp.mail.messages_to(address)
        if len(messages) >= count:
            return str(messages[count - 1].get_content())
        await asyncio.sleep(0.05)
    raise AssertionError(f"no mail number {count} to {address}")


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float = 15) -> None:
    for _ in range(int(seconds / 0.1)):
        try:
            if await check():
                return
        except (OSError, aiohttp.ClientError):
            pass  # the bot (and its API) still starting
        await asyncio.sleep(0.1)
    raise AssertionError("the directory did not get there in time")


async def _activate(telegram: FakeBotApi, smtp: SmtpServer) -> None:  # noqa: F811
    """Seed 002 in chat: request a code by e-mail, redeem it; the bot asks for a password."""
    telegram.user_sends_text(TENANT, "/start")
    menu = await telegram.wait_for_message(TENANT, "Welcome")
    telegram.user_presses_button(TENANT, menu.message_id, menu.callback_data("Activation"))
    choice = await telegram.wait_for_message(TENANT, "request an activation code")
    telegram.user_presses_button(TENANT, choice.message_id, choice.callback_data("Request"))
    for step, answer in (("Step 1", "1001"), ("Step 2", "3511 AB"), ("Step 3", "12a")):
        await telegram.wait_for_message(TENANT, step)
        telegram.user_sends_text(TENANT, answer)
    step4 = await telegram.wait_for_message(TENANT, "Step 4 of 4")
    telegram.user_presses_button(TENANT, step4.message_id, step4.callback_data("Skip"))
    code = re.search(
        r"\b([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})\b", await _mail(smtp, TENANT_MAIL, 1)
    )
    assert code
    telegram.user_sends_text(TENANT, "/activate")
    await telegram.wait_for_message(TENANT, "customer number")
    telegram.user_sends_text(TENANT, "1001")
    await telegram.wait_for_message(TENANT, "activation code from the e-mail")
    telegram.user_sends_text(TENANT, code.group(1))
    await telegram.wait_for_message(TENANT, "Type your new password")


async def _reset(telegram: FakeBotApi, smtp: SmtpServer, mails_so_far: int) -> None:  # noqa: F811
    telegram.user_sends_text(TENANT, "/password")
    await telegram.wait_for_message(TENANT, "Forgot your password")
    telegram.user_sends_text(TENANT, TENANT_MAIL)
    await telegram.wait_for_message(TENANT, "If an account belongs")
    code = re.search(r"\b(\d{6})\b", await _mail(smtp, TENANT_MAIL, mails_so_far + 1))
    assert code
    telegram.user_sends_text(TENANT, code.group(1))
    await telegram.wait_for_message(TENANT, "Type your new password")


async def test_activation_and_reset_take_effect_in_the_directory(
    target: Target,
    telegram: FakeBotApi,  # noqa: F811
    smtp: SmtpServer,
) -> None:
    login = target.logins[TENANT_MAIL]
    first, second = fresh("groene fiets in de gracht"), fresh("blauwe boot op de rivier")
    async with running_bot(target.settings):
        await _activate(telegram, smtp)
        telegram.user_sends_text(TENANT, first)
        await telegram.wait_for_message(TENANT, "Your password is set")
        assert await target.password_works(login, first)
        assert not await target.password_works(login, second)
        assert "was changed" in await _mail(smtp, TENANT_MAIL, 2)

        await _reset(telegram, smtp, 2)
        telegram.user_sends_text(TENANT, second)
        await telegram.wait_for_message(TENANT, "Your password is set")
        assert await target.password_works(login, second)
        assert not await target.password_works(login, first)


async def test_an_employee_offboarded_in_the_past_is_disabled_in_the_directory(
    target: Target,
    telegram: FakeBotApi,  # noqa: F811
    smtp: SmtpServer,
) -> None:
    store = Store(create_engine(target.settings.database_url))
    now = SystemClock().now()
    async with store.transaction() as tx:
        organization = await accounts.organization(tx, "BLG-1001")
        eva = await tx.people.by_contact(organization.id, DeliveryChannel.EMAIL, EMPLOYEE_MAIL)
        assert eva is not None
        eva.status = AccountStatus.ACTIVE  # approved (tests/test_approval_flow.py: enable queued)
        await account_sync.queue_enable(tx, eva, now)
    await target.set_employee_password(store, eva.id)
    login = target.logins[EMPLOYEE_MAIL]
    try:
        async with running_bot(target.settings):
            await _eventually(lambda: target.password_works(login, EMPLOYEE_PASSWORD))
            async with store.transaction() as tx:
                await accounts.offboard_employee(
                    tx,
                    partner_id="BLG-1001",
                    contact_text=EMPLOYEE_MAIL,
                    day=now.date() - timedelta(days=1),
                    now=SystemClock().now(),
                )
            await _eventually(lambda: target.disabled(login, EMPLOYEE_PASSWORD))
            assert not await target.password_works(login, EMPLOYEE_PASSWORD)
    finally:
        await store.close()


NETWORKED = [kind for kind in TARGETS if kind != "builtin"]
"""The directories that can be down while the store is up (the built-in one is the store)."""


@pytest.mark.parametrize("target", NETWORKED, indirect=True)
async def test_directory_down_during_a_password_step(
    target: Target,
    telegram: FakeBotApi,  # noqa: F811
    smtp: SmtpServer,
) -> None:
    assert target.proxy is not None
    login = target.logins[TENANT_MAIL]
    chosen = fresh("groene fiets in de gracht")
    async with running_bot(target.settings):
        await _activate(telegram, smtp)
        async with target.proxy.down():
            telegram.user_sends_text(TENANT, chosen)
            reply = await telegram.wait_for_message(TENANT, "could not be set right now")
            assert "nothing changed" in (reply.text or "")
        assert not await target.password_works(login, chosen)
        telegram.user_sends_text(TENANT, chosen)
        await telegram.wait_for_message(TENANT, "Your password is set")
        assert await target.password_works(login, chosen)
        assert "was changed" in await _mail(smtp, TENANT_MAIL, 2)
