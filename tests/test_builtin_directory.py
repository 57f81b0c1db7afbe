"""Issue 11 on the built-in directory: passwords set in chat verify through the portal API
(``POST /api/v1/verify``, a real HTTP server) and ``balie account check``; out-of-service
dates disable accounts on their day; a directory outage during a password step is told
honestly and loses nothing."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.directories.select import DeploymentDirectories
from bot.directories.sync import DirectorySync, close_due_accounts
from bot.notifications.sink import LocalSink
from bot.notifications.worker import OutboxWorker
from flows import account_sync, portal_api
from flows.builtin_directory import BuiltinDirectory, PasswordVerifier
from flows.buttons import Menu, MenuChoice
from flows.directory import (
    AccountRef,
    DirectoryKind,
    DirectoryUnavailable,
    PasswordRejected,
    customer_account,
    person_account,
)
from flows.domain import (
    AccountStatus,
    AuditAction,
    ConversationState,
    DeliveryChannel,
    OutboxStatus,
)
from flows.model import AuditEntry, Customer, OutboxMessage, Person
from flows.portal_api import PortalApi, VerifyLimits
from flows.store import Store, Transaction
from handlers.web_api import VERIFY_PATH, ApiServer
from tests.fakes.directory import Entry, MemoryDirectory
from tests.fakes.smtp_server import free_port
from tests.support import (
    DeskDriver,
    FakeClock,
    migrated_store,
    pressed,
    said,
    seed_customers,
    seed_demo,
)
from tests.test_cli import balie, database_url, environment

PASSWORD = "paarse olifant danst op het dak"
EMPLOYEE_PASSWORD = "groene giraf eet de sla op"


async def _customer(store: Store, number: str) -> Customer:
    async with store.transaction() as tx:
        return (await tx.customers.with_number(number))[0]


async def _prepared(store: Store, clock: FakeClock) -> tuple[str, Person]:
    """Customer 1001 activated with ``PASSWORD``, employee Eva active with her own, and an
    API key of the organization (returned)."""
    await seed_customers(store, clock)
    now = clock.now()
    async with store.transaction() as tx:
        organization = await tx.organizations.by_partner_id("BLG-1001")
        assert organization is not None
        builtin = BuiltinDirectory(tx, now.date())
        customer = (await tx.customers.with_number("1001"))[0]
        customer.account_active = True
        await builtin.set_password(customer_account(customer), PASSWORD)
        employee = await tx.people.by_contact(
            organization.id, DeliveryChannel.EMAIL, "eva@kantoor.example"
        )
        assert employee is not None
        employee.status = AccountStatus.ACTIVE
        await builtin.set_password(person_account(employee), EMPLOYEE_PASSWORD)
        _, key = await portal_api.create_key(tx, organization, "portal", now)
    return key, employee


@pytest.fixture
async def api(desk: DeskDriver) -> AsyncIterator[tuple[str, str, DeskDriver, Person]]:
    """The portal API on a real HTTP server: (its URL, a valid key, the desk, Eva)."""
    key, employee = await _prepared(desk.store, desk.clock)
    port = free_port()
    limits = VerifyLimits(failures_per_login_per_hour=3, calls_per_key_per_minute=1000)
    server = ApiServer(
        PortalApi(desk.store, PasswordVerifier(), limits), desk.clock, "127.0.0.1", port
    )
    await server.start()
    try:
        yield f"http://127.0.0.1:{port}{VERIFY_PATH}", key, desk, employee
    finally:
        await server.stop()


async def _verify(url: str, key: str | None, body: Any) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_the_verify_api_answers_right_wrong_and_unknown(
    api: tuple[str, str, DeskDriver, Person],
) -> None:
    url, key, desk, _ = api
    ok = {"valid": True, "status": "active"}
    assert await _verify(url, key, {"login": "1001", "password": PASSWORD}) == (200, ok)
    by_mail = {"login": "Klant1001@thuis.example", "password": PASSWORD}
    assert await _verify(url, key, by_mail) == (200, ok)
    employee = {"login": "eva@kantoor.example", "password": EMPLOYEE_PASSWORD}
    assert await _verify(url, key, employee) == (200, ok)
    no = (200, {"valid": False, "status": "invalid"})
    assert await _verify(url, key, {"login": "1001", "password": "wrong"}) == no
    # Unknown logins, and an account without a password, get the very same answer.
    assert await _verify(url, key, {"login": "9999", "password": PASSWORD}) == no
    assert await _verify(url, key, {"login": "nobody@x.example", "password": "x"}) == no
    assert await _verify(url, key, {"login": "1008", "password": PASSWORD}) == no
    assert (await _verify(url, key, {"login": "1001"}))[0] == 400
    async with desk.store.transaction() as tx:
        actions = [
            e.action for e in await tx.session.scalars(select(AuditEntry)) if e.actor != "cli"
        ]
        logged = [e.detail for e in await tx.session.scalars(select(AuditEntry))]
    assert actions.count(AuditAction.PASSWORD_VERIFIED) == 3
    assert actions.count(AuditAction.PASSWORD_VERIFY_FAILED) == 4
    assert PASSWORD not in str(logged) and "nobody@x.example" not in str(logged)


async def test_the_verify_api_refuses_missing_wrong_and_revoked_keys(
    api: tuple[str, str, DeskDriver, Person],
) -> None:
    url, key, desk, _ = api
    body = {"login": "1001", "password": PASSWORD}
    assert (await _verify(url, None, body))[0] == 401
    assert (await _verify(url, "balie_not-a-key", body))[0] == 401
    assert (await _verify(url, key + "x", body))[0] == 401
    async with desk.store.transaction() as tx:
        (row,) = await tx.api_keys.of_organization(
            (await _customer(desk.store, "1001")).organization_id
        )
        assert row.key_hash != key and key not in row.key_hash
        row.revoked_at = desk.clock.now()
    assert (await _verify(url, key, body))[0] == 401


@pytest.mark.usefixtures("limits_in")
async def test_the_verify_api_limits_failures_per_login_known_or_not(
    api: tuple[str, str, DeskDriver, Person],
) -> None:
    url, key, _, _ = api
    for login in ("1001", "4711"):
        for _ in range(3):
            assert (await _verify(url, key, {"login": login, "password": "guess"}))[0] == 200
        status, body = await _verify(url, key, {"login": login, "password": PASSWORD})
        assert status == 429 and body["retry_after"] > 0
    # Another login of the same key is not held up.
    ok = {"login": "eva@kantoor.example", "password": EMPLOYEE_PASSWORD}
    assert await _verify(url, key, ok) == (200, {"valid": True, "status": "active"})


@pytest.mark.usefixtures("limits_in")
async def test_the_verify_api_limits_calls_per_key(desk: DeskDriver) -> None:
    key, _ = await _prepared(desk.store, desk.clock)
    api = PortalApi(desk.store, PasswordVerifier(), VerifyLimits(100, calls_per_key_per_minute=2))
    body = {"login": "1001", "password": PASSWORD}
    answers = [await api.verify(key, body, desk.clock.now()) for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 429]
    desk.clock.advance(minutes=1, seconds=1)
    assert (await api.verify(key, body, desk.clock.now())).status == 200


async def test_an_out_of_service_employee_is_disabled_on_the_day(
    api: tuple[str, str, DeskDriver, Person],
) -> None:
    url, key, desk, employee = api
    login = {"login": "eva@kantoor.example", "password": EMPLOYEE_PASSWORD}
    async with desk.store.transaction() as tx:
        person = await tx.people.get(employee.id)
        assert person is not None
        await account_sync.offboarded(
            tx, person, desk.clock.now().date() + timedelta(days=2), desk.clock.now(), "cli"
        )
    assert await _verify(url, key, login) == (200, {"valid": True, "status": "active"})
    assert await close_due_accounts(desk.store, desk.clock) == 0
    desk.clock.advance(days=2)
    assert await _verify(url, key, login) == (200, {"valid": False, "status": "disabled"})
    # A wrong password for a disabled account still reads "invalid": no hint.
    wrong = {"login": "eva@kantoor.example", "password": "nope"}
    assert await _verify(url, key, wrong) == (200, {"valid": False, "status": "invalid"})


# -- the sweep and the outbox, with a connector whose outages come on cue ----------------------


def _worker(
    store: Store, clock: FakeClock, tmp_path: Path, directory: MemoryDirectory
) -> OutboxWorker:
    sink = LocalSink(tmp_path / "sink.jsonl")
    directories = DeploymentDirectories(DirectoryKind.LDAP, {DirectoryKind.LDAP: directory})
    sync = DirectorySync(store, directories, clock)
    return OutboxWorker(
        store, email=sink.email, sms=sink.sms, chat=None, clock=clock, directory=sync
    )


async def _directory_rows(store: Store) -> list[OutboxMessage]:
    async with store.transaction() as tx:
        rows = await tx.session.scalars(
            select(OutboxMessage).where(OutboxMessage.channel == DeliveryChannel.DIRECTORY)  # type: ignore[arg-type]
        )
        return list(rows)


async def test_offboarding_disables_in_the_directory_once_catching_up_and_surviving_an_outage(
    desk: DeskDriver, tmp_path: Path
) -> None:
    await seed_customers(desk.store, desk.clock)
    directory = MemoryDirectory()
    async with desk.store.transaction() as tx:
        eva = await _active_eva(tx)
        # Set while the worker was down, for a day that has passed since.
        await tx.people.set_out_of_service(eva, desk.clock.now().date() - timedelta(days=3))
    directory.entries[f"person-{eva.id}"] = _entry(eva)
    directory.failures.append(DirectoryUnavailable("ldap://127.0.0.1:1: connection refused"))
    assert await close_due_accounts(desk.store, desk.clock) == 1
    assert await close_due_accounts(desk.store, desk.clock) == 0  # queued once
    worker = _worker(desk.store, desk.clock, tmp_path, directory)
    await worker.deliver_due()
    (row,) = await _directory_rows(desk.store)
    assert row.status is OutboxStatus.PENDING and row.attempts == 1  # the outage: kept
    assert directory.entries[f"person-{eva.id}"].active
    desk.clock.advance(minutes=5)
    await worker.deliver_due()
    (row,) = await _directory_rows(desk.store)
    assert row.status is OutboxStatus.SENT
    entry = directory.entries[f"person-{eva.id}"]
    assert not entry.active and entry.disabled_on == desk.clock.now().date() - timedelta(days=3)


async def test_a_directory_operation_outlasts_a_long_outage(
    desk: DeskDriver, tmp_path: Path
) -> None:
    """A mail is given up after 8 attempts; disabling an offboarded employee is not."""
    directory = MemoryDirectory()
    async with desk.store.transaction() as tx:
        eva = await _active_eva(tx)
        await account_sync.offboarded(tx, eva, desk.clock.now().date(), desk.clock.now(), "cli")
    directory.entries[f"person-{eva.id}"] = _entry(eva)
    directory.failures.extend(DirectoryUnavailable("down") for _ in range(20))
    worker = _worker(desk.store, desk.clock, tmp_path, directory)
    for _ in range(20):
        await worker.deliver_due()
        desk.clock.advance(hours=1)
    (row,) = await _directory_rows(desk.store)
    assert row.status is OutboxStatus.PENDING and row.attempts == 20
    await worker.deliver_due()
    (row,) = await _directory_rows(desk.store)
    assert row.status is OutboxStatus.SENT
    assert not directory.entries[f"person-{eva.id}"].active


def _entry(person: Person) -> Entry:
    """``person``'s account as the directory already has it."""
    return Entry(person.email, f"person-{person.id}", password="old")


