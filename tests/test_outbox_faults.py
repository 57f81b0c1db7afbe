"""The outbox under faults, with real parts: every message arrives exactly once, in order.

An SMTP server (aiosmtpd) that goes down and comes back on the same port, the Twilio
stand-in answering 503, then 20429 with Retry-After, then 201, permanent refusals that mark
the number, codes that expire before they can go, dead letters, the Bot API answering 429
and 403 to the real aiogram client, and the lease fence: one worker whose lease ran out
while another took over, and two worker processes on one store with a slow SMTP server.
Each test prints its figures (sent, retried, dead, duplicates).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import select

from bot.notifications.email import SmtpMailer
from bot.notifications.errors import DeliveryError
from bot.notifications.sink import LocalSink
from bot.notifications.sms import TwilioSms
from bot.notifications.worker import EXPIRED_REASON, REDACTED_BODY, OutboxWorker
from bot.settings import Settings
from flows.domain import ConversationState, DeliveryChannel, Language, OutboxStatus
from flows.events import Reply
from flows.model import Conversation, OutboxMessage
from flows.texts import Texts
from handlers.aiogram_adapter import AiogramChat
from storage.uow import Store
from tests.fakes.bot_api import TEST_TOKEN, FakeBotApi
from tests.fakes.smtp_server import SmtpServer, free_port
from tests.fakes.twilio_api import FakeTwilio
from tests.support import FakeClock

FROM_NUMBER = "+3197010203040"
ROOT = Path(__file__).resolve().parent.parent


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _smtp(port: int) -> SmtpMailer:
    return SmtpMailer(_settings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False))


def _twilio(fake: FakeTwilio) -> TwilioSms:
    return TwilioSms(
        _settings(
            twilio_account_sid=fake.account_sid,
            twilio_auth_token=fake.auth_token,
            twilio_from_number=FROM_NUMBER,
            twilio_api_url=fake.base_url,
        )
    )


@pytest.fixture
def sink(tmp_path: Path) -> LocalSink:
    return LocalSink(tmp_path / "sink.jsonl")


def _worker(store: Store, clock: FakeClock, sink: LocalSink, **parts: Any) -> OutboxWorker:
    """A worker whose backoff takes its full step (10 s, 20 s, ...): no randomness here."""
    options: dict[str, Any] = {"email": sink.email, "sms": sink.sms, "chat": None}
    options.update(parts)
    return OutboxWorker(store, clock=clock, jitter=lambda: 1.0, **options)


async def _queue(
    store: Store,
    clock: FakeClock,
    channel: DeliveryChannel,
    recipient: str,
    body: str,
    **kwargs: Any,
) -> int:
    async with store.transaction() as tx:
        return (await tx.outbox.add(channel, recipient, body, clock.now(), **kwargs)).id


async def _rows(store: Store) -> list[OutboxMessage]:
    async with store.transaction() as tx:
        return list(await tx.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def _drain(worker: OutboxWorker, passes: int = 20) -> int:
    """Passes until one sends nothing (a claim takes one row per recipient)."""
    sent = 0
    for _ in range(passes):
        done = await worker.deliver_due()
        if not done:
            break
        sent += done
    return sent


@dataclass(frozen=True)
class Figures:
    sent: int
    retried: int
    dead: int
    failed: int
    duplicates: int

    def show(self, name: str) -> None:
        print(
            f"\n[{name}] sent {self.sent}, retried {self.retried}, dead {self.dead}, "
            f"failed {self.failed}, duplicates: {self.duplicates}"
        )


async def _figures(
    store: Store, arrived: Sequence[tuple[str, str]], name: str, channels: Sequence[str] = ()
) -> Figures:
    """Figures from the store's rows and what the far end received, printed."""
    rows = [r for r in await _rows(store) if not channels or r.channel.value in channels]
    figures = Figures(
        sent=sum(r.status is OutboxStatus.SENT for r in rows),
        retried=sum(max(r.attempts - 1, 0) for r in rows),
        dead=sum(r.status is OutboxStatus.DEAD for r in rows),
        failed=sum(r.status is OutboxStatus.FAILED for r in rows),
        duplicates=sum(n - 1 for n in Counter(arrived).values()),
    )
    figures.show(name)
    return figures


