"""Several workers on one PostgreSQL store, each against the real server: two stores (two
engines, as two processes have) stand for two workers. A chat's updates apply in order
wherever they arrive; decisions, redemptions and outbox claims happen once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.notifications.email import SmtpMailer
from bot.notifications.sink import LocalSink
from bot.notifications.worker import OutboxWorker
from bot.sealing import Sealer
from bot.settings import Settings
from bot.webhook import Feed, InboxProcessing, StoreInbox
from flows.domain import (
    ActivationStatus,
    AuditAction,
    ConversationState,
    DeliveryChannel,
    OutboxStatus,
)
from flows.events import Event, Sender
from flows.model import ActivationRequest, AuditEntry, InboxUpdate, Letter, OutboxMessage
from storage.chat_turns import ChatTurns, turn_query
from storage.migrate import upgrade
from storage.uow import Store
from tests.conftest import fresh_postgres
from tests.fakes.smtp_server import SmtpServer
from tests.support import (
    TEST_HASHER,
    DemoOrg,
    DeskDriver,
    FakeClock,
    migrated_store,
    portal_chats_of,
    said,
    says,
    seed_customers,
    seed_demo,
)
from tests.test_activation_flow import ask_code

pytestmark = pytest.mark.postgres

EVA = 5101
USER = 8001
STRANGER = 6660
MANAGER = DemoOrg.manager_chat
SECOND_MANAGER = DemoOrg.second_manager_chat
STAFF = DemoOrg.staff_chat


@pytest.fixture
async def two_stores(clock: FakeClock) -> AsyncIterator[tuple[Store, Store]]:
    """One PostgreSQL database, seeded, and two stores on it with an engine each."""
    url = await fresh_postgres()
    await upgrade(url)
    first, second = await migrated_store(url), await migrated_store(url)
    await seed_demo(first, clock)
    yield first, second
    await first.close()
    await second.close()


def text_update(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    """A private text message as the Bot API sends it."""
    person = {"id": chat_id, "is_bot": False, "first_name": "Eva", "language_code": "en"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_764_000_000,
            "chat": {"id": chat_id, "type": "private", "first_name": "Eva"},
            "from": person,
            "text": text,
        },
    }


@dataclass
class Worker:
    """One worker's pipeline: its own store and desk, the shared inbox, and a feed that
    turns the update JSON into the desk's event (as a runtime does) and notes the replies
    in ``said`` (shared by the workers, in the order they were sent)."""

    name: str
    store: Store
    clock: FakeClock
    said: list[tuple[str, int, str]]
    gate: asyncio.Event | None = None
    """Set: the first update this worker handles waits for it."""
    fed: list[int] = field(default_factory=list)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once this worker started on its first update."""

    def __post_init__(self) -> None:
        self.desk = DeskDriver(self.store, self.clock).desk
        inbox = StoreInbox(self.store, self.clock, Sealer(TEST_HASHER), ChatTurns.of(self.store))
        self.processing = InboxProcessing(self.feed(), inbox, self.name)

    def feed(self) -> Feed:
        async def feed(update: dict[str, Any]) -> None:
            self.fed.append(update["update_id"])
            self.entered.set()
            if self.gate is not None and len(self.fed) == 1:
                await self.gate.wait()
            message = update["message"]
            sender = Sender(message["from"]["id"], "Eva", "en")
            event = Event.from_text(message["chat"]["id"], sender, message["text"])
            outcome = await self.desk.handle(replace(event, update_id=update["update_id"]))
            self.said += [(self.name, update["update_id"], r.text) for r in outcome.replies]

        return feed

    async def accept(self, update: dict[str, Any]) -> None:
        """What the webhook server does with a POST: keep it, answer 200, process it."""
        await self.processing.inbox.keep(update)
        self.processing.spawn(update)

    async def stop(self) -> None:
        await self.processing.drain()
        await self.processing.inbox.close()


async def state_of(store: Store, chat_id: int) -> ConversationState | None:
    async with store.transaction() as tx:
        conversation = await tx.conversations.peek(chat_id)
    return conversation.state if conversation else None


async def inbox_rows(store: Store) -> list[InboxUpdate]:
    async with store.transaction() as tx:
        return list((await tx.session.scalars(select(InboxUpdate))).all())


# -- a chat's updates in order across workers ------------------------------------------------


async def test_the_turn_looks_up_the_chat_on_its_index(two_stores: tuple[Store, Store]) -> None:
    query = turn_query(EVA, 12).compile(
        dialect=two_stores[0].engine.dialect, compile_kwargs={"literal_binds": True}
    )
    async with two_stores[0].engine.connect() as connection:
        await connection.exec_driver_sql("SET enable_seqscan = off")  # empty: seq-scanned
        plan = [row[0] for row in await connection.exec_driver_sql(f"EXPLAIN {query}")]
    assert any("ix_webhook_inbox_chat_id" in line for line in plan), plan
    assert not any("Seq Scan on webhook_inbox" in line for line in plan), plan


