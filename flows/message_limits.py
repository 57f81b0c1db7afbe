"""Telegram's size limits, kept in one place in the core so no channel sends what it refuses.

Telegram refuses a message longer than 4,096 characters and a button's toast longer than
200, counting UTF-16 code units (an emoji can count twice). A long reply is split at line
boundaries into several messages, its buttons on the last; a text that must stay one
message (a card edited in place, a toast) is cut at a line or word boundary and ends in "…".
"""

from __future__ import annotations

MAX_MESSAGE = 4096
"""Characters (UTF-16 code units) in one message."""
MAX_NOTICE = 200
"""Characters (UTF-16 code units) in a toast (answerCallbackQuery's text)."""
ELLIPSIS = "…"


def length(text: str) -> int:
    """The length Telegram measures: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _prefix(text: str, limit: int) -> str:
    """The longest prefix of ``text`` of at most ``limit`` units, never half a surrogate pair."""
    if length(text) <= limit:
        return text
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:index]
    return text


def truncate(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` cut to ``limit`` units at the last line (or else word) boundary, with "…"."""
    if length(text) <= limit:
        return text
    head = _prefix(text, limit - length(ELLIPSIS))
    for boundary in ("\n", " "):
        cut = head.rfind(boundary)
        if cut > len(head) // 2:
            return head[:cut].rstrip() + ELLIPSIS
    return head + ELLIPSIS


def split(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """``text`` as messages of at most ``limit`` units, split between lines; a single line
    that is longer by itself is cut (:func:`truncate`)."""
    if length(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        line = truncate(line, limit)
        candidate = f"{current}\n{line}" if current else line
        if current and length(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current:
        parts.append(current)
    return [part for part in parts if part.strip()] or [truncate(text, limit)]


def notice(text: str | None) -> str | None:
    """A toast that fits; None stays None."""
    return None if text is None else truncate(text, MAX_NOTICE)