def _in_order(arrived: Sequence[tuple[str, str]], queued: Sequence[tuple[str, str]]) -> bool:
    """Per recipient, what arrived is exactly what was queued, in the same order."""
    recipients = {to for to, _ in queued}
    return all(
        [b for t, b in arrived if t == to] == [b for t, b in queued if t == to] for to in recipients
    )


def _mail_arrived(server: SmtpServer) -> list[tuple[str, str]]:
    found = []
    for envelope in server.mail.envelopes:
        assert isinstance(envelope.content, bytes)
        body = envelope.content.decode().rsplit("\r\n\r\n", 1)[-1].strip()
        found += [(to, body) for to in envelope.rcpt_tos]
    return found


# -- SMTP down, then up on the same port ----------------------------------------------------


async def test_smtp_down_then_up_on_the_same_port(
    store: Store, clock: FakeClock, sink: LocalSink
) -> None:
    server = SmtpServer(free_port()).start()
    worker = _worker(store, clock, sink, email=_smtp(server.port))
    queued = [("eva@kantoor.example", f"eva {i}") for i in range(3)]
    queued += [("piet@kantoor.example", f"piet {i}") for i in range(2)]
    for to, body in queued:
        await _queue(store, clock, DeliveryChannel.EMAIL, to, body, subject="Balie")
    try:
        assert await worker.deliver_due() == 2  # the first to each recipient
        server.stop()
        assert await worker.deliver_due() == 0  # refused: both wait 10 s, the rest behind
        assert await worker.deliver_due() == 0  # not due yet, and nothing jumps the queue
        waiting = [r for r in await _rows(store) if r.attempts == 1 and r.last_error]
        assert {r.body for r in waiting} == {"eva 1", "piet 1"}
        assert all(r.next_attempt_at == clock.now() + timedelta(seconds=10) for r in waiting)
        assert all(r.last_error and "SMTP" in r.last_error for r in waiting)

        server.start()  # the same port, the same mailbox
        clock.advance(seconds=10)
        assert await _drain(worker) == 3
    finally:
        server.stop()

    arrived = _mail_arrived(server)
    figures = await _figures(store, arrived, "SMTP down then up")
    assert sorted(arrived) == sorted(queued)
    assert _in_order(arrived, queued)
    assert figures == Figures(sent=5, retried=2, dead=0, failed=0, duplicates=0)


async def test_smtp_4xx_retries_and_5xx_is_permanent(
    store: Store, clock: FakeClock, sink: LocalSink, smtp: SmtpServer
) -> None:
    smtp.mail.refuse.add("gone@kantoor.example")
    original = smtp.mail.handle_RCPT
    greylisted: list[str] = []

    async def handle_rcpt(*args: Any) -> str:
        """A 451 to one recipient, once (greylisting); the collector's answer otherwise."""
        address = args[3]
        if address == "grey@kantoor.example" and not greylisted:
            greylisted.append(address)
            return "451 4.7.1 Greylisted, try again later"
        return await original(*args)

    smtp.mail.handle_RCPT = handle_rcpt  # type: ignore[method-assign]
    worker = _worker(store, clock, sink, email=_smtp(smtp.port))
    grey = await _queue(
        store, clock, DeliveryChannel.EMAIL, "grey@kantoor.example", "g", subject="s"
    )
    gone = await _queue(
        store, clock, DeliveryChannel.EMAIL, "gone@kantoor.example", "x", subject="s"
    )
    assert await worker.deliver_due() == 0
    by_id = {r.id: r for r in await _rows(store)}
    assert by_id[grey].status is OutboxStatus.PENDING and "451" in (by_id[grey].last_error or "")
    assert by_id[gone].status is OutboxStatus.FAILED and "550" in (by_id[gone].last_error or "")
    async with store.transaction() as tx:
        assert await tx.undeliverable.find(DeliveryChannel.EMAIL, "gone@kantoor.example")

    later = await _queue(
        store, clock, DeliveryChannel.EMAIL, "gone@kantoor.example", "y", subject="s"
    )
    clock.advance(seconds=10)
    assert await _drain(worker) == 1  # the greylisted one; nothing more to the refused box
    by_id = {r.id: r for r in await _rows(store)}
    assert by_id[later].status is OutboxStatus.FAILED
    assert (by_id[later].last_error or "").startswith("address refused before")
    arrived = _mail_arrived(smtp)
    figures = await _figures(store, arrived, "SMTP 451 then 250, 550 for good")
    assert arrived == [("grey@kantoor.example", "g")]
    assert figures == Figures(sent=1, retried=1, dead=0, failed=2, duplicates=0)