async def _active_eva(tx: Transaction) -> Person:
    """Eva, the demo's pre-added employee, approved."""
    organization = await tx.organizations.by_partner_id("BLG-1001")
    assert organization is not None
    eva = await tx.people.by_contact(organization.id, DeliveryChannel.EMAIL, "eva@kantoor.example")
    assert eva is not None
    eva.status = AccountStatus.ACTIVE
    return eva


async def test_an_offboarding_dated_today_is_queued_at_once_and_a_moved_date_waits(
    desk: DeskDriver, tmp_path: Path
) -> None:
    directory = MemoryDirectory()
    async with desk.store.transaction() as tx:
        eva = await _active_eva(tx)
        await account_sync.offboarded(tx, eva, desk.clock.now().date(), desk.clock.now(), "cli")
        assert eva.directory_closed_at is not None
    directory.entries[f"person-{eva.id}"] = _entry(eva)
    async with desk.store.transaction() as tx:
        # Moved to next month before the worker ran: the queued disable no longer fits.
        person = await tx.people.get(eva.id)
        assert person is not None
        await tx.people.set_out_of_service(person, desk.clock.now().date() + timedelta(days=30))
    await _worker(desk.store, desk.clock, tmp_path, directory).deliver_due()
    assert directory.entries[f"person-{eva.id}"].active
    assert await close_due_accounts(desk.store, desk.clock) == 0


