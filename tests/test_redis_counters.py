"""The fast counters in Redis (issue 12): abuse limits and answered updates, against the
real redis-server (``BALIE_TEST_REDIS_URL``, skipped without it), with the store as the
fallback when Redis is away. The limit flows themselves run on both backends through the
``limits_in`` fixture (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis import Redis
from sqlalchemy import func, select

from bot.app import redis_limits
from bot.polling import InboxPolling
from bot.sealing import Sealer
from bot.webhook import SECRET_HEADER, InboxProcessing, StoreInbox, WebhookServer
from flows import limits
from flows.events import Event
from flows.model import RateEvent
from flows.verification import fingerprint
from storage.redis_link import RedisLink
from storage.redis_updates import RedisAnsweredUpdates
from storage.uow import Store, Transaction
from tests.fakes.smtp_server import free_port
from tests.support import (
    TEST_HASHER,
    DeskDriver,
    FakeClock,
    migrated_store,
    said,
    seed_demo,
    sqlite_url,
)

CODE_REQUEST = limits.Limit("code_request", 3)


@pytest.fixture
def closed_redis() -> str:
    """A Redis URL on a port nothing listens on: every call is refused."""
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
async def links() -> AsyncIterator[list[RedisLink]]:
    """Links made in a test, closed after it."""
    made: list[RedisLink] = []
    yield made
    for link in made:
        await link.aclose()


def _link(links: list[RedisLink], url: str, **options: Any) -> RedisLink:
    link = RedisLink(url, **options)
    links.append(link)
    return link


def _on_redis(store: Store, link: RedisLink) -> Store:
    """Another store on the same database, counting its limits in Redis (another worker)."""
    return Store(store.engine, store.sealer, redis_limits(link, TEST_HASHER))


async def _rows(store: Store) -> int:
    async with store.transaction() as tx:
        return int(await tx.session.scalar(select(func.count()).select_from(RateEvent)) or 0)


async def _seen(store: Store, key: str, clock: FakeClock, back: timedelta) -> tuple[Any, ...]:
    async with store.transaction() as tx:
        return await tx.rate_events.since(key, clock.now() - back)


async def test_redis_counts_exactly_as_the_store(
    store: Store, clock: FakeClock, redis_url: str, links: list[RedisLink]
) -> None:
    fast = _on_redis(store, _link(links, redis_url))
    start = clock.now()
    for backend in (store, fast):
        async with backend.transaction() as tx:
            for minutes in (0, 10, 30):
                await tx.rate_events.add("code_request:chat:7", start + timedelta(minutes=minutes))
            await tx.rate_events.add("code_request:chat:8", start)
    clock.advance(minutes=45)
    for back in (timedelta(hours=1), timedelta(minutes=45), timedelta(minutes=40), timedelta(0)):
        for key in ("code_request:chat:7", "code_request:chat:8", "code_request:chat:9"):
            # The window's start is exclusive in both: 45 minutes back leaves 2 of 3 events.
            assert await _seen(fast, key, clock, back) == await _seen(store, key, clock, back)
    assert await _seen(fast, "code_request:chat:7", clock, timedelta(minutes=45)) == (
        2,
        start + timedelta(minutes=10),
    )
    assert await _rows(store) == 4  # the store's own, none from the Redis-backed store


async def test_limit_keys_in_redis_hide_their_subject(
    store: Store, clock: FakeClock, redis_url: str, links: list[RedisLink]
) -> None:
    fast = _on_redis(store, _link(links, redis_url))
    about = f"address:{fingerprint('klant1001@thuis.example')}"
    async with fast.transaction() as tx:
        await limits.record(tx, CODE_REQUEST, "chat:424242", clock.now())
        await limits.record(tx, CODE_REQUEST, about, clock.now())
    with Redis.from_url(redis_url) as client:
        keys = [key.decode() for key in client.keys("*")]
        ttls = [client.pttl(key) for key in keys]
    assert len(keys) == 2
    assert all(key.startswith("balie:limit:code_request:") for key in keys)
    assert not any("424242" in key or fingerprint("klant1001@thuis.example") in key for key in keys)
    assert all(0 < ttl <= 24 * 3600 * 1000 for ttl in ttls)  # they expire by themselves
    assert await _rows(store) == 0


async def test_two_workers_on_one_redis_see_each_others_counts(
    tmp_path: Path, clock: FakeClock, redis_url: str, links: list[RedisLink]
) -> None:
    # Two stores with nothing in common but Redis: whatever one counts, the other sees.
    stores = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        store = await migrated_store(sqlite_url(tmp_path / name))
        store.fast_limits = redis_limits(_link(links, redis_url), TEST_HASHER)
        stores.append(store)
    one, two = stores
    try:
        for worker in (one, two, one):
            async with worker.transaction() as tx:
                assert not await limits.wait_needed(tx, CODE_REQUEST, "chat:7", clock.now())
                await limits.record(tx, CODE_REQUEST, "chat:7", clock.now())
            clock.advance(minutes=5)
        async with two.transaction() as tx:
            wait = await limits.wait_needed(tx, CODE_REQUEST, "chat:7", clock.now())
            assert wait == timedelta(minutes=45)  # until the first request leaves the hour
            assert await limits.count(tx, CODE_REQUEST, "chat:8", clock.now()) == 0
    finally:
        for store in stores:
            await store.close()


async def test_a_step_that_rolls_back_still_counts_in_redis(
    store: Store, clock: FakeClock, redis_url: str, links: list[RedisLink]
) -> None:
    """What the docstring of storage.redis_limits accepts: it errs on the side of limiting."""
    fast = _on_redis(store, _link(links, redis_url))
    with pytest.raises(RuntimeError):
        async with fast.transaction() as tx:
            await limits.record(tx, CODE_REQUEST, "chat:7", clock.now())
            raise RuntimeError("the step failed after counting")
    async with fast.transaction() as tx:
        assert await limits.count(tx, CODE_REQUEST, "chat:7", clock.now()) == 1


async def test_with_redis_down_the_store_counts_and_the_step_goes_on(
    store: Store, clock: FakeClock, closed_redis: str, links: list[RedisLink]
) -> None:
    link = _link(links, closed_redis)
    await seed_demo(store, clock)
    desk = DeskDriver(_on_redis(store, link), clock)
    await desk.send(9001, "/register")
    for attempt in range(5):
        outcome = await desk.send(9001, f"NOPE-{attempt}")
        assert said(outcome, "partner_id_unknown", partner_id=f"NOPE-{attempt}")
    # Limited as without Redis: the five unknown partner IDs were counted in the store.
    assert said(await desk.send(9001, "BLG-1001"), "partner_id_wait", minutes=60)
    assert not link.up()  # and for a while no step waits for Redis again
    assert await _rows(store) == 5


async def test_a_redis_that_hangs_counts_as_down(
    store: Store, clock: FakeClock, links: list[RedisLink]
) -> None:
    """A server that takes the connection and never answers: one timeout, then the store."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        link = _link(links, f"redis://127.0.0.1:{hung.getsockname()[1]}/0", timeout=0.2)
        fast = _on_redis(store, link)
        async with fast.transaction() as tx:
            await limits.record(tx, CODE_REQUEST, "chat:7", clock.now())
            assert not link.up()
            assert await limits.count(tx, CODE_REQUEST, "chat:7", clock.now()) == 1
    assert await _rows(store) == 1


