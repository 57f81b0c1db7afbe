"""The outbox worker delivers through real parts: an SMTP server, the Twilio stand-in, SQLite."""

from __future__ import annotations

import asyncio
import logging
import stat
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from bot.notifications.email import SmtpMailer
from bot.notifications.errors import DeliveryError
from bot.notifications.sink import LocalSink
from bot.notifications.sms import TwilioSms
from bot.notifications.worker import REDACTED_BODY, Backoff, OutboxWorker, build_senders
from bot.sealing import outbox_sealer
from bot.settings import Settings
from flows.domain import DeliveryChannel, OutboxStatus
from flows.events import Button, Reply
from flows.keys import KeyedHasher
from flows.model import OutboxMessage, StaffMessage
from flows.outbox_payload import BUTTONS, EDIT, TOPIC, ChatAction, action_payload
from storage.db import create_engine
from storage.orm import metadata
from storage.repositories import NoSealer
from storage.sealing import is_sealed
from storage.uow import Store
from tests.fakes.smtp_server import SmtpServer, free_port
from tests.fakes.twilio_api import FakeTwilio
from tests.support import TEST_KEY, TEST_SEALER, FakeClock

CODE_BODY = "Je code is 482913 — tot zo!"
FROM_NUMBER = "+3197010203040"


# -- parts ------------------------------------------------------------------------------------


