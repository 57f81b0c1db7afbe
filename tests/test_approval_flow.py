"""Seed 000's approval by managers in chat, on the pure core."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from flows import account_sync, accounts
from flows.buttons import Decide, Offboard
from flows.domain import (
    AccountStatus,
    AuditAction,
    DeliveryChannel,
    Language,
    OffboardStatus,
    RequestStatus,
    Role,
)
from flows.model import AuditEntry, ChatLink, OffboardRequest, Person, RegistrationRequest
from flows.texts import Texts
from tests.support import DemoOrg, DeskDriver, buttons_of, said, seed_demo, texts_of

EVA = 7001
MANAGER = DemoOrg.manager_chat
SECOND_MANAGER = DemoOrg.second_manager_chat
STAFF = DemoOrg.staff_chat
NOT_ALLOWED = Texts(Language.EN)("staff_not_allowed")


async def _request(desk: DeskDriver) -> RegistrationRequest:
    await desk.register(EVA, "BLG-1001", "eva@kantoor.example")
    async with desk.store.transaction() as tx:
        return (await tx.session.scalars(select(RegistrationRequest))).one()


async def _audit(desk: DeskDriver, action: AuditAction) -> list[AuditEntry]:
    async with desk.store.transaction() as tx:
        return list(await tx.audit.entries(action))


async def test_manager_approves_by_button(desk: DeskDriver) -> None:
    request = await _request(desk)
    before = len(await desk.outbox())
    desk.clock.advance(minutes=5)
    outcome = await desk.press(MANAGER, await desk.card_button(MANAGER, "Approve"))
    assert outcome.callback_notice and "Approved by Marieke Manager" in outcome.callback_notice
    async with desk.store.transaction() as tx:
        person = await tx.people.get(request.person_id)
        assert person is not None and person.status is AccountStatus.ACTIVE
        link = await tx.session.get(ChatLink, EVA)
        assert link is not None and link.person_id == person.id
    new = (await desk.outbox())[before:]
    to_eva = [m for m in new if m.recipient in {str(EVA), "eva@kantoor.example"}]
    verdicts = [m for m in to_eva if not m.sensitive]
    assert {m.channel for m in verdicts} == {DeliveryChannel.TELEGRAM, DeliveryChannel.EMAIL}
    assert all("approved" in m.body for m in verdicts)
    # and, sealed, the invitation to choose a password (issue 11)
    assert [m.channel for m in to_eva if m.sensitive] == [DeliveryChannel.EMAIL]
    # The pressed card arrived, so it is edited; the other manager's copy had not been sent
    # yet: it goes out decided, without buttons, and needs no edit.
    edits = [m for m in new if m.payload.get("edit")]
    assert {m.recipient for m in edits} == {str(MANAGER)}
    assert all("Approved by Marieke Manager on 25 Nov 2026 10:05" in m.body for m in edits)
    assert all(not m.payload.get("buttons") for m in edits)
    [unsent] = [
        m
        for m in await desk.outbox(DeliveryChannel.TELEGRAM)
        if m.recipient == str(SECOND_MANAGER)
        and m.payload.get("topic") == f"registration:{request.id}"
    ]
    assert unsent.body == edits[0].body and not unsent.payload.get("buttons")
    assert len(await _audit(desk, AuditAction.REGISTRATION_APPROVED)) == 1
    # Her account opens in the organization's directory, through the outbox (no secret).
    [enable] = [m for m in new if m.channel is DeliveryChannel.DIRECTORY]
    assert enable.recipient == f"directory:person:{request.person_id}"
    assert enable.payload["directory_operation"] == "enable"
    assert enable.payload["account"]["login"] == "eva@kantoor.example"
    # Eva is now linked and active.
    welcome = await desk.send(EVA, "/start")
    assert said(welcome, "welcome_linked", name="Eva Employee", org="BLG Wonen", role="employee")


async def test_second_manager_is_told_who_decided(desk: DeskDriver) -> None:
    request = await _request(desk)
    late_approve = await desk.card_button(SECOND_MANAGER, "Approve")  # their card arrived
    await desk.press(MANAGER, await desk.card_button(MANAGER, "Reject"))
    outcome = await desk.press(SECOND_MANAGER, late_approve)
    assert outcome.callback_notice
    assert "already decided: Rejected by Marieke Manager" in outcome.callback_notice
    assert outcome.clear_pressed_buttons
    async with desk.store.transaction() as tx:
        decided = await tx.requests.get(request.id)
        assert decided is not None and decided.status is RequestStatus.REJECTED


async def test_two_managers_at_once_exactly_one_wins(desk: DeskDriver) -> None:
    await _request(desk)
    approve = await desk.card_button(MANAGER, "Approve")
    reject = await desk.card_button(SECOND_MANAGER, "Reject")
    first, second = await asyncio.gather(
        desk.press(MANAGER, approve), desk.press(SECOND_MANAGER, reject)
    )
    notices = [first.callback_notice or "", second.callback_notice or ""]
    assert sum("already decided" in n for n in notices) == 1
    decided = await _audit(desk, AuditAction.REGISTRATION_APPROVED) + await _audit(
        desk, AuditAction.REGISTRATION_REJECTED
    )
    assert len(decided) == 1
    to_eva = [m for m in await desk.outbox() if m.recipient == str(EVA)]
    assert len(to_eva) == 1


async def test_staff_member_and_strangers_may_not_decide(desk: DeskDriver) -> None:
    request = await _request(desk)
    for caller in (STAFF, EVA, 9999):
        # Data signed for the caller's own chat (as if a card had reached them): the role
        # check still refuses.
        outcome = await desk.press(caller, desk.signed(Decide(request.id, approve=True), caller))
        assert outcome.callback_notice == NOT_ALLOWED
    assert said(await desk.send(STAFF, "/approve 1"), "staff_not_allowed")
    assert said(await desk.send(9999, "/pending"), "staff_not_allowed")
    refused = await _audit(desk, AuditAction.STAFF_ACTION_REFUSED)
    assert len(refused) == 5
    assert refused[0].actor == f"telegram:{STAFF}" and refused[0].detail["number"] == 1
    async with desk.store.transaction() as tx:
        still = await tx.requests.get(request.id)
        assert still is not None and still.status is RequestStatus.PENDING


async def test_manager_of_another_organization_may_not_decide(desk: DeskDriver) -> None:
    request = await _request(desk)
    now = desk.clock.now()
    async with desk.store.transaction() as tx:
        await accounts.add_organization(tx, "Other Corp", "OTHER-1", now)
        await accounts.add_staff(
            tx,
            partner_id="OTHER-1",
            name="Olga Other",
            role=Role.MANAGER,
            email="olga@other.example",
            phone=None,
            telegram_id=6001,
            now=now,
        )
    outcome = await desk.press(6001, desk.signed(Decide(request.id, approve=True), 6001))
    assert outcome.callback_notice == NOT_ALLOWED
    # /approve 1 from Olga looks in her own organization, which has no request #1.
    outcome = await desk.send(6001, "/approve 1")
    assert said(outcome, "staff_request_unknown", number=1, org="Other Corp")


async def test_pending_list_and_commands(desk: DeskDriver) -> None:
    await _request(desk)
    await desk.register(7002, "BLG-1001", "06 87654321", name="Joris Jansen")
    desk.clock.advance(hours=2)
    outcome = await desk.send(MANAGER, "/pending")
    listing = outcome.replies[0].text
    assert "#1 Eva Employee - eva@kantoor.example - pre-added - 2 hours ago" in listing
    assert "#2 Joris Jansen - +31687654321 - not pre-added - 2 hours ago" in listing
    assert desk.signed(Decide(1, approve=True), MANAGER) in buttons_of(outcome)
    assert said(await desk.send(MANAGER, "/reject 2"), "reject_usage")
    assert said(await desk.send(MANAGER, "/approve x"), "approve_usage")
    assert said(await desk.send(MANAGER, "/approve 9"), "staff_request_unknown", number=9)
    outcome = await desk.send(MANAGER, "/reject 2 not one of ours")
    assert "#2 Joris Jansen: Rejected by Marieke Manager" in texts_of(outcome)
    assert said(outcome, "reason_suffix", reason="not one of ours")
    sms = [m for m in await desk.outbox(DeliveryChannel.SMS) if "not been approved" in m.body]
    assert sms and "not one of ours" in sms[0].body
    assert "#1 Eva Employee: Approved" in texts_of(await desk.send(MANAGER, "/approve #1"))
    assert said(await desk.send(MANAGER, "/pending"), "pending_none")


async def test_offboarding_in_chat(desk: DeskDriver) -> None:
    await _request(desk)
    await desk.press(MANAGER, await desk.card_button(MANAGER, "Approve"))
    assert said(await desk.send(MANAGER, "/offboard"), "offboard_usage")
    bad_date = await desk.send(MANAGER, "/offboard eva@kantoor.example 31-12")
    assert said(bad_date, "offboard_bad_date")
    assert said(await desk.send(MANAGER, "/offboard nobody@x.example"), "offboard_unknown")
    outcome = await desk.send(MANAGER, "/offboard eva@kantoor.example 2026-12-01")
    assert said(outcome, "offboard_done", name="Eva Employee", date="1 Dec 2026")

    async def disables() -> list[str]:
        async with desk.store.transaction() as tx:
            await account_sync.close_due_accounts(tx, desk.clock.now())
        rows = await desk.outbox(DeliveryChannel.DIRECTORY)
        return [m.payload["on"] for m in rows if m.payload["directory_operation"] == "disable"]

    assert await disables() == []  # the day has not come
    listing = texts_of(await desk.send(MANAGER, "/employees"))
    assert "Eva Employee (Utrecht) - eva@kantoor.example - active, out of service from" in listing
    assert "Piet Pieters (Utrecht, Zeist) - +31612345678 - awaiting registration" in listing
    desk.clock.advance(days=6)  # 1 December 2026
    listing = texts_of(await desk.send(MANAGER, "/employees"))
    assert "eva@kantoor.example - out of service since 1 Dec 2026" in listing
    assert said(await desk.send(EVA, "/start"), "welcome_out_of_service", date="1 Dec 2026")
    assert len(await _audit(desk, AuditAction.EMPLOYEE_OFFBOARDED)) == 1
    assert await disables() == ["2026-12-01"]
    assert await disables() == ["2026-12-01"]  # once


async def test_out_of_service_manager_loses_powers(desk: DeskDriver) -> None:
    await _request(desk)
    async with desk.store.transaction() as tx:
        manager = (
            await tx.session.scalars(select(Person).where(Person.name == "Marieke Manager"))
        ).one()
        manager.out_of_service_on = desk.clock.now().date()
    outcome = await desk.press(MANAGER, await desk.card_button(MANAGER, "Approve"))
    assert outcome.callback_notice == NOT_ALLOWED


async def test_new_request_reaches_only_managers_with_chats(store, clock) -> None:  # type: ignore[no-untyped-def]
    await seed_demo(
        store, clock, DemoOrg(partner_id="P-2", manager_chat=1, second_manager_chat=2, staff_chat=3)
    )
    desk = DeskDriver(store, clock)
    await desk.register(EVA, "P-2", "eva@kantoor.example")
    assert {m.recipient for m in await desk.outbox(DeliveryChannel.TELEGRAM)} == {"1", "2"}


STALE = "This button no longer works. Type /start to begin again."


async def _person(desk: DeskDriver, email: str) -> Person:
    async with desk.store.transaction() as tx:
        return (await tx.session.scalars(select(Person).where(Person.email == email))).one()


async def test_a_button_for_another_request_decides_nothing(desk: DeskDriver) -> None:
    """The attack: Marieke edits the data of her card for #2 (Joris) to name #1 (Eva)."""
    eva_request = await _request(desk)
    await desk.register(7002, "BLG-1001", "06 87654321", name="Joris Jansen")
    first = await desk.card_button(MANAGER, "Approve")  # her card for Joris's request
    kind, _, rest = first.partition(":")
    _number, verdict, signature = rest.split(":")
    other = f"{kind}:{eva_request.id}:{verdict}"
    before = len(await desk.outbox())
    for forged in (
        f"{other}:{signature}",  # the signature copied from the card
        other,  # no signature: the data of an older Balie
        f"{other}:AAAAAAAAAAAAAAAA",  # made up
        f"{other}:{signature[:8]}",  # shortened
        f"{other}:{desk.signed(Decide(eva_request.id, approve=True), SECOND_MANAGER)}",
    ):
        outcome = await desk.press(MANAGER, forged)
        assert outcome.callback_notice == STALE
        assert outcome.replies == [] and not outcome.clear_pressed_buttons
    async with desk.store.transaction() as tx:
        still = await tx.requests.get(eva_request.id)
        assert still is not None and still.status is RequestStatus.PENDING
    assert len(await desk.outbox()) == before
    tampered = await _audit(desk, AuditAction.TAMPERED_BUTTON)
    marieke = await _person(desk, "marieke@blg.example")
    assert len(tampered) == 5
    assert {entry.actor_person_id for entry in tampered} == {marieke.id}
    assert tampered[0].detail["data"] == f"{other}:{signature}"
    assert all(len(entry.detail["data"]) <= 64 for entry in tampered)
    assert await _audit(desk, AuditAction.REGISTRATION_APPROVED) == []


