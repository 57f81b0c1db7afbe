"""The paced sender with the real clients (aiogram, python-telegram-bot) against a local Bot
API server that answers 429 the way Telegram does: nothing is lost, nothing doubled, each
chat's messages arrive in order. Each test prints its figures; none asserts a duration."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bench.broadcast import broadcast
from bot import telegram_sender
from bot.settings import Runtime
from flows.domain import DeliveryChannel, OutboxStatus
from flows.model import OutboxMessage
from flows.outbox_payload import ChatAction, action_payload
from tests.conformance.harness import Env, T, TelegramDriver, replace_settings
from tests.conftest import fresh_postgres
from tests.fakes.bot_api import FakeBotApi, FloodLimits

RUNTIMES = [Runtime.AIOGRAM, Runtime.PTB]
USER = 7201
THREE = ("/start", "/help", "/cancel")
"""Three commands with three different replies, typed in a row."""


def _three_replies() -> list[str]:
    return [T("welcome"), T("help_heading"), T("nothing_to_cancel")]


def _driver(env: Env, runtime: Runtime, **settings: object) -> TelegramDriver:
    """A runtime with Telegram's default pacing (the suite's fixture raises the chat rate)."""
    driver = TelegramDriver(env, runtime, webhook=False)
    driver.settings = replace_settings(driver.settings, telegram_rate_per_chat=1.0, **settings)
    return driver


def _figures(tg: FakeBotApi, name: str, chats: Iterable[int]) -> dict[str, int]:
    """Messages that arrived in ``chats``, sendMessage calls made again, 429s, duplicates."""
    chats = set(chats)
    texts = [(chat, m.text) for chat in chats for m in tg.messages.get(chat, [])]
    attempts = sum(
        1
        for method, params in tg.calls
        if method.lower() == "sendmessage" and params.get("chat_id") in chats
    )
    figures = {
        "sent": len(texts),
        "retried": attempts - len(texts),
        "429s": len(tg.floods),
        "duplicates": sum(count - 1 for count in Counter(texts).values()),
    }
    print(f"{name}: " + ", ".join(f"{key} {value}" for key, value in figures.items()))
    return figures


async def _in_order(tg: FakeBotApi, chat: int, expected: list[str], timeout: float = 15) -> None:  # noqa: ASYNC109
    for text in expected:
        await tg.wait_for_message(chat, text, timeout=timeout)
    sent = tg.sent_texts(chat)
    assert len(sent) == len(expected), sent
    assert all(want in got for want, got in zip(expected, sent, strict=True)), sent


async def _queue(env: Env, chat: int, texts: Iterable[str]) -> None:
    async with env.store.transaction() as tx:
        for text in texts:
            await tx.outbox.add(DeliveryChannel.TELEGRAM, str(chat), text, datetime.now(UTC))


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_three_replies_after_a_429_all_arrive_in_order(runtime: Runtime, env: Env) -> None:
    tg = env.telegram
    tg.flood_next("sendMessage", retry_after=1)
    driver = _driver(env, runtime)
    await driver.start()
    try:
        for text in THREE:
            await driver.user_says(USER, text)
        await _in_order(tg, USER, _three_replies())
    finally:
        await driver.stop()
    figures = _figures(tg, f"429 told by the test ({runtime})", [USER])
    assert figures == {"sent": 3, "retried": 1, "429s": 1, "duplicates": 0}


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_a_server_allowing_one_a_second_gets_every_reply_in_order(
    runtime: Runtime, env: Env
) -> None:
    """The server allows no burst at all; the pacer's burst of three meets 429s and waits."""
    tg = env.telegram
    tg.limits = FloodLimits(chat_per_second=1.0, chat_burst=1)
    driver = _driver(env, runtime)
    await driver.start()
    try:
        for text in THREE:
            await driver.user_says(USER, text)
        await _in_order(tg, USER, _three_replies())
    finally:
        await driver.stop()
    figures = _figures(tg, f"server at 1/s, no burst ({runtime})", [USER])
    assert figures["sent"] == 3 and figures["duplicates"] == 0
    assert figures["429s"] >= 1 and figures["retried"] == figures["429s"]


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_outbox_messages_after_429s_arrive_once_in_order(runtime: Runtime, env: Env) -> None:
    tg = env.telegram
    notices = [f"Notice {n} of 5" for n in range(1, 6)]
    await _queue(env, USER, notices)
    tg.flood_next("sendMessage", retry_after=1, count=2)
    driver = _driver(env, runtime)
    await driver.start()
    try:
        await _in_order(tg, USER, notices)
    finally:
        await driver.stop()
    figures = _figures(tg, f"outbox after two 429s ({runtime})", [USER])
    assert figures == {"sent": 5, "retried": 2, "429s": 2, "duplicates": 0}


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_within_one_a_second_per_chat_and_thirty_overall_no_429(
    runtime: Runtime, env: Env
) -> None:
    """40 people type /start at once, one types four commands, and 40 notices wait in the
    outbox: the server enforces Telegram's limits and never has to answer 429."""
    tg = env.telegram
    tg.limits = FloodLimits(per_second=30, chat_per_second=1.0, chat_burst=3)
    people = [8000 + n for n in range(40)]
    staff = [9000 + n for n in range(40)]
    for chat in staff:
        await _queue(env, chat, [f"Announcement for {chat}"])
    driver = _driver(env, runtime)
    await driver.start()
    try:
        for chat in people:
            await driver.user_says(chat, "/start")
        for text in (*THREE, "/register"):
            await driver.user_says(USER, text)
        for chat in people:
            await tg.wait_for_message(chat, T("welcome"), timeout=20)
        for chat in staff:
            await tg.wait_for_message(chat, "Announcement", timeout=20)
        await _in_order(tg, USER, [*_three_replies(), "Step 1 of 3"], 20)
    finally:
        await driver.stop()
    figures = _figures(tg, f"limits enforced ({runtime})", [*people, *staff, USER])
    assert figures == {"sent": 84, "retried": 0, "429s": 0, "duplicates": 0}


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_a_reply_that_must_wait_long_is_kept_in_the_outbox(
    runtime: Runtime, env: Env
) -> None:
    """Told to wait longer than BALIE_TELEGRAM_MAX_WAIT, the reply goes to the outbox, and
    the next reply to that chat goes behind it; the worker sends both after the pause."""
    tg = env.telegram
    tg.flood_next("sendMessage", retry_after=2)
    driver = _driver(env, runtime, telegram_max_wait=0.5)
    await driver.start()
    try:
        await driver.user_says(USER, "/start")
        await _kept_rows(env, USER, 1)
        await driver.user_says(USER, "/help")
        await _in_order(tg, USER, [T("welcome"), T("help_heading")])
        rows = await _kept_rows(env, USER, 2)
    finally:
        await driver.stop()
    assert [row.status for row in rows] == [OutboxStatus.SENT, OutboxStatus.SENT]
    figures = _figures(tg, f"kept in the outbox ({runtime})", [USER])
    assert figures == {"sent": 2, "retried": 1, "429s": 1, "duplicates": 0}


