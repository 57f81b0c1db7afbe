"""E-mail over SMTP with aiosmtplib: one connection per message, which suits a desk's volume."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

import aiosmtplib

from bot.notifications.attachments import Attachment
from bot.notifications.errors import DeliveryError
from bot.settings import Settings

SMTPS_PORT = 465
"""Port of SMTP over implicit TLS (RFC 8314); there TLS starts at connect, not via STARTTLS."""


def _short(text: str, limit: int = 120) -> str:
    return " ".join(text.split())[:limit]


MAILBOX_REFUSED = frozenset({550, 551, 553})
"""RCPT replies that refuse the mailbox itself (unknown user, not local, bad address), as
opposed to a policy or capacity refusal of this one message: the address is recorded as
undeliverable."""


def _mailbox_refused(code: int) -> bool:
    return code in MAILBOX_REFUSED


class SmtpMailer:
    """Sends plain-text UTF-8 mail through the SMTP server named in the settings.

    Retrying follows the reply: a 4xx reply and any connection error or timeout are
    temporary, a 5xx reply to the recipient or the message is permanent. A 5xx to the
    sender, the login or HELO means the settings are wrong, not the message: temporary, so
    it goes out once an operator fixes them.
    """

    def __init__(self, settings: Settings, *, timeout: float = 20.0) -> None:
        if not settings.smtp_host:
            raise ValueError("SMTP is not configured (BALIE_SMTP_HOST is empty)")
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._username = settings.smtp_username
        self._password = (
            settings.smtp_password.get_secret_value() if settings.smtp_password else None
        )
        self._implicit_tls = settings.smtp_port == SMTPS_PORT
        self._starttls = settings.smtp_starttls and not self._implicit_tls
        self._from = settings.smtp_from
        address = parseaddr(settings.smtp_from)[1]
        self._domain = address.rpartition("@")[2] or "localhost"
        self._timeout = timeout

    def describe(self) -> str:
        return f"via SMTP {self._host}:{self._port}"

    def _message(
        self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()
    ) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._from
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid(domain=self._domain)
        message.set_content(body, subtype="plain", charset="utf-8")
        for attachment in attachments:
            maintype, _, subtype = attachment.content_type.partition("/")
            message.add_attachment(
                attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
            )
        return message

    async def send(
        self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()
    ) -> None:
        """Deliver one message; raises :class:`DeliveryError` when the server does not take it."""
        try:
            message = self._message(to, subject, body, attachments)
        except ValueError as exc:  # e.g. a header with a line break: retrying cannot help
            raise DeliveryError(
                f"invalid e-mail header: {type(exc).__name__}", permanent=True
            ) from None
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                username=self._username or None,
                password=self._password if self._username else None,
                use_tls=self._implicit_tls,
                start_tls=self._starttls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = sorted({r.code for r in exc.recipients})
            detail = _short(exc.recipients[0].message) if exc.recipients else ""
            raise DeliveryError(
                f"SMTP recipient refused {codes}: {detail}",
                permanent=all(code >= 500 for code in codes),
                undeliverable=bool(codes) and all(_mailbox_refused(c) for c in codes),
            ) from None
        except aiosmtplib.SMTPRecipientRefused as exc:
            raise DeliveryError(
                f"SMTP recipient refused {exc.code}: {_short(exc.message)}",
                permanent=exc.code >= 500,
                undeliverable=_mailbox_refused(exc.code),
            ) from None
        except aiosmtplib.SMTPDataError as exc:
            # The server read the message and refused it (size, policy): it will again.
            raise DeliveryError(
                f"SMTP message refused {exc.code}: {_short(exc.message)}",
                permanent=exc.code >= 500,
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            # Refused sender, failed login, HELO: the settings are wrong, not the message.
            # Temporary, so the message still goes out once an operator fixes them.
            raise DeliveryError(
                f"SMTP {type(exc).__name__} {exc.code}: {_short(exc.message)}"
            ) from None
        except aiosmtplib.SMTPException as exc:
            # Connect errors, timeouts, disconnects, a missing STARTTLS extension.
            raise DeliveryError(f"SMTP {type(exc).__name__}: {_short(exc.message)}") from None
        except OSError as exc:
            raise DeliveryError(f"SMTP connection failed: {type(exc).__name__}") from None

    async def aclose(self) -> None:
        """Nothing to release: each message uses its own connection."""