async def test_a_card_pressed_in_another_chat_is_refused(desk: DeskDriver) -> None:
    """Maarten presses the Approve button of the card that was sent to Marieke."""
    request = await _request(desk)
    mariekes = await desk.card_button(MANAGER, "Approve")
    assert len(mariekes.encode()) <= 64
    outcome = await desk.press(SECOND_MANAGER, mariekes)
    assert outcome.callback_notice == STALE
    async with desk.store.transaction() as tx:
        still = await tx.requests.get(request.id)
        assert still is not None and still.status is RequestStatus.PENDING
    [tampered] = await _audit(desk, AuditAction.TAMPERED_BUTTON)
    assert tampered.actor == f"telegram:{SECOND_MANAGER}"
    # His own copy works.
    outcome = await desk.press(SECOND_MANAGER, await desk.card_button(SECOND_MANAGER, "Approve"))
    assert outcome.callback_notice and "Approved by Maarten Manager" in outcome.callback_notice


async def test_pending_list_buttons_are_signed_for_the_chat_that_asked(desk: DeskDriver) -> None:
    request = await _request(desk)
    listed = buttons_of(await desk.send(MANAGER, "/pending"))
    assert desk.signed(Decide(request.id, approve=False), MANAGER) in listed
    outcome = await desk.press(SECOND_MANAGER, listed[0])
    assert outcome.callback_notice == STALE
    outcome = await desk.press(MANAGER, listed[0])
    assert outcome.callback_notice and "Approved by Marieke Manager" in outcome.callback_notice