class RecordingChat:
    """A ChatPort that remembers what it sent and edited."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, int, Reply]] = []
        self.edited: list[tuple[int, int, Reply]] = []
        self.actions: list[tuple[str, int, int]] = []
        self._next_id = 700

    async def send(self, chat_id: int, reply: Reply) -> int:
        self._next_id += 1
        self.sent.append((chat_id, self._next_id, reply))
        return self._next_id

    async def edit(self, chat_id: int, message_id: int, reply: Reply) -> None:
        self.edited.append((chat_id, message_id, reply))

    async def clear_buttons(self, chat_id: int, message_id: int) -> None:
        self.actions.append(("clear", chat_id, message_id))

    async def delete(self, chat_id: int, message_id: int) -> None:
        self.actions.append(("delete", chat_id, message_id))


def make_settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'outbox.sqlite3'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    store = Store(engine, sealer=TEST_SEALER)
    yield store
    await store.close()


@pytest.fixture
def sink(tmp_path: Path) -> LocalSink:
    return LocalSink(tmp_path / "data" / "sink.jsonl")


def smtp_settings(port: int) -> Settings:
    return make_settings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)


def twilio_settings(fake: FakeTwilio) -> Settings:
    return make_settings(
        twilio_account_sid=fake.account_sid,
        twilio_auth_token=fake.auth_token,
        twilio_from_number=FROM_NUMBER,
        twilio_api_url=fake.base_url,
    )


async def add_row(
    store: Store,
    clock: FakeClock,
    channel: DeliveryChannel,
    recipient: str,
    body: str = CODE_BODY,
    **kwargs: Any,
) -> int:
    async with store.transaction() as tx:
        row = await tx.outbox.add(channel, recipient, body, clock.now(), **kwargs)
        return row.id


async def row(store: Store, row_id: int) -> OutboxMessage:
    async with store.transaction() as tx:
        found = await tx.outbox.get(row_id)
        assert found is not None
        return found


def naive(value: datetime | None) -> datetime | None:
    """SQLite hands back datetimes without their zone; compare wall times."""
    return None if value is None else value.replace(tzinfo=None)


# -- e-mail -----------------------------------------------------------------------------------


async def test_email_is_delivered_and_a_sensitive_body_redacted(
    store: Store, clock: FakeClock, smtp: SmtpServer, sink: LocalSink
) -> None:
    worker = OutboxWorker(
        store, email=SmtpMailer(smtp_settings(smtp.port)), sms=sink.sms, chat=None, clock=clock
    )
    code_id = await add_row(
        store,
        clock,
        DeliveryChannel.EMAIL,
        "eva@kantoor.example",
        subject="Je code voor Balie",
        sensitive=True,
    )
    plain_id = await add_row(
        store,
        clock,
        DeliveryChannel.EMAIL,
        "piet@kantoor.example",
        "Welkom, Piët.",
        subject="Welkom",
    )

    assert await worker.deliver_due() == 2

    (mail,) = smtp.mail.messages_to("eva@kantoor.example")
    assert mail["Subject"] == "Je code voor Balie"
    assert mail["From"] == "Balie <balie@localhost>"
    assert mail["To"] == "eva@kantoor.example"
    assert mail["Date"] and mail["Message-ID"]
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content_charset() == "utf-8"
    assert mail.get_content().strip() == CODE_BODY

    sent = await row(store, code_id)
    assert sent.status is OutboxStatus.SENT
    assert naive(sent.sent_at) == naive(clock.now())
    assert sent.body == REDACTED_BODY
    assert (await row(store, plain_id)).body == "Welkom, Piët."
    assert smtp.mail.messages_to("piet@kantoor.example")[0].get_content().strip() == "Welkom, Piët."

    assert await worker.deliver_due() == 0  # nothing is sent twice


async def test_smtp_down_keeps_the_row_pending_then_delivers_when_it_is_up(
    store: Store, clock: FakeClock, sink: LocalSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="balie.outbox")
    port = free_port()  # nothing listens here yet
    worker = OutboxWorker(
        store,
        email=SmtpMailer(smtp_settings(port)),
        sms=sink.sms,
        chat=None,
        clock=clock,
        jitter=lambda: 1.0,  # the full first backoff step: 10 s
    )
    row_id = await add_row(
        store,
        clock,
        DeliveryChannel.EMAIL,
        "eva@kantoor.example",
        subject="Code",
        sensitive=True,
    )

    assert await worker.deliver_due() == 0
    waiting = await row(store, row_id)
    assert waiting.status is OutboxStatus.PENDING
    assert waiting.attempts == 1
    assert naive(waiting.next_attempt_at) == naive(clock.now() + timedelta(seconds=10))
    assert waiting.last_error and waiting.last_error.startswith("SMTP")
    assert "482913" not in waiting.last_error
    assert "482913" not in caplog.text
    # Still needed for the next attempt, and sealed until then.
    assert is_sealed(waiting.body) and CODE_BODY not in waiting.body
    assert store.opened(waiting.body) == CODE_BODY

    assert await worker.deliver_due() == 0  # not due yet: no second attempt
    assert (await row(store, row_id)).attempts == 1

    server = SmtpServer(port).start()
    try:
        clock.advance(seconds=10)
        assert await worker.deliver_due() == 1
        assert server.mail.messages_to("eva@kantoor.example")
    finally:
        server.stop()
    done = await row(store, row_id)
    assert done.status is OutboxStatus.SENT
    assert done.attempts == 2
    assert done.body == REDACTED_BODY


async def test_refused_recipient_fails_for_good(
    store: Store, clock: FakeClock, smtp: SmtpServer, sink: LocalSink
) -> None:
    smtp.mail.refuse.add("gone@kantoor.example")
    worker = OutboxWorker(
        store, email=SmtpMailer(smtp_settings(smtp.port)), sms=sink.sms, chat=None, clock=clock
    )
    row_id = await add_row(
        store, clock, DeliveryChannel.EMAIL, "gone@kantoor.example", subject="Code", sensitive=True
    )

    assert await worker.deliver_due() == 0
    failed = await row(store, row_id)
    assert failed.status is OutboxStatus.FAILED
    assert failed.last_error and "550" in failed.last_error
    assert failed.body == REDACTED_BODY  # a code that will never be sent is not kept either


async def test_a_row_that_keeps_failing_gives_up_after_max_attempts(
    store: Store, clock: FakeClock, sink: LocalSink
) -> None:
    worker = OutboxWorker(
        store,
        email=SmtpMailer(smtp_settings(free_port())),
        sms=sink.sms,
        chat=None,
        clock=clock,
        max_attempts=3,
        backoff=Backoff(base=timedelta(seconds=5), cap=timedelta(seconds=5)),
        jitter=lambda: 1.0,
    )
    row_id = await add_row(store, clock, DeliveryChannel.EMAIL, "eva@kantoor.example", subject="x")
    for _ in range(3):
        assert await worker.deliver_due() == 0
        clock.advance(seconds=5)
    given_up = await row(store, row_id)
    assert given_up.status is OutboxStatus.DEAD
    assert given_up.attempts == 3
    assert given_up.last_error and given_up.last_error.startswith("gave up after 3 attempts")
    assert await worker.deliver_due() == 0


async def test_smtp_mailer_classifies_errors(smtp: SmtpServer) -> None:
    smtp.mail.refuse.add("gone@kantoor.example")
    with pytest.raises(DeliveryError) as refused:
        await SmtpMailer(smtp_settings(smtp.port)).send("gone@kantoor.example", "s", "b")
    assert refused.value.permanent

    with pytest.raises(DeliveryError) as down:
        await SmtpMailer(smtp_settings(free_port())).send("eva@kantoor.example", "s", "b")
    assert not down.value.permanent


# -- sealed at rest ---------------------------------------------------------------------------


async def test_a_sensitive_body_is_sealed_in_the_file_and_opened_only_to_deliver(
    tmp_path: Path, store: Store, clock: FakeClock, smtp: SmtpServer, sink: LocalSink
) -> None:
    code_id = await add_row(
        store, clock, DeliveryChannel.EMAIL, "eva@kantoor.example", subject="Code", sensitive=True
    )
    plain_id = await add_row(store, clock, DeliveryChannel.EMAIL, "piet@kantoor.example", "Hoi")
    async with store.transaction() as tx:
        stored = dict((await tx.session.execute(text("SELECT id, body FROM outbox"))).all())
    assert is_sealed(stored[code_id]) and "482913" not in stored[code_id]
    assert store.opened(stored[code_id]) == CODE_BODY
    assert stored[plain_id] == "Hoi"  # only a code is sealed
    assert b"482913" not in _store_bytes(tmp_path)  # neither in the file nor in its WAL

    worker = OutboxWorker(
        store, email=SmtpMailer(smtp_settings(smtp.port)), sms=sink.sms, chat=None, clock=clock
    )
    assert await worker.deliver_due() == 2
    (mail,) = smtp.mail.messages_to("eva@kantoor.example")
    assert mail.get_content().strip() == CODE_BODY
    assert (await row(store, code_id)).body == REDACTED_BODY


def _store_bytes(folder: Path) -> bytes:
    """The SQLite file and its WAL, as someone who took them would read them."""
    return b"".join(path.read_bytes() for path in folder.glob("outbox.sqlite3*") if path.is_file())


async def test_a_store_without_a_sealer_refuses_a_sensitive_row(
    tmp_path: Path, store: Store, clock: FakeClock
) -> None:
    unsealed = Store(create_engine(f"sqlite+aiosqlite:///{tmp_path / 'outbox.sqlite3'}"))
    try:
        with pytest.raises(NoSealer):
            await add_row(unsealed, clock, DeliveryChannel.SMS, "+31612345678", sensitive=True)
        await add_row(unsealed, clock, DeliveryChannel.SMS, "+31612345678", "Welkom")
    finally:
        await unsealed.close()


async def test_a_code_kept_in_clear_by_an_earlier_version_is_still_delivered(
    store: Store, clock: FakeClock, sink: LocalSink
) -> None:
    row_id = await add_row(store, clock, DeliveryChannel.SMS, "+31612345678", "plain")
    async with store.transaction() as tx:
        found = await tx.outbox.get(row_id)
        assert found is not None
        found.body, found.sensitive = CODE_BODY, True  # as an earlier version kept it
    worker = OutboxWorker(store, email=sink.email, sms=sink.sms, chat=None, clock=clock)
    assert await worker.deliver_due() == 1
    assert CODE_BODY in sink.path.read_text(encoding="utf-8")
    assert (await row(store, row_id)).body == REDACTED_BODY


async def test_an_old_key_still_opens_a_lost_one_fails_and_the_chat_is_told(
    store: Store, clock: FakeClock, sink: LocalSink
) -> None:
    new_key = b"a-new-server-key-0123456789abcdef"
    for hasher, expected in (
        (KeyedHasher(new_key, [TEST_KEY]), OutboxStatus.SENT),  # rotated, the old key kept
        (KeyedHasher(new_key), OutboxStatus.FAILED),  # the old key lost
    ):
        row_id = await add_row(
            store, clock, DeliveryChannel.SMS, "+31612345678", sensitive=True, notify_chat=4242
        )
        restarted = Store(store.engine, sealer=outbox_sealer(hasher))
        worker = OutboxWorker(restarted, email=sink.email, sms=sink.sms, chat=None, clock=clock)
        await worker.deliver_due()
        done = await row(store, row_id)
        assert done.status is expected and done.body == REDACTED_BODY
    assert done.last_error == "sealed under a key this server no longer has"
    async with store.transaction() as tx:
        told = [r for r in await tx.outbox.latest() if r.recipient == "4242"]
    assert len(told) == 1 and told[0].channel is DeliveryChannel.TELEGRAM


# -- SMS --------------------------------------------------------------------------------------


async def test_sms_goes_through_twilio(
    store: Store, clock: FakeClock, twilio: FakeTwilio, sink: LocalSink
) -> None:
    sms = TwilioSms(twilio_settings(twilio))
    worker = OutboxWorker(store, email=sink.email, sms=sms, chat=None, clock=clock)
    try:
        row_id = await add_row(store, clock, DeliveryChannel.SMS, "+31612345678", sensitive=True)
        assert await worker.deliver_due() == 1
        message = await twilio.wait_for_message("+31612345678")
    finally:
        await worker.aclose()
    assert message.body == CODE_BODY
    assert message.from_ == FROM_NUMBER
    sent = await row(store, row_id)
    assert sent.status is OutboxStatus.SENT
    assert sent.body == REDACTED_BODY


async def test_twilio_500_is_retried_then_delivered(
    store: Store, clock: FakeClock, twilio: FakeTwilio, sink: LocalSink
) -> None:
    sms = TwilioSms(twilio_settings(twilio))
    worker = OutboxWorker(store, email=sink.email, sms=sms, chat=None, clock=clock)
    try:
        row_id = await add_row(store, clock, DeliveryChannel.SMS, "+31612345678")
        twilio.fail_next(1, 500)
        assert await worker.deliver_due() == 0
        waiting = await row(store, row_id)
        assert waiting.status is OutboxStatus.PENDING
        assert waiting.last_error and "HTTP 500" in waiting.last_error
        assert twilio.messages == []

        clock.advance(seconds=10)
        assert await worker.deliver_due() == 1
        assert (await twilio.wait_for_message("+31612345678")).body == CODE_BODY
    finally:
        await worker.aclose()
    assert (await row(store, row_id)).attempts == 2


async def test_twilio_rejecting_the_number_fails_for_good(
    store: Store, clock: FakeClock, twilio: FakeTwilio, sink: LocalSink
) -> None:
    sms = TwilioSms(twilio_settings(twilio))
    worker = OutboxWorker(store, email=sink.email, sms=sms, chat=None, clock=clock)
    try:
        row_id = await add_row(store, clock, DeliveryChannel.SMS, "0612345678")  # not E.164
        assert await worker.deliver_due() == 0
    finally:
        await worker.aclose()
    failed = await row(store, row_id)
    assert failed.status is OutboxStatus.FAILED
    assert failed.last_error == "Twilio HTTP 400 (error 21211)"


async def test_twilio_rate_limit_and_unreachable_are_temporary(twilio: FakeTwilio) -> None:
    sms = TwilioSms(twilio_settings(twilio))
    try:
        twilio.fail_next(1, 429)
        with pytest.raises(DeliveryError) as limited:
            await sms.send("+31612345678", "hoi")
        assert not limited.value.permanent
    finally:
        await sms.aclose()

    nowhere = make_settings(
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_from_number=FROM_NUMBER,
        twilio_api_url=f"http://127.0.0.1:{free_port()}",
    )
    unreachable = TwilioSms(nowhere)
    try:
        with pytest.raises(DeliveryError) as down:
            await unreachable.send("+31612345678", "hoi")
        assert not down.value.permanent
    finally:
        await unreachable.aclose()


# -- Telegram ---------------------------------------------------------------------------------


async def test_chat_message_is_recorded_and_a_later_edit_edits_it(
    store: Store, clock: FakeClock, sink: LocalSink
) -> None:
    chat = RecordingChat()
    worker = OutboxWorker(store, email=sink.email, sms=sink.sms, chat=chat, clock=clock)
    buttons = [[{"label": "Approve", "data": "approve:7"}, {"label": "Reject", "data": "reject:7"}]]
    await add_row(
        store,
        clock,
        DeliveryChannel.TELEGRAM,
        "5001",
        "Request #7 from Eva",
        payload={TOPIC: "registration:7", BUTTONS: buttons},
    )
    assert await worker.deliver_due() == 1
    ((chat_id, message_id, reply),) = chat.sent
    assert chat_id == 5001
    assert reply == Reply(
        "Request #7 from Eva",
        ((Button("Approve", "approve:7"), Button("Reject", "reject:7")),),
    )
    async with store.transaction() as tx:
        records = (await tx.session.scalars(select(StaffMessage))).all()
    assert [(r.topic, r.chat_id, r.message_id) for r in records] == [
        ("registration:7", 5001, message_id)
    ]

    clock.advance(minutes=3)
    edit_id = await add_row(
        store,
        clock,
        DeliveryChannel.TELEGRAM,
        "5001",
        "Request #7: approved by Marieke",
        payload={TOPIC: "registration:7", EDIT: True},
    )
    unknown_id = await add_row(
        store,
        clock,
        DeliveryChannel.TELEGRAM,
        "5001",
        "never sent",
        payload={TOPIC: "registration:99", EDIT: True},
    )
    # One row per recipient and pass, in order: the edit first, then the unknown topic.
    assert await worker.deliver_due() == 1
    assert await worker.deliver_due() == 1
    assert chat.edited == [(5001, message_id, Reply("Request #7: approved by Marieke"))]
    assert len(chat.sent) == 1
    assert (await row(store, edit_id)).status is OutboxStatus.SENT
    assert (await row(store, unknown_id)).status is OutboxStatus.SENT  # nothing to edit


async def test_kept_actions_clear_buttons_and_delete_messages_in_order(
    store: Store, clock: FakeClock, sink: LocalSink
) -> None:
    """A button clear or a deletion (a typed password) that could not be done at once is an
    outbox row; the worker does it, in order with the chat's messages."""
    chat = RecordingChat()
    worker = OutboxWorker(store, email=sink.email, sms=sink.sms, chat=chat, clock=clock)
    clear = await add_row(
        store,
        clock,
        DeliveryChannel.TELEGRAM,
        "5001",
        "",
        payload=action_payload(ChatAction.CLEAR_BUTTONS, 41),
    )
    delete = await add_row(
        store,
        clock,
        DeliveryChannel.TELEGRAM,
        "5001",
        "",
        payload=action_payload(ChatAction.DELETE, 42),
    )
    await add_row(store, clock, DeliveryChannel.TELEGRAM, "5001", "Your password is set.")
    for _ in range(3):
        assert await worker.deliver_due() == 1
    assert chat.actions == [("clear", 5001, 41), ("delete", 5001, 42)]
    assert [r.text for _, _, r in chat.sent] == ["Your password is set."]
    assert (await row(store, clear)).status is OutboxStatus.SENT
    assert (await row(store, delete)).status is OutboxStatus.SENT


