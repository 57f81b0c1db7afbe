"""Every flow as a script of user and staff turns, written once and run on every channel.

A scenario gets a running :class:`~tests.conformance.harness.Channel` and the
:class:`~tests.conformance.harness.Env` around it. It may use a channel's optional powers
(stickers, shared contacts, forged button data, messages typed while the bot is down) only
after asking ``channel.capabilities``. A new flow gets its scenario here and is then proven
on all channels by ``test_scenarios.py``.

The store is seeded by :func:`tests.support.seed_demo`: BLG Wonen (BLG-1001) with managers
Marieke (chat 5001) and Maarten (5002), desk staff Sanne (5003), and two employees added by
a manager: Eva (eva@kantoor.example) and Piet (06 12345678).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date

from flows.buttons import Decide, encode
from flows.domain import AccountStatus, ConversationState, DeliveryChannel, Language, RequestStatus
from tests.conformance.harness import CODE, Capability, Channel, Env, Seen, T
from tests.support import DemoOrg

ORG = DemoOrg()
MANAGER = ORG.manager_chat
SECOND_MANAGER = ORG.second_manager_chat
DESK_STAFF = ORG.staff_chat
EVA_EMAIL = "eva@kantoor.example"
PIET_PHONE = "+31612345678"
FROM_NUMBER = "+3197010203040"

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
    assert len(await env.audit("registration_approved")) == 1
    assert env.twilio.messages == []

    # The other manager presses Reject on their copy anyway (Telegram: a client that still
    # shows the old buttons; the terminal: the newest buttons it showed in that chat).
    if Capability.FORGED_BUTTONS in channel.capabilities:
        await channel.user_presses_forged(SECOND_MANAGER, encode(Decide(request.id, False)))
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
    assert len(await env.audit("registration_rejected")) == 1
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
    await channel.expect(user, T("help"))
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
        await channel.user_presses_forged(stranger, encode(Decide(request.id, approve=True)))
        await channel.expect_notice(stranger, T("staff_not_allowed"))
        await channel.expect(stranger, T("staff_not_allowed"))

    # A manager taken out of service presses Approve on the card they still have.
    await channel.user_says(MANAGER, "/offboard maarten@blg.example")
    await channel.expect(MANAGER, T("offboard_done", name="Maarten Manager"))
    await channel.user_presses(SECOND_MANAGER, T("button_approve"))
    await channel.expect_notice(SECOND_MANAGER, T("staff_not_allowed"))
    await channel.expect(SECOND_MANAGER, T("staff_not_allowed"))

    [request] = await env.requests()
    assert request.status is RequestStatus.PENDING and request.decided_by_id is None
    refusals = await env.audit("staff_action_refused")
    expected = 4 if Capability.FORGED_BUTTONS in channel.capabilities else 3
    assert len(refusals) == expected + 1, [r.detail for r in refusals]

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
    await channel.expect(user, T("help", nl))
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
    assert len(await env.audit("employee_offboarded")) == 2

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
