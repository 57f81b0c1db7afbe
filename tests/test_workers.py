"""Several workers on one PostgreSQL store, each against the real server: two stores (two
engines, as two processes have) stand for two workers. A chat's updates apply in order
wherever they arrive; decisions, redemptions and outbox claims happen once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from sqlalchemy import select

from bot.sealing import Sealer
from bot.webhook import Feed, InboxProcessing, StoreInbox
from flows.domain import ConversationState
from flows.events import Event, Sender
from flows.model import InboxUpdate
from storage.chat_turns import ChatTurns
from storage.migrate import upgrade
from storage.uow import Store
from tests.conftest import fresh_postgres
from tests.support import TEST_HASHER, DeskDriver, FakeClock, migrated_store, says, seed_demo

pytestmark = pytest.mark.postgres

EVA = 5101


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
