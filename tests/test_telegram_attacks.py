"""The verification attacks of the security review, end to end on Telegram.

The counterpart of ``tests/test_attacks.py`` (the pure core): each attack is the attacker's
exact sequence, typed and pressed through the local Bot API server
(:class:`tests.fakes.bot_api.FakeBotApi`) that the real aiogram runtime polls, with mail in
the real SMTP server and SMS in the Twilio stand-in, on a real SQLite file seeded with the
demo organization and its customers (see ``tests/conformance/scenarios.py``).

The attacker has many Telegram accounts and knows every partner ID, customer number,
postcode and address printed on a letter. None of these sequences may link him to someone
else's account, burn someone else's code, or tell known from unknown.
"""

from __future__ import annotations

import re
import string
from collections.abc import AsyncIterator, Callable

import pytest

from bot.settings import Runtime
from flows.domain import AuditAction, Language, RequestKind, RequestStatus
from flows.texts import Texts
from tests.conformance.conftest import env, seeded_store_file  # noqa: F401
from tests.conformance.harness import Env, Seen, T, TelegramDriver
from tests.support import DemoOrg

ORG = DemoOrg()
MANAGER = ORG.manager_chat
MANAGER_EMAIL = "marieke@blg.example"
STRANGER = 6601
STRANGER_EMAIL = "stranger@evil.example"
TENANT = 8001
TENANT_NUMBER = "1001"
TENANT_EMAIL = "klant1001@thuis.example"


@pytest.fixture
async def channel(env: Env) -> AsyncIterator[TelegramDriver]:  # noqa: F811
    """The aiogram runtime, long polling the local Bot API server."""
    driver = TelegramDriver(env, Runtime.AIOGRAM, webhook=False)
    await driver.start()
    try:
        yield driver
    finally:
        await driver.stop()


def anything(seen: Seen) -> bool:
    return True


def whole(key: str, **values: object) -> Callable[[Seen], bool]:
    """A message that is the catalog text ``key`` as a whole: ``values`` filled in, any other
    placeholder standing for any text (for texts that start with one, like "On {when} ...")."""
    pattern = []
    english = Texts(Language.EN).template(key)
    for literal, name, spec, _conversion in string.Formatter().parse(english):
        pattern.append(re.escape(literal))
        if name is not None:
            filled = format(values[name], spec or "") if name in values else None
            pattern.append(".+?" if filled is None else re.escape(filled))
    compiled = re.compile("".join(pattern), re.DOTALL)
    return lambda seen: compiled.search(seen.text) is not None


async def toast(env: Env, query_id: str) -> str:  # noqa: F811
    """The text the bot answered the callback query ``query_id`` with."""
    tg = env.telegram
    await tg.wait_until(lambda: query_id in tg.callback_answers)
    return str(tg.callback_answers[query_id].get("text") or "")


async def start_registration(channel: TelegramDriver, user: int, contact: str) -> None:
    """/register, the demo organization's partner ID, then ``contact``."""
    await channel.user_says(user, "/register")
    await channel.expect(user, T("ask_partner_id"))
    await channel.user_says(user, ORG.partner_id)
    await channel.expect(user, T("ask_contact", org=ORG.name))
    await channel.user_says(user, contact)


async def manager_is_still_manager(channel: TelegramDriver, env: Env) -> None:  # noqa: F811
    manager = await env.person(email=MANAGER_EMAIL)
    linked = await env.linked_person(MANAGER)
    assert linked is not None and linked.id == manager.id
    await channel.user_says(MANAGER, "/pending")
    answer = await channel.expect(
        MANAGER,
        lambda m: (
            T("pending_none") in m.text
            or T("pending_header", org=ORG.name) in m.text
            or T("staff_not_allowed") in m.text
        ),
    )
    assert T("staff_not_allowed") not in answer.text, answer.text


async def ask_activation_code(channel: TelegramDriver, user: int, number: str) -> None:
    """Activation code -> Request a code -> customer number, postcode, house number -> Skip."""
    await channel.user_says(user, "/start")
    await channel.expect(user, T("welcome"))
    await channel.user_presses(user, T("button_activation_code"))
    await channel.expect(user, T("activation_menu"))
    await channel.user_presses(user, T("button_request_code"))
    await channel.expect(user, T("ask_customer_number"))
    await channel.user_says(user, number)
    await channel.expect(user, T("ask_postcode"))
    await channel.user_says(user, "3511 AB")
    await channel.expect(user, T("ask_house_number"))
    await channel.user_says(user, "12a")
    await channel.expect(user, T("ask_activation_email"))
    await channel.user_presses(user, T("button_skip"))
    await channel.expect(user, T("activation_sent_email"))


