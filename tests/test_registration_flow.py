"""Seed 000's registration on the pure core (a real SQLite file, no chat framework)."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from flows.buttons import Menu, MenuChoice
from flows.domain import AccountStatus, DeliveryChannel, Language, RequestStatus
from flows.model import OneTimeCode, RegistrationRequest
from tests.support import TEST_HASHER, DeskDriver, offered, pressed, said, says

USER = 7001


async def test_start_offers_the_menu(desk: DeskDriver) -> None:
    outcome = await desk.send(USER, "/start")
    assert said(outcome, "welcome")
    assert offered(outcome) == [
        Menu(MenuChoice.REGISTER),
        Menu(MenuChoice.FORGOT_PASSWORD),
        Menu(MenuChoice.ACTIVATION_CODE),
        Menu(MenuChoice.HELP),
    ]


async def test_pre_added_employee_registers_and_request_goes_to_managers(desk: DeskDriver) -> None:
    outcome = await desk.register(USER, "blg-1001", "Eva@Kantoor.example")
    assert said(outcome, "request_created", number=1)
    cards = await desk.outbox(DeliveryChannel.TELEGRAM)
    assert {m.recipient for m in cards} == {"5001", "5002"}  # managers, not desk staff
    assert all(says(m.body, "staff_listed") and "#1" in m.body for m in cards)
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
    assert said(outcome, "request_created", number=1)
    card = (await desk.outbox(DeliveryChannel.TELEGRAM))[0]
    assert says(card.body, "staff_not_listed") and "Joris Jansen" in card.body
    assert "+31687654321" in card.body


async def test_unknown_partner_id_is_explained(desk: DeskDriver) -> None:
    await desk.send(USER, "/register")
    outcome = await desk.send(USER, "NOPE-1")
    assert said(outcome, "partner_id_unknown", partner_id="NOPE-1")
    assert Menu(MenuChoice.CANCEL) in offered(outcome)


async def test_bad_contacts_each_get_their_reason(desk: DeskDriver) -> None:
    await desk.send(USER, "/register")
    await desk.send(USER, "BLG-1001")
    assert said(await desk.send(USER, "eva@"), "contact_bad_email")
    assert said(await desk.send(USER, "info@kantoor.example"), "contact_role_address")
    assert said(await desk.send(USER, "Support@kantoor.example"), "contact_role_address")
    assert said(await desk.send(USER, "030 123 4567"), "contact_not_mobile")
    assert said(await desk.send(USER, "06 123"), "contact_bad_phone")
    assert said(await desk.send(USER, "hello there"), "contact_unrecognized")
    assert not await desk.outbox()


async def test_wrong_code_counts_down_and_burns(desk: DeskDriver) -> None:
    await desk.send(USER, "/register")
    await desk.send(USER, "BLG-1001")
    await desk.send(USER, "eva@kantoor.example")
    right = await desk.last_code("eva@kantoor.example")
    wrong = "000000" if right != "000000" else "111111"
    assert said(await desk.send(USER, "abc"), "code_not_digits")
    for left in (4, 3, 2, 1):
        assert said(await desk.send(USER, wrong), "code_wrong", left=left)
    assert said(await desk.send(USER, wrong), "code_burned")
    # Burned: even the right code no longer works.
    assert said(await desk.send(USER, right), "code_expired")


async def test_expired_code_and_resend_with_cooldown(desk: DeskDriver) -> None:
    await desk.send(USER, "/register")
    await desk.send(USER, "BLG-1001")
    await desk.send(USER, "eva@kantoor.example")
    first = await desk.last_code("eva@kantoor.example")
    assert said(await desk.press(USER, pressed(Menu(MenuChoice.RESEND_CODE))), "resend_wait")
    desk.clock.advance(minutes=11)
    assert said(await desk.send(USER, first), "code_expired")
    outcome = await desk.press(USER, pressed(Menu(MenuChoice.RESEND_CODE)))
    assert said(outcome, "code_sent", destination="eva@kantoor.example")
    second = await desk.last_code("eva@kantoor.example")
    assert said(await desk.send(USER, second), "request_created", number=1)


async def test_used_code_cannot_be_reused(desk: DeskDriver) -> None:
    await desk.register(USER, "BLG-1001", "06 87654321")  # a stranger: now at the name step
    used = await desk.last_code("+31687654321")
    assert said(await desk.send(USER, "/cancel"), "cancelled")
    desk.clock.advance(minutes=2)
    await desk.send(USER, "/register")
    await desk.send(USER, "BLG-1001")
    await desk.send(USER, "06 87654321")
    fresh = await desk.last_code("+31687654321")
    if fresh != used:
        assert said(await desk.send(USER, used), "code_wrong", left=4)
    assert said(await desk.send(USER, fresh), "ask_name")


async def test_second_request_while_pending_is_refused(desk: DeskDriver) -> None:
    await desk.register(USER, "BLG-1001", "eva@kantoor.example")
    outcome = await desk.send(USER, "/register")
    assert said(outcome, "already_pending", number=1)
    # From another chat with the same address: the person already has an open request.
    other = 7002
    desk.clock.advance(minutes=2)
    outcome = await desk.register(other, "BLG-1001", "eva@kantoor.example")
    assert said(outcome, "already_pending", number=1)


async def test_hourly_code_limit(desk: DeskDriver) -> None:
    await desk.send(USER, "/register")
    await desk.send(USER, "BLG-1001")
    await desk.send(USER, "eva@kantoor.example")
    resend = pressed(Menu(MenuChoice.RESEND_CODE))
    for _ in range(4):
        desk.clock.advance(seconds=61)
        assert said(await desk.press(USER, resend), "code_sent")
    desk.clock.advance(seconds=61)
    assert said(await desk.press(USER, resend), "resend_limit", minutes=60)


async def test_cancel_help_and_hints_work_at_every_step(desk: DeskDriver) -> None:
    await desk.send(USER, "/register")
    assert said(await desk.send(USER, "/help"), "command_cancel_help")
    outcome = await desk.sticker(USER)
    assert said(outcome, "unsupported_content") and said(outcome, "ask_partner_id")
    assert said(await desk.send(USER, "/cancel"), "cancelled")
    assert said(await desk.send(USER, "/cancel"), "nothing_to_cancel")
    outcome = await desk.send(USER, "hello?")
    assert said(outcome, "choose_a_button")
    assert Menu(MenuChoice.REGISTER) in offered(outcome)


async def test_tampered_and_stale_buttons(desk: DeskDriver) -> None:
    outcome = await desk.press(USER, "x:garbage")
    assert outcome.callback_notice and says(outcome.callback_notice, "stale_button")
    outcome = await desk.press(USER, pressed(Menu(MenuChoice.RESEND_CODE)))  # not in the code step
    assert said(outcome, "stale_button")
    outcome = await desk.press(USER, "d:999:a")  # a staff action without its signature
    assert outcome.callback_notice and says(outcome.callback_notice, "stale_button")


async def test_language_follows_telegram_and_can_switch(desk: DeskDriver) -> None:
    assert said(await desk.send(8001, "/start", language="nl-NL"), "welcome", Language.NL)
    assert said(await desk.press(8001, pressed(Menu(MenuChoice.LANGUAGE_EN))), "language_set")
    assert said(await desk.send(8001, "/start"), "welcome")
    assert said(await desk.send(8001, "/language nl"), "language_set", Language.NL)


async def test_blocked_person_cannot_register(desk: DeskDriver) -> None:
    async with desk.store.transaction() as tx:
        from flows.domain import DeliveryChannel as C

        person = await tx.people.by_contact(1, C.EMAIL, "eva@kantoor.example")
        assert person is not None
        person.status = AccountStatus.BLOCKED
    outcome = await desk.register(USER, "BLG-1001", "eva@kantoor.example")
    assert said(outcome, "account_unavailable")


async def test_a_redelivered_update_is_handled_once(desk: DeskDriver) -> None:
    from flows.events import Event

    event = Event.from_text(USER, desk.sender(USER), "/register")
    first = await desk.desk.handle(replace(event, update_id=42))
    again = await desk.desk.handle(replace(event, update_id=42))
    assert said(first, "ask_partner_id") and not again.replies


async def test_group_chats_are_refused(desk: DeskDriver) -> None:
    from flows.events import Event

    event = Event.from_text(-100123, desk.sender(USER), "/register")
    outcome = await desk.desk.handle(replace(event, is_private_chat=False))
    assert said(outcome, "private_only")
    chatter = Event.from_text(-100123, desk.sender(USER), "hello all")
    assert not (await desk.desk.handle(replace(chatter, is_private_chat=False))).replies