# -- Twilio: 503, then 20429 with Retry-After, then 201 --------------------------------------


async def test_twilio_503_then_20429_with_retry_after_then_201(
    store: Store, clock: FakeClock, sink: LocalSink, twilio: FakeTwilio
) -> None:
    twilio.fail_next(1, 503)
    twilio.fail_next(1, 429, code=20429, retry_after=7)
    sms = _twilio(twilio)
    worker = _worker(store, clock, sink, sms=sms)
    number, other = "+31612345678", "+31687654321"
    queued = [(number, "sms 1"), (number, "sms 2"), (other, "other 1")]
    ids = [await _queue(store, clock, DeliveryChannel.SMS, to, body) for to, body in queued]
    try:
        assert await worker.deliver_due() == 0  # sms 1: 503; other 1: 20429 (Retry-After 7)
        by_id = {r.id: r for r in await _rows(store)}
        assert by_id[ids[0]].next_attempt_at == clock.now() + timedelta(seconds=10)  # backoff
        assert by_id[ids[2]].next_attempt_at == clock.now() + timedelta(seconds=7)  # as told
        assert "error 20429" in (by_id[ids[2]].last_error or "")

        clock.advance(seconds=6)
        assert await worker.deliver_due() == 0  # Retry-After is honoured to the second
        clock.advance(seconds=1)
        assert await worker.deliver_due() == 1  # other 1
        clock.advance(seconds=3)
        assert await _drain(worker) == 2  # sms 1, then sms 2
    finally:
        await worker.aclose()

    arrived = [(m.to, m.body) for m in twilio.messages]
    statuses = [status for _, _, _, status in twilio.requests]
    figures = await _figures(store, arrived, "Twilio 503, 20429 + Retry-After, 201")
    assert statuses == [503, 429, 201, 201, 201]
    assert sorted(arrived) == sorted(queued)
    assert _in_order(arrived, queued)
    assert figures == Figures(sent=3, retried=2, dead=0, failed=0, duplicates=0)


@pytest.mark.parametrize("code", [21211, 21610, 21614, 30005, 30006])
async def test_twilio_refusing_the_number_marks_it_and_tells_the_chat(
    store: Store, clock: FakeClock, sink: LocalSink, twilio: FakeTwilio, code: int
) -> None:
    number = "+31611112222"
    twilio.fail_next(1, 400, code=code)
    worker = _worker(store, clock, sink, sms=_twilio(twilio))
    first = await _queue(
        store, clock, DeliveryChannel.SMS, number, "code 123456", sensitive=True, notify_chat=4242
    )
    second = await _queue(store, clock, DeliveryChannel.SMS, number, "code 654321", sensitive=True)
    try:
        assert await _drain(worker) == 0
        clock.advance(seconds=1)
        assert await _drain(worker) == 0
    finally:
        await worker.aclose()
    rows = {r.id: r for r in await _rows(store)}
    assert rows[first].status is OutboxStatus.FAILED
    assert rows[first].last_error == f"Twilio HTTP 400 (error {code})"
    assert rows[first].body == REDACTED_BODY
    assert rows[second].status is OutboxStatus.FAILED  # not sent: the number is marked
    assert (rows[second].last_error or "").startswith("address refused before")
    assert len(twilio.requests) == 1
    async with store.transaction() as tx:
        marked = await tx.undeliverable.find(DeliveryChannel.SMS, number)
    assert marked is not None and str(code) in marked.reason
    (told,) = [r for r in rows.values() if r.channel is DeliveryChannel.TELEGRAM]
    assert told.recipient == "4242"
    assert told.body == Texts(Language.NL).template("outbox_undeliverable_chat")
    await _figures(store, [], f"Twilio {code}", channels=["sms"])


# -- expiry and dead letters ---------------------------------------------------------------


