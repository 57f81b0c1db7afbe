"""Seeds 003 and 004, done securely: choosing a password, and resetting a forgotten one."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from flows.buttons import Menu, MenuChoice
from flows.domain import DeliveryChannel, PasswordPolicyName
from flows.events import Outcome
from flows.model import Customer, OneTimeCode
from flows.password_rules import PasswordHasher
from tests.support import DeskDriver, offered, pressed, said, seed_customers, texts_of

USER = 8101
STRANGER = 8102


@pytest.fixture
async def customers(desk: DeskDriver) -> DeskDriver:
    await seed_customers(desk.store, desk.clock)
    async with desk.store.transaction() as tx:
        for number in ("1001", "1008"):
            row = (await tx.customers.with_number(number))[0]
            row.account_active = True
    return desk


async def account(desk: DeskDriver, number: str) -> Customer:
    async with desk.store.transaction() as tx:
        return (await tx.customers.with_number(number))[0]


async def reset(desk: DeskDriver, user: int, identifier: str) -> Outcome:
    await desk.send(user, "/start")
    await desk.press(user, pressed(Menu(MenuChoice.FORGOT_PASSWORD)))
    return await desk.send(user, identifier)


async def last_code(desk: DeskDriver, recipient: str) -> str:
    bodies = [m.body for m in await desk.outbox() if m.recipient == recipient]
    match = re.search(r"\b(\d{6})\b", bodies[-1])
    assert match
    return match.group(1)


async def test_reset_answer_is_the_same_with_or_without_an_account(customers: DeskDriver) -> None:
    known = await reset(customers, USER, "klant1001@thuis.example")
    unknown = await reset(customers, STRANGER, "nobody@nowhere.example")
    inactive = await reset(customers, STRANGER + 1, "klant1002@thuis.example")
    assert known.replies == unknown.replies == inactive.replies
    assert said(known, "reset_neutral")
    mails = await customers.outbox(DeliveryChannel.EMAIL)
    assert [m.recipient for m in mails] == ["klant1001@thuis.example"]
    assert mails[0].sensitive
    # Wrong codes read the same too.
    assert (await customers.send(USER, "123456")).replies == (
        await customers.send(STRANGER, "123456")
    ).replies


async def test_reset_by_email_then_a_new_password(customers: DeskDriver) -> None:
    await reset(customers, USER, "KLANT1001@thuis.example")
    code = await last_code(customers, "klant1001@thuis.example")
    outcome = await customers.send(USER, code)
    assert said(outcome, "reset_code_accepted") and said(outcome, "ask_password")
    weak = await customers.send(USER, "welkom")
    assert weak.delete_message and said(weak, "password_refused")
    assert "too short: 6 characters, at least 8 needed" in texts_of(weak)
    common = await customers.send(USER, "password1")
    assert common.delete_message and "commonly used passwords" in texts_of(common)
    good = await customers.send(USER, "paarse olifant danst op het dak")
    assert good.delete_message and said(good, "password_set")
    row = await account(customers, "1001")
    assert row.password_hash and row.password_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(row.password_hash, "paarse olifant danst op het dak")
    notice = [
        m for m in await customers.outbox(DeliveryChannel.EMAIL) if "changed" in (m.subject or "")
    ]
    assert notice and "paarse" not in notice[0].body
    # The code is single-use.
    await customers.send(USER, "/password")
    await customers.send(USER, "klant1001@thuis.example")
    assert said(await customers.send(USER, code), "reset_code_wrong")


async def test_reset_by_sms_expires_after_ten_minutes(customers: DeskDriver) -> None:
    await reset(customers, USER, "06 1111 2222")
    code = await last_code(customers, "+31611112222")
    async with customers.store.transaction() as tx:
        stored = (await tx.session.scalars(select(OneTimeCode))).one()
        assert (stored.expires_at - stored.created_at).total_seconds() == 600
    customers.clock.advance(minutes=11)
    assert said(await customers.send(USER, code), "reset_code_wrong", left=4)


async def test_email_reset_code_lasts_thirty_minutes(customers: DeskDriver) -> None:
    await reset(customers, USER, "klant1001@thuis.example")
    code = await last_code(customers, "klant1001@thuis.example")
    customers.clock.advance(minutes=29)
    assert said(await customers.send(USER, code), "reset_code_accepted")


async def test_five_wrong_codes_burn_the_code_never_the_account(customers: DeskDriver) -> None:
    await reset(customers, USER, "klant1001@thuis.example")
    code = await last_code(customers, "klant1001@thuis.example")
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        assert said(await customers.send(USER, wrong), "reset_code_wrong", left=left)
    assert said(await customers.send(USER, wrong), "reset_code_used_up")
    async with customers.store.transaction() as tx:
        [row] = (await tx.session.scalars(select(OneTimeCode))).all()
        assert row.burned and row.used_at is None
    customers.clock.advance(minutes=1)
    await reset(customers, USER, "klant1001@thuis.example")
    fresh = await last_code(customers, "klant1001@thuis.example")
    assert said(await customers.send(USER, fresh), "reset_code_accepted")


@pytest.mark.usefixtures("limits_in")
async def test_reset_requests_are_limited_without_telling(customers: DeskDriver) -> None:
    for user in range(9000, 9003):
        await reset(customers, user, "klant1001@thuis.example")
    fourth = await reset(customers, 9003, "klant1001@thuis.example")
    # The account is over its limit: the answer is unchanged, but no fourth mail goes out.
    assert said(fourth, "reset_neutral")
    assert len(await customers.outbox(DeliveryChannel.EMAIL)) == 3
    # The chat's own limit is said out loud: it tells nothing about any account.
    for _ in range(2):
        await reset(customers, 9000, "someone@else.example")
    limited = await reset(customers, 9000, "someone@else.example")
    assert said(limited, "activation_wait")


async def test_seed_presets_name_each_missing_element(customers: DeskDriver) -> None:
    async with customers.store.transaction() as tx:
        organization = await tx.organizations.by_partner_id("BLG-1001")
        assert organization is not None
        organization.password_policy = PasswordPolicyName.UPPER_LOWER_DIGIT_SPECIAL
    await reset(customers, USER, "klant1001@thuis.example")
    outcome = await customers.send(USER, await last_code(customers, "klant1001@thuis.example"))
    assert said(outcome, "password_rules_upper_lower_digit_special", min=8)
    refusal = texts_of(await customers.send(USER, "alleenkleineletters"))
    assert "upper-case letter" in refusal and "digit" in refusal and "!?@#$%^&[]()" in refusal
    assert "lower-case" not in refusal
    assert said(await customers.send(USER, "Veilig#Wachtwoord9"), "password_set")


async def test_cancel_while_choosing_a_password(customers: DeskDriver) -> None:
    await reset(customers, USER, "klant1001@thuis.example")
    await customers.send(USER, await last_code(customers, "klant1001@thuis.example"))
    assert Menu(MenuChoice.CANCEL) in offered(await customers.sticker(USER))
    assert said(await customers.send(USER, "/cancel"), "cancelled")
    assert (await account(customers, "1001")).password_hash is None
