"""Issue 13 point 1 (seed 003 "2-staps verificatie", "herstelcode"), done securely: two-step
verification by SMS or an authenticator app, recovery codes, step-up before a password reset,
turning it off and new codes, and staff required to use it."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pyotp
import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from flows import accounts, qr, totp
from flows.domain import AuditAction, CodePurpose, ConversationState, DeliveryChannel, Language
from flows.events import Outcome
from flows.model import AuditEntry, OneTimeCode, RecoveryCode, SecondFactor
from flows.own_account import Owner, OwnerKind
from flows.texts import Texts
from tests.support import DeskDriver, FakeClock, said, seed_customers, texts_of

TENANT = 8201
TENANT_TABLET = 8202
STRANGER = 8209
STAFF = 5003
EN = Texts(Language.EN)
"""Sanne Staff of the demo organization (no mobile number on file)."""


@pytest.fixture
async def tenants(desk: DeskDriver) -> DeskDriver:
    """Customers 1001 (e-mail only) and 1008 (with a mobile number), active, each with a
    linked chat; 1001 also with a tablet."""
    await seed_customers(desk.store, desk.clock)
    async with desk.store.transaction() as tx:
        for number, chats in (("1001", (TENANT, TENANT_TABLET)), ("1008", (TENANT + 10,))):
            row = (await tx.customers.with_number(number))[0]
            row.account_active = True
            for chat in chats:
                await tx.portal_chats.link(chat, row.id, desk.clock.now())
    return desk


def button(outcome: Outcome, label: str) -> str:
    for reply in outcome.replies:
        for row in reply.buttons:
            for pressed in row:
                if pressed.label == label:
                    return pressed.data
    raise AssertionError(f"no button {label!r} in {texts_of(outcome)!r}")


def now_code(secret: str, clock: FakeClock, steps: int = 0) -> str:
    return totp.code_at(secret, totp.step_at(clock.now()) + steps)


def recovery_codes_in(outcome: Outcome) -> list[str]:
    return re.findall(r"\b[A-Z2-9]{5}-[A-Z2-9]{5}\b", texts_of(outcome))


async def owner_of(desk: DeskDriver, number: str) -> str:
    async with desk.store.transaction() as tx:
        row = (await tx.customers.with_number(number))[0]
        return Owner(OwnerKind.CUSTOMER, row.id).key


async def factor_of(desk: DeskDriver, owner_key: str) -> SecondFactor | None:
    async with desk.store.transaction() as tx:
        return await tx.two_step.factor(owner_key)


async def enrol_by_app(desk: DeskDriver, chat: int) -> tuple[str, list[str]]:
    """Two-step on by app for ``chat``'s account; (the secret, the recovery codes)."""
    status = await desk.send(chat, "/security")
    scan = await desk.press(chat, button(status, "Turn on: authenticator app"))
    uri = next(reply.qr for reply in scan.replies if reply.qr)
    secret = pyotp.parse_uri(uri).secret
    shown = await desk.send(chat, now_code(secret, desk.clock))
    codes = recovery_codes_in(shown)
    assert said(await desk.send(chat, codes[0]), "two_step_on")
    desk.clock.advance(seconds=30)  # the next code is of a new step
    return secret, codes


async def test_totp_accepts_the_previous_and_next_window_only_and_never_twice() -> None:
    secret = totp.new_secret()
    clock = FakeClock()
    now = clock.now()
    step = totp.step_at(now)
    for offset in (-1, 0, 1):
        assert totp.accepted_step(secret, now_code(secret, clock, offset), now, None) == (
            step + offset
        )
    for offset in (-3, -2, 2):
        assert totp.accepted_step(secret, now_code(secret, clock, offset), now, None) is None
    # A code once accepted (step) never again, nor one of an older step.
    assert totp.accepted_step(secret, now_code(secret, clock), now, step) is None
    assert totp.accepted_step(secret, now_code(secret, clock, -1), now, step) is None
    assert totp.accepted_step(secret, now_code(secret, clock, 1), now, step) == step + 1