# -- a password step while the directory is down or refuses -----------------------------------


async def _to_password_step(desk: DeskDriver, user: int) -> None:
    await desk.send(user, "/start")
    await desk.press(user, _pressed_reset())
    await desk.send(user, "klant1001@thuis.example")
    bodies = [m.body for m in await desk.outbox() if m.recipient == "klant1001@thuis.example"]
    code = re.findall(r"\b(\d{6})\b", bodies[-1])[-1]
    outcome = await desk.send(user, code)
    assert said(outcome, "ask_password")


def _pressed_reset() -> str:
    return pressed(Menu(MenuChoice.FORGOT_PASSWORD))


async def _desk_on_ldap(store: Store, clock: FakeClock, directory: MemoryDirectory) -> DeskDriver:
    """The demo on ``directory`` as the LDAP connector, customer 1001's account active."""
    directories = DeploymentDirectories(DirectoryKind.LDAP, {DirectoryKind.LDAP: directory})
    await seed_demo(store, clock)
    desk = DeskDriver(store, clock, directories=directories)
    await seed_customers(store, clock)
    async with store.transaction() as tx:
        (await tx.customers.with_number("1001"))[0].account_active = True
    return desk


@pytest.fixture
async def on_ldap(store: Store, clock: FakeClock) -> tuple[DeskDriver, MemoryDirectory]:
    directory = MemoryDirectory()
    return await _desk_on_ldap(store, clock, directory), directory


