"""The outbox worker: delivers the rows flows wrote, at least once, with retries and backoff.

Flows write an outbox row in the same transaction as its cause (a registration, a verdict),
so a notification is never lost and never sent for something that was rolled back. This
worker claims due rows in one short transaction, delivers them with no transaction open (a
slow SMTP server must not hold the store's write lock), then records each outcome in a new
short transaction. Several workers may share one store: a claim hides its rows for a lease.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from bot.notifications.email import SmtpMailer
from bot.notifications.errors import DeliveryError
from bot.notifications.sink import LocalSink, OnDelivery
from bot.notifications.sms import TwilioSms
from bot.settings import Settings
from flows.domain import DeliveryChannel, OutboxStatus
from flows.events import Reply
from flows.outbox_payload import EDIT, TOPIC, content_digest, keyboard_from_payload
from flows.ports import ChatPort, Clock
from storage.models import OutboxMessage
from storage.uow import Store

REDACTED_BODY = "[redacted after delivery]"
"""Replaces the body of a sensitive row (one holding a code) once it is sent or given up."""

DEFAULT_BACKOFF: tuple[timedelta, ...] = (
    timedelta(seconds=10),
    timedelta(seconds=30),
    timedelta(minutes=1),
    timedelta(minutes=2),
    timedelta(minutes=5),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
)
"""Wait after the 1st, 2nd, ... failed attempt; the last entry repeats."""

_MAX_ERROR_LENGTH = 300


class EmailSender(Protocol):
    async def send(self, to: str, subject: str, body: str) -> None:
        """Deliver or raise :class:`DeliveryError`."""
        ...

    def describe(self) -> str:
        """How mail goes out, for the startup log (e.g. ``via SMTP host:587``)."""
        ...

    async def aclose(self) -> None: ...


class SmsSender(Protocol):
    async def send(self, to: str, body: str) -> None:
        """Deliver or raise :class:`DeliveryError`."""
        ...

    def describe(self) -> str: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class _Job:
    """What delivery needs from a claimed row, read while its transaction was open."""

    id: int
    channel: DeliveryChannel
    recipient: str
    subject: str | None
    body: str
    payload: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, row: OutboxMessage) -> _Job:
        return cls(
            id=row.id,
            channel=row.channel,
            recipient=row.recipient,
            subject=row.subject,
            body=row.body,
            payload=dict(row.payload or {}),
        )


@dataclass(frozen=True)
class _StaffRecord:
    """A chat message just sent about a topic, to be remembered so it can be edited later."""

    topic: str
    chat_id: int
    message_id: int
    content_digest: str | None = None


class OutboxWorker:
    """Delivers due outbox rows by e-mail, SMS and (when a chat channel runs) Telegram.

    Delivery is at least once: a worker that dies between sending and recording leaves the
    row's lease to run out, and the row is sent again. A ``ChatPort`` may raise
    :class:`DeliveryError` to say whether a failure is permanent (e.g. the bot was blocked);
    any other exception counts as temporary.
    """

    def __init__(
        self,
        store: Store,
        *,
        email: EmailSender,
        sms: SmsSender,
        chat: ChatPort | None,
        clock: Clock,
        batch: int = 20,
        lease: timedelta = timedelta(seconds=60),
        backoff: Sequence[timedelta] = DEFAULT_BACKOFF,
        max_attempts: int = 10,
        poll_seconds: float = 1.0,
        delivery_timeout: float = 30.0,
        chat_name: str = "Telegram",
        on_pass: Callable[[], None] = lambda: None,
    ) -> None:
        if batch < 1 or max_attempts < 1 or not backoff:
            raise ValueError("batch and max_attempts must be positive and backoff non-empty")
        self._store = store
        self._email = email
        self._sms = sms
        self._chat = chat
        self._clock = clock
        self._batch = batch
        self._lease = lease
        self._backoff = tuple(backoff)
        self._max_attempts = max_attempts
        self._poll_seconds = poll_seconds
        self._delivery_timeout = delivery_timeout
        self._chat_name = chat_name
        self._on_pass = on_pass
        self._channels: tuple[DeliveryChannel, ...] = (
            (DeliveryChannel.EMAIL, DeliveryChannel.SMS)
            if chat is None
            else (DeliveryChannel.EMAIL, DeliveryChannel.SMS, DeliveryChannel.TELEGRAM)
        )
        self._wake = asyncio.Event()
        self._stop: asyncio.Event | None = None
        self._last_claimed = 0
        self._log = logging.getLogger("balie.outbox")

    # -- the loop ---------------------------------------------------------------------------

    def notify(self) -> None:
        """A row was just written: deliver now instead of at the next poll (same event loop)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set. Errors are logged and retried, never fatal.

        On ``stop`` the worker finishes the message in hand, hands the rest of its batch
        back, and returns.
        """
        self._stop = stop
        self._log.info("outbox worker started: %s", self.routes_description())
        while not stop.is_set():
            self._wake.clear()
            self._on_pass()
            try:
                await self.deliver_due()
            except Exception as exc:
                # The exception's text may quote SQL parameters, i.e. a body: name it only.
                self._log.error("outbox pass failed: %s", _describe_exception(exc))
                self._last_claimed = 0
            if stop.is_set():
                break
            if self._last_claimed >= self._batch:
                await asyncio.sleep(0)  # a full batch: more may be due, go on at once
                continue
            await self._sleep(stop)
        self._log.info("outbox worker stopped")

    async def _sleep(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.create_task(self._wake.wait()), asyncio.create_task(stop.wait())]
        try:
            await asyncio.wait(
                waiters, timeout=self._poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    # -- one pass ---------------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Claim the due rows this worker can deliver, deliver them; returns how many were sent."""
        now = self._clock.now()
        async with self._store.transaction() as tx:
            rows = await tx.outbox.claim_due(now, self._batch, self._lease, self._channels)
            jobs = [_Job.of(row) for row in rows]
        self._last_claimed = len(jobs)
        sent = 0
        for index, job in enumerate(jobs):
            if self._stopping():
                await self._release(jobs[index:])
                break
            if await self._deliver_one(job):
                sent += 1
        return sent

    async def _deliver_one(self, job: _Job) -> bool:
        try:
            async with asyncio.timeout(self._delivery_timeout):
                record = await self._deliver(job)
        except DeliveryError as exc:
            error = exc
        except TimeoutError:
            error = DeliveryError(f"no answer within {self._delivery_timeout:g} s")
        except Exception as exc:
            error = DeliveryError(f"unexpected {_describe_exception(exc)}")
        else:
            await self._mark_sent(job, record)
            self._log.info("outbox #%d sent by %s", job.id, job.channel.value)
            return True
        await self._mark_failed(job, error)
        return False

    async def _deliver(self, job: _Job) -> _StaffRecord | None:
        if job.channel is DeliveryChannel.EMAIL:
            await self._email.send(job.recipient, job.subject or "", job.body)
            return None
        if job.channel is DeliveryChannel.SMS:
            await self._sms.send(job.recipient, job.body)
            return None
        if job.channel is DeliveryChannel.TELEGRAM:
            return await self._deliver_chat(job)
        raise DeliveryError(f"unknown channel {job.channel!s}", permanent=True)

    async def _deliver_chat(self, job: _Job) -> _StaffRecord | None:
        if self._chat is None:  # not claimed without a chat channel; kept as a guard
            raise DeliveryError("no chat channel is running")
        try:
            chat_id = int(job.recipient)
            reply = Reply(job.body, keyboard_from_payload(job.payload))
        except (ValueError, KeyError, TypeError):
            raise DeliveryError("malformed chat id or buttons", permanent=True) from None
        topic = job.payload.get(TOPIC)
        if job.payload.get(EDIT):
            if not topic:
                raise DeliveryError("edit without a topic", permanent=True)
            digest = content_digest(reply)
            async with self._store.transaction() as tx:
                earlier = await tx.staff_messages.find(str(topic), chat_id)
                target = None if earlier is None else (earlier.id, earlier.message_id)
                unchanged = earlier is not None and earlier.content_digest == digest
            # With no earlier message there is nothing to edit, and one that already shows
            # this content would be refused as "not modified": either way the row is done.
            if target is not None and not unchanged:
                await self._chat.edit(chat_id, target[1], reply)
                async with self._store.transaction() as tx:
                    await tx.staff_messages.remember_content(target[0], digest)
            return None
        message_id = await self._chat.send(chat_id, reply)
        if not topic:
            return None
        return _StaffRecord(str(topic), chat_id, message_id, content_digest(reply))

    # -- outcomes ---------------------------------------------------------------------------

    async def _mark_sent(self, job: _Job, record: _StaffRecord | None) -> None:
        now = self._clock.now()
        async with self._store.transaction() as tx:
            row = await tx.outbox.get(job.id)
            if row is not None:
                row.status = OutboxStatus.SENT
                row.sent_at = now
                if row.sensitive:
                    row.body = REDACTED_BODY
            if record is not None:
                await tx.staff_messages.add(
                    record.topic, record.chat_id, record.message_id, now, record.content_digest
                )

    async def _mark_failed(self, job: _Job, error: DeliveryError) -> None:
        now = self._clock.now()
        async with self._store.transaction() as tx:
            row = await tx.outbox.get(job.id)
            if row is None or row.status is not OutboxStatus.PENDING:
                return  # another worker finished it after our lease ran out
            row.last_error = error.reason[:_MAX_ERROR_LENGTH]
            if error.permanent or row.attempts >= self._max_attempts:
                row.status = OutboxStatus.FAILED
                if row.sensitive:
                    row.body = REDACTED_BODY
                given_up = True
            else:
                row.next_attempt_at = now + self._backoff_after(row.attempts)
                given_up = False
            attempts = row.attempts
        if given_up:
            self._log.warning(
                "outbox #%d by %s failed for good after %d attempt(s): %s",
                job.id,
                job.channel.value,
                attempts,
                error.reason,
            )
        else:
            self._log.info(
                "outbox #%d by %s failed (attempt %d), will retry: %s",
                job.id,
                job.channel.value,
                attempts,
                error.reason,
            )

    def _backoff_after(self, attempts: int) -> timedelta:
        return self._backoff[min(max(attempts, 1), len(self._backoff)) - 1]

    async def _release(self, jobs: Sequence[_Job]) -> None:
        """Hand claimed but untried rows back at once, instead of after the lease."""
        now = self._clock.now()
        async with self._store.transaction() as tx:
            for job in jobs:
                row = await tx.outbox.get(job.id)
                if row is not None and row.status is OutboxStatus.PENDING:
                    row.attempts = max(row.attempts - 1, 0)
                    row.next_attempt_at = now

    # -- description and shutdown -------------------------------------------------------------

    def routes_description(self) -> str:
        """E.g. ``e-mail via SMTP smtp.example.org:587, SMS via Twilio, Telegram``."""
        email, sms = self._email.describe(), self._sms.describe()
        parts = [f"e-mail and SMS {email}"] if email == sms else [f"e-mail {email}", f"SMS {sms}"]
        parts.append(
            f"chat messages via {self._chat_name}"
            if self._chat is not None
            else "chat messages wait for a chat channel"
        )
        return ", ".join(parts)

    async def aclose(self) -> None:
        """Close the senders (e.g. Twilio's HTTP session)."""
        await self._email.aclose()
        await self._sms.aclose()


def build_senders(
    settings: Settings,
    sink_path: str | os.PathLike[str],
    on_delivery: OnDelivery | None = None,
) -> tuple[EmailSender, SmsSender]:
    """SMTP and Twilio where configured; the :class:`LocalSink` at ``sink_path`` otherwise."""
    sink = (
        None
        if settings.smtp_configured and settings.twilio_configured
        else LocalSink(sink_path, on_delivery)
    )
    email: EmailSender
    sms: SmsSender
    if settings.smtp_configured:
        email = SmtpMailer(settings)
    else:
        assert sink is not None
        email = sink.email
    if settings.twilio_configured:
        sms = TwilioSms(settings)
    else:
        assert sink is not None
        sms = sink.sms
    return email, sms


def _describe_exception(exc: BaseException) -> str:
    """The exception's type and where it was raised, without its message (it may hold data)."""
    name = type(exc).__name__
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return name
    return f"{name} at {os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}"