async def test_chat_rows_wait_while_no_chat_channel_runs(
    store: Store, clock: FakeClock, sink: LocalSink
) -> None:
    worker = OutboxWorker(store, email=sink.email, sms=sink.sms, chat=None, clock=clock)
    chat_row = await add_row(store, clock, DeliveryChannel.TELEGRAM, "5001", "hello")
    mail_row = await add_row(store, clock, DeliveryChannel.EMAIL, "eva@kantoor.example")

    assert await worker.deliver_due() == 1
    waiting = await row(store, chat_row)
    assert waiting.status is OutboxStatus.PENDING
    assert waiting.attempts == 0
    assert (await row(store, mail_row)).status is OutboxStatus.SENT

    chat = RecordingChat()
    later = OutboxWorker(store, email=sink.email, sms=sink.sms, chat=chat, clock=clock)
    assert await later.deliver_due() == 1
    assert [(c, r.text) for c, _, r in chat.sent] == [(5001, "hello")]


async def test_a_failing_chat_port_is_retried_without_leaking_the_text(
    store: Store, clock: FakeClock, sink: LocalSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="balie.outbox")

    class BrokenChat(RecordingChat):
        async def send(self, chat_id: int, reply: Reply) -> int:
            raise RuntimeError(f"boom while sending {reply.text}")

    worker = OutboxWorker(store, email=sink.email, sms=sink.sms, chat=BrokenChat(), clock=clock)
    row_id = await add_row(store, clock, DeliveryChannel.TELEGRAM, "5001", "secret 482913")
    assert await worker.deliver_due() == 0
    waiting = await row(store, row_id)
    assert waiting.status is OutboxStatus.PENDING
    assert waiting.last_error and waiting.last_error.startswith("unexpected RuntimeError")
    assert "482913" not in waiting.last_error
    assert "482913" not in caplog.text


