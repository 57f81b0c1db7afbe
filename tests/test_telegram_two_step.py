"""Issue 13 point 1 on Telegram, end to end: the real aiogram client against the local Bot
API server, e-mail in aiosmtpd and SMS in the Twilio stand-in. A tenant turns two-step on by
SMS (hiding the recovery codes from the chat once written down), then a password reset asks
for the SMS code before the new password."""

from __future__ import annotations

import asyncio
import re

from bot.settings import Settings
from storage.db import create_engine
from storage.uow import Store
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.smtp_server import SmtpServer
from tests.fakes.twilio_api import FakeTwilio
from tests.support import FakeClock, seed_customers
from tests.test_telegram_aiogram import running_bot, settings, telegram  # noqa: F401

TENANT = 8301
PHONE = "+31611112222"
EMAIL = "klant1008@thuis.example"
_RECOVERY = re.compile(r"\b[A-Z2-9]{5}-[A-Z2-9]{5}\b")


async def _mail(smtp: SmtpServer, address: str, count: int) -> str:
    for _ in range(200):
        messages = smtp.mail.messages_to(address)
        if len(messages) >= count:
            return str(messages[count - 1].get_content())
        await asyncio.sleep(0.05)
    raise AssertionError(f"no mail number {count} to {address}")


async def _sms_code(twilio: FakeTwilio) -> str:
    sms = await twilio.wait_for_message(PHONE)
    code = re.search(r"\b(\d{6})\b", sms.body)
    assert code and "two-step" in sms.body, sms.body
    return code.group(1)


async def test_two_step_by_sms_then_a_reset_asks_for_it_on_telegram(
    settings: Settings,  # noqa: F811
    telegram: FakeBotApi,  # noqa: F811
    smtp: SmtpServer,
    twilio: FakeTwilio,
) -> None:
    clock = FakeClock()
    store = Store(create_engine(settings.database_url))
    await seed_customers(store, clock)
    async with store.transaction() as tx:
        tenant = (await tx.customers.with_number("1008"))[0]
        tenant.account_active = True
        await tx.portal_chats.link(TENANT, tenant.id, clock.now())
    await store.close()
    async with running_bot(settings):
        telegram.user_sends_text(TENANT, "/security")
        status = await telegram.wait_for_message(TENANT, "Two-step verification is off")
        telegram.user_presses_button(
            TENANT, status.message_id, status.callback_data("Turn on: code by text message")
        )
        await telegram.wait_for_message(TENANT, "We sent a code by text message")
        typed = telegram.user_sends_text(TENANT, await _sms_code(twilio))
        shown = await telegram.wait_for_message(TENANT, "Your recovery codes")
        await telegram.wait_for_call(
            "deleteMessage", lambda p: int(p["message_id"]) == typed["message"]["message_id"]
        )
        codes = _RECOVERY.findall(shown.text or "")
        assert len(codes) == 10
        await telegram.wait_for_message(TENANT, "type one of these recovery codes")
        # Written down, the codes leave the chat: the message is edited, none of them stays.
        telegram.user_presses_button(
            TENANT, shown.message_id, shown.callback_data("Written down: hide the codes")
        )
        hidden = await telegram.wait_for_message(
            TENANT, lambda m: m.edited and "are hidden now" in (m.text or "")
        )
        assert hidden.message_id == shown.message_id and not hidden.inline_keyboard
        kept = [m.text or "" for m in telegram.messages[TENANT]]
        assert not any(code in text for code in codes for text in kept)
        telegram.user_sends_text(TENANT, codes[2])
        await telegram.wait_for_message(TENANT, "Two-step verification is on")
        assert "turned on" in await _mail(smtp, EMAIL, 1)

        telegram.user_sends_text(TENANT, "/password")
        await telegram.wait_for_message(TENANT, "Forgot your password")
        telegram.user_sends_text(TENANT, EMAIL)
        await telegram.wait_for_message(TENANT, "If an account belongs")
        reset = re.search(r"\b(\d{6})\b", await _mail(smtp, EMAIL, 2))
        assert reset
        telegram.user_sends_text(TENANT, reset.group(1))
        await telegram.wait_for_message(TENANT, "The code is right")
        await telegram.wait_for_message(TENANT, "we sent a code by text message")
        telegram.user_sends_text(TENANT, "groene fiets in de gracht")  # not the factor
        await telegram.wait_for_message(TENANT, "That code is not right")
        telegram.user_sends_text(TENANT, await _sms_code(twilio))
        await telegram.wait_for_message(TENANT, "Type your new password")
        telegram.user_sends_text(TENANT, "groene fiets in de gracht")
        await telegram.wait_for_message(TENANT, "Your password is set")
