"""Issue 4 on Telegram: activation code by mail, redeem, password message deleted, reset.

The real aiogram client talks HTTP to the local Bot API server; mail arrives in a real SMTP
server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import re

from bot.settings import Settings
from storage.db import create_engine
from storage.uow import Store
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.smtp_server import SmtpServer
from tests.support import FakeClock, seed_customers
from tests.test_telegram_aiogram import running_bot, settings, telegram  # noqa: F401

TENANT = 8201


async def _mail(smtp: SmtpServer, address: str, count: int) -> str:
    for _ in range(200):
        messages = smtp.mail.messages_to(address)
        if len(messages) >= count:
            return str(messages[count - 1].get_content())
        await asyncio.sleep(0.05)
    raise AssertionError(f"no mail number {count} to {address}")


async def test_activation_redeem_password_and_reset_on_telegram(
    settings: Settings,  # noqa: F811
    telegram: FakeBotApi,  # noqa: F811
    smtp: SmtpServer,
) -> None:
    store = Store(create_engine(settings.database_url))
    await seed_customers(store, FakeClock())
    await store.close()
    address = "klant1001@thuis.example"
    async with running_bot(settings):
        telegram.user_sends_text(TENANT, "/start")
        menu = await telegram.wait_for_message(TENANT, "Welcome")
        telegram.user_presses_button(TENANT, menu.message_id, menu.callback_data("Activation"))
        choice = await telegram.wait_for_message(TENANT, "request an activation code")
        telegram.user_presses_button(TENANT, choice.message_id, choice.callback_data("Request"))
        for step, answer in (("Step 1", "1001"), ("Step 2", "3511 AB"), ("Step 3", "12a")):
            await telegram.wait_for_message(TENANT, step)
            telegram.user_sends_text(TENANT, answer)
        step4 = await telegram.wait_for_message(TENANT, "Step 4 of 4")
        telegram.user_presses_button(TENANT, step4.message_id, step4.callback_data("Skip"))
        await telegram.wait_for_message(TENANT, "sent your activation code")
        mail = await _mail(smtp, address, 1)
        code = re.search(r"\b([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})\b", mail)
        assert code, mail

        telegram.user_sends_text(TENANT, "/activate")
        await telegram.wait_for_message(TENANT, "customer number")
        telegram.user_sends_text(TENANT, "1001")
        await telegram.wait_for_message(TENANT, "activation code from the e-mail")
        telegram.user_sends_text(TENANT, code.group(1))
        await telegram.wait_for_message(TENANT, "Type your new password")

        secret = telegram.user_sends_text(TENANT, "groene fiets in de gracht")
        await telegram.wait_for_message(TENANT, "Your password is set")
        deleted = await telegram.wait_for_call(
            "deleteMessage",
            lambda p: int(p["message_id"]) == secret["message"]["message_id"],
        )
        assert int(deleted["chat_id"]) == TENANT
        notice = await _mail(smtp, address, 2)
        assert "was changed" in notice and "groene fiets" not in notice

        telegram.user_sends_text(TENANT, "/password")
        await telegram.wait_for_message(TENANT, "Forgot your password")
        telegram.user_sends_text(TENANT, address)
        await telegram.wait_for_message(TENANT, "If an account belongs")
        reset = await _mail(smtp, address, 3)
        reset_code = re.search(r"\b(\d{6})\b", reset)
        assert reset_code and "30 minutes" in reset
        telegram.user_sends_text(TENANT, reset_code.group(1))
        await telegram.wait_for_message(TENANT, "The code is right")
        weak = telegram.user_sends_text(TENANT, "kort")
        refusal = await telegram.wait_for_message(TENANT, "cannot be used")
        assert "too short" in (refusal.text or "")
        await telegram.wait_for_call(
            "deleteMessage", lambda p: int(p["message_id"]) == weak["message"]["message_id"]
        )