async def test_the_inbox_keeps_the_chat_of_each_update(
    two_stores: tuple[Store, Store], clock: FakeClock
) -> None:
    store, _ = two_stores
    inbox = StoreInbox(store, clock, Sealer(TEST_HASHER))
    await inbox.keep_all([text_update(7, EVA, "/start"), {"update_id": 8, "poll": {}}])
    rows = {row.update_id: row.chat_id for row in await inbox_rows(store)}
    assert rows == {7: EVA, 8: None}


async def test_a_later_update_taken_first_waits_for_the_earlier_one(
    two_stores: tuple[Store, Store], clock: FakeClock
) -> None:
    said: list[tuple[str, int, str]] = []
    gate = asyncio.Event()
    a = Worker("A", two_stores[0], clock, said, gate=gate)
    b = Worker("B", two_stores[1], clock, said)
    register, partner_id = text_update(1, EVA, "/register"), text_update(2, EVA, "BLG-1001")
    # Both are kept (answered 200) before either is handled: A got update 2, B update 1.
    await b.processing.inbox.keep(register)
    await a.accept(partner_id)
    await a.entered.wait()  # A has the chat's turn, and holds it (the gate)
    b.processing.spawn(register)  # B wants the chat too, and must wait for A
    await asyncio.sleep(0.2)
    assert said == [] and b.fed == []
    gate.set()
    await a.stop()
    await b.stop()

    assert a.fed == [1, 2] and b.fed == []  # A handled 1 first; B found 1 handled, skipped it
    assert [(worker, update) for worker, update, _ in said] == [("A", 1), ("A", 2)]
    assert says(said[0][2], "ask_partner_id")
    assert says(said[1][2], "ask_contact", org="BLG Wonen")
    assert await state_of(two_stores[0], EVA) is ConversationState.REGISTER_CONTACT
    assert await inbox_rows(two_stores[0]) == []


async def test_an_update_handled_by_another_worker_is_skipped(
    two_stores: tuple[Store, Store], clock: FakeClock
) -> None:
    said: list[tuple[str, int, str]] = []
    a = Worker("A", two_stores[0], clock, said)
    b = Worker("B", two_stores[1], clock, said)
    await b.accept(text_update(1, EVA, "/register"))
    await b.processing.drain()
    await a.accept(text_update(2, EVA, "BLG-1001"))
    a.processing.spawn(text_update(1, EVA, "/register"))  # sent again to the other worker
    await a.stop()
    await b.stop()

    assert (a.fed, b.fed) == ([2], [1])
    assert [(worker, update) for worker, update, _ in said] == [("B", 1), ("A", 2)]
    assert await state_of(two_stores[0], EVA) is ConversationState.REGISTER_CONTACT


async def test_many_chats_on_two_workers_each_in_order(
    two_stores: tuple[Store, Store], clock: FakeClock
) -> None:
    """Updates of 20 chats spread over both workers at random-ish: every chat ends as if
    its updates had applied in order, and each update was answered once."""
    said: list[tuple[str, int, str]] = []
    workers = [Worker("A", two_stores[0], clock, said), Worker("B", two_stores[1], clock, said)]
    chats = [6000 + n for n in range(20)]
    updates = [
        (n * 2 + step, chat, text)
        for n, chat in enumerate(chats)
        for step, text in ((1, "/register"), (2, "BLG-1001"))
    ]
    # All kept (answered 200) first; then handled latest first, each chat's two updates
    # on different workers.
    await workers[0].processing.inbox.keep_all([text_update(*u) for u in updates])
    for n, update in enumerate(reversed(updates)):
        workers[n % 2].processing.spawn(text_update(*update))
    for worker in workers:
        await worker.stop()
    answered = [update for _, update, _ in said]
    assert sorted(answered) == sorted(u for u, _, _ in updates)  # each once
    for n in range(len(chats)):
        assert [u for u in answered if u in (n * 2 + 1, n * 2 + 2)] == [n * 2 + 1, n * 2 + 2]
    for chat in chats:
        assert await state_of(two_stores[0], chat) is ConversationState.REGISTER_CONTACT
    assert await inbox_rows(two_stores[0]) == []


# -- decisions, redemptions and outbox claims on two workers -------------------------------


@pytest.fixture
async def two_desks(
    two_stores: tuple[Store, Store], clock: FakeClock
) -> tuple[DeskDriver, DeskDriver]:
    """A desk on each worker's store; customers seeded too (seed 002)."""
    await seed_customers(two_stores[0], clock)
    return DeskDriver(two_stores[0], clock), DeskDriver(two_stores[1], clock)