async def try_code(channel: TelegramDriver, user: int, number: str, code: str) -> Seen:
    """/activate, ``number``, ``code``: the desk's answer to the code."""
    await channel.user_says(user, "/activate")
    await channel.expect(user, T("ask_redeem_customer_number"))
    await channel.user_says(user, number)
    await channel.expect(user, T("ask_activation_code"))
    await channel.user_says(user, code)
    return await channel.expect(user, anything)


async def activate_tenant(channel: TelegramDriver, env: Env, user: int) -> None:  # noqa: F811
    """The tenant of 1001 asks for a code, gets it by mail and redeems it in chat ``user``."""
    await ask_activation_code(channel, user, TENANT_NUMBER)
    code = await env.mail_activation_code(TENANT_EMAIL)
    redeemed = await try_code(channel, user, TENANT_NUMBER, code)
    assert T("account_activated") in redeemed.text, redeemed.text
    await channel.expect(user, T("ask_password"))


# -- 1: takeover by re-registration -------------------------------------------------------------


async def test_takeover_by_re_registration_fails(channel: TelegramDriver, env: Env) -> None:  # noqa: F811
    await start_registration(channel, STRANGER, STRANGER_EMAIL)
    await channel.expect(STRANGER, T("code_sent", destination=STRANGER_EMAIL))
    own_code = await env.mail_code(STRANGER_EMAIL)
    # At the code step "/start" is only a wrong code.
    await channel.user_says(STRANGER, "/start")
    await channel.expect(STRANGER, T("code_not_digits"))
    await channel.user_presses(STRANGER, T("button_cancel"))
    await channel.expect(STRANGER, T("cancelled"))
    await start_registration(channel, STRANGER, MANAGER_EMAIL)
    step = await channel.expect(STRANGER, lambda m: MANAGER_EMAIL in m.text)
    assert T("code_sent", destination=MANAGER_EMAIL) in step.text, step.text
    # His own code, from his own mailbox, for her address.
    await channel.user_says(STRANGER, own_code)
    answer = await channel.expect(STRANGER, anything)
    assert whole("code_wrong")(answer), answer.text

    assert await env.linked_person(STRANGER) is None
    assert await env.requests() == []
    await manager_is_still_manager(channel, env)
    # He is still at the code step, where /pending would be a wrong code; /cancel stays a
    # command there.
    await channel.user_says(STRANGER, "/cancel")
    await channel.expect(STRANGER, T("cancelled"))
    await channel.user_says(STRANGER, "/pending")
    await channel.expect(STRANGER, T("staff_not_allowed"))
    assert await env.linked_person(STRANGER) is None


# -- 2: a manager account relinked from a new chat, with the real code -----------------------


async def test_manager_account_from_a_new_chat_needs_another_manager(
    channel: TelegramDriver,
    env: Env,  # noqa: F811
) -> None:
    await start_registration(channel, STRANGER, MANAGER_EMAIL)
    await channel.expect(STRANGER, T("code_sent", destination=MANAGER_EMAIL))
    # He reads her mailbox.
    await channel.user_says(STRANGER, await env.mail_code(MANAGER_EMAIL))
    await channel.expect(STRANGER, T("chat_link_needs_approval", org=ORG.name))
    # The real manager is warned in her chat.
    await channel.expect(MANAGER, whole("chat_link_asked_notice", org=ORG.name))

    assert await env.linked_person(STRANGER) is None
    [request] = await env.requests()
    assert request.kind is RequestKind.CHAT_LINK and request.status is RequestStatus.PENDING
    await manager_is_still_manager(channel, env)
    await channel.user_says(STRANGER, "/pending")
    await channel.expect(STRANGER, T("staff_not_allowed"))


# -- 3: nobody burns another's activation code, and no answer tells ---------------------------


async def test_strangers_cannot_burn_an_activation_code(channel: TelegramDriver, env: Env) -> None:  # noqa: F811
    await ask_activation_code(channel, TENANT, TENANT_NUMBER)
    code = await env.mail_activation_code(TENANT_EMAIL)

    answers: list[str] = []
    for stranger in (STRANGER, STRANGER + 1, STRANGER + 2):
        # "x" is malformed: it is explained and the code step stays, so the next code is
        # typed right after it; each further code starts again with /activate.
        malformed = await try_code(channel, stranger, TENANT_NUMBER, "x")
        assert malformed.text == T("activation_code_malformed")
        await channel.user_says(stranger, "AAAA-BBBB-CCCC")
        answers.append((await channel.expect(stranger, anything)).text)
        for typed in ("2222-3333-4444", "ZZZZ-ZZZZ-ZZZZ", "ABCD-EFGH-JKMN"):
            answers.append((await try_code(channel, stranger, TENANT_NUMBER, typed)).text)
    unknown = (await try_code(channel, STRANGER + 3, "999999", "AAAA-BBBB-CCCC")).text
    # Every answer to a well-formed code is the one for a customer number that does not exist.
    assert set(answers) == {unknown}, set(answers)
    assert unknown == T("activation_code_wrong")

    redeemed = await try_code(channel, TENANT, TENANT_NUMBER, code)
    assert T("account_activated") in redeemed.text, redeemed.text
    await channel.expect(TENANT, T("ask_password"))
    customer = await env.customer(TENANT_NUMBER)
    assert customer.account_active and await env.customer_chats(TENANT_NUMBER) == [TENANT]


