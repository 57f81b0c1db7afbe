"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""

from __future__ import annotations

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
    """aiosmtpd handler: keeps every accepted envelope; refuses the addresses in ``refuse``."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

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
    def __init__(self, port: int) -> None:
        self.port = port
        self.mail = MailCollector()
        self._controller = Controller(self.mail, hostname="127.0.0.1", port=port)

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
