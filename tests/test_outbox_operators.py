"""Operators see and act on the outbox: `balie outbox list|retry` and `/outbox` in chat.

Never a message's text (it may hold a code), addresses and numbers masked.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from flows import accounts
from flows.domain import DeliveryChannel, OutboxStatus
from storage.db import create_engine
from storage.migrate import upgrade
from storage.uow import Store
from tests.support import START, TEST_SEALER, DemoOrg, DeskDriver, FakeClock, texts_of
from tests.test_cli import balie, database_url, query

CODE = "Uw code is 482913"


async def _fill(store: Store, organization_id: int | None = None) -> dict[str, int]:
    """One row in each state, a refused address; returns their ids by state."""
    org = organization_id
    async with store.transaction() as tx:
        dead = await tx.outbox.add(
            DeliveryChannel.EMAIL, "eva.jansen@kantoor.example", "[redacted after delivery]",
            START, sensitive=True, organization_id=org,
        )  # fmt: skip
        dead.status, dead.attempts = OutboxStatus.DEAD, 8
        dead.last_error = "gave up after 8 attempts: SMTP recipient refused [451]: eva.jansen@kantoor.example busy"  # noqa: E501
        failed = await tx.outbox.add(
            DeliveryChannel.SMS, "+31611112222", "Welkom", START, organization_id=org
        )
        failed.status, failed.attempts = OutboxStatus.FAILED, 1
        failed.last_error = "Twilio HTTP 400 (error 21610)"
        sent = await tx.outbox.add(
            DeliveryChannel.EMAIL, "piet@kantoor.example", CODE, START, organization_id=org
        )
        sent.status = OutboxStatus.SENT
        pending = await tx.outbox.add(
            DeliveryChannel.TELEGRAM, "5003123", "Hallo", START, organization_id=org
        )
        await tx.undeliverable.mark(
            DeliveryChannel.SMS, "+31611112222", "Twilio HTTP 400 (error 21610)", START
        )
        return {"dead": dead.id, "failed": failed.id, "sent": sent.id, "pending": pending.id}


def test_balie_outbox_list_and_retry(tmp_path: Path) -> None:
    async def prepare() -> dict[str, int]:
        await upgrade(database_url(tmp_path))
        store = Store(create_engine(database_url(tmp_path)), sealer=TEST_SEALER)
        try:
            return await _fill(store)
        finally:
            await store.close()

    ids = asyncio.run(prepare())
    listed = balie(tmp_path, "outbox", "list")
    assert listed.code == 0, listed.stderr
    lines = listed.stdout.splitlines()
    print("\n" + listed.stdout)
    assert lines[-1] == "outbox: 1 pending, 1 sent, 1 failed, 1 dead"
    assert len(lines) == 5
    text = listed.stdout
    for secret in ("482913", "Welkom", "Hallo", "eva.jansen@", "piet@", "+31611112222"):
        assert secret not in text
    assert f"#{ids['dead']} email e•••@kantoor.example dead 8 attempts" in text
    assert "refused [451]: e•••@kantoor.example busy" in text
    assert f"#{ids['failed']} sms +31•••22 failed 1 attempt" in text

    dead_only = balie(tmp_path, "outbox", "list", "--state", "dead", "--limit", "5")
    assert dead_only.code == 0
    assert [line.split()[0] for line in dead_only.stdout.splitlines()[:-1]] == [f"#{ids['dead']}"]

    retried = balie(tmp_path, "outbox", "retry", str(ids["failed"]))
    assert retried.code == 0, retried.stderr
    assert retried.stdout.strip() == f"outbox message #{ids['failed']} (sms to +31•••22) is due now"
    assert query(tmp_path, "SELECT status, attempts FROM outbox WHERE id = ?", ids["failed"]) == [
        ("pending", 0)
    ]
    assert query(tmp_path, "SELECT count(*) FROM undeliverable_addresses") == [(0,)]

    for wanted, error in (
        ("999", "no outbox message #999"),
        (str(ids["sent"]), f"outbox message #{ids['sent']} was sent; it is not sent again"),
        (
            str(ids["dead"]),
            f"outbox message #{ids['dead']} held a code, removed when it was given up; "
            "the person asks for a new code",
        ),
    ):
        refused = balie(tmp_path, "outbox", "retry", wanted)
        assert refused.code == 1
        assert refused.error_lines == [f"balie: error: {error}"]

    bad = balie(tmp_path, "outbox", "list", "--state", "lost")
    assert bad.code == 2


async def _other_organization_s_dead_letter(store: Store) -> int:
    """A dead letter and a refused address of another organization on the same store."""
    async with store.transaction() as tx:
        other = await accounts.add_organization(tx, "Ander Kantoor", "AK-2002", START)
        row = await tx.outbox.add(
            DeliveryChannel.EMAIL, "kees@ander.example", "x", START, organization_id=other.id
        )
        row.status, row.last_error = OutboxStatus.DEAD, "gave up"
        await tx.undeliverable.mark(DeliveryChannel.EMAIL, "kees@ander.example", "550", START)
        return row.id


async def test_outbox_in_a_staff_chat(desk: DeskDriver, clock: FakeClock) -> None:
    async with desk.store.transaction() as tx:
        own = await tx.organizations.by_partner_id(DemoOrg().partner_id)
    assert own is not None
    ids = await _fill(desk.store, own.id)
    foreign = await _other_organization_s_dead_letter(desk.store)
    staff = await desk.send(5003, "/outbox")  # Sanne, desk staff
    text = texts_of(staff)
    print("\n" + text)
    assert "Outbox: 1 pending, 1 sent, 1 failed, 1 dead." in text  # only her organization's
    assert f"#{foreign} " not in text and "k•••@ander.example" not in text
    assert f"#{ids['dead']} email to e•••@kantoor.example - dead" in text
    assert f"#{ids['failed']} sms to +31•••22 - failed" in text
    assert "Undeliverable addresses and numbers (1), latest:" in text
    for secret in ("482913", "Welkom", "Hallo", "eva.jansen@", "+31611112222"):
        assert secret not in text
    assert len(text) <= 4096

    manager = texts_of(await desk.send(5001, "/outbox"))
    assert manager.startswith("Outbox: ")

    stranger = texts_of(await desk.send(9999, "/outbox"))
    assert "Outbox" not in stranger
    assert "Only desk staff or a manager" in stranger


async def test_messages_a_flow_queues_belong_to_its_organization(desk: DeskDriver) -> None:
    """A registration's code mail and the managers' cards count in that organization's
    /outbox."""
    await desk.register(7001, DemoOrg().partner_id, "nieuw@kantoor.example", "Nieuw Lid")
    async with desk.store.transaction() as tx:
        own = await tx.organizations.by_partner_id(DemoOrg().partner_id)
        rows = await tx.outbox.latest(limit=50)
    assert own is not None and rows
    assert {row.organization_id for row in rows} == {own.id}
