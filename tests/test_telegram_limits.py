"""Telegram's limits in every message (issue 9, point 7), on the pure core.

Lists page with Previous/Next (10 a page), no message is over 4,096 characters and no toast
over 200; a card whose request was decided before it went out arrives decided.
"""

from __future__ import annotations

from flows import accounts, message_limits
from flows.buttons import Listing, Page, decode, encode
from flows.cards import closed_text
from flows.domain import DeliveryChannel
from flows.events import Button, Outcome, Reply
from tests.support import DemoOrg, DeskDriver

MANAGER = DemoOrg.manager_chat
STAFF = DemoOrg.staff_chat
LONG_NAME = "Aleksandra-Wilhelmina van der Zwaluwenberg-Oosterhout " * 3


async def _eighty_employees(desk: DeskDriver) -> None:
    """80 more employees with long names in several offices: well over 4,096 characters."""
    async with desk.store.transaction() as tx:
        for n in range(80):
            await accounts.add_employee(
                tx,
                partner_id=DemoOrg.partner_id,
                name=f"{LONG_NAME.strip()} {n:02d}",
                email=f"medewerker{n:02d}.met.een.lang.adres@kantoor-voorbeeld.example",
                phone=None,
                offices=["Utrecht Centrum", "Amersfoort Noord", "Zeist"],
                now=desk.clock.now(),
            )


def _page_button(outcome: Outcome, label: str) -> str:
    for reply in outcome.replies:
        for row in reply.buttons:
            for button in row:
                if button.label == label:
                    return button.data
    raise AssertionError(f"no {label!r} button in {[r.text[:40] for r in outcome.replies]}")


def _all_within_limits(outcome: Outcome) -> None:
    for reply in outcome.replies:
        assert message_limits.length(reply.text) <= message_limits.MAX_MESSAGE
    if outcome.callback_notice is not None:
        assert message_limits.length(outcome.callback_notice) <= message_limits.MAX_NOTICE


async def test_eighty_employees_page_ten_at_a_time(desk: DeskDriver) -> None:
    await _eighty_employees(desk)
    first = await desk.send(MANAGER, "/employees")
    _all_within_limits(first)
    [listing] = first.replies
    assert listing.text.startswith("Employees of BLG Wonen:")
    assert listing.text.count("@kantoor-voorbeeld.example") + listing.text.count("@") >= 10
    assert len(listing.text.splitlines()) == 1 + 10 + 1  # header, 10 lines, "(page 1 of 9)"
    assert listing.text.endswith("(page 1 of 9)")
    assert [b.label for b in listing.buttons[0]] == ["Next"]

    seen = set(listing.text.splitlines()[1:-1])
    press = await desk.press(MANAGER, _page_button(first, "Next"))
    for number in range(2, 10):
        _all_within_limits(press)
        [page] = press.replies
        assert page.text.endswith(f"(page {number} of 9)")
        assert press.clear_pressed_buttons  # the page pressed loses its buttons
        lines = page.text.splitlines()[1:-1]
        assert not seen & set(lines)
        seen |= set(lines)
        labels = [b.label for b in page.buttons[0]]
        assert labels == (["Previous", "Next"] if number < 9 else ["Previous"])
        if number < 9:
            press = await desk.press(MANAGER, _page_button(press, "Next"))
    assert len(seen) == 82  # the two seeded employees and the 80
    assert sum(len(line) + 1 for line in seen) > 9_000  # as one message, it never arrived
    back = await desk.press(MANAGER, _page_button(press, "Previous"))
    assert back.replies[0].text.endswith("(page 8 of 9)")


async def test_a_page_button_checks_the_presser_every_time(desk: DeskDriver) -> None:
    await _eighty_employees(desk)
    data = encode(Page(Listing.EMPLOYEES, 2))
    for outsider in (STAFF, 7777):  # desk staff are no managers; 7777 is nobody
        refused = await desk.press(outsider, data)
        assert refused.callback_notice == "Only a manager of this organization may do that."
        assert "Employees of" not in "\n".join(r.text for r in refused.replies)
    codes = await desk.press(7777, encode(Page(Listing.CODES, 1)))
    assert "Employees of" not in "\n".join(r.text for r in codes.replies)
    # A page past the end (the list shrank) shows the last page.
    last = await desk.press(MANAGER, encode(Page(Listing.EMPLOYEES, 500)))
    assert last.replies[0].text.endswith("(page 9 of 9)")