async def audited(store: Store, *actions: AuditAction) -> list[AuditEntry]:
    async with store.transaction() as tx:
        return [entry for action in actions for entry in await tx.audit.entries(action)]


@pytest.mark.parametrize("second", ["other manager", "double press"])
async def test_one_decision_when_two_workers_decide_at_once(
    two_desks: tuple[DeskDriver, DeskDriver], second: str
) -> None:
    a, b = two_desks
    await a.register(EVA, "BLG-1001", "eva@kantoor.example")
    approve = await a.card_button(MANAGER, "Approve")
    if second == "other manager":
        other = (SECOND_MANAGER, await a.card_button(SECOND_MANAGER, "Reject"))
    else:
        other = (MANAGER, approve)
    before = [m for m in await a.outbox() if m.recipient == str(EVA)]
    first, then = await asyncio.gather(a.press(MANAGER, approve), b.press(*other))
    notices = [first.callback_notice or "", then.callback_notice or ""]
    assert sum("already decided" in notice for notice in notices) == 1, notices
    decided = await audited(
        a.store, AuditAction.REGISTRATION_APPROVED, AuditAction.REGISTRATION_REJECTED
    )
    assert len(decided) == 1
    to_eva = [m for m in await a.outbox(DeliveryChannel.TELEGRAM) if m.recipient == str(EVA)]
    assert len(to_eva) - len([m for m in before if m.channel is DeliveryChannel.TELEGRAM]) == 1


async def test_one_release_when_two_workers_decide_at_once(
    two_desks: tuple[DeskDriver, DeskDriver],
) -> None:
    a, b = two_desks
    await ask_code(a, "1002")
    release = await a.card_button(STAFF, "Release")
    refuse = await a.card_button(MANAGER, "Refuse")
    first, then = await asyncio.gather(a.press(STAFF, release), b.press(MANAGER, refuse))
    notices = [first.callback_notice or "", then.callback_notice or ""]
    assert sum("already decided" in notice for notice in notices) == 1, notices
    async with a.store.transaction() as tx:
        [request] = (await tx.session.scalars(select(ActivationRequest))).all()
        letters = (await tx.session.scalars(select(Letter))).all()
    assert len(letters) == (1 if request.status is ActivationStatus.RELEASED else 0)


async def test_one_code_typed_in_two_chats_at_once_activates_once(
    two_desks: tuple[DeskDriver, DeskDriver],
) -> None:
    a, b = two_desks
    await ask_code(a, "1001")
    code = [m.body for m in await a.outbox(DeliveryChannel.EMAIL)][-1].split("is:")[1].split()[0]
    chats = (USER, STRANGER)
    for desk, chat in zip((a, b), chats, strict=True):
        await desk.send(chat, "/activate")
        await desk.send(chat, "1001")
    outcomes = await asyncio.gather(a.send(chats[0], code), b.send(chats[1], code))
    assert sum(said(outcome, "account_activated") for outcome in outcomes) == 1
    assert sum(said(outcome, "activation_code_wrong") for outcome in outcomes) == 1
    assert len(await audited(a.store, AuditAction.ACCOUNT_ACTIVATED)) == 1
    async with a.store.transaction() as tx:
        [customer] = await tx.customers.with_number("1001")
    assert len(linked := await portal_chats_of(a.store, customer.id)) == 1 and linked[0] in chats


async def test_two_outbox_workers_deliver_each_row_once(
    two_stores: tuple[Store, Store], clock: FakeClock, smtp: SmtpServer, tmp_path: Path
) -> None:
    recipients = [f"person{i}@kantoor.example" for i in range(12)]
    async with two_stores[0].transaction() as tx:
        for address in recipients:
            await tx.outbox.add(DeliveryChannel.EMAIL, address, "Hallo", clock.now())
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False
    )
    sink = LocalSink(tmp_path / "sink.jsonl")
    workers = [
        OutboxWorker(
            store, email=SmtpMailer(settings), sms=sink.sms, chat=None, clock=clock, batch=3
        )
        for store in two_stores
    ]
    total = 0
    for _ in range(10):
        total += sum(await asyncio.gather(*(worker.deliver_due() for worker in workers)))
        if total >= len(recipients):
            break
    assert total == len(recipients)
    delivered = sorted(address for e in smtp.mail.envelopes for address in e.rcpt_tos)
    assert delivered == sorted(recipients)
    async with two_stores[0].transaction() as tx:
        rows = (await tx.session.scalars(select(OutboxMessage))).all()
    assert {(row.status, row.attempts) for row in rows} == {(OutboxStatus.SENT, 1)}