async def _kept_rows(env: Env, chat: int, count: int) -> list[OutboxMessage]:
    for _ in range(200):
        async with env.store.transaction() as tx:
            rows = list(
                await tx.session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.recipient == str(chat))
                    .order_by(OutboxMessage.id)
                )
            )
        if len(rows) >= count and (count < 2 or all(r.status is OutboxStatus.SENT for r in rows)):
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(rows)} outbox row(s) for chat {chat}, expected {count}")


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_a_reply_survives_dropped_connections(runtime: Runtime, env: Env) -> None:
    tg = env.telegram
    tg.disconnect_next("sendMessage", count=2)
    driver = _driver(env, runtime)
    await driver.start()
    try:
        await driver.user_says(USER, "/help")
        await _in_order(tg, USER, [T("help_heading")])
    finally:
        await driver.stop()
    figures = _figures(tg, f"two dropped connections ({runtime})", [USER])
    assert figures == {"sent": 1, "retried": 2, "429s": 0, "duplicates": 0}


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_a_broadcast_within_the_limits_meets_no_429(runtime: Runtime) -> None:
    """bench/broadcast.py in small: 100 chats at a raised bot-wide limit (100 a second)."""
    figures = await broadcast(100, 100.0, runtime)
    print(figures.line())
    assert (figures.delivered, figures.floods, figures.duplicates) == (100, 0, 0)


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_a_button_clear_that_must_wait_is_kept_and_done_later(
    runtime: Runtime, env: Env
) -> None:
    """A stale button's message loses its buttons even when Telegram says "wait" longer than
    BALIE_TELEGRAM_MAX_WAIT: the clear is kept in the outbox and done after the pause, and
    the reply goes behind it."""
    tg = env.telegram
    driver = _driver(env, runtime, telegram_max_wait=0.5)
    await driver.start()
    try:
        await driver.user_says(USER, "/start")
        await _in_order(tg, USER, [T("welcome")])
        tg.flood_next("editMessageReplyMarkup", retry_after=2)
        await driver.user_presses_forged(USER, "no-such-button")
        await tg.wait_for_message(USER, T("stale_button"))
        pressed = tg.messages[USER][0]
        await tg.wait_until(lambda: not pressed.inline_keyboard, timeout=10)
        rows = await _kept_rows(env, USER, 2)
    finally:
        await driver.stop()
    assert [row.status for row in rows] == [OutboxStatus.SENT, OutboxStatus.SENT]
    assert rows[0].payload == action_payload(ChatAction.CLEAR_BUTTONS, pressed.message_id)
    clears = [m for m, p in tg.calls if m.lower() == "editmessagereplymarkup"]
    print(f"kept button clear ({runtime}): attempts {len(clears)}, 429s {len(tg.floods)}")
    assert (len(clears), len(tg.floods)) == (2, 1)


@pytest.mark.postgres
@pytest.mark.parametrize("through", ["store", "redis"])
async def test_two_workers_share_the_limits_and_meet_no_429(
    through: str, request: pytest.FixtureRequest
) -> None:
    """Two runtimes on one PostgreSQL store (replicas of one bot) broadcast together within
    30 a second overall: they share the limits through the store or Redis."""
    redis_url = request.getfixturevalue("redis_url") if through == "redis" else None
    figures = await broadcast(
        150, 30.0, workers=2, database_url=await fresh_postgres(), redis_url=redis_url
    )
    print(f"two workers, limits shared through {through}: {figures.line()}")
    assert (figures.delivered, figures.floods, figures.duplicates) == (150, 0, 0)


@pytest.mark.postgres
async def test_two_workers_that_do_not_share_the_limits_meet_429s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The control: each worker alone keeps to 30 a second, together they send 60."""
    monkeypatch.setattr(telegram_sender, "shared_pace", lambda settings, store: None)
    figures = await broadcast(150, 30.0, workers=2, database_url=await fresh_postgres())
    print(f"two workers, nothing shared: {figures.line()}")
    assert (figures.delivered, figures.duplicates) == (150, 0)
    assert figures.floods > 0
