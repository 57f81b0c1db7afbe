"""Every flow as a script of user and staff turns, written once and run on every channel.

A scenario gets a running :class:`~tests.conformance.harness.Channel` and the
:class:`~tests.conformance.harness.Env` around it. It may use a channel's optional powers
(stickers, shared contacts, forged button data, messages typed while the bot is down) only
after asking ``channel.capabilities``. A new flow gets its scenario here and is then proven
on all channels by ``test_scenarios.py``.

The store is seeded by :func:`tests.support.seed_demo`: BLG Wonen (BLG-1001) with managers
Marieke (chat 5001) and Maarten (5002), desk staff Sanne (5003), and two employees added by
a manager: Eva (eva@kantoor.example) and Piet (06 12345678).

Then by :func:`tests.support.seed_customers`: BLG Wonen's desk contact is "030 123 4567", and
it has customers 1001 to 1008, each named "Klant <number>", at Dorpsstraat 12a, 3511 AB
Utrecht, with e-mail klant<number>@thuis.example (except 1002), no account activated yet:

* 1001 tenant (the e-mail route);
* 1002 tenant without an e-mail address (the letter route);
* 1003 not a tenant; 1004 co-resident of an institution; 1005 payment arrangement;
  1007 blocked (all ineligible);
* 1006 under administration and blocked, administrator Bewind B.V. (bewind@bewind.example):
  ineligible unless the administrator asks;
* 1008 tenant with mobile number +31 6 1111 2222.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pypdf

from bot.letters import export_batch
from flows import accounts
from flows.activation_codes import normalized
from flows.buttons import Decide, encode
from flows.domain import (
    AccountStatus,
    ActivationRoute,
    ActivationStatus,
    AuditAction,
    CodePurpose,
    ConversationState,
    DeliveryChannel,
    Language,
    LetterStatus,
    RequestStatus,
)
from flows.password_flow import policy_sentence
from flows.password_rules import PasswordHasher, PasswordPolicy, PasswordRule, Violation
from flows.texts import Texts
from tests.conformance.harness import (
    ACTIVATION_CODE,
    CODE,
    Capability,
    Channel,
    Env,
    Seen,
    T,
    expect_each,
)
from tests.support import DemoOrg

ORG = DemoOrg()
MANAGER = ORG.manager_chat
SECOND_MANAGER = ORG.second_manager_chat
DESK_STAFF = ORG.staff_chat
EVA_EMAIL = "eva@kantoor.example"
PIET_PHONE = "+31612345678"
FROM_NUMBER = "+3197010203040"
DESK = (MANAGER, SECOND_MANAGER, DESK_STAFF)
"""Everyone who gets a card to release an activation code."""
ADDRESS = "Dorpsstraat 12a, 3511 AB Utrecht"
"""Every seeded customer's address as a card shows it."""
ADMINISTRATOR_EMAIL = "bewind@bewind.example"

