"""Shared accounts end to end (issue 13 point 5): the holder adds a read-only member through
``/members`` with the real aiogram client against the local Bot API server, the member's
mail at aiosmtpd carries the deep link and its QR code (decoded with zxing-cpp), the member
opens it, the holder hears of it, and the member's ``/activate`` is refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bot.settings import Settings
from storage.db import create_engine
from storage.uow import Store
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.smtp_server import SmtpServer
from tests.support import FakeClock, seed_customers
from tests.test_telegram_aiogram import running_bot, settings, telegram  # noqa: F401
from tests.test_telegram_invitations import _decoded_qr, _mail

HOLDER = 8401
MEMBER = 8402
ANNA = "anna@thuis.example"
LINK = re.compile(r"https://t\.me/balie_test_bot\?start=member_[A-Za-z0-9_-]{43}")


async def _holder_of_1001(settings: Settings) -> None:  # noqa: F811
    store = Store(create_engine(settings.database_url))
    try:
        await seed_customers(store, FakeClock())
        async with store.transaction() as tx:
            organization = await tx.organizations.by_partner_id("BLG-1001")
            assert organization is not None
            found = await tx.customers.by_number(organization.id, "1001")
            assert found is not None
            found.account_active = True
            await tx.portal_chats.link(HOLDER, found.id, datetime.now(UTC))
    finally:
        await store.close()


async def test_a_holder_adds_a_read_only_member_who_joins_by_the_mailed_link(
    settings: Settings,  # noqa: F811
    telegram: FakeBotApi,  # noqa: F811
    smtp: SmtpServer,
) -> None:
    await _holder_of_1001(settings)
    async with running_bot(settings):
        telegram.user_sends_text(HOLDER, "/members")
        listing = await telegram.wait_for_message(HOLDER, "Members of your account at BLG Wonen")
        add = listing.callback_data("Add a member")
        telegram.user_presses_button(HOLDER, listing.message_id, add)
        await telegram.wait_for_message(HOLDER, "What is the new member's name?")
        telegram.user_sends_text(HOLDER, "Anna")
        await telegram.wait_for_message(HOLDER, "What is the e-mail address of Anna?")
        telegram.user_sends_text(HOLDER, "klant1001@thuis.example")  # the holder's own
        await telegram.wait_for_message(HOLDER, "This address cannot be used for a member")
        telegram.user_sends_text(HOLDER, ANNA)
        question = await telegram.wait_for_message(HOLDER, "May Anna change things")
        telegram.user_presses_button(
            HOLDER, question.message_id, question.callback_data("Read-only")
        )
        await telegram.wait_for_message(HOLDER, "Anna is added")

        invitation = await _mail(smtp, ANNA, 1)
        body = str(invitation.get_body(("plain",)).get_content())  # type: ignore[union-attr]
        found = LINK.search(body)
        assert found, body
        link = found.group(0)
        assert _decoded_qr(invitation) == [link]
        payload = link.rsplit("=", 1)[1]

        telegram.user_sends_text(MEMBER, f"/start {payload}", first_name="Anna")
        await telegram.wait_for_message(
            MEMBER, "Welcome, Anna. This chat is now linked to the account of Klant 1001"
        )
        await telegram.wait_for_message(HOLDER, "joined your account")

        telegram.user_sends_text(MEMBER, "/activate")
        await telegram.wait_for_message(MEMBER, "Your access to this account is read-only")
        telegram.user_sends_text(MEMBER, "/password")
        await telegram.wait_for_message(MEMBER, "Your access to this account is read-only")