async def test_a_failed_redis_is_tried_again_after_a_pause(
    closed_redis: str, redis_url: str, links: list[RedisLink]
) -> None:
    now = [0.0]
    link = _link(links, closed_redis, pause=30.0, clock=lambda: now[0])
    door = RedisAnsweredUpdates(link, "42")
    assert await door.answered_before([1]) == set()  # refused: nothing known, no error
    assert not link.up()
    now[0] = 29.0
    assert not link.up()
    now[0] = 30.0
    assert link.up()


# -- answered updates, at the door -------------------------------------------------------


class CountingStore(Store):
    """A store that counts its transactions: the door must cost none."""

    transactions = 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        self.transactions += 1
        async with super().transaction() as tx:
            yield tx


@pytest.fixture
async def counting(tmp_path: Path) -> AsyncIterator[CountingStore]:
    plain = await migrated_store(sqlite_url(tmp_path))
    store = CountingStore(plain.engine, plain.sealer)
    yield store
    await store.close()


def _update(update_id: int, chat: int = 9001, text: str = "/start") -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 0,
            "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": False, "first_name": "Test"},
            "text": text,
        },
    }


async def test_a_redelivered_answered_update_is_dropped_at_the_webhook_door(
    counting: CountingStore, clock: FakeClock, redis_url: str, links: list[RedisLink]
) -> None:
    door = RedisAnsweredUpdates(_link(links, redis_url), "42")
    fed: list[int] = []

    async def feed(update: dict[str, Any]) -> None:
        fed.append(update["update_id"])

    port = free_port()
    server = WebhookServer(
        host="127.0.0.1",
        port=port,
        path="/hook",
        secret="s3cret",
        feed=feed,
        inbox=StoreInbox(counting, clock, Sealer(TEST_HASHER), door=door),
    )
    await server.start()
    url = f"http://127.0.0.1:{port}/hook"
    headers = {SECRET_HEADER: "s3cret", "Content-Type": "application/json"}
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=json.dumps(_update(11)), headers=headers) as r:
                assert r.status == 200
            for _ in range(200):  # handled and answered in the background
                if await door.answered_before([11]):
                    break
                await asyncio.sleep(0.01)
            assert await door.answered_before([11]) == {11}
            before = counting.transactions
            async with session.post(url, data=json.dumps(_update(11)), headers=headers) as r:
                assert r.status == 200  # Telegram is told it arrived, and stops resending
            assert counting.transactions == before  # not a single query
    finally:
        await server.stop()
    assert fed == [11]