async def test_directory_down_during_the_password_step_then_the_next_try_works(
    on_ldap: tuple[DeskDriver, MemoryDirectory],
) -> None:
    desk, directory = on_ldap
    await _to_password_step(desk, 8101)
    directory.failures.append(DirectoryUnavailable("timed out"))
    mails_before = len(await desk.outbox(DeliveryChannel.EMAIL))
    down = await desk.send(8101, PASSWORD)
    assert down.delete_message and said(down, "password_not_set_now")
    assert not said(down, "password_set")
    customer = await _customer(desk.store, "1001")
    assert customer.password_changed_at is None and customer.password_hash is None
    assert len(await desk.outbox(DeliveryChannel.EMAIL)) == mails_before  # no "changed" mail
    async with desk.store.transaction() as tx:
        conversation = await tx.conversations.load(8101, desk.clock.now())
        assert conversation.state is ConversationState.CHOOSE_PASSWORD
    outbox_text = str([(m.body, m.payload) for m in await desk.outbox()])
    assert PASSWORD not in outbox_text  # never queued for a retry
    again = await desk.send(8101, PASSWORD)
    assert said(again, "password_set")
    assert directory.entries["1001"].password == PASSWORD
    assert (await _customer(desk.store, "1001")).password_hash is None  # LDAP keeps it


async def test_a_directory_policy_refusal_is_shown_in_plain_words(
    on_ldap: tuple[DeskDriver, MemoryDirectory],
) -> None:
    desk, directory = on_ldap
    await _to_password_step(desk, 8101)
    directory.failures.append(PasswordRejected("the password was used before"))
    refused = await desk.send(8101, PASSWORD)
    assert said(refused, "password_refused_by_directory")
    assert "the password was used before" in refused.replies[0].text
    assert "1001" not in directory.entries or directory.entries["1001"].password is None
    assert said(await desk.send(8101, PASSWORD + " nu echt"), "password_set")