async def test_a_code_that_would_arrive_expired_is_not_sent_and_the_chat_is_told(
    store: Store, clock: FakeClock, sink: LocalSink, twilio: FakeTwilio
) -> None:
    async with store.transaction() as tx:  # the asking chat speaks English
        tx.session.add(
            Conversation(
                chat_id=4242,
                state=ConversationState.RESET_CODE,
                data={},
                updated_at=clock.now(),
                language="en",
            )
        )
    twilio.fail_next(1, 503)  # slow, 1st: back in 10 s
    twilio.fail_next(1, 503, retry_after=500)  # told_late, 1st: back in 500 s, in time
    twilio.fail_next(1, 429, code=20429, retry_after=900)  # slow, 2nd: 900 s is too late
    worker = _worker(store, clock, sink, sms=_twilio(twilio))
    expires = clock.now() + timedelta(minutes=10)
    slow = await _queue(
        store, clock, DeliveryChannel.SMS, "+31611112222", "reset 111111",
        sensitive=True, expires_at=expires, notify_chat=4242,
    )  # fmt: skip
    told_late = await _queue(
        store, clock, DeliveryChannel.SMS, "+31633334444", "reset 222222",
        sensitive=True, expires_at=expires, notify_chat=4343,
    )  # fmt: skip
    try:
        assert await worker.deliver_due() == 0  # 503 for both
        clock.advance(seconds=10)
        assert await worker.deliver_due() == 0  # slow: 429, wait 900 s > its 10 minutes
        clock.advance(minutes=10)
        assert await worker.deliver_due() == 0  # told_late: expired by now, not tried again
    finally:
        await worker.aclose()
    assert len(twilio.requests) == 3
    rows = {r.id: r for r in await _rows(store)}
    for row_id in (slow, told_late):
        assert rows[row_id].status is OutboxStatus.DEAD
        assert (rows[row_id].last_error or "").startswith(EXPIRED_REASON)
        assert rows[row_id].body == REDACTED_BODY
    told = {r.recipient: r.body for r in rows.values() if r.channel is DeliveryChannel.TELEGRAM}
    assert told == {
        "4242": "The code you asked for could not be delivered in time and has expired. "
        "Please ask for a new code.",
        "4343": Texts(Language.NL).template("outbox_expired_chat"),
    }
    figures = await _figures(store, [], "expired codes", channels=["sms"])
    assert figures == Figures(sent=0, retried=2, dead=2, failed=0, duplicates=0)


async def test_a_message_that_keeps_failing_ends_as_a_dead_letter(
    store: Store, clock: FakeClock, sink: LocalSink
) -> None:
    worker = _worker(store, clock, sink, email=_smtp(free_port()), max_attempts=4)
    row_id = await _queue(store, clock, DeliveryChannel.EMAIL, "eva@kantoor.example", "x")
    waits = []
    for _ in range(4):
        before = clock.now()
        assert await worker.deliver_due() == 0
        (row,) = await _rows(store)
        waits.append((row.next_attempt_at - before).total_seconds())
        clock.advance(hours=2)
    (row,) = await _rows(store)
    assert row.id == row_id and row.status is OutboxStatus.DEAD
    assert row.attempts == 4
    assert (row.last_error or "").startswith("gave up after 4 attempts: SMTP")
    assert waits[:3] == [10, 20, 40]  # exponential (full step with this jitter)
    assert await worker.deliver_due() == 0
    await _figures(store, [], "dead letter")


# -- Telegram through the real aiogram client -----------------------------------------------


@pytest.fixture
async def telegram() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(token=TEST_TOKEN) as fake:
        yield fake


async def test_telegram_429_waits_retry_after_exactly_and_403_is_recorded(
    store: Store, clock: FakeClock, sink: LocalSink, telegram: FakeBotApi
) -> None:
    bot = Bot(
        TEST_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(telegram.base_url))
    )
    worker = _worker(store, clock, sink, chat=AiogramChat(bot))
    telegram.fail_next(
        "sendMessage",
        error_code=429,
        description="Too Many Requests: retry after 300",
        retry_after=300,
    )
    telegram.user_blocks_bot(6002)
    queued = [("6001", "one"), ("6001", "two"), ("6002", "blocked")]
    ids = [await _queue(store, clock, DeliveryChannel.TELEGRAM, to, body) for to, body in queued]
    try:
        assert await worker.deliver_due() == 0
        rows = {r.id: r for r in await _rows(store)}
        assert rows[ids[0]].next_attempt_at == clock.now() + timedelta(seconds=300)
        assert rows[ids[2]].status is OutboxStatus.FAILED
        async with store.transaction() as tx:
            assert await tx.undeliverable.find(DeliveryChannel.TELEGRAM, "6002")
        clock.advance(seconds=299)
        assert await worker.deliver_due() == 0
        clock.advance(seconds=1)
        assert await _drain(worker) == 2
    finally:
        await bot.session.close()
    arrived = [("6001", m.text) for m in telegram.messages.get(6001, [])]
    figures = await _figures(store, arrived, "Telegram 429 retry_after 300, 403")
    assert arrived == [("6001", "one"), ("6001", "two")]
    assert figures == Figures(sent=2, retried=1, dead=0, failed=1, duplicates=0)