# -- several workers, crashes -----------------------------------------------------------------


async def test_two_workers_deliver_each_row_exactly_once(
    tmp_path: Path, store: Store, clock: FakeClock, smtp: SmtpServer, sink: LocalSink
) -> None:
    recipients = [f"person{i}@kantoor.example" for i in range(12)]
    for address in recipients:
        await add_row(store, clock, DeliveryChannel.EMAIL, address, subject="Hallo")

    # A second engine on the same file stands in for a second process.
    other = Store(
        create_engine(f"sqlite+aiosqlite:///{tmp_path / 'outbox.sqlite3'}"), sealer=TEST_SEALER
    )
    try:
        mailer = SmtpMailer(smtp_settings(smtp.port))
        workers = [
            OutboxWorker(s, email=mailer, sms=sink.sms, chat=None, clock=clock, batch=3)
            for s in (store, other)
        ]
        total = 0
        for _ in range(10):
            counts = await asyncio.gather(*(w.deliver_due() for w in workers))
            total += sum(counts)
            if total == len(recipients):
                break
    finally:
        await other.close()

    assert total == len(recipients)
    delivered = sorted(a for e in smtp.mail.envelopes for a in e.rcpt_tos)
    assert delivered == sorted(recipients)
    async with store.transaction() as tx:
        rows = (await tx.session.scalars(select(OutboxMessage))).all()
    assert {(r.status, r.attempts) for r in rows} == {(OutboxStatus.SENT, 1)}


