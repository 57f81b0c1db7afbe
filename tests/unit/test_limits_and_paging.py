"""Sliding-window limits (through the in-memory store) and staff list paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flows import limits, paging
from flows.buttons import Listing, Page, encode
from flows.domain import Language
from flows.texts import Texts
from tests.fakes.memory_store import MemoryStore, as_store

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
THREE_AN_HOUR = limits.Limit("tries", 3)


async def test_a_subject_may_go_on_until_the_limit_and_then_waits_for_the_oldest() -> None:
    async with as_store(MemoryStore()).transaction() as tx:
        for minute in range(3):
            assert await limits.wait_needed(tx, THREE_AN_HOUR, "chat:1", NOW) == timedelta(0)
            await limits.record(tx, THREE_AN_HOUR, "chat:1", NOW + timedelta(minutes=minute))
        later = NOW + timedelta(minutes=10)
        assert await limits.wait_needed(tx, THREE_AN_HOUR, "chat:1", later) == timedelta(minutes=50)
        assert await limits.wait_needed(tx, THREE_AN_HOUR, "chat:2", later) == timedelta(0)
        assert await limits.count(tx, THREE_AN_HOUR, "chat:1", later) == 3


async def test_events_older_than_the_window_no_longer_count() -> None:
    async with as_store(MemoryStore()).transaction() as tx:
        for _ in range(3):
            await limits.record(tx, THREE_AN_HOUR, "chat:1", NOW)
        an_hour_on = NOW + timedelta(hours=1)
        assert await limits.count(tx, THREE_AN_HOUR, "chat:1", an_hour_on) == 0
        assert await limits.wait_needed(tx, THREE_AN_HOUR, "chat:1", an_hour_on) == timedelta(0)


def test_minutes_round_up_and_are_at_least_one() -> None:
    assert limits.minutes(timedelta(seconds=1)) == 1
    assert limits.minutes(timedelta(seconds=61)) == 2
    assert limits.minutes(timedelta(0)) == 1


def test_a_page_number_past_the_end_shows_the_last_page() -> None:
    items = list(range(25))
    assert paging.page(items, 1).items == list(range(10))
    last = paging.page(items, 9)
    assert (last.number, last.count, list(last.items)) == (3, 3, list(range(20, 25)))
    assert paging.page([], 1).count == 1


def test_page_buttons_carry_the_page_they_show() -> None:
    texts = Texts(Language.EN)
    middle = paging.page(list(range(25)), 2)
    [row] = paging.keyboard(texts, Listing.EMPLOYEES, middle)
    assert [button.data for button in row] == [
        encode(Page(Listing.EMPLOYEES, 1)),
        encode(Page(Listing.EMPLOYEES, 3)),
    ]
    assert paging.keyboard(texts, Listing.EMPLOYEES, paging.page([1, 2], 1)) == ()


def test_the_page_line_only_when_there_is_more_than_one_page() -> None:
    texts = Texts(Language.EN)
    two = paging.page(list(range(11)), 2)
    assert paging.text(texts, "Header", ["x"], two).splitlines()[-1] == texts(
        "page_of", number=2, count=2
    )
    assert paging.text(texts, "Header", ["x"], paging.page([1], 1)) == "Header\nx"
