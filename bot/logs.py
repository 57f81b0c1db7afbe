"""Logging set-up with a filter that masks secrets wherever a library might print them."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from flows.masking import mask_addresses


class RedactSecrets(logging.Filter):
    """Replace each known secret (bot token, SMTP password, Twilio token) with ``***``, and
    mask every e-mail address and phone number (a provider's refusal may quote one)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 6]

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return mask_addresses(text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call (wrong arguments): show its parts, never raise
            message = f"{record.msg} {record.args!r}"
            record.msg, record.args = message, None
        masked = self.redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        # A traceback (e.g. an HTTP error quoting the request URL) is formatted later; do it
        # here, so that the formatter uses the masked text.
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class JsonLines(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the event's own fields
    (``extra={"fields": {...}}``), for a log shipper to index."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            event.update(fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            event["exception"] = record.exc_text
        return json.dumps(event, ensure_ascii=False, default=str)


def configure_logging(
    secrets: list[str], level: int = logging.INFO, *, json_lines: bool = False
) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonLines()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx (python-telegram-bot) logs each request URL, which holds the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # httpx2 (the SCIM directory) likewise, whose search URLs hold people's e-mail addresses.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    # aiogram logs a line per update ("is handled"); balie.steps already says it, with more.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
