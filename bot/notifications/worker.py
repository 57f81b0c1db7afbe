"""The outbox worker: delivers the rows flows wrote, at least once, with retries and backoff.

Flows write an outbox row in the same transaction as its cause (a registration, a verdict),
so a notification is never lost and never sent for something that was rolled back. This
worker claims a few due rows in one short transaction, delivers them with no transaction
open (a slow SMTP server must not hold the store's write lock), then records each outcome in
a new short transaction.

Several workers may share one store, so a claim is *fenced*: it gives each row a random
lease token and a lease expiry. Before each send the worker renews its lease (and leaves the
row if it no longer holds it); an outcome is recorded only by the holder of a live lease.
The lease is longer than one delivery may take (its timeout), so while a worker sends, no
other worker can claim the row. What remains is the window between the provider taking a
message and the store recording it (a crash, a lost connection): the row is then sent again
after its lease, so delivery is at least once per channel, a duplicate possible only there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from bot.notifications import attachments
from bot.notifications.attachments import Attachment
from bot.notifications.email import SmtpMailer
from bot.notifications.errors import DeliveryError
from bot.notifications.sink import LocalSink, OnDelivery
from bot.notifications.sms import TwilioSms
from bot.settings import Settings
from flows import notices
from flows.domain import DeliveryChannel, Language, OutboxStatus
from flows.events import Reply
from flows.model import OutboxMessage
from flows.outbox_payload import (
    ACTION,
    EDIT,
    MESSAGE_ID,
    NOTICE_KIND,
    TOPIC,
    ChatAction,
    content_digest,
    keyboard_from_payload,
)
from flows.ports import ChatPort, Clock
from flows.texts import Texts
from storage.repositories import Lease
from storage.sealing import CannotUnseal
from storage.uow import Store, Transaction

REDACTED_BODY = "[redacted after delivery]"
"""Replaces the body of a sensitive row (one holding a code) once it is sent or given up."""

ChatNotice = Literal["outbox_expired_chat", "outbox_undeliverable_chat"]
"""The message ids a chat may be told when its letter is given up."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: ``base``, ``base * factor``, ... up to ``cap``.

    The wait after the n-th failed attempt is drawn between half and all of
    ``min(cap, base * factor ** (n - 1))`` ("equal jitter"): workers that failed together
    (a provider's outage) do not all come back in the same second, and none retries sooner
    than half the nominal wait.
    """

    base: timedelta = timedelta(seconds=10)
    cap: timedelta = timedelta(hours=1)
    factor: float = 2.0

    def delay(self, attempts: int, draw: float) -> timedelta:
        """The wait after ``attempts`` failed attempts; ``draw`` is uniform in [0, 1]."""
        exponent = max(attempts, 1) - 1
        nominal = min(self.cap.total_seconds(), self.base.total_seconds() * self.factor**exponent)
        return timedelta(seconds=nominal * (0.5 + 0.5 * min(max(draw, 0.0), 1.0)))


DEFAULT_BACKOFF = Backoff()

DIRECTORY_MAX_ATTEMPTS = 100
"""A directory operation (enabling, or disabling an offboarded employee) is worth as much
after a long outage as before it: at the backoff's hourly cap, 100 attempts wait out about
four days before the row ends dead (shown in /outbox, and ``balie outbox retry``)."""

EXPIRED_REASON = "expired before it could be sent"
SKIPPED_REASON = "its reader switched this kind of notice off on this channel"
_MAX_ERROR_LENGTH = 300


class EmailSender(Protocol):
    async def send(
        self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()
    ) -> None:
        """Deliver or raise :class:`DeliveryError`."""
        ...

    def describe(self) -> str:
        """How mail goes out, for the startup log (e.g. ``via SMTP host:587``)."""
        ...

    async def aclose(self) -> None: ...


class DirectoryOperations(Protocol):
    """Carries out a queued directory operation (:class:`bot.directories.sync.DirectorySync`)."""

    async def apply(self, payload: dict[str, Any]) -> None: ...


class SmsSender(Protocol):
    async def send(self, to: str, body: str) -> None:
        """Deliver or raise :class:`DeliveryError`."""
        ...

    def describe(self) -> str: ...

    async def aclose(self) -> None: ...


async def _refusal(tx: Transaction, channel: DeliveryChannel, recipient: str) -> str | None:
    """Why not to send to ``recipient``: it was refused for good before. A blocked chat may
    unblock at any time (try, and record a new 403); a directory has no addresses."""
    if channel in {DeliveryChannel.TELEGRAM, DeliveryChannel.DIRECTORY}:
        return None
    marked = await tx.undeliverable.find(channel, recipient)
    if marked is None:
        return None
    return f"address refused before ({marked.reason})"[:_MAX_ERROR_LENGTH]


@dataclass(frozen=True)
class _Job:
    """What delivery needs from a claimed row, read while its transaction was open."""

    id: int
    channel: DeliveryChannel
    recipient: str
    subject: str | None
    body: str
    """As the store keeps it: a sensitive row's body stays sealed until it is delivered."""
    lease: Lease
    attempts: int
    """Attempts so far, this one included."""
    sensitive: bool = False
    expires_at: datetime | None = None
    notify_chat: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    organization_id: int | None = None
    held_until: datetime | None = None
    """The lease's end as claimed: before it no other worker can take the row."""
    refusal: str | None = None
    """Why not to send (the address was refused for good before), as seen at the claim."""

    @classmethod
    def of(cls, row: OutboxMessage, refusal: str | None = None) -> _Job:
        assert row.lease_token is not None, "a claimed row has a lease token"
        return cls(
            held_until=row.lease_expires_at,
            refusal=refusal,
            id=row.id,
            channel=row.channel,
            recipient=row.recipient,
            subject=row.subject,
            body=row.body,
            lease=Lease(row.id, row.lease_token),
            attempts=row.attempts,
            sensitive=row.sensitive,
            expires_at=row.expires_at,
            notify_chat=row.notify_chat,
            organization_id=row.organization_id,
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

    Delivery is at least once (see the module docstring for the one duplicate window). A
    ``ChatPort`` may raise :class:`DeliveryError` to say whether a failure is permanent
    (the bot was blocked) or when to come back (``retry_after``); any other exception counts
    as temporary. A row ends ``failed`` when the provider refuses it for good, ``dead`` when
    it kept failing (``max_attempts``) or would arrive after its ``expires_at``; the chat that
    asked for it (``notify_chat``) is then told to ask again.
    """

    def __init__(
        self,
        store: Store,
        *,
        email: EmailSender,
        sms: SmsSender,
        chat: ChatPort | None,
        clock: Clock,
        directory: DirectoryOperations | None = None,
        channels: tuple[DeliveryChannel, ...] | None = None,
        batch: int = 5,
        lease: timedelta = timedelta(seconds=120),
        backoff: Backoff = DEFAULT_BACKOFF,
        max_attempts: int = 8,
        poll_seconds: float = 1.0,
        delivery_timeout: float = 30.0,
        expiry_margin: timedelta = timedelta(seconds=30),
        jitter: Callable[[], float] = random.random,
        default_language: Language = Language.NL,
        chat_name: str = "Telegram",
        on_pass: Callable[[], None] = lambda: None,
        on_outcome: Callable[[DeliveryChannel, str], None] = lambda channel, outcome: None,
    ) -> None:
        if batch < 1 or max_attempts < 1:
            raise ValueError("batch and max_attempts must be positive")
        if lease.total_seconds() < 1.5 * delivery_timeout:
            # Renewed before each send, a lease must outlast one delivery by a margin, or a
            # second worker could claim a row that is still being sent.
            raise ValueError("the lease must be at least 1.5 times the delivery timeout")
        self._store = store
        self._email = email
        self._sms = sms
        self._chat = chat
        self._directory = directory
        self._clock = clock
        self._batch = batch
        self._lease = lease
        self._backoff = backoff
        self._max_attempts = max_attempts
        self._poll_seconds = poll_seconds
        self._delivery_timeout = delivery_timeout
        self._expiry_margin = expiry_margin
        self._jitter = jitter
        self._default_language = default_language
        self._chat_name = chat_name
        self._on_pass = on_pass
        self._on_outcome = on_outcome
        """Told each delivery's outcome (``sent``, ``retry``, ``failed``, ``dead``): metrics."""
        self._channels: tuple[DeliveryChannel, ...] = (
            (DeliveryChannel.EMAIL, DeliveryChannel.SMS)
            + ((DeliveryChannel.TELEGRAM,) if chat is not None else ())
            + ((DeliveryChannel.DIRECTORY,) if directory is not None else ())
        )
        if channels is not None:  # only these (e.g. the CLI closing accounts at once)
            self._channels = tuple(c for c in self._channels if c in channels)
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
            sent = 0
            try:
                sent = await self.deliver_due()
            except Exception as exc:
                # The exception's text may quote SQL parameters, i.e. a body: name it only.
                self._log.error("outbox pass failed: %s", _describe_exception(exc))
                self._last_claimed = 0
            if stop.is_set():
                break
            if self._last_claimed >= self._batch or sent:
                # A full batch, or a sent message whose recipient may have the next one
                # waiting (a claim takes one row per recipient): go on at once.
                await asyncio.sleep(0)
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
            jobs = [_Job.of(row, await _refusal(tx, row.channel, row.recipient)) for row in rows]
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
        now = self._clock.now()
        if self._expired(job, now):
            await self._give_up(job, OutboxStatus.DEAD, EXPIRED_REASON, "outbox_expired_chat")
            return False
        held, refusal = await self._prepare(job)
        if not held:
            self._log.warning(
                "outbox #%d: lease lost before sending (another worker holds it); leaving it",
                job.id,
            )
            return False
        if await self._switched_off(job):
            await self._skip(job)
            return False
        if refusal is not None:
            await self._record_failure(job, DeliveryError(refusal, permanent=True))
            return False
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
            return await self._mark_sent(job, record)
        await self._record_failure(job, error)
        return False

    def _expired(self, job: _Job, moment: datetime) -> bool:
        """Whether the message would arrive after its expiry (a code nobody can use)."""
        return job.expires_at is not None and moment + self._expiry_margin >= job.expires_at

    async def _prepare(self, job: _Job) -> tuple[bool, str | None]:
        """Renew the lease for this send (False: lost); and why not to send, if the address
        was refused for good before. A lease claimed moments ago outlasts the send by far:
        then the claim's own check stands and no transaction is needed."""
        now = self._clock.now()
        if (
            job.held_until is not None
            and now + timedelta(seconds=2 * self._delivery_timeout) < job.held_until
        ):
            return True, job.refusal
        async with self._store.transaction() as tx:
            if not await tx.outbox.renew(job.lease, now, self._lease):
                return False, None
            return True, await _refusal(tx, job.channel, job.recipient)

    async def _switched_off(self, job: _Job) -> bool:
        """Whether the row is a notice its reader switched off on its channel since it was
        queued (never a security notice; see ``flows.notices.still_wanted``)."""
        if NOTICE_KIND not in job.payload:
            return False
        async with self._store.transaction() as tx:
            return not await notices.still_wanted(tx, job.payload, job.channel)

    async def _skip(self, job: _Job) -> None:
        now = self._clock.now()
        values: dict[str, Any] = {"status": OutboxStatus.SKIPPED, "last_error": SKIPPED_REASON}
        if job.sensitive:
            values["body"] = REDACTED_BODY
        async with self._store.transaction() as tx:
            if not await tx.outbox.finish(job.lease, now, **values):
                self._lost(job, "skipped")
                return
        self._on_outcome(job.channel, "skipped")
        self._log.info("outbox #%d by %s skipped: %s", job.id, job.channel.value, SKIPPED_REASON)

    def _opened(self, job: _Job) -> str:
        """The body in clear, opened only now, right before it is handed to a provider."""
        try:
            return self._store.opened(job.body)
        except CannotUnseal:
            # The server key changed without keeping the old one: nobody can read this code.
            raise DeliveryError(
                "sealed under a key this server no longer has", permanent=True
            ) from None

    async def _deliver(self, job: _Job) -> _StaffRecord | None:
        if job.channel is DeliveryChannel.EMAIL:
            body = self._opened(job)
            attached = attachments.for_email(job.payload, body)
            await self._email.send(job.recipient, job.subject or "", body, attached)
            return None
        if job.channel is DeliveryChannel.SMS:
            await self._sms.send(job.recipient, self._opened(job))
            return None
        if job.channel is DeliveryChannel.TELEGRAM:
            return await self._deliver_chat(job)
        if job.channel is DeliveryChannel.DIRECTORY and self._directory is not None:
            await self._directory.apply(job.payload)
            return None
        raise DeliveryError(f"unknown channel {job.channel!s}", permanent=True)

    async def _deliver_chat(self, job: _Job) -> _StaffRecord | None:
        if self._chat is None:  # not claimed without a chat channel; kept as a guard
            raise DeliveryError("no chat channel is running")
        try:
            chat_id = int(job.recipient)
            if job.payload.get(ACTION):
                await self._act_in_chat(chat_id, job.payload)
                return None
            reply = Reply(self._opened(job), keyboard_from_payload(job.payload))
        except (ValueError, KeyError, TypeError):
            raise DeliveryError("malformed chat id, buttons or action", permanent=True) from None
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

    async def _act_in_chat(self, chat_id: int, payload: dict[str, Any]) -> None:
        """A kept action: clear a message's buttons, or delete a message."""
        assert self._chat is not None
        action, message_id = ChatAction(payload[ACTION]), int(payload[MESSAGE_ID])
        if action is ChatAction.CLEAR_BUTTONS:
            await self._chat.clear_buttons(chat_id, message_id)
        else:
            await self._chat.delete(chat_id, message_id)

    # -- outcomes ---------------------------------------------------------------------------

    def _lost(self, job: _Job, outcome: str) -> None:
        self._log.warning(
            "outbox #%d by %s: the lease ran out or another worker took the row; "
            "not recording it %s",
            job.id,
            job.channel.value,
            outcome,
        )

    async def _mark_sent(self, job: _Job, record: _StaffRecord | None) -> bool:
        now = self._clock.now()
        values: dict[str, Any] = {"status": OutboxStatus.SENT, "sent_at": now}
        if job.sensitive:
            values["body"] = REDACTED_BODY
        async with self._store.transaction() as tx:
            if not await tx.outbox.finish(job.lease, now, **values):
                self._lost(job, "sent")
                return False
            if record is not None:
                await tx.staff_messages.add(
                    record.topic, record.chat_id, record.message_id, now, record.content_digest
                )
        self._log.info("outbox #%d sent by %s", job.id, job.channel.value)
        self._on_outcome(job.channel, "sent")
        return True

    async def _record_failure(self, job: _Job, error: DeliveryError) -> None:
        """Retry later (the provider's wait, else backoff), or end the row as failed (a
        permanent refusal) or dead (too many attempts, or the retry would come too late)."""
        reason = error.reason[:_MAX_ERROR_LENGTH]
        if error.permanent:
            await self._give_up(
                job,
                OutboxStatus.FAILED,
                reason,
                "outbox_undeliverable_chat",
                mark_address=error.undeliverable,
            )
            return
        max_attempts = (
            max(self._max_attempts, DIRECTORY_MAX_ATTEMPTS)
            if job.channel is DeliveryChannel.DIRECTORY
            else self._max_attempts
        )
        if job.attempts >= max_attempts:
            await self._give_up(
                job,
                OutboxStatus.DEAD,
                f"gave up after {job.attempts} attempts: {reason}"[:_MAX_ERROR_LENGTH],
                "outbox_undeliverable_chat",
            )
            return
        now = self._clock.now()
        wait = (
            timedelta(seconds=error.retry_after)
            if error.retry_after is not None
            else self._backoff.delay(job.attempts, self._jitter())
        )
        if self._expired(job, now + wait):
            await self._give_up(
                job,
                OutboxStatus.DEAD,
                f"{EXPIRED_REASON}: {reason}"[:_MAX_ERROR_LENGTH],
                "outbox_expired_chat",
            )
            return
        async with self._store.transaction() as tx:
            held = await tx.outbox.finish(
                job.lease, now, next_attempt_at=now + wait, last_error=reason
            )
        if not held:
            self._lost(job, "failed")
            return
        self._on_outcome(job.channel, "retry")
        self._log.info(
            "outbox #%d by %s failed (attempt %d), retry in %.0f s: %s",
            job.id,
            job.channel.value,
            job.attempts,
            wait.total_seconds(),
            reason,
        )

    async def _give_up(
        self,
        job: _Job,
        status: OutboxStatus,
        reason: str,
        tell_key: ChatNotice,
        *,
        mark_address: bool = False,
    ) -> None:
        """End the row (failed or dead), in one transaction with what follows from it: the
        refused address recorded, and the chat that asked told to ask again."""
        now = self._clock.now()
        values: dict[str, Any] = {"status": status, "last_error": reason}
        if job.sensitive:
            values["body"] = REDACTED_BODY  # a code that will never be sent is not kept
        async with self._store.transaction() as tx:
            if not await tx.outbox.finish(job.lease, now, **values):
                self._lost(job, status.value)
                return
            if mark_address:
                await tx.undeliverable.mark(job.channel, job.recipient, reason, now)
            told = await self._tell_chat(tx, job, tell_key, now)
        self._on_outcome(job.channel, status.value)
        self._log.warning(
            "outbox #%d by %s ended %s after %d attempt(s)%s: %s",
            job.id,
            job.channel.value,
            status.value,
            job.attempts,
            "; the chat was told" if told else "",
            reason,
        )
        if told:
            self.notify()

    async def _tell_chat(self, tx: Transaction, job: _Job, key: ChatNotice, now: datetime) -> bool:
        """Queue a chat message to the person who asked for ``job``, in their language."""
        if job.notify_chat is None or job.channel in {
            DeliveryChannel.TELEGRAM,
            DeliveryChannel.DIRECTORY,
        }:
            return False
        conversation = await tx.conversations.peek(job.notify_chat)
        language = conversation.language if conversation is not None else None
        texts = Texts.for_code(language, self._default_language)
        await tx.outbox.add(
            DeliveryChannel.TELEGRAM,
            str(job.notify_chat),
            texts(key),
            now,
            organization_id=job.organization_id,
        )
        return True

    async def _release(self, jobs: Sequence[_Job]) -> None:
        """Hand claimed but untried rows back at once, instead of after the lease."""
        now = self._clock.now()
        async with self._store.transaction() as tx:
            for job in jobs:
                await tx.outbox.finish(
                    job.lease, now, attempts=max(job.attempts - 1, 0), next_attempt_at=now
                )

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
