"""Issue 13, point 3 end to end: the real aiogram client against the local Bot API server,
mail at a real SMTP server (aiosmtpd). A manager switches e-mail off for decisions; the
decision on her request then arrives on Telegram, and no mail is queued or received."""

from __future__ import annotations

from sqlalchemy import select

from bot.settings import Settings
from flows import accounts
from flows.domain import DeliveryChannel, Role
from flows.model import OutboxMessage
from storage.db import create_engine
from storage.uow import Store
from tests.fakes.bot_api import BotMessage, FakeBotApi
from tests.fakes.smtp_server import SmtpServer
from tests.support import DemoOrg, FakeClock
from tests.test_telegram_aiogram import running_bot, settings, telegram  # noqa: F401

MANAGER = DemoOrg.manager_chat
MARIEKE = "marieke@blg.example"
THIRD_MANAGER = 5004


def _labels(message: BotMessage) -> list[str]:
    return [str(b.get("text")) for b in message.buttons]


async def _add_third_manager(config: Settings) -> None:
    store = Store(create_engine(config.database_url))
    async with store.transaction() as tx:
        await accounts.add_staff(
            tx,
            partner_id=DemoOrg.partner_id,
            name="Mila Manager",
            role=Role.MANAGER,
            email="mila@blg.example",
            phone=None,
            telegram_id=THIRD_MANAGER,
            now=FakeClock().now(),
        )
    await store.close()


async def _decision_rows(config: Settings) -> list[tuple[DeliveryChannel, str]]:
    store = Store(create_engine(config.database_url))
    async with store.transaction() as tx:
        rows = (await tx.session.scalars(select(OutboxMessage))).all()
        found = [
            (row.channel, row.recipient)
            for row in rows
            if (row.payload or {}).get("notice_kind") == "decisions"
        ]
    await store.close()
    return found


async def test_a_decision_arrives_on_telegram_but_not_by_mail_once_mail_is_off_for_decisions(
    settings: Settings,  # noqa: F811
    telegram: FakeBotApi,  # noqa: F811
    smtp: SmtpServer,
) -> None:
    await _add_third_manager(settings)
    async with running_bot(settings):
        telegram.user_sends_text(MANAGER, "/notifications")
        grid = await telegram.wait_for_message(MANAGER, "Notifications: choose")
        assert "✅ Decisions · E-mail" in _labels(grid) and "✅ Decisions · Telegram" in _labels(
            grid
        )
        telegram.user_presses_button(
            MANAGER, grid.message_id, grid.callback_data("✅ Decisions · E-mail")
        )
        redrawn = await telegram.wait_for_message(
            MANAGER, lambda m: m.edited and "⬜ Decisions · E-mail" in _labels(m)
        )
        assert redrawn.message_id == grid.message_id  # the same message, edited in place
        assert "✅ Decisions · Telegram" in _labels(redrawn)

        telegram.user_sends_text(MANAGER, "/offboard maarten@blg.example 2026-12-31")
        card = await telegram.wait_for_message(THIRD_MANAGER, "asks to take Maarten Manager")
        telegram.user_presses_button(THIRD_MANAGER, card.message_id, card.callback_data("Confirm"))
        told = await telegram.wait_for_message(
            MANAGER, "Your request to take Maarten Manager out of service"
        )
        assert "Confirmed by Mila Manager" in (told.text or "")

    assert await _decision_rows(settings) == [(DeliveryChannel.TELEGRAM, str(MANAGER))]
    assert smtp.mail.messages_to(MARIEKE) == []