async def test_an_organization_on_a_directory_that_is_not_set_up_gets_the_honest_reply(
    store: Store, clock: FakeClock
) -> None:
    await seed_demo(store, clock)
    desk = DeskDriver(store, clock, directories=DeploymentDirectories(DirectoryKind.BUILTIN))
    await seed_customers(store, clock)
    async with store.transaction() as tx:
        (await tx.customers.with_number("1001"))[0].account_active = True
        organization = await tx.organizations.by_partner_id("BLG-1001")
        assert organization is not None
        organization.directory = "scim"
    await _to_password_step(desk, 8101)
    assert said(await desk.send(8101, PASSWORD), "password_not_set_now")


# -- balie account check and balie api-key -----------------------------------------------------


def test_account_check_and_api_keys_from_the_command_line(tmp_path: Path) -> None:
    async def prepare() -> None:
        store = await migrated_store(database_url(tmp_path))
        clock = FakeClock()
        await seed_demo(store, clock)
        await _prepared(store, clock)
        await store.close()

    asyncio.run(prepare())
    env = environment(tmp_path)
    right = balie(
        tmp_path,
        "account",
        "check",
        "--org",
        "BLG-1001",
        "--login",
        "1001",
        env=env,
        stdin=PASSWORD + "\n",
    )
    assert right.code == 0, right.stderr
    assert right.stdout.strip() == "the password verifies; the account is active"
    wrong = balie(
        tmp_path,
        "account",
        "check",
        "--org",
        "BLG-1001",
        "--login",
        "1001",
        env=env,
        stdin="wrong\n",
    )
    assert (wrong.code, wrong.stderr.strip()) == (1, "the password does not verify")
    unknown = balie(
        tmp_path,
        "account",
        "check",
        "--org",
        "BLG-1001",
        "--login",
        "4711",
        env=env,
        stdin=PASSWORD + "\n",
    )
    assert (unknown.code, unknown.stderr.strip()) == (1, "the password does not verify")
    created = balie(tmp_path, "api-key", "create", "--org", "BLG-1001", "--label", "web")
    assert created.code == 0, created.stderr
    key = created.stdout.splitlines()[1]
    assert key.startswith("balie_") and len(key) > 40
    listed = balie(tmp_path, "api-key", "list", "--org", "BLG-1001")
    assert listed.code == 0 and key not in listed.stdout and "#2 web" in listed.stdout
    revoked = balie(tmp_path, "api-key", "revoke", "--org", "BLG-1001", "2")
    assert (
        revoked.code == 0
        and "REVOKED" in balie(tmp_path, "api-key", "list", "--org", "BLG-1001").stdout
    )
    unset = balie(tmp_path, "org", "set", "BLG-1001", "--directory", "ldap")
    assert unset.code == 1 and "BALIE_LDAP_URL" in unset.stderr
    on = balie(tmp_path, "org", "set", "BLG-1001", "--directory", "builtin")
    assert on.code == 0 and "directory: builtin" in on.stdout


class _SlowDirectory(MemoryDirectory):
    """Sets a password only once ``release`` is set: a directory that is slow to answer."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def set_password(self, account: AccountRef, password: str) -> None:
        self.started.set()
        await self.release.wait()
        await super().set_password(account, password)


async def test_a_slow_directory_holds_no_lock_other_chats_go_on_meanwhile(
    store: Store, clock: FakeClock
) -> None:
    """The directory is called outside the step's transaction: while it takes its time,
    the store (SQLite: one connection, one writer) serves every other chat."""
    directory = _SlowDirectory()
    desk = await _desk_on_ldap(store, clock, directory)
    await _to_password_step(desk, 8101)
    setting = asyncio.create_task(desk.send(8101, PASSWORD))
    await asyncio.wait_for(directory.started.wait(), 5)
    # Another person's steps, each a transaction, while the password is being set.
    assert said(await asyncio.wait_for(desk.send(8102, "/start"), 5), "welcome")
    assert said(await asyncio.wait_for(desk.send(8102, "/help"), 5), "help_heading")
    assert not setting.done()
    directory.release.set()
    assert said(await asyncio.wait_for(setting, 5), "password_set")
    assert directory.entries["1001"].password == PASSWORD
    assert directory.calls.count("set_password") == 1  # the step ran twice, the work once