async def test_enrolment_by_app_shows_a_qr_of_the_otpauth_uri_and_needs_a_recovery_code(
    tenants: DeskDriver,
) -> None:
    owner = await owner_of(tenants, "1001")
    status = await tenants.send(TENANT, "/security")
    assert said(status, "two_step_status_off")
    scan = await tenants.press(TENANT, button(status, "Turn on: authenticator app"))
    uri = next(reply.qr for reply in scan.replies if reply.qr)
    assert uri.startswith("otpauth://totp/") and "issuer=BLG%20Wonen" in uri
    decoded = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.png(uri))))]
    assert decoded == [uri]
    secret = pyotp.parse_uri(uri).secret
    assert totp.grouped_secret(secret) in texts_of(scan)
    async with tenants.store.transaction() as tx:
        stored = (await tx.session.scalars(select(SecondFactor))).all()
        assert [row.totp_secret.startswith("sealed:v1:") for row in stored] == [True]
        assert secret not in str(stored[0].totp_secret)
    wrong = await tenants.send(
        TENANT, "000000" if now_code(secret, tenants.clock) != "000000" else "111111"
    )
    assert wrong.delete_message and said(wrong, "second_factor_wrong", left=4)
    shown = await tenants.send(TENANT, now_code(secret, tenants.clock))
    assert shown.delete_message and said(shown, "two_step_recovery_type_one")
    codes = recovery_codes_in(shown)
    assert len(codes) == len(set(codes)) == 10
    # Not on before a recovery code is typed back.
    assert await factor_of(tenants, owner) is None
    assert said(await tenants.send(TENANT, "AAAAA-BBBBB"), "two_step_recovery_not_one")
    assert await factor_of(tenants, owner) is None
    done = await tenants.send(TENANT, codes[3].lower().replace("-", " "))
    assert done.delete_message and said(done, "two_step_on")
    factor = await factor_of(tenants, owner)
    assert factor is not None and factor.method == "totp" and factor.confirmed_at
    async with tenants.store.transaction() as tx:
        hashes = [row.code_hash for row in (await tx.session.scalars(select(RecoveryCode))).all()]
    assert len(hashes) == 10 and not any(
        code.replace("-", "") in h for code in codes for h in hashes
    )
    # The other chat (the tablet) and the e-mail address hear of it; this chat does not.
    notices = [m for m in await tenants.outbox() if "turned on" in m.body]
    assert sorted(m.recipient for m in notices) == sorted(
        [str(TENANT_TABLET), "klant1001@thuis.example"]
    )
    assert said(await tenants.send(TENANT, "/security"), "two_step_status_on", left=10)


async def test_enrolment_by_sms_to_the_number_on_file(tenants: DeskDriver) -> None:
    chat = TENANT + 10
    status = await tenants.send(chat, "/security")
    sent = await tenants.press(chat, button(status, "Turn on: code by text message"))
    assert said(sent, "two_step_sms_sent")
    sms = await tenants.outbox(DeliveryChannel.SMS)
    assert [m.recipient for m in sms] == ["+31611112222"] and sms[0].sensitive
    shown = await tenants.send(chat, await tenants.last_code("+31611112222"))
    codes = recovery_codes_in(shown)
    assert said(await tenants.send(chat, codes[0]), "two_step_on")
    factor = await factor_of(tenants, await owner_of(tenants, "1008"))
    assert factor is not None and factor.method == "sms" and factor.phone == "+31611112222"


async def test_enrolment_by_sms_asks_for_a_number_and_proves_it_by_the_code(
    desk: DeskDriver,
) -> None:
    status = await desk.send(STAFF, "/security")
    asked = await desk.press(STAFF, button(status, "Turn on: code by text message"))
    assert said(asked, "two_step_ask_phone")
    assert said(await desk.send(STAFF, "hello"), "two_step_phone_invalid")
    assert said(await desk.send(STAFF, "06 12345678"), "two_step_sms_sent")
    shown = await desk.send(STAFF, await desk.last_code("+31612345678"))
    assert said(await desk.send(STAFF, recovery_codes_in(shown)[0]), "two_step_on")
    factor = await factor_of(desk, "p3")
    assert factor is not None and factor.phone == "+31612345678"


