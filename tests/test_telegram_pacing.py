"""The pacing core on its own (no Telegram): priorities, per-chat order, pauses, retries.

The runtimes' behaviour against a Bot API server is in tests/conformance/test_telegram_pacing.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from handlers.telegram_pacing import Deferred, Limits, Pacer, Retry, bulk


class Flood(Exception):
    def __init__(self, after: float) -> None:
        self.after = after


class Offline(Exception):
    pass


def classify(exc: Exception) -> Retry | None:
    if isinstance(exc, Flood):
        return Retry(flood=True, after=exc.after)
    if isinstance(exc, Offline):
        return Retry(flood=False)
    return None


def recorder(log: list[str], name: str, failures: list[Exception] | None = None) -> Callable:
    pending = list(failures or [])

    async def call() -> str:
        if pending:
            raise pending.pop(0)
        log.append(name)
        return name

    return call


async def test_interactive_calls_get_the_budget_before_bulk_ones() -> None:
    pacer = Pacer(Limits(global_per_second=5, chat_per_second=0))
    release = asyncio.Event()
    log: list[str] = []

    async def hold() -> None:
        await release.wait()

    holders = [
        asyncio.create_task(pacer.run("sendMessage", 100 + n, hold, classify)) for n in range(5)
    ]
    await asyncio.sleep(0.01)  # the whole budget is in flight

    async def as_bulk(name: str, chat: int) -> None:
        with bulk():
            await pacer.run("sendMessage", chat, recorder(log, name), classify)

    waiting = [
        asyncio.create_task(as_bulk("bulk 1", 1)),
        asyncio.create_task(as_bulk("bulk 2", 2)),
        asyncio.create_task(pacer.run("sendMessage", 3, recorder(log, "reply"), classify)),
    ]
    await asyncio.sleep(0.01)
    release.set()
    await asyncio.gather(*holders, *waiting)
    assert log == ["reply", "bulk 1", "bulk 2"]


async def test_a_429_pauses_the_chat_and_its_calls_go_on_in_order() -> None:
    pacer = Pacer(Limits(chat_per_second=0))
    log: list[str] = []
    calls = [
        pacer.run("sendMessage", 1, recorder(log, "first", [Flood(0.2)]), classify),
        pacer.run("sendMessage", 1, recorder(log, "second"), classify),
        pacer.run("sendMessage", 1, recorder(log, "third"), classify),
    ]
    other = pacer.run("sendMessage", 2, recorder(log, "other chat"), classify)
    await asyncio.gather(*calls, other)
    assert log == ["other chat", "first", "second", "third"]
    figures = pacer.figures
    print(f"sent {figures.sent}, 429s {figures.floods}, retried {figures.retried}")
    assert (figures.sent, figures.floods, figures.retried, figures.deferred) == (4, 1, 1, 0)


async def test_429s_for_two_chats_within_a_second_pause_the_whole_bot() -> None:
    pacer = Pacer(Limits(chat_per_second=0, max_wait=0.05))
    with pytest.raises(Deferred):
        await pacer.run("sendMessage", 1, recorder([], "a", [Flood(5)]), classify)
    assert pacer.paused_for(3) == 0  # one chat told to wait: only that chat
    with pytest.raises(Deferred):
        await pacer.run("sendMessage", 2, recorder([], "b", [Flood(5)]), classify)
    assert pacer.paused_for(3) > 4  # a second one: the whole bot
    with pytest.raises(Deferred):  # and the next call is not even made
        await pacer.run("sendMessage", 3, recorder([], "c", [AssertionError()]), classify)


async def test_a_pause_longer_than_max_wait_defers() -> None:
    pacer = Pacer(Limits(max_wait=0.1))
    log: list[str] = []
    with pytest.raises(Deferred) as deferred:
        await pacer.run("sendMessage", 1, recorder(log, "a", [Flood(30)]), classify)
    assert deferred.value.retry_after > 29 and log == []
    assert pacer.paused_for(1) > 29


async def test_network_errors_are_retried_then_raised() -> None:
    pacer = Pacer(Limits(network_attempts=3, first_backoff=0.01))
    log: list[str] = []
    assert await pacer.run("sendMessage", 1, recorder(log, "a", [Offline(), Offline()]), classify)
    with pytest.raises(Offline):
        await pacer.run("sendMessage", 1, recorder(log, "b", [Offline()] * 3), classify)
    with pytest.raises(ValueError):  # not retried
        await pacer.run("sendMessage", 1, recorder(log, "c", [ValueError()]), classify)
    assert log == ["a"] and pacer.figures.retried == 4


async def test_a_cancelled_call_gives_its_place_back() -> None:
    pacer = Pacer(Limits(global_per_second=1, chat_per_second=0))
    stuck = asyncio.Event()

    async def hang() -> None:
        await stuck.wait()

    first = asyncio.create_task(pacer.run("sendMessage", 1, hang, classify))
    second = asyncio.create_task(pacer.run("sendMessage", 2, hang, classify))
    await asyncio.sleep(0.01)
    first.cancel()
    second.cancel()
    await asyncio.gather(first, second, return_exceptions=True)
    log: list[str] = []
    await asyncio.wait_for(pacer.run("sendMessage", 3, recorder(log, "after"), classify), 5)
    assert log == ["after"]


async def test_reads_and_updates_are_not_paced() -> None:
    pacer = Pacer(Limits(max_wait=0.01))
    with pytest.raises(Deferred):
        await pacer.run("answerCallbackQuery", None, recorder([], "a", [Flood(60)]), classify)
    log: list[str] = []
    await pacer.run("getUpdates", None, recorder(log, "updates"), classify)
    await pacer.run("getMe", None, recorder(log, "me"), classify)
    assert log == ["updates", "me"]