# -- 4: no SMS to a country the desk does not serve -------------------------------------------


async def test_no_sms_to_a_foreign_number(channel: TelegramDriver, env: Env) -> None:  # noqa: F811
    await start_registration(channel, STRANGER, "+234 803 123 4567")
    await channel.expect(STRANGER, T("contact_country_not_served"))
    # The next step is still the address: the e-mail address he is asked for gets the code.
    await channel.user_says(STRANGER, STRANGER_EMAIL)
    await channel.expect(STRANGER, T("code_sent", destination=STRANGER_EMAIL))
    assert env.twilio.messages == []


# -- 5: partner IDs cannot be guessed ---------------------------------------------------------


async def test_partner_ids_cannot_be_guessed(channel: TelegramDriver, env: Env) -> None:  # noqa: F811
    await channel.user_says(STRANGER, "/register")
    await channel.expect(STRANGER, T("ask_partner_id"))
    for guess in range(5):
        partner_id = f"BLG-{guess:04}"
        await channel.user_says(STRANGER, partner_id)
        await channel.expect(STRANGER, T("partner_id_unknown", partner_id=partner_id))
    await channel.user_says(STRANGER, ORG.partner_id)
    answer = await channel.expect(STRANGER, anything)
    assert whole("partner_id_wait")(answer), answer.text
    assert re.search(r"try again in \d+ minutes", answer.text), answer.text
    assert ORG.name not in answer.text and ORG.partner_id not in answer.text
    conversation = await env.conversation(STRANGER)
    assert conversation is not None and conversation.state.value != "register_contact"


# -- 6: tampered callback data ----------------------------------------------------------------


async def test_tampered_button_data_decides_nothing(channel: TelegramDriver, env: Env) -> None:  # noqa: F811
    # Eva is on the list; Jan is not, so he is asked for his name.
    for number, user, email, name in (
        (1, 7004, "eva@kantoor.example", ""),
        (2, 7005, "jan@kantoor.example", "Jan Jansen"),
    ):
        await start_registration(channel, user, email)
        await channel.expect(user, T("code_sent", destination=email))
        await channel.user_says(user, await env.mail_code(email))
        if name:
            await channel.expect(user, T("ask_name"))
            await channel.user_says(user, name)
        await channel.expect(user, T("request_created", number=number, org=ORG.name))
    first = await channel.expect(MANAGER, T("staff_new_request", number=1, org=ORG.name))
    await channel.expect(MANAGER, T("staff_new_request", number=2, org=ORG.name))

    # Request 2's Approve data, as signed for her chat, with its signature altered, pressed on
    # the card of request 1.
    genuine = await env.card_button(MANAGER, T("button_approve"))
    assert genuine.startswith("d:2:a:"), genuine
    last = genuine[-1]
    forged = genuine[:-1] + ("B" if last != "B" else "C")
    update = env.telegram.user_presses_button(MANAGER, first.message_id, forged, force=True)
    assert await toast(env, update["callback_query"]["id"]) == T("stale_button")

    requests = await env.requests()
    assert [r.status for r in requests] == [RequestStatus.PENDING, RequestStatus.PENDING]
    assert all(r.decided_by_id is None for r in requests)
    tampered = await env.audit(AuditAction.TAMPERED_BUTTON)
    assert [entry.detail["data"] for entry in tampered] == [forged]


# -- 7: a password starting with "/" is a password --------------------------------------------


async def test_a_password_starting_with_a_slash_is_a_password(
    channel: TelegramDriver,
    env: Env,  # noqa: F811
) -> None:
    await activate_tenant(channel, env, TENANT)
    await channel.user_says(TENANT, "/Zomer 2026 is lang")
    await channel.expect(TENANT, T("password_set"))
    await channel.expect_removed(TENANT)
    customer = await env.customer(TENANT_NUMBER)
    assert customer.password_hash is not None


# -- 8: activating an active account from a second Telegram user ------------------------------