THIRD_MANAGER = 5004
MAARTEN = "maarten@blg.example"


async def _third_manager(desk: DeskDriver) -> None:
    async with desk.store.transaction() as tx:
        await accounts.add_staff(
            tx,
            partner_id="BLG-1001",
            name="Mila Manager",
            role=Role.MANAGER,
            email="mila@blg.example",
            phone=None,
            telegram_id=THIRD_MANAGER,
            now=desk.clock.now(),
        )


async def _offboard_request(desk: DeskDriver) -> OffboardRequest:
    async with desk.store.transaction() as tx:
        return (await tx.session.scalars(select(OffboardRequest))).one()


async def test_a_manager_alone_cannot_offboard_another_manager(desk: DeskDriver) -> None:
    """The attack: Marieke takes Maarten out of service on her own."""
    outcome = await desk.send(MANAGER, f"/offboard {MAARTEN} 2026-12-01")
    assert texts_of(outcome) == Texts(Language.EN)(
        "offboard_no_second_manager", name="Maarten Manager", role="manager", org="BLG Wonen"
    )
    outcome = await desk.send(MANAGER, "/offboard marieke@blg.example")
    assert said(outcome, "offboard_self")
    assert (await _person(desk, MAARTEN)).out_of_service_on is None
    assert (await _person(desk, "marieke@blg.example")).out_of_service_on is None
    refused = await _audit(desk, AuditAction.STAFF_ACTION_REFUSED)
    assert [entry.detail["attempted"] for entry in refused] == ["offboard_manager", "offboard_self"]
    assert await _audit(desk, AuditAction.EMPLOYEE_OFFBOARDED) == []


