"""Issue 13's urgent notice end to end: desk staff walk ``/announce`` through the real
aiogram client against the local Bot API server; the notice reaches the customer's chat and
their mailbox (aiosmtpd) through the paced outbox, and the worker's notice tick tells the
sender "delivered 2, failed 0"."""

from __future__ import annotations

import asyncio

from bot.settings import Settings
from storage.db import create_engine
from storage.uow import Store
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.smtp_server import SmtpServer
from tests.support import START, customer
from tests.test_telegram_aiogram import running_bot, settings, telegram  # noqa: F401

STAFF = 5003
CUSTOMER_CHAT = 8401
CUSTOMER_EMAIL = "klant3001@thuis.example"
NOTICE = "Storing: vandaag geen warm water in de Dorpsstraat."


async def _activated_customer(settings: Settings) -> None:  # noqa: F811
    store = Store(create_engine(settings.database_url))
    try:
        async with store.transaction() as tx:
            org = await tx.organizations.by_partner_id("BLG-1001")
            assert org is not None
            row = await tx.customers.add(
                customer(org.id, "3001", START, account_active=True, email=CUSTOMER_EMAIL)
            )
            await tx.portal_chats.link(CUSTOMER_CHAT, row.id, START)
    finally:
        await store.close()


async def test_an_urgent_notice_reaches_the_customers_chat_and_mail_and_the_sender_hears(
    settings: Settings,  # noqa: F811
    telegram: FakeBotApi,  # noqa: F811
    smtp: SmtpServer,
) -> None:
    await _activated_customer(settings)
    quick = settings.model_copy(update={"notice_tick_seconds": 0.2})
    async with running_bot(quick):
        telegram.user_sends_text(STAFF, "/announce", first_name="Sanne")
        asked = await telegram.wait_for_message(STAFF, "Who is it for?")
        telegram.user_presses_button(STAFF, asked.message_id, asked.callback_data("All customers"))
        urgency = await telegram.wait_for_message(STAFF, "Urgent (sent now)")
        telegram.user_presses_button(STAFF, urgency.message_id, urgency.callback_data("Urgent"))
        await telegram.wait_for_message(STAFF, "Type the notice")
        telegram.user_sends_text(STAFF, NOTICE)
        preview = await telegram.wait_for_message(STAFF, "(1 recipients)")
        assert NOTICE in preview.text
        telegram.user_presses_button(STAFF, preview.message_id, preview.callback_data("Confirm"))
        await telegram.wait_for_message(STAFF, "Notice #1 is on its way to 1 recipients")

        arrived = await telegram.wait_for_message(CUSTOMER_CHAT, "Urgent notice from BLG Wonen")
        assert NOTICE in arrived.text
        for _ in range(200):
            if smtp.mail.messages_to(CUSTOMER_EMAIL):
                break
            await asyncio.sleep(0.05)
        [mail] = smtp.mail.messages_to(CUSTOMER_EMAIL)
        assert mail["Subject"] == "BLG Wonen: urgent notice"
        assert NOTICE in str(mail.get_content())

        await telegram.wait_for_message(STAFF, "Notice #1: delivered 2, failed 0.", timeout=15.0)