async def test_activation_elsewhere_tells_the_old_chat_and_undo_relinks_it(
    channel: TelegramDriver,
    env: Env,  # noqa: F811
) -> None:
    await activate_tenant(channel, env, TENANT)
    await channel.user_says(TENANT, "een lange zin als wachtwoord")
    await channel.expect(TENANT, T("password_set"))

    # A second code, asked for with the letter's details, redeemed in another chat.
    await ask_activation_code(channel, STRANGER, TENANT_NUMBER)
    mails = await env.mails(TENANT_EMAIL, count=3)
    second = await env.mail_activation_code(TENANT_EMAIL, count=len(mails))
    redeemed = await try_code(channel, STRANGER, TENANT_NUMBER, second)
    assert T("account_activated") in redeemed.text, redeemed.text
    assert await env.customer_chats(TENANT_NUMBER) == [STRANGER]

    notice = await channel.expect(TENANT, whole("chat_linked_notice", org=ORG.name))
    assert notice.buttons == (T("button_undo_link"),)
    await channel.user_presses(TENANT, T("button_undo_link"))
    await channel.expect(TENANT, T("link_undone"))
    await channel.expect(STRANGER, T("link_undone_other"))
    assert await env.customer_chats(TENANT_NUMBER) == [TENANT]
    assert await env.audit(AuditAction.CHAT_LINK_UNDONE)


# -- found on the way: a button press and the message right after it (fixed) -------------------


async def test_a_press_and_the_next_message_are_handled_in_order(
    channel: TelegramDriver,
    env: Env,  # noqa: F811
) -> None:
    await start_registration(channel, STRANGER, STRANGER_EMAIL)
    await channel.expect(STRANGER, T("code_sent", destination=STRANGER_EMAIL))
    # Cancel, and /register at once (one getUpdates batch), without waiting for "Stopped".
    await channel.user_presses(STRANGER, T("button_cancel"))
    await channel.user_says(STRANGER, "/register")
    await channel.expect(STRANGER, T("cancelled"))
    # Seen: "The code is 6 digits" (/register read as a wrong code at the code step), and
    # only then "Stopped"; expected: "Stopped", then step 1 of a new registration.
    await channel.expect(STRANGER, T("ask_partner_id"), timeout=2)


# -- seed 002 on every path, and staff powers ----------------------------------------------------


async def test_a_blocked_tenant_gets_no_reset_code(channel: TelegramDriver, env: Env) -> None:  # noqa: F811
    async with env.store.transaction() as tx:
        for number in ("1001", "1007"):  # 1007 is blocked
            [account] = await tx.customers.with_number(number)
            account.account_active = True
    for user, address in ((TENANT, TENANT_EMAIL), (STRANGER, "klant1007@thuis.example")):
        await channel.user_says(user, "/password")
        await channel.expect(user, T("ask_reset_identifier"))
        await channel.user_says(user, address)
        await channel.expect(user, T("reset_neutral"))
    await env.mails(TENANT_EMAIL)  # the worker ran: the tenant's code arrived ...
    assert env.smtp.mail.messages_to("klant1007@thuis.example") == []  # ... the blocked one none
    assert await env.audit(AuditAction.RESET_REFUSED_BLOCKED)


async def test_under_administration_the_reset_goes_to_the_administrator(
    channel: TelegramDriver,
    env: Env,  # noqa: F811
) -> None:
    administrator, tenant_email = "bewind@bewind.example", "klant1006@thuis.example"
    async with env.store.transaction() as tx:
        [account] = await tx.customers.with_number("1006")
        account.account_active = True
    await channel.user_says(TENANT, "/password")
    await channel.expect(TENANT, T("ask_reset_identifier"))
    await channel.user_says(TENANT, tenant_email)
    await channel.expect(TENANT, T("reset_neutral"))
    code = await env.mail_code(administrator)
    await channel.user_says(TENANT, code)
    await channel.expect(TENANT, T("reset_code_accepted"))
    await channel.user_says(TENANT, "een lange zin als nieuw wachtwoord")
    await channel.expect(TENANT, T("password_set"))
    changed = await env.mails(administrator, count=2)
    assert changed[1]["Subject"] == T("mail_password_changed_subject")
    assert env.smtp.mail.messages_to(tenant_email) == []


async def test_a_manager_cannot_offboard_another_manager_alone(
    channel: TelegramDriver,
    env: Env,  # noqa: F811
) -> None:
    await channel.user_says(MANAGER, "/offboard maarten@blg.example 2026-12-01")
    await channel.expect(
        MANAGER, lambda m: "needs a second manager" in m.text and "Maarten" in m.text
    )
    maarten = await env.person(email="maarten@blg.example")
    assert maarten.out_of_service_on is None
