"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""

from __future__ import annotations

import asyncio
import socket
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MailCollector:
    """aiosmtpd handler: keeps every accepted envelope; refuses the addresses in ``refuse``
    (550); ``delay`` seconds before answering DATA make a slow server (the message counts
    as accepted when the answer goes out)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.envelopes: list[Envelope] = []
        self.refuse: set[str] = set()
        self.delay = delay

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def recipients(self) -> list[str]:
        """Every accepted recipient, in the order the messages were accepted."""
        return [address for envelope in self.envelopes for address in envelope.rcpt_tos]

    def messages_to(self, address: str) -> list[EmailMessage]:
        found = []
        for envelope in self.envelopes:
            if address in envelope.rcpt_tos:
                assert isinstance(envelope.content, bytes)
                parsed = message_from_bytes(envelope.content, policy=default_policy)
                assert isinstance(parsed, EmailMessage)
                found.append(parsed)
        return found


class SmtpServer:
    """The server on 127.0.0.1:``port``. It can be stopped and started again on the same
    port (a server that goes down and comes back); what it received is kept across."""

    def __init__(self, port: int, *, delay: float = 0.0) -> None:
        self.port = port
        self.mail = MailCollector(delay)
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        self._controller = Controller(self.mail, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