async def test_polling_drops_answered_updates_and_confirms_past_them(
    counting: CountingStore, clock: FakeClock, redis_url: str, links: list[RedisLink]
) -> None:
    door = RedisAnsweredUpdates(_link(links, redis_url), "42")
    await door.mark_answered(20)
    fed: list[int] = []
    offsets: list[int | None] = []
    stop = asyncio.Event()

    async def get_updates(offset: int | None, wait: int) -> list[dict[str, Any]]:
        offsets.append(offset)
        if offset is None:
            return [_update(20), _update(21)]
        stop.set()
        return []

    async def feed(update: dict[str, Any]) -> None:
        fed.append(update["update_id"])

    inbox = StoreInbox(counting, clock, Sealer(TEST_HASHER), door=door)
    await InboxPolling(get_updates, InboxProcessing(feed, inbox, "test")).run(stop)
    assert fed == [21]
    assert offsets[:2] == [None, 22]  # the dropped update is confirmed to Telegram too
    assert await door.answered_before([20, 21, 22]) == {20, 21}


async def test_an_update_handled_but_not_answered_still_gets_its_answer_repeated(
    store: Store, clock: FakeClock, redis_url: str, links: list[RedisLink]
) -> None:
    """Crash safety: the door knows only what was answered, so an update handled but not
    answered (a crash in between) reaches the desk, which repeats the kept answer."""
    door = RedisAnsweredUpdates(_link(links, redis_url), "42")
    inbox = StoreInbox(store, clock, Sealer(TEST_HASHER), door=door)
    desk = DeskDriver(store, clock)
    desk.desk.sealer = Sealer(TEST_HASHER)
    event = dataclasses.replace(Event.from_text(9001, desk.sender(9001), "/start"), update_id=31)
    first = await desk.desk.handle(event)
    assert said(first, "welcome")
    # ...the process dies here, before the answer is sent: the update is redelivered.
    assert await inbox.fresh([_update(31)]) == [_update(31)]
    again = await desk.desk.handle(event)
    assert [r.text for r in again.replies] == [r.text for r in first.replies]
    await inbox.forget(31)  # answered now
    assert await inbox.fresh([_update(31), _update(32)]) == [_update(32)]


async def test_with_redis_down_every_update_goes_on_to_the_store(
    counting: CountingStore, clock: FakeClock, closed_redis: str, links: list[RedisLink]
) -> None:
    door = RedisAnsweredUpdates(_link(links, closed_redis), "42")
    inbox = StoreInbox(counting, clock, Sealer(TEST_HASHER), door=door)
    await inbox.keep(_update(41))
    await inbox.forget(41)  # the mark is lost; no error
    assert await inbox.fresh([_update(41)]) == [_update(41)]  # the store will know it