Script = Callable[[Channel, Env], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    name: str
    script: Script


SCENARIOS: list[Scenario] = []


def scenario() -> Callable[[Script], Script]:
    def register(script: Script) -> Script:
        SCENARIOS.append(Scenario(script.__name__, script))
        return script

    return register


def edited(seen: Seen) -> bool:
    return seen.edited


async def register_by_email(channel: Channel, env: Env, user: int, email: str) -> None:
    """Registration up to the request, for someone on the list; the code comes by mail."""
    await channel.user_says(user, "/register")
    await channel.expect(user, T("ask_partner_id"))
    await channel.user_says(user, ORG.partner_id)
    await channel.expect(user, T("ask_contact", org=ORG.name))
    await channel.user_says(user, email)
    await channel.expect(user, T("code_sent", destination=email))
    await channel.user_says(user, await env.mail_code(email))
    await channel.expect(user, T("request_created", number=1, org=ORG.name))


# -- 1 ---------------------------------------------------------------------------------------


@scenario()
async def registration_by_email_approved_by_button(channel: Channel, env: Env) -> None:
    user = 7001
    await channel.user_says(user, "/start")
    welcome = await channel.expect(user, T("welcome"))
    assert T("button_register") in welcome.buttons
    await channel.user_presses(user, T("button_register"))
    if Capability.KEEPS_OLD_MESSAGES in channel.capabilities:
        # The menu loses its buttons (before the answer comes), so it cannot be pressed twice.
        cleared = await channel.expect(user, lambda m: m.message_id == welcome.message_id)
        assert cleared.edited and not cleared.buttons
    await channel.expect(user, T("ask_partner_id"))
    await channel.user_says(user, ORG.partner_id)
    await channel.expect(user, T("ask_contact", org=ORG.name))
    await channel.user_says(user, EVA_EMAIL)
    await channel.expect(user, T("code_sent", destination=EVA_EMAIL))
    [code_mail] = await env.mails(EVA_EMAIL)
    assert code_mail["Subject"] == T("mail_code_subject")
    await channel.user_says(user, await env.mail_code(EVA_EMAIL))
    await channel.expect(user, T("request_created", number=1, org=ORG.name, route=T("route_email")))

    [request] = await env.requests()
    assert request.status is RequestStatus.PENDING and request.number == 1
    assert request.contact == EVA_EMAIL and request.contact_channel is DeliveryChannel.EMAIL
    assert request.pre_registered and request.telegram_user_id == user

    card = await channel.expect(MANAGER, T("staff_new_request", number=1, org=ORG.name))
    assert "Eva Employee" in card.text and EVA_EMAIL in card.text
    assert T("staff_listed") in card.text
    assert card.buttons == (T("button_approve"), T("button_reject"))
    other = await channel.expect(SECOND_MANAGER, T("staff_new_request", number=1, org=ORG.name))
    assert other.buttons == card.buttons

    await channel.user_presses(MANAGER, T("button_approve"))
    await channel.expect_notice(MANAGER, T("staff_outcome_approved", by="Marieke Manager"))
    # The card is edited in place: the outcome, who decided; no buttons left to press.
    decided = await channel.expect(MANAGER, edited)
    assert decided.message_id == card.message_id
    assert T("staff_outcome_approved", by="Marieke Manager") in decided.text
    assert "Eva Employee" in decided.text and not decided.buttons
    other_decided = await channel.expect(SECOND_MANAGER, edited)
    assert other_decided.message_id == other.message_id and not other_decided.buttons

    # The person hears it in chat and by mail.
    await channel.expect(user, T("approved_chat", org=ORG.name))
    decision = (await env.mails(EVA_EMAIL, count=2))[1]
    assert decision["Subject"] == T("mail_decision_subject", org=ORG.name)
    assert T("approved_chat", org=ORG.name) in decision.get_content()

    [request] = await env.requests()
    assert request.status is RequestStatus.APPROVED
    assert request.decided_by is not None and request.decided_by.name == "Marieke Manager"
    eva = await env.person(email=EVA_EMAIL)
    assert eva.status is AccountStatus.ACTIVE
    linked = await env.linked_person(user)
    assert linked is not None and linked.id == eva.id
    assert len(await env.audit(AuditAction.REGISTRATION_APPROVED)) == 1
    assert env.twilio.messages == []

    # The other manager presses Reject on their copy anyway (Telegram: a client that still
    # shows the old buttons; the terminal: the newest buttons it showed in that chat).
    if Capability.FORGED_BUTTONS in channel.capabilities:
        stale_reject = await env.card_button(SECOND_MANAGER, T("button_reject"))
        await channel.user_presses_forged(SECOND_MANAGER, stale_reject)
    else:
        await channel.user_presses(SECOND_MANAGER, T("button_reject"))
    late = await channel.expect_notice(SECOND_MANAGER, T("staff_already_decided", number=1))
    assert T("staff_outcome_approved", by="Marieke Manager") in late
    [request] = await env.requests()
    assert request.status is RequestStatus.APPROVED

    # Back in the chat, the desk knows them.
    await channel.user_says(user, "/start")
    await channel.expect(user, T("welcome_linked", name="Eva Employee", org=ORG.name))


# -- 2 ---------------------------------------------------------------------------------------


@scenario()
async def registration_by_sms_not_listed_rejected_by_command(channel: Channel, env: Env) -> None:
    user, typed, phone = 7002, "06 87654321", "+31687654321"
    await channel.user_says(user, "/register")
    await channel.expect(user, T("ask_partner_id"))
    await channel.user_says(user, ORG.partner_id)
    await channel.expect(user, T("ask_contact", org=ORG.name))
    await channel.user_says(user, typed)
    await channel.expect(user, T("code_sent", destination=phone))
    sms = await env.sms(phone)
    assert sms.from_ == FROM_NUMBER and T("sms_code", org=ORG.name) in sms.body
    code = CODE.search(sms.body)
    assert code, sms.body
    await channel.user_says(user, code.group(1))
    await channel.expect(user, T("ask_name"))
    await channel.user_says(user, "Jan Nieuw")
    await channel.expect(user, T("request_created", number=1, org=ORG.name, route=T("route_sms")))

    jan = await env.person(phone=phone)
    assert jan.name == "Jan Nieuw" and jan.status is AccountStatus.PENDING
    assert not jan.pre_registered
    [request] = await env.requests()
    assert request.status is RequestStatus.PENDING and request.contact == phone
    assert request.contact_channel is DeliveryChannel.SMS and not request.pre_registered

    card = await channel.expect(MANAGER, T("staff_new_request", number=1, org=ORG.name))
    assert "Jan Nieuw" in card.text and T("staff_not_listed") in card.text

    await channel.user_says(MANAGER, "/reject 1")  # no reason: refused, nothing decided
    await channel.expect(MANAGER, T("reject_usage"))
    await channel.user_says(MANAGER, "/reject 1 unknown name")
    answer = await channel.expect(MANAGER, T("staff_decided", number=1, name="Jan Nieuw"))
    assert T("staff_outcome_rejected", by="Marieke Manager") in answer.text
    assert T("reason_suffix", reason="unknown name") in answer.text
    decided = await channel.expect(MANAGER, edited)
    assert decided.message_id == card.message_id and not decided.buttons
    assert T("staff_outcome_rejected", by="Marieke Manager") in decided.text

    told = await channel.expect(user, T("rejected_chat", org=ORG.name))
    assert T("reason_suffix", reason="unknown name") in told.text
    verdict = await env.sms(phone)
    assert T("rejected_chat", org=ORG.name) in verdict.body and "unknown name" in verdict.body

    [request] = await env.requests()
    assert request.status is RequestStatus.REJECTED and request.reason == "unknown name"
    assert await env.linked_person(user) is None
    assert len(await env.audit(AuditAction.REGISTRATION_REJECTED)) == 1
    assert env.smtp.mail.envelopes == []

    await channel.user_says(MANAGER, "/reject 1 again")  # decided already
    await channel.expect(MANAGER, T("staff_already_decided", number=1))


# -- 3 ---------------------------------------------------------------------------------------


@scenario()
async def bad_input_is_refused_and_explained(channel: Channel, env: Env) -> None:
    user = 7003
    await channel.user_says(user, "/nonsense")
    await channel.expect(user, T("unknown_command"))
    await channel.user_says(user, "hello")
    await channel.expect(user, T("choose_a_button"))

    await channel.user_says(user, "/register")
    await channel.expect(user, T("ask_partner_id"))
    if Capability.CONTACTS in channel.capabilities:  # a phone number is no partner ID
        await channel.user_shares_contact(user, "31612345678")
        await channel.expect(user, T("partner_id_unknown"))
    if Capability.STICKERS in channel.capabilities:
        await channel.user_sends_sticker(user)
        await channel.expect(user, T("unsupported_content"))
        await channel.expect(user, T("ask_partner_id"))
    await channel.user_says(user, "NOPE-0000")
    await channel.expect(user, T("partner_id_unknown", partner_id="NOPE-0000"))
    await channel.user_says(user, ORG.partner_id)
    await channel.expect(user, T("ask_contact", org=ORG.name))
    await channel.user_says(user, "info@kantoor.example")
    await channel.expect(user, T("contact_role_address"))
    await channel.user_says(user, "030 1234567")
    await channel.expect(user, T("contact_not_mobile"))
    await channel.user_says(user, "call me maybe")
    await channel.expect(user, T("contact_unrecognized"))
    await channel.user_says(user, EVA_EMAIL)
    await channel.expect(user, T("code_sent", destination=EVA_EMAIL))
    code = await env.mail_code(EVA_EMAIL)

    await channel.user_says(user, "abcdef")
    await channel.expect(user, T("code_not_digits"))
    await channel.user_says(user, "/help")  # help in the middle keeps the step
    await channel.expect(user, T("help_heading"))
    conversation = await env.conversation(user)
    assert conversation is not None and conversation.state is ConversationState.REGISTER_CODE
    await channel.user_says(user, "111111" if code != "111111" else "222222")
    await channel.expect(user, T("code_wrong", left=4))
    if Capability.FORGED_BUTTONS in channel.capabilities:
        await channel.user_presses_forged(user, "d:1:zzz")
        await channel.expect_notice(user, T("stale_button"))

    await channel.user_says(user, "/cancel")
    await channel.expect(user, T("cancelled"))
    await channel.user_says(user, code)  # after /cancel, the code is just text
    await channel.expect(user, T("choose_a_button"))
    await channel.user_says(user, "/cancel")
    await channel.expect(user, T("nothing_to_cancel"))

    conversation = await env.conversation(user)
    assert conversation is not None and conversation.state is ConversationState.IDLE
    assert await env.requests() == []
    assert len(await env.mails(EVA_EMAIL)) == 1 and env.twilio.messages == []


# -- 4 ---------------------------------------------------------------------------------------


@scenario()
async def staff_actions_are_refused_to_others(channel: Channel, env: Env) -> None:
    await register_by_email(channel, env, 7004, EVA_EMAIL)
    await channel.expect(SECOND_MANAGER, T("staff_new_request", number=1, org=ORG.name))

    stranger = 7005
    await channel.user_says(stranger, "/pending")
    await channel.expect(stranger, T("staff_not_allowed"))
    await channel.user_says(stranger, "/approve 1")
    await channel.expect(stranger, T("staff_not_allowed"))
    await channel.user_says(DESK_STAFF, "/pending")  # desk staff do not decide registrations
    await channel.expect(DESK_STAFF, T("staff_not_allowed"))
    if Capability.FORGED_BUTTONS in channel.capabilities:
        [request] = await env.requests()
        await channel.user_says(stranger, "/start")
        await channel.expect(stranger, T("welcome"))
        # The attack: a manager's Approve data, pressed by someone it was not sent to, and
        # the same data without its signature. Nothing happens; the toast says only that
        # the button no longer works.
        mariekes = await env.card_button(MANAGER, T("button_approve"))
        await channel.user_presses_forged(stranger, mariekes)
        await channel.expect_notice(stranger, T("stale_button"))
        await channel.user_presses_forged(stranger, encode(Decide(request.id, approve=True)))
        await channel.expect_notice(stranger, T("stale_button"))
        tampered = await env.audit(AuditAction.TAMPERED_BUTTON)
        assert [entry.detail["data"] for entry in tampered] == [
            mariekes,
            encode(Decide(request.id, approve=True)),
        ]

    # A manager cannot take another manager out of service alone (there is no third one to
    # confirm); the administrator can, in the CLI.
    await channel.user_says(MANAGER, "/offboard maarten@blg.example")
    await channel.expect(MANAGER, T("offboard_no_second_manager", name="Maarten Manager"))
    maarten = await env.person(email="maarten@blg.example")
    assert maarten.out_of_service_on is None
    async with env.store.transaction() as tx:
        await accounts.offboard_employee(
            tx,
            partner_id=ORG.partner_id,
            contact_text="maarten@blg.example",
            day=env.today(),
            now=datetime.now(UTC),
        )

    # A manager taken out of service presses Approve on the card they still have.
    await channel.user_presses(SECOND_MANAGER, T("button_approve"))
    await channel.expect_notice(SECOND_MANAGER, T("staff_not_allowed"))
    await channel.expect(SECOND_MANAGER, T("staff_not_allowed"))

    [request] = await env.requests()
    assert request.status is RequestStatus.PENDING and request.decided_by_id is None
    refusals = await env.audit(AuditAction.STAFF_ACTION_REFUSED)
    assert len(refusals) == 5, [r.detail for r in refusals]

    await channel.user_says(MANAGER, "/pending")
    await channel.expect(MANAGER, T("pending_header", org=ORG.name))
    listed = await channel.expect(MANAGER, T("staff_new_request", number=1, org=ORG.name))
    assert listed.buttons == (T("button_approve"), T("button_reject"))


# -- 5 ---------------------------------------------------------------------------------------


@scenario()
async def language_switch(channel: Channel, env: Env) -> None:
    nl = Language.NL
    user = 7006
    await channel.user_says(user, "/start")
    await channel.expect(user, T("welcome"))
    await channel.user_says(user, "/language")
    choose = await channel.expect(user, T("language_choose"))
    assert choose.buttons == ("Nederlands", "English")
    await channel.user_presses(user, "Nederlands")
    await channel.expect(user, T("language_set", nl))
    conversation = await env.conversation(user)
    assert conversation is not None and conversation.language == "nl"
    await channel.user_says(user, "/help")
    await channel.expect(user, T("help_heading", nl))
    await channel.user_says(user, "/register")
    asked = await channel.expect(user, T("ask_partner_id", nl))
    assert asked.buttons == (T("button_cancel", nl),)
    await channel.user_presses(user, T("button_cancel", nl))
    await channel.expect(user, T("cancelled", nl))
    await channel.user_says(user, "/language en")
    await channel.expect(user, T("language_set"))
    await channel.user_says(user, "/start")
    await channel.expect(user, T("welcome"))
    conversation = await env.conversation(user)
    assert conversation is not None and conversation.language == "en"

    # A manager's choice is their account's too: notifications follow it.
    await channel.user_says(MANAGER, "/language nl")
    await channel.expect(MANAGER, T("language_set", nl))
    await channel.user_says(MANAGER, "/pending")
    await channel.expect(MANAGER, T("pending_none", nl))
    marieke = await env.person(email="marieke@blg.example")
    assert marieke.language == "nl"
    await register_by_email(channel, env, 7007, EVA_EMAIL)
    await channel.expect(MANAGER, T("staff_new_request", nl, number=1, org=ORG.name))
    await channel.expect(SECOND_MANAGER, T("staff_new_request", number=1, org=ORG.name))


# -- 6 ---------------------------------------------------------------------------------------


@scenario()
async def restart_mid_registration_resumes(channel: Channel, env: Env) -> None:
    user = 7008
    await channel.user_says(user, "/register")
    await channel.expect(user, T("ask_partner_id"))
    await channel.user_says(user, ORG.partner_id)
    await channel.expect(user, T("ask_contact", org=ORG.name))

    await channel.stop()
    typed_while_down = Capability.QUEUES_WHILE_DOWN in channel.capabilities
    if typed_while_down:
        await channel.user_says(user, "info@kantoor.example")
    await channel.start()

    if typed_while_down:
        await channel.expect(user, T("contact_role_address"))
    await channel.user_says(user, EVA_EMAIL)
    await channel.expect(user, T("code_sent", destination=EVA_EMAIL))
    await channel.user_says(user, await env.mail_code(EVA_EMAIL))
    await channel.expect(user, T("request_created", number=1, org=ORG.name))
    await channel.expect(MANAGER, T("staff_new_request", number=1, org=ORG.name))
    [request] = await env.requests()
    assert request.telegram_user_id == user and request.status is RequestStatus.PENDING
    conversation = await env.conversation(user)
    assert conversation is not None and conversation.state is ConversationState.IDLE


# -- 7 ---------------------------------------------------------------------------------------


@scenario()
async def offboard_and_employees(channel: Channel, env: Env) -> None:
    await channel.user_says(MANAGER, "/employees")
    listing = await channel.expect(MANAGER, T("employees_header", org=ORG.name))
    assert f"Eva Employee (Utrecht) - {EVA_EMAIL} - {T('status_pending')}" in listing.text
    assert f"Piet Pieters (Utrecht, Zeist) - {PIET_PHONE} - {T('status_pending')}" in listing.text

    await channel.user_says(MANAGER, "/offboard")
    await channel.expect(MANAGER, T("offboard_usage"))
    await channel.user_says(MANAGER, f"/offboard {EVA_EMAIL} 31-12-2099")
    await channel.expect(MANAGER, T("offboard_bad_date"))
    await channel.user_says(MANAGER, "/offboard nobody@kantoor.example")
    await channel.expect(MANAGER, T("offboard_unknown", org=ORG.name))
    await channel.user_says(MANAGER, f"/offboard {PIET_PHONE}")  # no date: today
    await channel.expect(MANAGER, T("offboard_done", name="Piet Pieters"))
    await channel.user_says(MANAGER, f"/offboard {EVA_EMAIL} 2099-12-31")
    await channel.expect(MANAGER, T("offboard_done", name="Eva Employee"))

    piet = await env.person(phone=PIET_PHONE)
    assert piet.out_of_service_on is not None and piet.out_of_service_on <= env.today()
    eva = await env.person(email=EVA_EMAIL)
    assert eva.out_of_service_on == date(2099, 12, 31)
    assert len(await env.audit(AuditAction.EMPLOYEE_OFFBOARDED)) == 2

    await channel.user_says(MANAGER, "/employees")
    listing = await channel.expect(MANAGER, T("employees_header", org=ORG.name))
    piet_line = next(line for line in listing.text.splitlines() if "Piet Pieters" in line)
    assert T("status_out_of_service") in piet_line
    eva_line = next(line for line in listing.text.splitlines() if "Eva Employee" in line)
    assert T("status_pending") in eva_line

    stranger = 7009
    await channel.user_says(stranger, "/employees")
    await channel.expect(stranger, T("staff_not_allowed"))
    await channel.user_says(stranger, f"/offboard {EVA_EMAIL}")
    await channel.expect(stranger, T("staff_not_allowed"))
    eva = await env.person(email=EVA_EMAIL)
    assert eva.out_of_service_on == date(2099, 12, 31)


# -- issue 4: activation codes and passwords -------------------------------------------------


async def ask_activation_code(
    channel: Channel, user: int, number: str, email: str | None = None
) -> None:
    """Activation code -> Request a code -> the three steps -> an address, or Skip."""
    await channel.user_says(user, "/start")
    welcome = await channel.expect(user, T("welcome"))
    assert T("button_activation_code") in welcome.buttons
    await channel.user_presses(user, T("button_activation_code"))
    menu = await channel.expect(user, T("activation_menu"))
    assert menu.buttons == (T("button_request_code"), T("button_have_code"), T("button_cancel"))
    await channel.user_presses(user, T("button_request_code"))
    await channel.expect(user, T("ask_customer_number"))
    await channel.user_says(user, number)
    await channel.expect(user, T("ask_postcode"))
    await channel.user_says(user, "3511ab")  # as people type it
    await channel.expect(user, T("ask_house_number"))
    await channel.user_says(user, "12 A")
    last_step = await channel.expect(user, T("ask_activation_email"))
    assert last_step.buttons == (T("button_skip"), T("button_cancel"))
    if email is None:
        await channel.user_presses(user, T("button_skip"))
    else:
        await channel.user_says(user, email)


async def redeem(channel: Channel, user: int, number: str, code: str) -> None:
    """/activate, the customer number and the code, up to the question for a password."""
    await channel.user_says(user, "/activate")
    await channel.expect(user, T("ask_redeem_customer_number"))
    await channel.user_says(user, number)
    await channel.expect(user, T("ask_activation_code"))
    await channel.user_says(user, code)
    await channel.expect(user, T("account_activated"))


def ask_password_text(customer_policy: PasswordPolicy) -> str:
    return T("ask_password", rules=policy_sentence(Texts(Language.EN), customer_policy))


def refusal_text(*violations: Violation) -> str:
    """The exact answer to a password that breaks ``violations``."""
    lines = [T("password_refused")]
    lines += [f"- {violation.explain(Language.EN)}" for violation in violations]
    lines.append(T("password_try_again"))
    return "\n".join(lines)


def code_card(number: int, customer: str, route: str) -> str:
    """A release card's text up to its time of request."""
    return T(
        "staff_code_card",
        number=number,
        org=ORG.name,
        name=f"Klant {customer}",
        customer=customer,
        address=ADDRESS,
        route=route,
    )


# -- 8 ---------------------------------------------------------------------------------------


@scenario()
async def activation_code_by_email_then_password(channel: Channel, env: Env) -> None:
    user, email = 7101, "klant1001@thuis.example"
    await ask_activation_code(channel, user, "1001")
    await channel.expect(
        user, T("activation_sent_email", destination="k•••@thuis.example", days=14)
    )

    [code_mail] = await env.mails(email)
    assert code_mail["Subject"] == T("mail_activation_subject")
    assert T("mail_activation_body", name="Klant 1001", org=ORG.name) in env.text(code_mail)
    code = await env.mail_activation_code(email)
    [request] = await env.activation_requests()
    assert request.status is ActivationStatus.RELEASED and request.route is ActivationRoute.EMAIL
    assert request.destination == email and request.telegram_user_id == user
    assert request.customer is not None and request.customer.customer_number == "1001"
    customer = await env.customer("1001")
    stored = await env.current_code(customer, CodePurpose.ACTIVATION)
    assert stored is not None and stored.code_hash.startswith(env.hasher.current_key_id + "$")
    assert normalized(code) not in stored.code_hash
    assert env.code_matches(stored, code)
    assert not customer.account_active and not await env.customer_chats(customer.customer_number)

    await redeem(channel, user, "1001", code.lower().replace("-", " "))  # typed loosely
    policy = PasswordPolicy.for_organization(customer.organization)
    asked = await channel.expect(user, ask_password_text(policy))
    assert asked.buttons == (T("button_cancel"),)

    short = "zq7!x"
    await channel.user_says(user, short)
    refusal = await channel.expect(user, T("password_refused"))
    too_short = Violation(PasswordRule.TOO_SHORT, min_length=policy.min_length, length=len(short))
    assert refusal.text == refusal_text(too_short)
    assert refusal.buttons == (T("button_cancel"),)
    await channel.expect_removed(user)
    assert (await env.customer("1001")).password_hash is None

    passphrase = "groene fiets in de gracht"
    await channel.user_says(user, passphrase)
    await channel.expect(user, T("password_set"))
    await channel.expect_removed(user)

    changed = (await env.mails(email, count=2))[1]
    assert changed["Subject"] == T("mail_password_changed_subject")
    body = env.text(changed)
    assert T("mail_password_changed_body", name="Klant 1001", org=ORG.name) in body
    assert passphrase not in body and short not in body and "groene" not in body

    customer = await env.customer("1001")
    assert customer.account_active and await env.customer_chats(customer.customer_number) == [user]
    assert customer.password_hash is not None and customer.password_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(customer.password_hash, passphrase)
    assert customer.password_changed_at is not None
    assert await env.current_code(customer, CodePurpose.ACTIVATION) is None  # used up
    assert len(await env.audit(AuditAction.ACCOUNT_ACTIVATED)) == 1
    assert len(await env.audit(AuditAction.PASSWORD_CHANGED)) == 1
    assert len(env.smtp.mail.envelopes) == 2 and env.twilio.messages == []
    conversation = await env.conversation(user)
    assert conversation is not None and conversation.state is ConversationState.IDLE


# -- 9 ---------------------------------------------------------------------------------------


@scenario()
async def activation_letter_released_by_staff_and_printed(channel: Channel, env: Env) -> None:
    user = 7102
    await ask_activation_code(channel, user, "1002")  # no e-mail address on file
    await channel.expect(user, T("activation_by_letter"))
    [request] = await env.activation_requests()
    assert request.route is ActivationRoute.LETTER and request.destination is None
    assert request.status is ActivationStatus.AWAITING_RELEASE

    title = code_card(request.number, "1002", T("route_letter"))
    cards: dict[int, Seen] = {}
    for chat in DESK:  # managers and desk staff alike
        cards[chat] = await channel.expect(chat, title)
        assert cards[chat].buttons == (T("button_release"), T("button_refuse"))
    assert await env.letters() == [] and env.smtp.mail.envelopes == []

    await channel.user_presses(DESK_STAFF, T("button_release"))
    released = T("staff_outcome_released", by="Sanne Staff")
    notice = await channel.expect_notice(
        DESK_STAFF, T("staff_decided", number=request.number, name="Klant 1002")
    )
    assert released in notice
    for chat in DESK:  # every copy, edited in place, without buttons
        decided = await channel.expect(chat, edited)
        assert decided.message_id == cards[chat].message_id
        assert title in decided.text and released in decided.text and not decided.buttons
    await channel.expect(user, T("letter_sent_chat"))

    [request] = await env.activation_requests()
    assert request.status is ActivationStatus.RELEASED
    assert request.decided_by is not None and request.decided_by.name == "Sanne Staff"
    [letter] = await env.letters()
    assert letter.status is LetterStatus.QUEUED and letter.activation_request_id == request.id
    assert letter.customer.customer_number == "1002"
    assert len(await env.audit(AuditAction.ACTIVATION_RELEASED)) == 1
    assert env.smtp.mail.envelopes == [] and env.twilio.messages == []

    # `balie letters export`: the code exists in plain text only in the PDF.
    result = await export_batch(env.store, env.hasher, env.workdir / "letters", datetime.now(UTC))
    assert result.letter_ids == (letter.id,) and result.pdf is not None
    [page] = [page.extract_text() for page in pypdf.PdfReader(result.pdf).pages]
    assert "Klant 1002" in page and "Dorpsstraat 12a" in page and "3511 AB  UTRECHT" in page
    printed = ACTIVATION_CODE.search(page)
    assert printed, page
    customer = await env.customer("1002")
    stored = await env.current_code(customer, CodePurpose.ACTIVATION)
    assert stored is not None and env.code_matches(stored, printed[1])
    [letter] = await env.letters()
    assert letter.status is LetterStatus.EXPORTED and letter.batch == result.batch

    # The tenant types the code from the letter.
    await redeem(channel, user, "1002", printed[1])
    customer = await env.customer("1002")
    assert customer.account_active and await env.customer_chats(customer.customer_number) == [user]


# -- 10 --------------------------------------------------------------------------------------


@scenario()
async def no_code_for_ineligible_or_unknown_administrator_released(
    channel: Channel, env: Env
) -> None:
    not_tenant, stranger, administrator = 7103, 7104, 7105
    standard = T("activation_not_possible")  # up to the desk's contact
    await ask_activation_code(channel, not_tenant, "1003")
    refused = await channel.expect(not_tenant, standard)
    await ask_activation_code(channel, stranger, "9999")
    unknown = await channel.expect(stranger, standard)
    assert refused.buttons == unknown.buttons == ()
    # (That the two differ in the contact they name is the next scenario's known bug.)

    [ineligible] = await env.activation_requests()  # details that match nobody leave no row
    assert ineligible.status is ActivationStatus.INELIGIBLE and ineligible.reason == "not_tenant"
    assert ineligible.customer is not None and ineligible.customer.customer_number == "1003"
    assert len(await env.audit(AuditAction.ACTIVATION_INELIGIBLE)) == 1
    assert len(await env.audit(AuditAction.ACTIVATION_NO_MATCH)) == 1
    assert env.smtp.mail.envelopes == [] and env.twilio.messages == []

    # 1006 is under administration: only the administrator may ask, and staff release it.
    await ask_activation_code(channel, administrator, "1006", email="Bewind@Bewind.example")
    await channel.expect(administrator, T("activation_to_administrator"))
    request = (await env.activation_requests())[-1]
    assert request.route is ActivationRoute.ADMINISTRATOR
    assert request.destination == ADMINISTRATOR_EMAIL
    assert request.status is ActivationStatus.AWAITING_RELEASE
    route = T("route_administrator", administrator="Bewind B.V.", destination=ADMINISTRATOR_EMAIL)
    title = code_card(request.number, "1006", route)
    cards = {chat: await channel.expect(chat, title) for chat in DESK}
    assert env.smtp.mail.envelopes == []

    await channel.user_says(DESK_STAFF, "/codes")
    waiting = await channel.expect(DESK_STAFF, T("codes_header", org=ORG.name))
    assert (
        T("codes_line", number=request.number, name="Klant 1006", customer="1006", route=route)
        in waiting.text
    )
    answered = await channel.expect(DESK_STAFF, T("codes_refusals_header"))
    assert (
        T(
            "codes_refusal_line",
            number=ineligible.number,
            name="Klant 1003",
            customer="1003",
            reason=T("ineligible_not_tenant"),
        )
        in answered.text
    )
    assert "9999" not in answered.text and "Klant 1006" not in answered.text
    listed = await channel.expect(DESK_STAFF, title)
    assert listed.buttons == (T("button_release"), T("button_refuse"))

    await channel.user_says(MANAGER, f"/release {request.number}")
    released = T("staff_outcome_released", by="Marieke Manager")
    answer, decided = await expect_each(
        channel,
        MANAGER,
        lambda m: (
            not m.edited and T("staff_decided", number=request.number, name="Klant 1006") in m.text
        ),
        edited,
    )
    assert released in answer.text
    assert decided.message_id == cards[MANAGER].message_id
    assert released in decided.text and not decided.buttons
    for chat in (SECOND_MANAGER, DESK_STAFF):
        decided = await channel.expect(chat, edited)
        assert decided.message_id == cards[chat].message_id and released in decided.text

    [mail] = await env.mails(ADMINISTRATOR_EMAIL)
    assert mail["Subject"] == T("mail_activation_subject")
    content = env.text(mail)
    assert (
        T(
            "mail_activation_administrator_body",
            administrator="Bewind B.V.",
            org=ORG.name,
            name="Klant 1006",
            number="1006",
        )
        in content
    )
    code = await env.mail_activation_code(ADMINISTRATOR_EMAIL)
    customer = await env.customer("1006")
    stored = await env.current_code(customer, CodePurpose.ACTIVATION)
    assert stored is not None and env.code_matches(stored, code)
    assert env.smtp.mail.messages_to("klant1006@thuis.example") == []
    request = (await env.activation_requests())[-1]
    assert request.status is ActivationStatus.RELEASED
    assert request.decided_by is not None and request.decided_by.name == "Marieke Manager"


@scenario()
async def standard_reply_does_not_tell_ineligible_from_unknown(channel: Channel, env: Env) -> None:
    not_tenant, stranger = 7108, 7109
    await ask_activation_code(channel, not_tenant, "1003")
    refused = await channel.expect(not_tenant, T("activation_not_possible"))
    await ask_activation_code(channel, stranger, "9999")
    unknown = await channel.expect(stranger, T("activation_not_possible"))
    assert unknown.text == refused.text, (refused.text, unknown.text)


# -- 11 --------------------------------------------------------------------------------------


@scenario()
async def forgotten_password_reset_by_sms(channel: Channel, env: Env) -> None:
    user, stranger, phone = 7106, 7107, "+31611112222"
    async with env.store.transaction() as tx:  # 1008 activated their account earlier
        [account] = await tx.customers.with_number("1008")
        account.account_active = True

    await channel.user_says(stranger, "/password")
    await channel.expect(stranger, T("ask_reset_identifier"))
    await channel.user_says(stranger, "nobody@nowhere.example")
    unknown = await channel.expect(stranger, T("reset_neutral"))

    await channel.user_says(user, "/start")
    welcome = await channel.expect(user, T("welcome"))
    assert T("button_forgot_password") in welcome.buttons
    await channel.user_presses(user, T("button_forgot_password"))
    asked = await channel.expect(user, T("ask_reset_identifier"))
    assert asked.buttons == (T("button_cancel"),)
    await channel.user_says(user, "06 1111 2222")
    known = await channel.expect(user, T("reset_neutral"))
    assert (known.text, known.buttons) == (unknown.text, unknown.buttons)

    sms = await env.sms(phone)
    assert sms.from_ == FROM_NUMBER and T("sms_reset", org=ORG.name) in sms.body
    assert "10 minutes" in sms.body
    code = CODE.search(sms.body)
    assert code, sms.body
    customer = await env.customer("1008")
    [stored] = await env.codes_to(phone, CodePurpose.PASSWORD_RESET)
    assert stored.expires_at - stored.created_at == timedelta(minutes=10)
    assert stored.code_hash.startswith(env.hasher.current_key_id + "$")
    assert code[1] not in stored.code_hash and env.code_matches(stored, code[1])
    assert env.smtp.mail.envelopes == [] and len(env.twilio.messages) == 1  # nothing for nobody

    await channel.user_says(user, code[1])
    await channel.expect(user, T("reset_code_accepted"))
    policy = PasswordPolicy.for_organization(customer.organization)
    await channel.expect(user, ask_password_text(policy))
    await channel.user_says(user, "password1")
    refusal = await channel.expect(user, T("password_refused"))
    assert refusal.text == refusal_text(Violation(PasswordRule.COMMON))
    await channel.expect_removed(user)
    passphrase = "zeven zwanen op de singel"
    await channel.user_says(user, passphrase)
    await channel.expect(user, T("password_set"))
    await channel.expect_removed(user)

    [changed] = await env.mails("klant1008@thuis.example")
    assert changed["Subject"] == T("mail_password_changed_subject")
    assert passphrase not in env.text(changed) and "password1" not in env.text(changed)
    customer = await env.customer("1008")
    assert customer.password_hash is not None and customer.password_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(customer.password_hash, passphrase)
    [stored] = await env.codes_to(phone, CodePurpose.PASSWORD_RESET)
    assert stored.used_at is not None
    assert len(await env.audit(AuditAction.RESET_CODE_SENT)) == 1
    assert len(await env.audit(AuditAction.PASSWORD_CHANGED)) == 1
    assert len(env.twilio.messages) == 1


from tests.conformance import (  # noqa: E402
    scenarios_after_login,  # noqa: F401
    scenarios_announce,  # noqa: F401
    scenarios_devices,  # noqa: F401
    scenarios_members,  # noqa: F401
    scenarios_prefs,  # noqa: F401
    scenarios_twostep,  # noqa: F401
)
