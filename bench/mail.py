"""The benchmark's SMTP server: mails by recipient, and a future for a user awaiting a code.

An aiosmtpd server on the harness's own event loop (no thread), so a mail that arrives
wakes the simulated user at once.
"""

from __future__ import annotations

import asyncio
import re
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

from aiosmtpd.smtp import SMTP, Envelope, Session

SIX_DIGITS = re.compile(r"\b(\d{6})\b")
ACTIVATION_CODE = re.compile(r"\b([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})\b")


class Mailbox:
    """What arrived for each address; ``next_mail`` waits for the next one to an address."""

    def __init__(self) -> None:
        self._arrived: dict[str, list[str]] = {}
        self._waiting: dict[str, asyncio.Future[str]] = {}
        self._server: asyncio.Server | None = None
        self.port = 0
        self.count = 0

    async def start(self) -> Mailbox:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="bench.local"), "127.0.0.1", 0
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        parsed = message_from_bytes(content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        body = parsed.get_body(("plain",))
        text = str(body.get_content() if body is not None else parsed.get_content())
        for address in envelope.rcpt_tos:
            self.count += 1
            waiting = self._waiting.pop(address.lower(), None)
            if waiting is not None and not waiting.done():
                waiting.set_result(text)
            else:
                self._arrived.setdefault(address.lower(), []).append(text)
        return "250 Message accepted for delivery"

    async def next_mail(self, address: str, timeout: float = 30.0) -> str:  # noqa: ASYNC109
        """The oldest mail to ``address`` not taken yet, waiting for it if need be."""
        address = address.lower()
        kept = self._arrived.get(address)
        if kept:
            return kept.pop(0)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting[address] = future
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiting.pop(address, None)

    async def code(self, address: str, pattern: re.Pattern[str] = SIX_DIGITS) -> str:
        """The code in the next mail to ``address`` that has one (other mails are skipped)."""
        while True:
            text = await self.next_mail(address)
            found = pattern.search(text)
            if found:
                return found.group(1)
