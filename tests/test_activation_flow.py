"""Seed 002's activation codes on the core: eligibility, delivery choice, release, redeem."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from flows import activation_codes
from flows.buttons import Menu, MenuChoice, Release, Signed
from flows.domain import (
    ActivationRoute,
    ActivationStatus,
    AuditAction,
    CodePurpose,
    DeliveryChannel,
    Language,
)
from flows.events import Outcome
from flows.model import ActivationRequest, Customer, Letter, OneTimeCode
from flows.texts import Texts
from tests.support import (
    TEST_HASHER,
    DemoOrg,
    DeskDriver,
    code_matches,
    offered,
    portal_chats_of,
    pressed,
    said,
    seed_customers,
    texts_of,
)

USER = 8001
STAFF = DemoOrg.staff_chat
MANAGER = DemoOrg.manager_chat
STRANGER = 6660
STANDARD = "We cannot send an activation code through the chat for these details"
WRONG = Texts(Language.EN)("activation_code_wrong")


@pytest.fixture
async def customers(desk: DeskDriver) -> DeskDriver:
    await seed_customers(desk.store, desk.clock)
    return desk


async def ask_code(
    desk: DeskDriver,
    number: str,
    email: str | None = None,
    user: int = USER,
    postcode: str = "3511ab",
    house: str = "12 A",
) -> Outcome:
    await desk.send(user, "/start")
    await desk.press(user, pressed(Menu(MenuChoice.ACTIVATION_CODE)))
    await desk.press(user, pressed(Menu(MenuChoice.REQUEST_CODE)))
    await desk.send(user, number)
    await desk.send(user, postcode)
    await desk.send(user, house)
    if email is None:
        return await desk.press(user, pressed(Menu(MenuChoice.SKIP)))
    return await desk.send(user, email)


async def requests(desk: DeskDriver) -> list[ActivationRequest]:
    async with desk.store.transaction() as tx:
        return list((await tx.session.scalars(select(ActivationRequest))).all())


async def mails_to(desk: DeskDriver, address: str) -> list[str]:
    return [m.body for m in await desk.outbox(DeliveryChannel.EMAIL) if m.recipient == address]


async def test_code_by_email_when_the_address_on_file_is_used(customers: DeskDriver) -> None:
    outcome = await ask_code(customers, "1001")
    assert said(outcome, "activation_sent_email", destination="k•••@thuis.example", days=14)
    [mail] = await mails_to(customers, "klant1001@thuis.example")
    code = activation_codes.normalized(mail.split("is:")[1].split()[0])
    assert len(code) == 12 and set(code) <= set(activation_codes.ALPHABET)
    [request] = await requests(customers)
    assert request.status is ActivationStatus.RELEASED and request.route is ActivationRoute.EMAIL
    async with customers.store.transaction() as tx:
        stored = (await tx.session.scalars(select(OneTimeCode))).one()
        assert stored.code_hash.startswith(TEST_HASHER.current_key_id + "$")
        assert code not in stored.code_hash and code_matches(stored, code)
        assert (stored.expires_at - stored.created_at).days == 14


async def test_same_address_given_goes_by_email_too(customers: DeskDriver) -> None:
    await ask_code(customers, "1001", email="Klant1001@Thuis.example")
    assert await mails_to(customers, "klant1001@thuis.example")


@pytest.mark.parametrize(
    ("number", "email"), [("1001", "ander@elders.example"), ("1002", None), ("1002", "x@y.example")]
)
async def test_letter_when_no_address_on_file_or_another_one(
    customers: DeskDriver, number: str, email: str | None
) -> None:
    outcome = await ask_code(customers, number, email=email)
    assert said(outcome, "activation_by_letter")
    [request] = await requests(customers)
    assert request.route is ActivationRoute.LETTER
    assert request.status is ActivationStatus.AWAITING_RELEASE
    assert not await customers.outbox(DeliveryChannel.EMAIL)
    cards = await customers.outbox(DeliveryChannel.TELEGRAM)
    assert {c.recipient for c in cards} == {"5001", "5002", "5003"}  # staff and managers
    assert all("letter by post" in c.body and "Dorpsstraat 12a" in c.body for c in cards)


@pytest.mark.parametrize(
    ("number", "email", "reason"),
    [
        ("1003", None, "not_tenant"),
        ("1004", None, "institution"),
        ("1005", None, "payment_arrangement"),
        ("1006", None, "under_administration"),
        ("1006", "klant1006@thuis.example", "under_administration"),
        ("1007", None, "blocked"),
    ],
)
async def test_ineligible_get_one_standard_reply(
    customers: DeskDriver, number: str, email: str | None, reason: str
) -> None:
    outcome = await ask_code(customers, number, email=email)
    assert (
        texts_of(outcome)
        == f"{STANDARD}. Please contact the desk: 030 123 4567. We will be glad to help."
    )
    [request] = await requests(customers)
    assert request.status is ActivationStatus.INELIGIBLE and request.reason == reason
    assert not await customers.outbox()
    listing = texts_of(await customers.send(STAFF, "/codes"))
    assert "Answered without a code" in listing and f"({number})" in listing


async def test_details_that_match_nobody_get_the_same_reply(customers: DeskDriver) -> None:
    unknown = await ask_code(customers, "9999")
    wrong_postcode = await ask_code(customers, "1001", postcode="9999 ZZ", user=USER + 1)
    assert not await requests(customers)
    not_tenant = await ask_code(customers, "1003", user=USER + 2)
    assert unknown.replies == wrong_postcode.replies == not_tenant.replies
    assert texts_of(unknown).startswith(STANDARD)


async def test_administrator_asks_and_staff_release_to_the_administrator(
    customers: DeskDriver,
) -> None:
    outcome = await ask_code(customers, "1006", email="bewind@bewind.example")
    assert said(outcome, "activation_to_administrator")
    [request] = await requests(customers)
    assert request.route is ActivationRoute.ADMINISTRATOR
    card = (await customers.outbox(DeliveryChannel.TELEGRAM))[0]
    assert "administrator Bewind B.V. (bewind@bewind.example)" in card.body
    await customers.deliver_chats()  # every desk member has the card: each copy is edited
    result = await customers.press(STAFF, await customers.card_button(STAFF, "Release"))
    assert result.callback_notice and "Released by Sanne Staff" in result.callback_notice
    [mail] = await mails_to(customers, "bewind@bewind.example")
    assert "As the administrator" in mail and "Klant 1006" in mail
    edits = [m for m in await customers.outbox(DeliveryChannel.TELEGRAM) if m.payload.get("edit")]
    assert {m.recipient for m in edits} == {"5001", "5002", "5003"}


async def test_release_of_a_letter_queues_it_and_tells_the_person(customers: DeskDriver) -> None:
    await ask_code(customers, "1002")
    [request] = await requests(customers)
    outcome = await customers.send(MANAGER, f"/release {request.number}")
    assert f"#{request.number} Klant 1002: Released by Marieke Manager" in texts_of(outcome)
    async with customers.store.transaction() as tx:
        letter = (await tx.session.scalars(select(Letter))).one()
        assert letter.customer.customer_number == "1002"
    told = [m for m in await customers.outbox(DeliveryChannel.TELEGRAM) if m.recipient == str(USER)]
    assert told and "goes by post" in told[0].body
    again = await customers.send(STAFF, f"/release {request.number}")
    assert "already decided: Released by Marieke Manager" in texts_of(again)


async def test_refusal_with_reason_and_who_may_decide(customers: DeskDriver) -> None:
    await ask_code(customers, "1002")
    [request] = await requests(customers)
    for outsider in (USER, 7777):
        data = customers.signed(Release(request.id, release=True), outsider)
        refused = await customers.press(outsider, data)
        assert (
            refused.callback_notice
            == "Only desk staff or a manager of this organization may do that."
        )
    assert "Usage: /refuse N reason" in texts_of(
        await customers.send(STAFF, f"/refuse {request.number}")
    )
    assert "no activation code request #99" in texts_of(await customers.send(STAFF, "/release 99"))
    outcome = await customers.send(STAFF, f"/refuse {request.number} address unknown")
    assert "Refused by Sanne Staff" in texts_of(outcome) and "address unknown" in texts_of(outcome)
    told = [m for m in await customers.outbox(DeliveryChannel.TELEGRAM) if m.recipient == str(USER)]
    assert "was not approved" in told[-1].body
    async with customers.store.transaction() as tx:
        assert not (await tx.session.scalars(select(Letter))).all()
        assert len(await tx.audit.entries(AuditAction.STAFF_ACTION_REFUSED)) == 2


async def test_two_staff_at_once_get_one_outcome(customers: DeskDriver) -> None:
    await ask_code(customers, "1002")
    [request] = await requests(customers)
    release = await customers.card_button(STAFF, "Release")
    refuse = await customers.card_button(MANAGER, "Refuse")
    first, second = await asyncio.gather(
        customers.press(STAFF, release), customers.press(MANAGER, refuse)
    )
    notices = [first.callback_notice or "", second.callback_notice or ""]
    assert sum("already decided" in n for n in notices) == 1
    async with customers.store.transaction() as tx:
        letters = (await tx.session.scalars(select(Letter))).all()
        decided = await tx.activation_requests.get(request.id)
    assert decided is not None
    assert len(letters) == (1 if decided.status is ActivationStatus.RELEASED else 0)


async def test_codes_list_shows_the_queue_with_buttons(customers: DeskDriver) -> None:
    await ask_code(customers, "1002")
    outcome = await customers.send(STAFF, "/codes")
    assert "Activation codes waiting for release at BLG Wonen" in texts_of(outcome)
    assert any(isinstance(p, Signed) and isinstance(p.action, Release) for p in offered(outcome))
    assert "Only desk staff" in texts_of(await customers.send(USER, "/codes"))


async def _code_from_mail(desk: DeskDriver, address: str) -> str:
    mail = (await mails_to(desk, address))[-1]
    return mail.split("is:")[1].split()[0]


async def redeem(desk: DeskDriver, number: str, code: str, user: int = USER) -> Outcome:
    await desk.send(user, "/activate")
    await desk.send(user, number)
    return await desk.send(user, code)


async def test_redeem_activates_links_and_asks_for_a_password(customers: DeskDriver) -> None:
    await ask_code(customers, "1001")
    code = await _code_from_mail(customers, "klant1001@thuis.example")
    outcome = await redeem(customers, "1001", code.lower().replace("-", " "))
    assert said(outcome, "account_activated") and said(outcome, "ask_password")
    async with customers.store.transaction() as tx:
        account = (
            await tx.session.scalars(select(Customer).where(Customer.customer_number == "1001"))
        ).one()
        assert account.account_active
    assert await portal_chats_of(customers.store, account.id) == [USER]
    # Single use.
    again = await redeem(customers, "1001", code, user=USER + 5)
    assert said(again, "activation_code_wrong")


async def test_a_code_asked_in_chat_leaves_the_earlier_one_until_one_is_used(
    customers: DeskDriver,
) -> None:
    # A stranger who knows the address details cannot void a code by asking for a new one.
    await ask_code(customers, "1001")
    first = await _code_from_mail(customers, "klant1001@thuis.example")
    await ask_code(customers, "1001", user=STRANGER)
    second = await _code_from_mail(customers, "klant1001@thuis.example")
    assert first != second
    assert said(await redeem(customers, "1001", first), "account_activated")
    # Redeeming one voids the rest.
    assert said(await redeem(customers, "1001", second, user=USER + 1), "activation_code_wrong")
    [_, newer] = await requests(customers)
    assert newer.replaces_code


async def test_wrong_codes_from_many_chats_never_burn_the_owners_code(
    customers: DeskDriver,
) -> None:
    await ask_code(customers, "1001")
    code = await _code_from_mail(customers, "klant1001@thuis.example")
    # Five strangers' chats, five wrong tries each (even "x", which is no code at all).
    for stranger in range(STRANGER, STRANGER + 5):
        malformed = await redeem(customers, "1001", "x", stranger)
        assert said(malformed, "activation_code_malformed")
        for _ in range(5):
            outcome = await redeem(customers, "1001", "AAAA-BBBB-CCCC", user=stranger)
            assert texts_of(outcome) == WRONG
    assert said(await redeem(customers, "1001", code), "account_activated")


@pytest.mark.usefixtures("limits_in")
async def test_a_chat_is_locked_out_with_the_same_answer(customers: DeskDriver) -> None:
    await ask_code(customers, "1001")
    code = await _code_from_mail(customers, "klant1001@thuis.example")
    # Five wrong tries for this customer number lock this chat out of it for the hour,
    # and the answer stays the one for a wrong code, even for the right code.
    for _ in range(5):
        assert texts_of(await redeem(customers, "1001", "AAAA-BBBB-CCCC", STRANGER)) == WRONG
    assert texts_of(await redeem(customers, "1001", code, STRANGER)) == WRONG
    # The owner, in their own chat, is not locked out.
    assert said(await redeem(customers, "1001", code), "account_activated")
    # Ten wrong tries an hour over any numbers lock a chat out entirely.
    for number in range(4000, 4010):
        await redeem(customers, str(number), "AAAA-BBBB-CCCC", user=9100)
    assert texts_of(await redeem(customers, "1008", "AAAA-BBBB-CCCC", user=9100)) == WRONG
    customers.clock.advance(hours=1, minutes=1)
    await ask_code(customers, "1008", user=9100)
    fresh = await _code_from_mail(customers, "klant1008@thuis.example")
    assert said(await redeem(customers, "1008", fresh, user=9100), "account_activated")


@pytest.mark.usefixtures("limits_in")
async def test_code_requests_are_limited_per_chat(customers: DeskDriver) -> None:
    for _ in range(3):
        await ask_code(customers, "9999")
    outcome = await ask_code(customers, "9999")
    assert said(outcome, "activation_wait", minutes=60)


async def test_organization_may_want_every_code_released(customers: DeskDriver) -> None:
    async with customers.store.transaction() as tx:
        organization = await tx.organizations.by_partner_id("BLG-1001")
        assert organization is not None
        organization.manual_activation = True
    outcome = await ask_code(customers, "1001")
    assert said(outcome, "activation_manual_email")
    assert not await customers.outbox(DeliveryChannel.EMAIL)
    await customers.press(STAFF, await customers.card_button(STAFF, "Release"))
    assert await mails_to(customers, "klant1001@thuis.example")


async def test_expired_activation_code(customers: DeskDriver) -> None:
    await ask_code(customers, "1001")
    code = await _code_from_mail(customers, "klant1001@thuis.example")
    customers.clock.advance(days=15)
    assert said(await redeem(customers, "1001", code), "activation_code_wrong")
    async with customers.store.transaction() as tx:
        current = await tx.codes.current("customer:1", CodePurpose.ACTIVATION)
    assert current is None or current.expires_at < customers.clock.now()


async def _audit_entries(desk: DeskDriver) -> list:  # type: ignore[type-arg]
    async with desk.store.transaction() as tx:
        return list(await tx.audit.entries())


async def test_a_release_button_acts_only_in_the_chat_it_was_sent_to(
    customers: DeskDriver,
) -> None:
    """A copied card and edited data are refused with the outdated-button toast, audited."""
    await ask_code(customers, "1002")
    [request] = await requests(customers)
    sannes = await customers.card_button(STAFF, "Release")
    stale = "This button no longer works. Type /start to begin again."
    for caller, data in (
        (MANAGER, sannes),  # Sanne's card, pressed by Marieke
        (STAFF, f"c:{request.id}:r"),  # unsigned
        (STAFF, sannes.replace(":r:", ":x:")),  # Release turned into Refuse
    ):
        outcome = await customers.press(caller, data)
        assert outcome.callback_notice == stale and not outcome.replies
    async with customers.store.transaction() as tx:
        still = await tx.activation_requests.get(request.id)
        assert still is not None and still.status is ActivationStatus.AWAITING_RELEASE
        assert len(await tx.audit.entries(AuditAction.TAMPERED_BUTTON)) == 3
    outcome = await customers.press(STAFF, sannes)
    assert outcome.callback_notice and "Released by Sanne Staff" in outcome.callback_notice
