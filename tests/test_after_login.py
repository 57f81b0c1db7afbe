"""Issue 13's parts together: pairing a new phone asks for the second factor first, a
portal account's notices reach the members who joined (security notices its holder alone),
and an account under administration hears of its security at the administrator's address."""

from __future__ import annotations

import re

import pytest

from flows import notices
from flows.model import AccountMember
from flows.notices import NoticeKind
from flows.own_account import Owner, OwnerKind, chats_of, of_customer
from tests.support import DeskDriver, said, seed_customers, texts_of
from tests.test_two_step import enrol_by_app, now_code

TENANT = 8601
NEW_PHONE = 8602
MEMBER_CHAT = 8603
TOKEN = re.compile(r"pair_([A-Za-z0-9_-]{32})(?![A-Za-z0-9_-])")


@pytest.fixture
async def tenants(desk: DeskDriver) -> DeskDriver:
    """Customer 1001, active, its holder's chat linked."""
    await seed_customers(desk.store, desk.clock)
    async with desk.store.transaction() as tx:
        row = (await tx.customers.with_number("1001"))[0]
        row.account_active = True
        await tx.portal_chats.link(TENANT, row.id, desk.clock.now())
    return desk


async def _holder(desk: DeskDriver) -> Owner:
    async with desk.store.transaction() as tx:
        return Owner(OwnerKind.CUSTOMER, (await tx.customers.with_number("1001"))[0].id)


async def _pair_link(desk: DeskDriver) -> str:
    found = TOKEN.search(texts_of(await desk.send(TENANT, "/pair")))
    assert found
    return found.group(1)


async def test_pairing_a_new_phone_asks_for_the_second_factor_first(tenants: DeskDriver) -> None:
    secret, _ = await enrol_by_app(tenants, TENANT)
    holder = await _holder(tenants)
    token = await _pair_link(tenants)

    # Whoever holds the link (a photographed QR code) still needs the second factor.
    opened = await tenants.send(NEW_PHONE, f"/start pair_{token}")
    assert said(opened, "second_factor_ask_app"), texts_of(opened)
    async with tenants.store.transaction() as tx:
        assert await chats_of(tx, holder) == [TENANT]
    wrong = await tenants.send(NEW_PHONE, "000000")
    assert said(wrong, "second_factor_wrong", left=4), texts_of(wrong)
    async with tenants.store.transaction() as tx:
        assert await chats_of(tx, holder) == [TENANT]

    paired = await tenants.send(NEW_PHONE, now_code(secret, tenants.clock))
    assert said(paired, "devices_paired", name="Klant 1001", org="BLG Wonen"), texts_of(paired)
    async with tenants.store.transaction() as tx:
        assert await chats_of(tx, holder) == [TENANT, NEW_PHONE]


async def test_a_recovery_code_pairs_a_phone_once(tenants: DeskDriver) -> None:
    _, codes = await enrol_by_app(tenants, TENANT)
    holder = await _holder(tenants)
    token = await _pair_link(tenants)
    await tenants.send(NEW_PHONE, f"/start pair_{token}")
    paired = await tenants.send(NEW_PHONE, codes[1])
    assert said(paired, "devices_paired", name="Klant 1001", org="BLG Wonen"), texts_of(paired)
    async with tenants.store.transaction() as tx:
        assert await chats_of(tx, holder) == [TENANT, NEW_PHONE]
    # The same recovery code pairs nothing more.
    third = 8604
    await tenants.send(third, f"/start pair_{await _pair_link(tenants)}")
    assert said(await tenants.send(third, codes[1]), "second_factor_wrong", left=4)
    async with tenants.store.transaction() as tx:
        assert await chats_of(tx, holder) == [TENANT, NEW_PHONE]


async def test_notices_reach_the_members_who_joined_but_security_stays_the_holders(
    tenants: DeskDriver,
) -> None:
    now = tenants.clock.now()
    async with tenants.store.transaction() as tx:
        customer = (await tx.customers.with_number("1001"))[0]
        joined = await tx.members.add(
            AccountMember(
                customer_id=customer.id,
                name="Second Parent",
                email="ouder2@thuis.example",
                read_only=True,
                created_at=now,
                joined_at=now,
            )
        )
        await tx.members.add(
            AccountMember(
                customer_id=customer.id,
                name="Not Yet",
                email="nogniet@thuis.example",
                read_only=False,
                created_at=now,
            )
        )
        await tx.portal_chats.link(MEMBER_CHAT, customer.id, now, member_id=joined.id)
        holder = of_customer(customer)
        await notices.notify(
            tx, holder, NoticeKind.ANNOUNCEMENTS, lambda texts: "School closed today", now
        )
        await notices.notify(tx, holder, NoticeKind.SECURITY, lambda texts: "New device", now)
    sent = {(m.recipient, m.body) for m in await tenants.outbox()}
    for recipient in (str(TENANT), "klant1001@thuis.example", str(MEMBER_CHAT)):
        assert (recipient, "School closed today") in sent
    assert ("ouder2@thuis.example", "School closed today") in sent
    assert not [r for r, _ in sent if r == "nogniet@thuis.example"]  # not joined yet
    assert {r for r, body in sent if body == "New device"} == {
        str(TENANT),
        "klant1001@thuis.example",
    }


async def test_security_mail_of_an_account_under_administration_goes_to_the_administrator(
    tenants: DeskDriver,
) -> None:
    now = tenants.clock.now()
    async with tenants.store.transaction() as tx:
        tenant = (await tx.customers.with_number("1006"))[0]
        tenant.account_active = True
        await notices.notify(
            tx, of_customer(tenant), NoticeKind.SECURITY, lambda texts: "New device", now
        )
    mails = {m.recipient for m in await tenants.outbox() if m.body == "New device"}
    assert mails == {"bewind@bewind.example"}