async def test_a_worker_that_died_after_claiming_is_covered_after_the_lease(
    store: Store, clock: FakeClock, sink: LocalSink
) -> None:
    row_id = await add_row(store, clock, DeliveryChannel.EMAIL, "eva@kantoor.example", subject="x")
    async with store.transaction() as tx:  # the worker that claims, then dies
        claimed = await tx.outbox.claim_due(clock.now(), 20, timedelta(seconds=60))
    assert [m.id for m in claimed] == [row_id]

    worker = OutboxWorker(store, email=sink.email, sms=sink.sms, chat=None, clock=clock)
    assert await worker.deliver_due() == 0
    clock.advance(seconds=59)
    assert await worker.deliver_due() == 0
    clock.advance(seconds=2)
    assert await worker.deliver_due() == 1
    done = await row(store, row_id)
    assert done.status is OutboxStatus.SENT
    assert done.attempts == 2
    assert [m["to"] for m in sink.read()] == ["eva@kantoor.example"]


# -- the loop ---------------------------------------------------------------------------------


async def test_run_delivers_at_once_on_notify_survives_errors_and_stops_promptly(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    arrived: asyncio.Queue[tuple[DeliveryChannel, str, str | None, str]] = asyncio.Queue()

    def on_delivery(channel: DeliveryChannel, to: str, subject: str | None, body: str) -> None:
        arrived.put_nowait((channel, to, subject, body))

    sink = LocalSink(tmp_path / "sink.jsonl", on_delivery)
    worker = OutboxWorker(
        store, email=sink.email, sms=sink.sms, chat=None, clock=clock, poll_seconds=60
    )
    real_deliver_due = worker.deliver_due
    calls = 0
    passes: asyncio.Queue[int] = asyncio.Queue()

    async def flaky_deliver_due() -> int:
        nonlocal calls
        calls += 1
        passes.put_nowait(calls)
        if calls == 2:
            raise RuntimeError("store hiccup")
        return await real_deliver_due()

    worker.deliver_due = flaky_deliver_due  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    assert await asyncio.wait_for(passes.get(), 2) == 1  # then it sleeps up to 60 s

    await add_row(store, clock, DeliveryChannel.SMS, "+31612345678", "first")
    worker.notify()  # this pass raises; the loop goes on
    assert await asyncio.wait_for(passes.get(), 2) == 2
    worker.notify()
    assert await asyncio.wait_for(arrived.get(), 2) == (
        DeliveryChannel.SMS,
        "+31612345678",
        None,
        "first",
    )

    stop.set()
    await asyncio.wait_for(task, 2)
    assert calls in (3, 4)  # after a pass that sent, one more may start at once


async def test_stop_hands_the_rest_of_the_batch_back(
    store: Store, clock: FakeClock, sink: LocalSink
) -> None:
    stop = asyncio.Event()

    class StoppingChat(RecordingChat):
        async def send(self, chat_id: int, reply: Reply) -> int:
            stop.set()  # shutdown begins while the first message is being sent
            return await super().send(chat_id, reply)

    chat = StoppingChat()
    worker = OutboxWorker(store, email=sink.email, sms=sink.sms, chat=chat, clock=clock)
    ids = [await add_row(store, clock, DeliveryChannel.TELEGRAM, "5001", f"m{i}") for i in range(3)]
    await asyncio.wait_for(worker.run(stop), 2)

    assert [r.text for _, _, r in chat.sent] == ["m0"]
    first, *rest = [await row(store, i) for i in ids]
    assert first.status is OutboxStatus.SENT
    for left in rest:  # not tried: pending, due now, no attempt counted
        assert (left.status, left.attempts) == (OutboxStatus.PENDING, 0)
        assert naive(left.next_attempt_at) == naive(clock.now())


# -- sink and wiring --------------------------------------------------------------------------


async def test_local_sink_appends_json_lines_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "sink.jsonl"
    seen: list[tuple[DeliveryChannel, str, str | None, str]] = []

    async def on_delivery(
        channel: DeliveryChannel, to: str, subject: str | None, body: str
    ) -> None:
        seen.append((channel, to, subject, body))

    sink = LocalSink(path, on_delivery)
    await sink.send_email("eva@kantoor.example", "Code", CODE_BODY)
    await sink.send_sms("+31612345678", "hoi")

    assert [(m["channel"], m["to"], m["subject"], m["body"]) for m in sink.read()] == [
        ("email", "eva@kantoor.example", "Code", CODE_BODY),
        ("sms", "+31612345678", None, "hoi"),
    ]
    assert CODE_BODY in path.read_text(encoding="utf-8")  # UTF-8, not \u escapes
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert seen == [
        (DeliveryChannel.EMAIL, "eva@kantoor.example", "Code", CODE_BODY),
        (DeliveryChannel.SMS, "+31612345678", None, "hoi"),
    ]


async def test_build_senders_and_routes_description(store: Store, clock: FakeClock) -> None:
    email, sms = build_senders(make_settings(), "data/sink.jsonl")
    assert isinstance(email.sink, LocalSink) and email.sink is sms.sink  # type: ignore[attr-defined]
    worker = OutboxWorker(store, email=email, sms=sms, chat=None, clock=clock)
    assert worker.routes_description() == (
        "e-mail and SMS to the local sink data/sink.jsonl, chat messages wait for a chat channel"
    )

    configured = make_settings(
        smtp_host="smtp.example.org",
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="token",
        twilio_from_number=FROM_NUMBER,
    )
    email, sms = build_senders(configured, "data/sink.jsonl")
    assert isinstance(email, SmtpMailer) and isinstance(sms, TwilioSms)
    worker = OutboxWorker(store, email=email, sms=sms, chat=RecordingChat(), clock=clock)
    assert worker.routes_description() == (
        "e-mail via SMTP smtp.example.org:587, SMS via Twilio, chat messages via Telegram"
    )
    await worker.aclose()

    email, sms = build_senders(make_settings(smtp_host="smtp.example.org"), "data/sink.jsonl")
    assert OutboxWorker(
        store, email=email, sms=sms, chat=RecordingChat(), clock=clock
    ).routes_description() == (
        "e-mail via SMTP smtp.example.org:587, SMS to the local sink data/sink.jsonl, "
        "chat messages via Telegram"
    )