async def test_a_recovery_code_works_once_says_how_many_are_left_and_new_ones_void_the_old(
    tenants: DeskDriver,
) -> None:
    _, codes = await enrol_by_app(tenants, TENANT)
    status = await tenants.send(TENANT, "/security")
    asked = await tenants.press(TENANT, button(status, "New recovery codes"))
    assert said(asked, "second_factor_ask_app")
    renewed = await tenants.send(TENANT, codes[5])
    assert renewed.delete_message and said(renewed, "second_factor_recovery_left", left=9)
    assert said(renewed, "two_step_new_codes_done")
    new_codes = recovery_codes_in(renewed)
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)
    used = [m for m in await tenants.outbox() if "recovery code of your account" in m.body]
    assert {m.recipient for m in used} == {str(TENANT_TABLET), "klant1001@thuis.example"}
    # The used code, and every other old one, no longer work.
    for old in (codes[5], codes[6]):
        status = await tenants.send(TENANT, "/security")
        await tenants.press(TENANT, button(status, "New recovery codes"))
        assert said(await tenants.send(TENANT, old), "second_factor_wrong")
        await tenants.send(TENANT, "/cancel")
    status = await tenants.send(TENANT, "/security")
    await tenants.press(TENANT, button(status, "New recovery codes"))
    assert said(await tenants.send(TENANT, new_codes[0]), "second_factor_recovery_left", left=9)


async def test_the_codes_can_be_hidden_from_the_chat_once_written_down(
    tenants: DeskDriver,
) -> None:
    """A chat on a lost phone should hold no way past the second factor: the codes' message
    is edited into a line that holds none of them, at enrolment and for new codes."""
    status = await tenants.send(TENANT, "/security")
    scan = await tenants.press(TENANT, button(status, "Turn on: authenticator app"))
    secret = pyotp.parse_uri(next(reply.qr for reply in scan.replies if reply.qr)).secret
    shown = await tenants.send(TENANT, now_code(secret, tenants.clock))
    codes = recovery_codes_in(shown)
    hide = button(shown, "Written down: hide the codes")
    # Signed for this chat: the same data pressed in another chat hides nothing.
    copied = await tenants.press(STRANGER, hide)
    assert copied.edit_pressed is None and said(copied, "stale_button")
    hidden = await tenants.press(TENANT, hide)
    assert not hidden.replies and hidden.edit_pressed is not None
    assert hidden.edit_pressed.text == EN("two_step_recovery_codes_hidden")
    assert not hidden.edit_pressed.buttons and not recovery_codes_in(
        Outcome(replies=[hidden.edit_pressed])
    )
    # The enrolment goes on where it was: a code typed back turns two-step on.
    assert said(await tenants.send(TENANT, codes[2]), "two_step_on")
    tenants.clock.advance(seconds=30)
    status = await tenants.send(TENANT, "/security")
    await tenants.press(TENANT, button(status, "New recovery codes"))
    renewed = await tenants.send(TENANT, now_code(secret, tenants.clock))
    again = await tenants.press(TENANT, button(renewed, "Written down: hide the codes"))
    assert again.edit_pressed is not None
    assert again.edit_pressed.text == EN("two_step_recovery_codes_hidden")
    # Hiding changes no code: a new one still works, an old one does not.
    tenants.clock.advance(seconds=30)
    status = await tenants.send(TENANT, "/security")
    await tenants.press(TENANT, button(status, "New recovery codes"))
    assert said(await tenants.send(TENANT, codes[4]), "second_factor_wrong")
    await tenants.send(TENANT, "/cancel")
    status = await tenants.send(TENANT, "/security")
    await tenants.press(TENANT, button(status, "New recovery codes"))
    fresh = recovery_codes_in(renewed)[0]
    assert said(await tenants.send(TENANT, fresh), "second_factor_recovery_left", left=9)


async def test_turning_it_off_needs_the_second_factor(tenants: DeskDriver) -> None:
    secret, _ = await enrol_by_app(tenants, TENANT)
    owner = await owner_of(tenants, "1001")
    status = await tenants.send(TENANT, "/security")
    asked = await tenants.press(TENANT, button(status, "Turn two-step verification off"))
    assert said(asked, "second_factor_ask_app")
    assert said(await tenants.send(TENANT, "/cancel"), "cancelled")
    assert await factor_of(tenants, owner) is not None
    status = await tenants.send(TENANT, "/security")
    await tenants.press(TENANT, button(status, "Turn two-step verification off"))
    off = await tenants.send(TENANT, now_code(secret, tenants.clock))
    assert said(off, "two_step_off")
    assert await factor_of(tenants, owner) is None
    async with tenants.store.transaction() as tx:
        assert not (await tx.session.scalars(select(RecoveryCode))).all()
        actions = [e.action for e in (await tx.session.scalars(select(AuditEntry))).all()]
    assert AuditAction.TWO_STEP_ENABLED in actions and AuditAction.TWO_STEP_DISABLED in actions


