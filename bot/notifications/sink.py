"""The embedded stand-in for SMTP and Twilio: messages land in a JSON-lines file.

Used when no SMTP server or Twilio account is configured, so a desk runs (and can be tried
out) with nothing but its SQLite file. Each line is one delivered message, including its body
(that is the point: it is where a registration code "arrives"), so the file is created
readable by its owner only.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.notifications.attachments import Attachment
from flows.domain import DeliveryChannel

OnDelivery = Callable[[DeliveryChannel, str, str | None, str], Awaitable[None] | None]
"""``on_delivery(channel, recipient, subject, body)``; may be a plain or an async function."""


class LocalSink:
    """Appends each message to ``path`` and tells ``on_delivery`` about it."""

    def __init__(self, path: str | os.PathLike[str], on_delivery: OnDelivery | None = None) -> None:
        self.path = Path(path)
        self.on_delivery = on_delivery
        self._lock = asyncio.Lock()
        self.email = SinkEmailSender(self)
        """This sink seen as an e-mail sender (``send(to, subject, body)``)."""
        self.sms = SinkSmsSender(self)
        """This sink seen as an SMS sender (``send(to, body)``)."""

    def describe(self) -> str:
        return f"to the local sink {self.path}"

    async def send_email(
        self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()
    ) -> None:
        await self._deliver(DeliveryChannel.EMAIL, to, subject, body, attachments)

    async def send_sms(self, to: str, body: str) -> None:
        await self._deliver(DeliveryChannel.SMS, to, None, body)

    async def _deliver(
        self,
        channel: DeliveryChannel,
        recipient: str,
        subject: str | None,
        body: str,
        attachments: Sequence[Attachment] = (),
    ) -> None:
        record: dict[str, Any] = {
            "at": datetime.now(UTC).isoformat(),
            "channel": channel.value,
            "to": recipient,
            "subject": subject,
            "body": body,
        }
        if attachments:
            record["attachments"] = [
                {"filename": a.filename, "content_type": a.content_type, "size": len(a.data)}
                for a in attachments
            ]
        line = json.dumps(record, ensure_ascii=False) + "\n"
        async with self._lock:  # one line at a time, never interleaved
            await asyncio.to_thread(self._append, line)
        if self.on_delivery is not None:
            result = self.on_delivery(channel, recipient, subject, body)
            if inspect.isawaitable(result):
                await result

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as file:
            file.write(line)

    def read(self) -> list[dict[str, Any]]:
        """Every message in the sink, oldest first (for the terminal channel and tests)."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as file:
            return [json.loads(line) for line in file if line.strip()]

    async def aclose(self) -> None:
        """Nothing to release; here so the sink closes like the real senders."""


class SinkEmailSender:
    """The e-mail face of a :class:`LocalSink`, with the signature of ``SmtpMailer.send``."""

    def __init__(self, sink: LocalSink) -> None:
        self.sink = sink

    async def send(
        self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()
    ) -> None:
        await self.sink.send_email(to, subject, body, attachments)

    def describe(self) -> str:
        return self.sink.describe()

    async def aclose(self) -> None:
        await self.sink.aclose()


class SinkSmsSender:
    """The SMS face of a :class:`LocalSink`, with the signature of ``TwilioSms.send``."""

    def __init__(self, sink: LocalSink) -> None:
        self.sink = sink

    async def send(self, to: str, body: str) -> None:
        await self.sink.send_sms(to, body)

    def describe(self) -> str:
        return self.sink.describe()

    async def aclose(self) -> None:
        await self.sink.aclose()
