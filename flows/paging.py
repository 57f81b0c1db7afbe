"""Staff lists a page at a time: 10 lines per message, with Previous and Next buttons.

A list of 80 employees in one message is over Telegram's 4,096 characters and never
arrives. Each page is its own message; its buttons carry the page they show (see
``flows.buttons.Page``), and the list is read again, with the presser's permission, on
every press, so a page is never stale and never shown to someone who lost the right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from flows.buttons import Listing, Page, encode
from flows.events import Button, Keyboard
from flows.texts import Texts

PAGE_SIZE = 10

T = TypeVar("T")


@dataclass(frozen=True)
class Paged(Generic[T]):
    """The items on page ``number`` of ``count`` pages."""

    items: Sequence[T]
    number: int
    count: int


@dataclass(frozen=True)
class Window:
    """Which rows page ``number`` of ``count`` shows: ``limit`` of them from ``offset``. The
    store reads only those (and counts the rest), so a page costs the same in a list of 10
    as in one of 1,000,000."""

    number: int
    count: int
    offset: int
    limit: int

    def of(self, items: Sequence[T]) -> Paged[T]:
        """The page, with the rows the store gave for this window."""
        return Paged(items, self.number, self.count)


def window(total: int, number: int, size: int = PAGE_SIZE) -> Window:
    """Page ``number`` of a list of ``total`` rows; a number past the end (the list shrank
    since the button was sent) shows the last page."""
    count = max(1, -(-total // size))
    number = min(max(number, 1), count)
    return Window(number, count, (number - 1) * size, size)


def page(items: Sequence[T], number: int, size: int = PAGE_SIZE) -> Paged[T]:
    """Page ``number`` of ``items`` already in memory (see :func:`window`)."""
    where = window(len(items), number, size)
    return where.of(items[where.offset : where.offset + where.limit])


def text(texts: Texts, header: str, lines: Sequence[str], paged: Paged[T]) -> str:
    """The header, the page's lines, and "(page N of M)" when there is more than one."""
    parts = [header, *lines]
    if paged.count > 1:
        parts.append(texts("page_of", number=paged.number, count=paged.count))
    return "\n".join(parts)


def keyboard(texts: Texts, listing: Listing, paged: Paged[T]) -> Keyboard:
    """Previous and Next, where there is a page before or after this one."""
    buttons: list[Button] = []
    if paged.number > 1:
        buttons.append(Button(texts("button_previous"), encode(Page(listing, paged.number - 1))))
    if paged.number < paged.count:
        buttons.append(Button(texts("button_next"), encode(Page(listing, paged.number + 1))))
    return (tuple(buttons),) if buttons else ()