async def test_an_app_code_is_never_accepted_twice(tenants: DeskDriver) -> None:
    secret, _ = await enrol_by_app(tenants, TENANT)
    code = now_code(secret, tenants.clock)
    status = await tenants.send(TENANT, "/security")
    await tenants.press(TENANT, button(status, "New recovery codes"))
    assert said(await tenants.send(TENANT, code), "two_step_new_codes_done")
    status = await tenants.send(TENANT, "/security")
    await tenants.press(TENANT, button(status, "New recovery codes"))
    assert said(await tenants.send(TENANT, code), "second_factor_wrong")  # replayed
    # An older step's code neither, a code of the next window yes.
    assert said(
        await tenants.send(TENANT, now_code(secret, tenants.clock, -1)), "second_factor_wrong"
    )
    assert said(
        await tenants.send(TENANT, now_code(secret, tenants.clock, 1)), "two_step_new_codes_done"
    )


async def reset_to_code(desk: DeskDriver, chat: int, email: str) -> Outcome:
    await desk.send(chat, "/password")
    before = await desk.send(chat, email)
    assert said(before, "reset_neutral")
    return await desk.send(chat, await desk.last_code(email))


async def test_a_reset_with_two_step_on_asks_for_it_before_the_password(
    tenants: DeskDriver,
) -> None:
    secret, codes = await enrol_by_app(tenants, TENANT)
    # Someone who proved the address but lacks the second factor gets no password step.
    asked = await reset_to_code(tenants, STRANGER, "klant1001@thuis.example")
    assert said(asked, "reset_code_accepted") and said(asked, "second_factor_ask_app")
    assert not said(asked, "ask_password")
    for _ in range(4):
        wrong = await tenants.send(STRANGER, "Paarse olifant 2026!")
        assert said(wrong, "second_factor_wrong") and not said(wrong, "password_set")
    assert said(await tenants.send(STRANGER, "123456"), "second_factor_used_up")
    assert said(await tenants.send(STRANGER, "Paarse olifant 2026!"), "choose_a_button")
    async with tenants.store.transaction() as tx:
        assert (await tx.customers.with_number("1001"))[0].password_hash is None
    # With the app's code: the password comes next.
    asked = await reset_to_code(tenants, TENANT, "klant1001@thuis.example")
    assert said(asked, "second_factor_ask_app")
    ok = await tenants.send(TENANT, now_code(secret, tenants.clock))
    assert ok.delete_message and said(ok, "ask_password")
    assert said(await tenants.send(TENANT, "paarse olifant danst op het dak"), "password_set")
    # With a recovery code (burned; one fewer left).
    tenants.clock.advance(hours=1)
    asked = await reset_to_code(tenants, TENANT_TABLET, "klant1001@thuis.example")
    ok = await tenants.send(TENANT_TABLET, codes[1])
    assert said(ok, "second_factor_recovery_left", left=9) and said(ok, "ask_password")


async def test_before_the_address_is_proved_nothing_tells_whether_two_step_is_on(
    tenants: DeskDriver,
) -> None:
    await enrol_by_app(tenants, TENANT)
    answers = []
    for chat, email in ((STRANGER, "klant1001@thuis.example"), (STRANGER + 1, "x@nowhere.example")):
        await tenants.send(chat, "/password")
        neutral = await tenants.send(chat, email)
        wrong = await tenants.send(chat, "999999")
        answers.append((neutral.replies, wrong.replies))
    assert answers[0] == answers[1]


async def test_a_stranger_cannot_see_or_change_someone_elses_two_step(tenants: DeskDriver) -> None:
    await enrol_by_app(tenants, TENANT)
    owner = await owner_of(tenants, "1001")
    assert said(await tenants.send(STRANGER, "/security"), "two_step_link_first")
    status = await tenants.send(TENANT, "/security")
    stolen = button(status, "Turn two-step verification off")
    # The victim's button pressed in the attacker's own (linked or not) chat does nothing.
    for chat in (STRANGER, TENANT + 10):
        pressed = await tenants.press(chat, stolen)
        assert said(pressed, "stale_button")
        assert not said(pressed, "second_factor_ask_app")
    # Data changed to name the victim's account but signed for the attacker's chat: no.
    own = button(await tenants.send(TENANT + 10, "/security"), "Turn on: authenticator app")
    forged = own.replace(own.split(":")[1], owner)
    assert said(await tenants.press(TENANT + 10, forged), "stale_button")
    assert await factor_of(tenants, owner) is not None