def test_page_data_is_validated() -> None:
    assert decode("p:e:3") == Page(Listing.EMPLOYEES, 3)
    assert decode(encode(Page(Listing.REFUSALS, 12))) == Page(Listing.REFUSALS, 12)
    for bad in ("p:e:0", "p:e:-1", "p:x:1", "p:e:", "p:e:abc", "p:e:²", "p:e:1000000", "p::1"):
        assert decode(bad) is None, bad
    assert decode("d:²:a") is None  # not a crash on a non-ASCII digit


def test_long_text_is_split_between_lines_and_toasts_are_cut() -> None:
    lines = [f"Line {n:03d} " + "x" * 110 for n in range(80)]
    text = "\n".join(lines)
    assert len(text) > 9_000
    keyboard = ((Button("Next", "p:e:2"),),)
    fitted = Outcome([Reply(text, keyboard)], callback_notice="Toast " * 60).fitted()
    assert len(fitted.replies) == 3
    assert all(message_limits.length(r.text) <= 4096 for r in fitted.replies)
    assert "\n".join(r.text for r in fitted.replies) == text  # nothing lost, split at lines
    assert [r.buttons for r in fitted.replies] == [(), (), keyboard]
    assert fitted.callback_notice is not None
    assert message_limits.length(fitted.callback_notice) <= 200
    assert fitted.callback_notice.endswith("…")
    # Emoji count twice in Telegram's measure; a cut never splits one.
    emoji = "🙂" * 3000
    assert message_limits.length(message_limits.truncate(emoji)) <= 4096
    assert set(message_limits.truncate(emoji)) <= {"🙂", "…"}


def test_a_closed_card_keeps_its_outcome_however_long_the_card() -> None:
    card = "Request #1\n" + "\n".join("Naam: " + "y" * 300 for _ in range(30))
    outcome = "Rejected by Marieke Manager on 25 Nov 2026 10:05: " + "reden " * 80
    text = closed_text(card, outcome)
    assert message_limits.length(text) <= 4096
    assert text.endswith(outcome) and text.startswith("Request #1")


async def test_a_long_reason_fits_the_card_and_the_toast(desk: DeskDriver) -> None:
    await desk.register(7001, "BLG-1001", "eva@kantoor.example")
    await desk.deliver_chats()
    outcome = await desk.send(MANAGER, "/reject 1 " + "onbekende naam " * 40)
    _all_within_limits(outcome)
    data = await desk.card_button(DemoOrg.second_manager_chat, "Approve")
    late = await desk.press(DemoOrg.second_manager_chat, data)
    _all_within_limits(late)
    assert late.callback_notice is not None and "already decided" in late.callback_notice
    for message in await desk.outbox(DeliveryChannel.TELEGRAM):
        assert message_limits.length(message.body) <= 4096


async def test_a_card_decided_before_it_was_sent_goes_out_decided(desk: DeskDriver) -> None:
    await desk.register(7001, "BLG-1001", "eva@kantoor.example")
    # Nobody's card has gone out yet when Marieke decides by command.
    await desk.send(MANAGER, "/approve 1")
    cards = [
        m
        for m in await desk.outbox(DeliveryChannel.TELEGRAM)
        if str(m.payload.get("topic", "")).startswith("registration:")
    ]
    assert {m.recipient for m in cards} == {str(MANAGER), str(DemoOrg.second_manager_chat)}
    for card in cards:  # one row per manager: the card in its decided form, no buttons
        assert "Approved by Marieke Manager" in card.body
        assert not card.payload.get("buttons") and not card.payload.get("edit")


async def test_pending_and_codes_page_too(desk: DeskDriver) -> None:
    for n in range(12):
        await desk.register(7100 + n, "BLG-1001", f"nieuw{n}@kantoor.example", name=f"Nieuw {n}")
    first = await desk.send(MANAGER, "/pending")
    listing, *cards = first.replies
    assert listing.text.startswith("Open registrations at BLG Wonen:")
    assert listing.text.endswith("(page 1 of 2)") and len(cards) == 10
    second = await desk.press(MANAGER, _page_button(first, "Next"))
    listing, *cards = second.replies
    assert listing.text.endswith("(page 2 of 2)") and len(cards) == 2
    assert [b.label for b in listing.buttons[0]] == ["Previous"]
