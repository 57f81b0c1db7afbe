"""The verification attacks of the security review, each as the attacker's exact sequence.

The attacker has many Telegram accounts and knows every partner ID, customer number,
postcode and address printed on a letter. None of these sequences may link him to someone
else's account, burn someone else's code, or tell known from unknown.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from flows.buttons import Menu, MenuChoice
from flows.domain import AuditAction, DeliveryChannel, Language, RequestKind, RequestStatus
from flows.model import AuditEntry, ChatLink, RegistrationRequest
from flows.texts import Texts
from flows.turn import DeskPolicy
from tests.support import (
    DemoOrg,
    DeskDriver,
    buttons_of,
    portal_chats_of,
    pressed,
    seed_customers,
    texts_of,
)

ORG = DemoOrg()
STRANGER = 6601
OTHER_STRANGER = 6602
MANAGER_EMAIL = "marieke@blg.example"
STRANGER_EMAIL = "stranger@evil.example"


def T(key: str, **values: object) -> str:
    english = Texts(Language.EN)
    return english(key, **values) if values else english.template(key)


async def linked_person(desk: DeskDriver, chat: int) -> int | None:
    async with desk.store.transaction() as tx:
        person = await tx.chat_links.person_for(chat)
        return person.id if person else None


async def person_id(desk: DeskDriver, email: str) -> int:
    async with desk.store.transaction() as tx:
        organization = await tx.organizations.by_partner_id(ORG.partner_id)
        assert organization is not None
        person = await tx.people.by_contact(organization.id, DeliveryChannel.EMAIL, email)
        assert person is not None
        return person.id


async def audit(desk: DeskDriver, action: AuditAction) -> list[AuditEntry]:
    async with desk.store.transaction() as tx:
        return list(await tx.audit.entries(action))


# -- takeover by re-registration ---------------------------------------------------------------


async def test_takeover_inside_the_resend_cooldown_fails(desk: DeskDriver) -> None:
    manager_id = await person_id(desk, MANAGER_EMAIL)
    await desk.send(STRANGER, "/register")
    await desk.send(STRANGER, ORG.partner_id)
    await desk.send(STRANGER, STRANGER_EMAIL)
    own_code = await desk.last_code(STRANGER_EMAIL)
    # Within the cooldown he starts again with the manager's address. At the code step
    # "/start" is only a wrong code; he presses Stop instead, which burns his draft's code.
    assert "6 digits" in texts_of(await desk.send(STRANGER, "/start"))
    await desk.press(STRANGER, pressed(Menu(MenuChoice.CANCEL)))
    await desk.send(STRANGER, "/register")
    await desk.send(STRANGER, ORG.partner_id)
    outcome = await desk.send(STRANGER, MANAGER_EMAIL)
    # The code step he is at now waits for the code that went to her, not his.
    assert MANAGER_EMAIL in texts_of(outcome)
    outcome = await desk.send(STRANGER, own_code)
    assert "not right" in texts_of(outcome)
    assert "already have an active account" not in texts_of(outcome)
    assert await linked_person(desk, STRANGER) is None
    assert await linked_person(desk, ORG.manager_chat) == manager_id
    assert "Only a manager" not in texts_of(await desk.send(ORG.manager_chat, "/pending"))


async def test_takeover_at_the_hourly_code_limit_fails(desk: DeskDriver) -> None:
    policy = DeskPolicy(default_language=Language.EN, codes_per_hour=2)
    attacker = DeskDriver(desk.store, desk.clock, policy)
    await attacker.send(STRANGER, "/register")
    await attacker.send(STRANGER, ORG.partner_id)
    await attacker.send(STRANGER, STRANGER_EMAIL)
    desk.clock.advance(seconds=61)
    await attacker.press(STRANGER, pressed(Menu(MenuChoice.RESEND_CODE)))
    own_code = await attacker.last_code(STRANGER_EMAIL)
    desk.clock.advance(seconds=61)
    # The "different address" button, then the manager's address: over the hourly limit.
    await attacker.press(STRANGER, pressed(Menu(MenuChoice.CHANGE_CONTACT)))
    outcome = await attacker.send(STRANGER, MANAGER_EMAIL)
    assert "many codes" in texts_of(outcome)
    outcome = await attacker.send(STRANGER, own_code)
    assert await linked_person(desk, STRANGER) is None
    assert "active account" not in texts_of(outcome)


async def test_a_code_confirms_only_its_own_organization(desk: DeskDriver) -> None:
    """Across organizations: a code made for office A does not confirm a draft for office B."""
    async with desk.store.transaction() as tx:
        from flows import accounts

        await accounts.add_organization(tx, "Other Office", "OTH-2002", desk.clock.now())
    await desk.send(STRANGER, "/register")
    await desk.send(STRANGER, "OTH-2002")
    await desk.send(STRANGER, STRANGER_EMAIL)
    own_code = await desk.last_code(STRANGER_EMAIL)
    # Back to the first office, same address: inside the cooldown no code goes out, and he
    # stays at the address step; the other office's code confirms nothing here.
    await desk.press(STRANGER, pressed(Menu(MenuChoice.CANCEL)))
    await desk.send(STRANGER, "/register")
    await desk.send(STRANGER, ORG.partner_id)
    await desk.send(STRANGER, STRANGER_EMAIL)
    async with desk.store.transaction() as tx:
        conversation = await tx.conversations.peek(STRANGER)
        assert conversation is not None and conversation.state.value == "register_contact"
    await desk.send(STRANGER, own_code)
    async with desk.store.transaction() as tx:
        requests = (await tx.session.scalars(select(RegistrationRequest))).all()
    assert not requests


async def test_a_manager_account_from_a_new_chat_waits_for_a_second_manager(
    desk: DeskDriver,
) -> None:
    """Even with the real code (he reads her mailbox), powers need another manager."""
    manager_id = await person_id(desk, MANAGER_EMAIL)
    await desk.send(STRANGER, "/register")
    await desk.send(STRANGER, ORG.partner_id)
    await desk.send(STRANGER, MANAGER_EMAIL)
    outcome = await desk.send(STRANGER, await desk.last_code(MANAGER_EMAIL))
    assert "another manager must agree" in texts_of(outcome)
    assert await linked_person(desk, STRANGER) is None
    assert await linked_person(desk, ORG.manager_chat) == manager_id
    # The real manager hears of it, in her chat and by mail.
    to_her = [
        m for m in await desk.outbox() if m.recipient in {str(ORG.manager_chat), MANAGER_EMAIL}
    ]
    assert any("asked to link your account" in m.body for m in to_her)
    async with desk.store.transaction() as tx:
        [request] = (await tx.session.scalars(select(RegistrationRequest))).all()
    assert request.kind is RequestKind.CHAT_LINK and request.status is RequestStatus.PENDING


# -- activation codes: nobody burns another's code, and no answer tells ------------------------


@pytest.fixture
async def tenants(desk: DeskDriver) -> DeskDriver:
    await seed_customers(desk.store, desk.clock)
    return desk


async def ask_activation_code(desk: DeskDriver, user: int, number: str) -> None:
    await desk.send(user, "/activation")
    await desk.send(user, number)
    await desk.send(user, "3511 AB")
    await desk.send(user, "12a")
    await desk.press(user, pressed(Menu(MenuChoice.SKIP)))


async def redeem(desk: DeskDriver, user: int, number: str, code: str) -> str:
    await desk.send(user, "/activate")
    await desk.send(user, number)
    return texts_of(await desk.send(user, code))


async def activation_code(desk: DeskDriver, email: str) -> str:
    [mail] = [m for m in await desk.outbox() if m.recipient == email]
    return mail.body.split("is:")[1].split()[0]


async def test_strangers_cannot_burn_an_activation_code(tenants: DeskDriver) -> None:
    await ask_activation_code(tenants, 8001, "1001")
    code = await activation_code(tenants, "klant1001@thuis.example")
    answers = set()
    for stranger in range(STRANGER, STRANGER + 3):
        for typed in ("x", "AAAA-BBBB-CCCC", "2222-3333-4444", "ZZZZ-ZZZZ-ZZZZ", "ABCD-EFGH-JKMN"):
            answers.add(await redeem(tenants, stranger, "1001", typed))
    # The fifth answer is the first one, and the same as for a number that does not exist.
    unknown = await redeem(tenants, OTHER_STRANGER + 50, "999999", "AAAA-BBBB-CCCC")
    assert answers - {T("activation_code_malformed")} == {unknown}
    assert "activated" in await redeem(tenants, 8001, "1001", code)


async def test_a_blocked_tenant_cannot_redeem_or_reset(tenants: DeskDriver) -> None:
    # Customer 1007 is blocked: a code (released earlier by the desk) does not activate it.
    async with tenants.store.transaction() as tx:
        [blocked] = await tx.customers.with_number("1007")
        from flows.activation_codes import issue

        issued = await issue(
            tx, tenants.desk.hasher, blocked, "x@y.example", tenants.clock.now(), 14
        )
    unknown = await redeem(tenants, STRANGER, "999999", "AAAA-BBBB-CCCC")
    assert await redeem(tenants, 8001, "1007", issued.code) == unknown
    assert await audit(tenants, AuditAction.ACTIVATION_REDEEM_BLOCKED)
    async with tenants.store.transaction() as tx:
        [blocked] = await tx.customers.with_number("1007")
        assert not blocked.account_active
        # An active account that gets blocked afterwards: no reset either.
        blocked.account_active = True
    await tenants.send(8001, "/password")
    outcome = await tenants.send(8001, "klant1007@thuis.example")
    assert texts_of(outcome) == T("reset_neutral")
    assert not [m for m in await tenants.outbox() if m.recipient == "klant1007@thuis.example"]
    assert await audit(tenants, AuditAction.RESET_REFUSED_BLOCKED)


async def test_under_administration_everything_goes_to_the_administrator(
    tenants: DeskDriver,
) -> None:
    async with tenants.store.transaction() as tx:
        [tenant] = await tx.customers.with_number("1006")
        tenant.account_active = True
        await tx.portal_chats.link(8006, tenant.id, tenants.clock.now())
    tenant_mail = "klant1006@thuis.example"
    administrator = "bewind@bewind.example"
    await tenants.send(8006, "/password")
    assert texts_of(await tenants.send(8006, tenant_mail)) == T("reset_neutral")
    code = await tenants.last_code(administrator)
    assert not [m for m in await tenants.outbox() if m.recipient == tenant_mail]
    assert "code is right" in texts_of(await tenants.send(8006, code))
    assert "password is set" in texts_of(await tenants.send(8006, "een lange zin als wachtwoord"))
    mails = [m for m in await tenants.outbox() if m.channel is DeliveryChannel.EMAIL]
    assert {m.recipient for m in mails} == {administrator}
    assert any("password" in (m.subject or "") for m in mails)


# -- SMS pumping ----------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["+234 803 123 4567", "+7 912 345 67 89", "+93 70 123 4567"])
async def test_no_sms_to_countries_the_desk_does_not_serve(desk: DeskDriver, number: str) -> None:
    await desk.send(STRANGER, "/register")
    await desk.send(STRANGER, ORG.partner_id)
    outcome = await desk.send(STRANGER, number)
    assert texts_of(outcome) == T("contact_country_not_served")
    await desk.send(OTHER_STRANGER, "/password")
    assert texts_of(await desk.send(OTHER_STRANGER, number)) == T("contact_country_not_served")
    assert not await desk.outbox(DeliveryChannel.SMS)


@pytest.mark.usefixtures("limits_in")
async def test_sms_budget_sends_codes_by_mail_only_and_tells_the_desk(desk: DeskDriver) -> None:
    budget = DeskDriver(
        desk.store, desk.clock, DeskPolicy(default_language=Language.EN, sms_per_hour_per_org=2)
    )
    for user, number in zip(
        range(7000, 7003), ("0612345671", "0612345672", "0612345673"), strict=True
    ):
        await budget.send(user, "/register")
        await budget.send(user, ORG.partner_id)
        outcome = await budget.send(user, number)
    assert texts_of(outcome) == T("sms_unavailable")
    assert len(await desk.outbox(DeliveryChannel.SMS)) == 2
    alerts = [m for m in await desk.outbox(DeliveryChannel.TELEGRAM) if "budget" in m.body]
    assert {m.recipient for m in alerts} == {
        str(ORG.manager_chat),
        str(ORG.second_manager_chat),
        str(ORG.staff_chat),
    }
    # The person can go on by e-mail.
    outcome = await budget.send(7002, "iemand@thuis.example")
    assert "sent a 6-digit code" in texts_of(outcome)


# -- smaller ones -----------------------------------------------------------------------------


async def test_partner_ids_cannot_be_guessed(desk: DeskDriver) -> None:
    await desk.send(STRANGER, "/register")
    for guess in range(5):
        assert "don't know partner ID" in texts_of(await desk.send(STRANGER, f"BLG-{guess:04}"))
    # Then a neutral wait, even for the right one: a hit is not told apart.
    outcome = await desk.send(STRANGER, ORG.partner_id)
    assert "too often" in texts_of(outcome) and "BLG Wonen" not in texts_of(outcome)
    await desk.send(STRANGER, "/register")
    assert "too often" in texts_of(await desk.send(STRANGER, ORG.partner_id))
    desk.clock.advance(hours=1, seconds=1)
    await desk.send(STRANGER, "/register")
    assert "BLG Wonen" in texts_of(await desk.send(STRANGER, ORG.partner_id))


async def test_a_password_starting_with_a_slash_is_a_password(tenants: DeskDriver) -> None:
    await ask_activation_code(tenants, 8001, "1001")
    code = await activation_code(tenants, "klant1001@thuis.example")
    await redeem(tenants, 8001, "1001", code)
    outcome = await tenants.send(8001, "/start Mijn geheime zin 2026")
    assert outcome.delete_message
    assert "password is set" in texts_of(outcome)
    async with tenants.store.transaction() as tx:
        [customer] = await tx.customers.with_number("1001")
        assert customer.password_hash


async def test_cancel_and_help_stay_commands_at_a_secret_step(tenants: DeskDriver) -> None:
    await tenants.send(8001, "/password")
    await tenants.send(8001, "klant1001@thuis.example")
    assert "How the desk works" in texts_of(await tenants.send(8001, "/help"))
    assert texts_of(await tenants.send(8001, "/cancel")).startswith(T("cancelled"))
    async with tenants.store.transaction() as tx:
        conversation = await tx.conversations.peek(8001)
        assert conversation is not None and conversation.state.value == "idle"


# -- linking an active account from a new chat ---------------------------------------------------


async def test_activating_an_active_account_elsewhere_tells_the_old_chat_with_undo(
    tenants: DeskDriver,
) -> None:
    await ask_activation_code(tenants, 8001, "1001")
    await redeem(tenants, 8001, "1001", await activation_code(tenants, "klant1001@thuis.example"))
    await tenants.send(8001, "een lange zin als wachtwoord")
    # A second code (he asked with the letter's details) is redeemed in another chat.
    tenants.clock.advance(minutes=5)
    await ask_activation_code(tenants, STRANGER, "1001")
    mails = [m for m in await tenants.outbox() if m.recipient == "klant1001@thuis.example"]
    second = mails[-1].body.split("is:")[1].split()[0]
    assert "activated" in await redeem(tenants, STRANGER, "1001", second)
    [notice] = [m for m in await tenants.outbox(DeliveryChannel.TELEGRAM) if m.recipient == "8001"]
    assert "a new chat was linked" in notice.body
    undo = notice.payload["buttons"][0][0]["data"]
    assert any("new Telegram chat" in m.body for m in await tenants.outbox(DeliveryChannel.EMAIL))
    # A forged Undo (the data pressed in another chat) changes nothing.
    forged = await tenants.press(OTHER_STRANGER, undo)
    assert forged.callback_notice == T("stale_button")
    assert await audit(tenants, AuditAction.TAMPERED_BUTTON)
    # The real Undo, in the old chat: the account is back there.
    outcome = await tenants.press(8001, undo)
    assert "linked to your account again" in texts_of(outcome)
    async with tenants.store.transaction() as tx:
        [customer] = await tx.customers.with_number("1001")
    assert await portal_chats_of(tenants.store, customer.id) == [8001]
    assert any(
        m.recipient == str(STRANGER) and "unlinked" in m.body
        for m in await tenants.outbox(DeliveryChannel.TELEGRAM)
    )


async def test_an_employee_relinking_tells_the_old_chat(desk: DeskDriver) -> None:
    eva = "eva@kantoor.example"
    await desk.register(8201, ORG.partner_id, eva)
    await desk.press(ORG.manager_chat, buttons_of(await desk.send(ORG.manager_chat, "/pending"))[0])
    eva_id = await person_id(desk, eva)
    assert await linked_person(desk, 8201) == eva_id
    desk.clock.advance(minutes=5)
    outcome = await desk.register(8202, ORG.partner_id, eva)
    assert "already have an active account" in texts_of(outcome)
    notices = [m for m in await desk.outbox(DeliveryChannel.TELEGRAM) if m.recipient == "8201"]
    assert any("new chat was linked" in m.body for m in notices)
    async with desk.store.transaction() as tx:
        links = (await tx.session.scalars(select(ChatLink))).all()
    assert {(link.telegram_user_id, link.person_id) for link in links} >= {(8202, eva_id)}


async def test_a_second_manager_approves_a_managers_new_chat(desk: DeskDriver) -> None:
    manager_id = await person_id(desk, MANAGER_EMAIL)
    new_phone = 6700
    await desk.send(new_phone, "/register")
    await desk.send(new_phone, ORG.partner_id)
    await desk.send(new_phone, MANAGER_EMAIL)
    await desk.send(new_phone, await desk.last_code(MANAGER_EMAIL))
    # Her own card cannot approve it: that is what the second person is for.
    own = await desk.press(ORG.manager_chat, await desk.card_button(ORG.manager_chat, "Approve"))
    assert "Another manager decides" in texts_of(own) or own.callback_notice
    assert await linked_person(desk, new_phone) is None
    card = await desk.card_button(ORG.second_manager_chat, "Approve")
    outcome = await desk.press(ORG.second_manager_chat, card)
    assert outcome.callback_notice and "Approved" in outcome.callback_notice
    assert await linked_person(desk, new_phone) == manager_id
    assert await linked_person(desk, ORG.manager_chat) is None
    told = [m for m in await desk.outbox(DeliveryChannel.TELEGRAM) if m.recipient == "5001"]
    assert any("a new chat was linked" in m.body for m in told)
    assert [e.actor_person_id for e in await audit(desk, AuditAction.CHAT_LINK_APPROVED)] == [
        await person_id(desk, "maarten@blg.example")
    ]


async def test_an_admin_in_the_cli_decides_a_link_request(desk: DeskDriver) -> None:
    from flows import accounts

    await desk.send(6701, "/register")
    await desk.send(6701, ORG.partner_id)
    await desk.send(6701, "sanne@blg.example")  # desk staff: powers too
    outcome = await desk.send(6701, await desk.last_code("sanne@blg.example"))
    assert "another manager must agree" in texts_of(outcome)
    async with desk.store.transaction() as tx:
        with pytest.raises(accounts.AccountError, match="needs --reason"):
            await accounts.decide_request(
                tx,
                desk.desk.hasher,
                desk.desk.policy,
                partner_id=ORG.partner_id,
                number=1,
                approve=False,
                reason=None,
                now=desk.clock.now(),
            )
        request = await accounts.decide_request(
            tx,
            desk.desk.hasher,
            desk.desk.policy,
            partner_id=ORG.partner_id,
            number=1,
            approve=True,
            reason=None,
            now=desk.clock.now(),
        )
        assert request.status is RequestStatus.APPROVED
    assert await linked_person(desk, 6701) == await person_id(desk, "sanne@blg.example")
    [entry] = await audit(desk, AuditAction.CHAT_LINK_APPROVED)
    assert entry.actor == "cli"


async def test_many_chats_failing_for_one_account_slow_its_answers_down(
    tenants: DeskDriver,
) -> None:
    await ask_activation_code(tenants, 8001, "1001")
    code = await activation_code(tenants, "klant1001@thuis.example")
    policy = tenants.desk.policy
    for stranger in range(7100, 7100 + policy.slowdown_after // 5):
        for _ in range(5):
            await redeem(tenants, stranger, "1001", "AAAA-BBBB-CCCC")
    assert tenants.clock.slept == 0
    await redeem(tenants, 7200, "1001", "AAAA-BBBB-CCCC")
    assert tenants.clock.slept > 0  # held back, after the commit
    # Slower, never refused: the owner still gets in.
    assert "activated" in await redeem(tenants, 8001, "1001", code)