# -- the lease fence -----------------------------------------------------------------------


class _Handover:
    """An e-mail sender that is slow for one worker: while its first message is "on the
    wire", the clock passes that worker's lease and a second worker runs a pass."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.arrived: list[tuple[str, str]] = []
        self.meanwhile: Any = None
        self.fail_late = False

    async def send(self, to: str, subject: str, body: str, attachments: Any = ()) -> None:
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            self.clock.advance(seconds=130)  # past the 120 s lease
            await meanwhile()
            if self.fail_late:
                raise DeliveryError("SMTP 421 late")
        self.arrived.append((to, body))

    def describe(self) -> str:
        return "by hand"

    async def aclose(self) -> None:
        pass


@pytest.mark.parametrize("late_outcome", ["sent", "failed"])
async def test_a_worker_whose_lease_ran_out_records_nothing(
    store: Store,
    clock: FakeClock,
    sink: LocalSink,
    caplog: pytest.LogCaptureFixture,
    late_outcome: str,
) -> None:
    caplog.set_level(logging.INFO, logger="balie.outbox")
    mail = _Handover(clock)
    mail.fail_late = late_outcome == "failed"
    late = _worker(store, clock, sink, email=mail)
    other = _worker(store, clock, sink, email=mail)
    queued = [(f"p{i}@kantoor.example", f"m{i}") for i in range(3)]
    for to, body in queued:
        await _queue(store, clock, DeliveryChannel.EMAIL, to, body)
    taken_over = 0

    async def second_worker() -> None:
        nonlocal taken_over
        taken_over = await other.deliver_due()

    mail.meanwhile = second_worker
    late_sent = await late.deliver_due()

    # The late worker's first message went out, then the other took all three (the
    # first again: the one duplicate a lease cannot prevent, a send longer than the lease).
    assert taken_over == 3
    assert late_sent == 0  # it recorded nothing, and did not send the rest of its batch
    rows = await _rows(store)
    assert {(r.status, r.attempts) for r in rows} == {(OutboxStatus.SENT, 2)}
    assert "not recording it " + late_outcome in caplog.text
    assert caplog.text.count("lease lost before sending") == 2
    if late_outcome == "failed":
        assert all(r.last_error is None for r in rows)  # the late failure is not recorded
    arrived = mail.arrived
    figures = await _figures(store, arrived, f"lease fence, late worker {late_outcome}")
    expected_duplicates = 0 if mail.fail_late else 1
    assert figures.duplicates == expected_duplicates
    assert sorted(set(arrived)) == sorted(queued)


async def test_renewing_before_each_send_keeps_a_long_batch_to_one_worker(
    store: Store, clock: FakeClock, sink: LocalSink
) -> None:
    """Each send takes 100 s of a 120 s lease, the batch 300 s: the lease is renewed before
    each send, so no row is taken while it is being sent; a row still waiting in the batch
    when its claim ran out goes to the other worker, and the first then leaves it."""
    arrived: list[tuple[str, str]] = []
    other = _worker(store, clock, sink)
    stolen = 0

    class Slow:
        async def send(self, to: str, subject: str, body: str, attachments: Any = ()) -> None:
            nonlocal stolen
            clock.advance(seconds=100)
            stolen += await other.deliver_due()
            arrived.append((to, body))

        def describe(self) -> str:
            return "slowly"

        async def aclose(self) -> None:
            pass

    worker = _worker(store, clock, sink, email=Slow())
    queued = [(f"p{i}@kantoor.example", f"m{i}") for i in range(3)]
    for to, body in queued:
        await _queue(store, clock, DeliveryChannel.EMAIL, to, body)
    sent = await worker.deliver_due()
    all_arrived = arrived + [(m["to"], m["body"]) for m in sink.read()]
    figures = await _figures(store, all_arrived, "renewed lease, slow sends")
    assert sent + stolen == 3
    assert figures.duplicates == 0
    assert sorted(all_arrived) == sorted(queued)


# -- two worker processes on one store, a slow SMTP server ----------------------------------


async def _run_workers(url: str, port: int, *extra: str) -> list[dict[str, int]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.outbox_process",
            "--url",
            url,
            "--smtp-port",
            str(port),
            "--lease",
            "4.5",
            "--timeout",
            "3",
            "--batch",
            "5",
            *extra,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    results = []
    for process in processes:
        out, err = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode == 0, err.decode()[-2000:]
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


async def _two_processes(database_url: str, store: Store, *extra: str) -> tuple[Figures, int]:
    server = SmtpServer(free_port(), delay=2.0).start()  # 2 s per message
    clock = FakeClock()
    # Six rows, batches of 5, a 4.5 s lease: one worker claims five and needs 10 s for
    # them, the other is idle after 2 s and finds rows whose claim (not renewed yet) ran out.
    clock.current = clock.now().replace(year=2000)  # due for the processes' real clock
    queued = [(f"person{i}@kantoor.example", f"message {i}") for i in range(6)]
    for to, body in queued:
        await _queue(store, clock, DeliveryChannel.EMAIL, to, body, subject="Balie")
    try:
        results = await _run_workers(database_url, server.port, *extra)
    finally:
        server.stop()
    arrived = _mail_arrived(server)
    label = "two processes" + (" UNFENCED (control)" if extra else "")
    figures = await _figures(store, arrived, label)
    print(f"[{label}] per worker: {results}")
    assert sorted(set(arrived)) == sorted(queued)  # nothing lost
    return figures, sum(r["sent"] for r in results)


async def test_two_worker_processes_with_a_slow_smtp_server_send_each_message_once(
    database_url: str, store: Store
) -> None:
    figures, sent = await _two_processes(database_url, store)
    assert figures.duplicates == 0
    assert figures.sent == sent == 6


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # one control run
async def test_without_the_fence_the_same_run_sends_twice(database_url: str, store: Store) -> None:
    """The control: the old outbox (no token check) doubles messages in the same setting,
    so the test above would catch it."""
    assert database_url.startswith("postgresql")
    figures, _ = await _two_processes(database_url, store, "--unfenced")
    assert figures.duplicates >= 1


async def test_a_worker_may_not_renew_or_finish_a_row_it_does_not_hold(
    store: Store, clock: FakeClock
) -> None:
    """The store's fence itself: a claim's token, and only while its lease lasts."""
    await _queue(store, clock, DeliveryChannel.EMAIL, "eva@kantoor.example", "x")
    lease = timedelta(seconds=60)
    async with store.transaction() as tx:
        (first,) = await tx.outbox.claim_due(clock.now(), 5, lease)
        assert first.lease_token and len(first.lease_token) == 32
        old = _lease(first)
        assert await tx.outbox.claim_due(clock.now(), 5, lease) == []  # hidden while held
        assert await tx.outbox.renew(old, clock.now(), lease)
    clock.advance(seconds=61)
    async with store.transaction() as tx:
        assert not await tx.outbox.renew(old, clock.now(), lease)  # ran out
        (second,) = await tx.outbox.claim_due(clock.now(), 5, lease)
        new = _lease(second)
    async with store.transaction() as tx:
        assert new.token != old.token
        assert not await tx.outbox.finish(old, clock.now(), status=OutboxStatus.SENT)
        assert await tx.outbox.finish(new, clock.now(), status=OutboxStatus.SENT)
        assert not await tx.outbox.finish(new, clock.now(), status=OutboxStatus.DEAD)
    (row,) = await _rows(store)
    assert (row.status, row.attempts, row.lease_token) == (OutboxStatus.SENT, 2, None)


def _lease(row: OutboxMessage) -> Any:
    from storage.repositories import Lease

    assert row.lease_token is not None
    return Lease(row.id, row.lease_token)


async def test_a_chat_port_can_say_when_to_come_back(
    store: Store, clock: FakeClock, sink: LocalSink
) -> None:
    class Flooded:
        async def send(self, chat_id: int, reply: Reply) -> int:
            raise DeliveryError("Telegram: flood control", retry_after=42)

        async def edit(self, chat_id: int, message_id: int, reply: Reply) -> None:
            raise AssertionError("no edits here")

    worker = _worker(store, clock, sink, chat=Flooded())
    await _queue(store, clock, DeliveryChannel.TELEGRAM, "6001", "hello")
    assert await worker.deliver_due() == 0
    (row,) = await _rows(store)
    assert row.next_attempt_at == clock.now() + timedelta(seconds=42)
