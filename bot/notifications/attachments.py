"""Files sent with an e-mail: for now the QR code of an invitation's Telegram link."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flows import qr
from flows.outbox_payload import QR_OF_LINK

TELEGRAM_LINK = re.compile(r"https://t\.me/[A-Za-z0-9_]{5,32}\?start=[A-Za-z0-9_-]{1,64}")
"""A Telegram deep link as :class:`flows.ports.TelegramLinks` writes it."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    """``maintype/subtype``, e.g. ``image/png``."""
    data: bytes


def qr_png(link: str) -> bytes:
    """The link as a QR code PNG, large enough to scan from a screen."""
    return qr.png(link)


def for_email(payload: dict[str, Any], opened_body: str) -> tuple[Attachment, ...]:
    """What an e-mail row asks to have attached. The QR code is made from the body opened
    right before delivery: the link (and its token) is never kept outside the sealed body."""
    if not payload.get(QR_OF_LINK):
        return ()
    found = TELEGRAM_LINK.search(opened_body)
    if found is None:
        return ()
    return (Attachment("telegram-link.png", "image/png", qr_png(found.group(0))),)