async def test_a_second_manager_confirms_offboarding_a_manager(desk: DeskDriver) -> None:
    await _third_manager(desk)
    outcome = await desk.send(MANAGER, f"/offboard {MAARTEN} 2026-12-31")
    assert said(outcome, "offboard_needs_second", name="Maarten Manager", org="BLG Wonen")
    request = await _offboard_request(desk)
    assert request.status is OffboardStatus.PENDING
    cards = [m for m in await desk.outbox(DeliveryChannel.TELEGRAM) if m.payload.get("buttons")]
    assert [m.recipient for m in cards] == [str(THIRD_MANAGER)]  # not the asker, not Maarten
    assert "Marieke Manager asks to take Maarten Manager (manager, maarten@blg.example)" in (
        cards[0].body
    )
    again = await desk.send(MANAGER, f"/offboard {MAARTEN}")
    assert said(again, "offboard_already_pending", name="Maarten Manager")

    # Neither the asker nor the subject can confirm, even with data signed for their chat.
    own = await desk.press(MANAGER, desk.signed(Offboard(request.id, confirm=True), MANAGER))
    assert (
        own.callback_notice == "You asked for this yourself: a different manager must confirm it."
    )
    subject = desk.signed(Offboard(request.id, confirm=False), SECOND_MANAGER)
    refused = await desk.press(SECOND_MANAGER, subject)
    assert refused.callback_notice == NOT_ALLOWED
    # Mila's card pressed by Marieke is a tampered press.
    milas = await desk.card_button(THIRD_MANAGER, "Confirm")
    assert (await desk.press(MANAGER, milas)).callback_notice == STALE
    assert (await _offboard_request(desk)).status is OffboardStatus.PENDING
    assert (await _person(desk, MAARTEN)).out_of_service_on is None

    desk.clock.advance(minutes=3)
    outcome = await desk.press(THIRD_MANAGER, milas)
    assert outcome.callback_notice == (
        "Maarten Manager: Confirmed by Mila Manager on 25 Nov 2026 10:03."
    )
    maarten = await _person(desk, MAARTEN)
    assert maarten.out_of_service_on is not None and maarten.out_of_service_on.isoformat() == (
        "2026-12-31"
    )
    [done] = await _audit(desk, AuditAction.EMPLOYEE_OFFBOARDED)
    mila = await _person(desk, "mila@blg.example")
    marieke = await _person(desk, "marieke@blg.example")
    assert done.actor_person_id == mila.id and done.subject_person_id == maarten.id
    assert done.detail["requested_by_person_id"] == marieke.id
    new = await desk.outbox(DeliveryChannel.TELEGRAM)
    told = [m for m in new if m.recipient == str(MANAGER) and m.payload.get("notice_kind")]
    assert told and "Your request to take Maarten Manager out of service" in told[-1].body
    edits = [m for m in new if m.payload.get("edit")]
    assert [m.recipient for m in edits] == [str(THIRD_MANAGER)]
    late = await desk.press(THIRD_MANAGER, await desk.card_button(THIRD_MANAGER, "Refuse"))
    assert late.callback_notice and "already decided: Confirmed by Mila" in late.callback_notice


async def test_a_second_manager_may_refuse(desk: DeskDriver) -> None:
    await _third_manager(desk)
    await desk.send(MANAGER, f"/offboard {MAARTEN}")
    outcome = await desk.press(THIRD_MANAGER, await desk.card_button(THIRD_MANAGER, "Refuse"))
    assert outcome.callback_notice and "Refused by Mila Manager" in outcome.callback_notice
    assert (await _person(desk, MAARTEN)).out_of_service_on is None
    assert len(await _audit(desk, AuditAction.OFFBOARD_REFUSED)) == 1
    # Refused, a new request may be made.
    assert said(await desk.send(MANAGER, f"/offboard {MAARTEN}"), "offboard_needs_second")


async def test_a_manager_offboards_desk_staff_alone(desk: DeskDriver) -> None:
    outcome = await desk.send(MANAGER, "/offboard sanne@blg.example 2026-12-01")
    assert said(outcome, "offboard_done", name="Sanne Staff", date="1 Dec 2026")
    assert (await _person(desk, "sanne@blg.example")).out_of_service_on is not None
    [done] = await _audit(desk, AuditAction.EMPLOYEE_OFFBOARDED)
    assert done.subject_person_id == (await _person(desk, "sanne@blg.example")).id