async def test_wrong_second_factors_are_limited(tenants: DeskDriver) -> None:
    secret, _ = await enrol_by_app(tenants, TENANT)
    status = await tenants.send(TENANT, "/security")
    off = button(status, "Turn two-step verification off")
    await tenants.press(TENANT, off)
    # Each wrong code gets the same words, whatever it looks like: a recovery code, digits,
    # anything else.
    for guess, left in (("ABCDE-FGHJK", 4), ("123456", 3), ("hello", 2), ("999999", 1)):
        wrong = await tenants.send(TENANT, guess)
        assert wrong.delete_message and wrong.replies[0].text == texts_of(wrong)
        assert said(wrong, "second_factor_wrong", left=left)
    assert said(await tenants.send(TENANT, "ZZZZZ-ZZZZZ"), "second_factor_used_up")
    assert said(await tenants.send(TENANT, "/security"), "two_step_status_on")
    status = await tenants.send(TENANT, "/security")
    await tenants.press(TENANT, button(status, "Turn two-step verification off"))
    # Five wrong in the hour: even the right code is not taken now.
    locked = await tenants.send(TENANT, now_code(secret, tenants.clock))
    assert said(locked, "second_factor_locked")
    assert await factor_of(tenants, await owner_of(tenants, "1001")) is not None


async def test_staff_required_to_use_two_step(desk: DeskDriver) -> None:
    async with desk.store.transaction() as tx:
        await accounts.configure_organization(
            tx, "BLG-1001", desk.clock.now(), require_two_step="staff"
        )
    refused = await desk.send(STAFF, "/codes")
    assert said(refused, "two_step_required_staff") and not said(refused, "codes_none")
    assert said(await desk.send(STAFF, "/help"), "command_security_help")  # not a staff command
    secret, _ = await enrol_by_app(desk, STAFF)
    assert said(await desk.send(STAFF, "/codes"), "codes_none")  # just proved it
    desk.clock.advance(hours=11)
    assert said(await desk.send(STAFF, "/codes"), "codes_none")  # busy: not idle
    desk.clock.advance(hours=12, seconds=1)
    asked = await desk.send(STAFF, "/codes")
    assert said(asked, "second_factor_ask_app") and not said(asked, "codes_none")
    ran = await desk.send(STAFF, now_code(secret, desk.clock))
    assert said(ran, "codes_none")
    async with desk.store.transaction() as tx:
        conversation = await tx.conversations.load(STAFF, desk.clock.now())
        assert conversation.state is ConversationState.IDLE
        actions = [e.action for e in (await tx.session.scalars(select(AuditEntry))).all()]
    assert AuditAction.TWO_STEP_REQUIRED in actions


async def test_an_sms_step_up_code_is_bound_to_the_chat_and_expires(tenants: DeskDriver) -> None:
    chat = TENANT + 10
    status = await tenants.send(chat, "/security")
    await tenants.press(chat, button(status, "Turn on: code by text message"))
    shown = await tenants.send(chat, await tenants.last_code("+31611112222"))
    await tenants.send(chat, recovery_codes_in(shown)[0])
    status = await tenants.send(chat, "/security")
    asked = await tenants.press(chat, button(status, "New recovery codes"))
    assert said(asked, "second_factor_ask_sms")
    code = await tenants.last_code("+31611112222")
    tenants.clock.advance(minutes=11)
    assert said(await tenants.send(chat, code), "second_factor_wrong")
    async with tenants.store.transaction() as tx:
        rows = (
            await tx.session.scalars(
                select(OneTimeCode).where(OneTimeCode.purpose == CodePurpose.TWO_STEP)
            )
        ).all()
    assert rows and all(row.destination == "+31611112222" for row in rows)
    assert timedelta(minutes=10) == rows[-1].expires_at - rows[-1].created_at
