"""Seed 000's registration on the pure core (a real SQLite file, no chat framework)."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from flows.domain import AccountStatus, DeliveryChannel, RequestStatus
from flows.model import OneTimeCode, RegistrationRequest
from tests.support import TEST_HASHER, DeskDriver, buttons_of, texts_of

USER = 7001


async def test_start_offers_the_menu(desk: DeskDriver) -> None:
    outcome = await desk.send(USER, "/start")
    assert "Welcome" in texts_of(outcome)
    assert buttons_of(outcome) == ["m:register", "m:password", "m:activation", "m:help"]


async def test_pre_added_employee_registers_and_request_goes_to_managers(desk: DeskDriver) -> None:
    outcome = await desk.register(USER, "blg-1001", "Eva@Kantoor.example")
    assert "#1" in texts_of(outcome) and "waiting for approval" in texts_of(outcome)
    cards = await desk.outbox(DeliveryChannel.TELEGRAM)
    assert {m.recipient for m in cards} == {"5001", "5002"}  # managers, not desk staff
    assert all("On the list" in m.body and "#1" in m.body for m in cards)
    sent_code = await desk.last_code("eva@kantoor.example")
    async with desk.store.transaction() as tx:
        request = (await tx.session.scalars(select(RegistrationRequest))).one()
        assert request.pre_registered and request.status is RequestStatus.PENDING
        code = (await tx.session.scalars(select(OneTimeCode))).one()
        assert code.used_at is not None and code.code_hash.startswith(TEST_HASHER.current_key_id)
        assert sent_code not in code.code_hash


async def test_stranger_may_ask_but_is_marked_not_on_the_list(desk: DeskDriver) -> None:
    await desk.register(USER, "BLG-1001", "06 87654321")
    outcome = await desk.send(USER, "Joris Jansen")
    assert "#1" in texts_of(outcome)
    card = (await desk.outbox(DeliveryChannel.TELEGRAM))[0]
    assert "NOT on the list" in card.body and "Joris Jansen" in card.body
    assert "+31687654321" in card.body


async def test_unknown_partner_id_is_explained(desk: DeskDriver) -> None:
    await desk.send(USER, "/register")
    outcome = await desk.send(USER, "NOPE-1")
    assert "don't know partner ID NOPE-1" in texts_of(outcome)
    assert "m:cancel" in buttons_of(outcome)


async def test_bad_contacts_each_get_their_reason(desk: DeskDriver) -> None:
    await desk.send(USER, "/register")
    await desk.send(USER, "BLG-1001")
    assert "not valid" in texts_of(await desk.send(USER, "eva@"))
    assert "shared address" in texts_of(await desk.send(USER, "info@kantoor.example"))
    assert "shared address" in texts_of(await desk.send(USER, "Support@kantoor.example"))
    assert "not a mobile number" in texts_of(await desk.send(USER, "030 123 4567"))
    assert "not valid" in texts_of(await desk.send(USER, "06 123"))
    assert "e-mail address" in texts_of(await desk.send(USER, "hello there"))
    assert not await desk.outbox()


async def test_wrong_code_counts_down_and_burns(desk: DeskDriver) -> None:
    await desk.send(USER, "/register")
    await desk.send(USER, "BLG-1001")
    await desk.send(USER, "eva@kantoor.example")
    right = await desk.last_code("eva@kantoor.example")
    wrong = "000000" if right != "000000" else "111111"
    assert "6 digits" in texts_of(await desk.send(USER, "abc"))
    for left in (4, 3, 2, 1):
        assert f"{left} more tries" in texts_of(await desk.send(USER, wrong))
    assert "last try" in texts_of(await desk.send(USER, wrong))
    # Burned: even the right code no longer works.
    assert "expired" in texts_of(await desk.send(USER, right))


async def test_expired_code_and_resend_with_cooldown(desk: DeskDriver) -> None:
    await desk.send(USER, "/register")
    await desk.send(USER, "BLG-1001")
    await desk.send(USER, "eva@kantoor.example")
    first = await desk.last_code("eva@kantoor.example")
    assert "wait" in texts_of(await desk.press(USER, "m:resend"))
    desk.clock.advance(minutes=11)
    assert "expired" in texts_of(await desk.send(USER, first))
    outcome = await desk.press(USER, "m:resend")
    assert "sent a 6-digit code" in texts_of(outcome)
    second = await desk.last_code("eva@kantoor.example")
    assert "#1" in texts_of(await desk.send(USER, second))


async def test_used_code_cannot_be_reused(desk: DeskDriver) -> None:
    await desk.register(USER, "BLG-1001", "06 87654321")  # a stranger: now at the name step
    used = await desk.last_code("+31687654321")
    assert "Stopped" in texts_of(await desk.send(USER, "/cancel"))
    desk.clock.advance(minutes=2)
    await desk.send(USER, "/register")
    await desk.send(USER, "BLG-1001")
    await desk.send(USER, "06 87654321")
    fresh = await desk.last_code("+31687654321")
    if fresh != used:
        assert "not right" in texts_of(await desk.send(USER, used))
    assert "full name" in texts_of(await desk.send(USER, fresh))


async def test_second_request_while_pending_is_refused(desk: DeskDriver) -> None:
    await desk.register(USER, "BLG-1001", "eva@kantoor.example")
    outcome = await desk.send(USER, "/register")
    assert "already have a request (#1" in texts_of(outcome)
    # From another chat with the same address: the person already has an open request.
    other = 7002
    desk.clock.advance(minutes=2)
    outcome = await desk.register(other, "BLG-1001", "eva@kantoor.example")
    assert "already have a request (#1" in texts_of(outcome)


async def test_hourly_code_limit(desk: DeskDriver) -> None:
    await desk.send(USER, "/register")
    await desk.send(USER, "BLG-1001")
    await desk.send(USER, "eva@kantoor.example")
    for _ in range(4):
        desk.clock.advance(seconds=61)
        assert "sent a 6-digit code" in texts_of(await desk.press(USER, "m:resend"))
    desk.clock.advance(seconds=61)
    assert "try again in 60 minutes" in texts_of(await desk.press(USER, "m:resend"))


async def test_cancel_help_and_hints_work_at_every_step(desk: DeskDriver) -> None:
    await desk.send(USER, "/register")
    assert "/cancel" in texts_of(await desk.send(USER, "/help"))
    outcome = await desk.sticker(USER)
    assert "only read text" in texts_of(outcome) and "partner ID" in texts_of(outcome)
    assert "Stopped" in texts_of(await desk.send(USER, "/cancel"))
    assert "Nothing is running" in texts_of(await desk.send(USER, "/cancel"))
    outcome = await desk.send(USER, "hello?")
    assert "choose one of the buttons" in texts_of(outcome)
    assert "m:register" in buttons_of(outcome)


async def test_tampered_and_stale_buttons(desk: DeskDriver) -> None:
    outcome = await desk.press(USER, "x:garbage")
    assert outcome.callback_notice and "no longer works" in outcome.callback_notice
    outcome = await desk.press(USER, "m:resend")  # not in the code step
    assert "no longer works" in texts_of(outcome)
    outcome = await desk.press(USER, "d:999:a")
    assert outcome.callback_notice and "no longer works" in outcome.callback_notice


async def test_language_follows_telegram_and_can_switch(desk: DeskDriver) -> None:
    assert "Welkom" in texts_of(await desk.send(8001, "/start", language="nl-NL"))
    assert "English" in texts_of(await desk.press(8001, "m:lang_en"))
    assert "Welcome" in texts_of(await desk.send(8001, "/start"))
    assert "Nederlands" in texts_of(await desk.send(8001, "/language nl"))


async def test_blocked_person_cannot_register(desk: DeskDriver) -> None:
    async with desk.store.transaction() as tx:
        from flows.domain import DeliveryChannel as C

        person = await tx.people.by_contact(1, C.EMAIL, "eva@kantoor.example")
        assert person is not None
        person.status = AccountStatus.BLOCKED
    outcome = await desk.register(USER, "BLG-1001", "eva@kantoor.example")
    assert "cannot register" in texts_of(outcome)


async def test_a_redelivered_update_is_handled_once(desk: DeskDriver) -> None:
    from flows.events import Event

    event = Event.from_text(USER, desk.sender(USER), "/register")
    first = await desk.desk.handle(replace(event, update_id=42))
    again = await desk.desk.handle(replace(event, update_id=42))
    assert "Step 1" in texts_of(first) and not again.replies


async def test_group_chats_are_refused(desk: DeskDriver) -> None:
    from flows.events import Event

    event = Event.from_text(-100123, desk.sender(USER), "/register")
    outcome = await desk.desk.handle(replace(event, is_private_chat=False))
    assert "private message" in texts_of(outcome)
    chatter = Event.from_text(-100123, desk.sender(USER), "hello all")
    assert not (await desk.desk.handle(replace(chatter, is_private_chat=False))).replies
