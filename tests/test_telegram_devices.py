"""Issue 13's linked devices end to end, through the real aiogram client against the fake
Bot API server, with mail received by aiosmtpd: ``/pair`` sends its deep link as text and as
a QR photo that decodes to it, the link opened in a new chat pairs it (the old chat and the
mailbox hear of it), the lost phone is unlinked from the tablet and told so, and the used
link opens nothing more."""

from __future__ import annotations

import asyncio
import re
from email.message import EmailMessage

from flows.domain import Language
from flows.texts import Texts
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.smtp_server import SmtpServer
from tests.support import DemoOrg
from tests.test_qr_replies import decoded
from tests.test_telegram_aiogram import running_bot, settings, telegram  # noqa: F401

PHONE = DemoOrg.staff_chat
"""Sanne Staff's chat, linked by the seed."""
TABLET = 8401
STRANGER = 8402
SANNE = "sanne@blg.example"
LINK = re.compile(r"https://t\.me/balie_test_bot\?start=pair_[A-Za-z0-9_-]{32}")
EN = Texts(Language.EN)


async def _mails(smtp: SmtpServer, address: str, count: int) -> list[EmailMessage]:
    for _ in range(200):
        messages = smtp.mail.messages_to(address)
        if len(messages) >= count:
            return list(messages)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no mail number {count} to {address}")


async def test_pair_by_deep_link_and_unlink_a_lost_phone_on_telegram(
    settings,  # noqa: F811
    telegram: FakeBotApi,  # noqa: F811
    smtp: SmtpServer,
) -> None:
    async with running_bot(settings):
        telegram.user_sends_text(PHONE, "/pair", first_name="Sanne", last_name="Phone")
        shown = await telegram.wait_for_message(PHONE, "works once")
        found = LINK.search(shown.text or "")
        assert found, shown.text
        link = found.group(0)
        [photo] = telegram.photos(PHONE)
        assert decoded(photo) == [link]

        payload = link.rsplit("=", 1)[1]
        telegram.user_sends_text(
            TABLET, f"/start {payload}", first_name="Sanne", last_name="Tablet"
        )
        await telegram.wait_for_message(TABLET, "is now linked to the account of Sanne Staff")
        notice = await telegram.wait_for_message(PHONE, 'new device "Sanne Tablet"')
        assert "/devices" in (notice.text or "")
        [linked_mail] = await _mails(smtp, SANNE, 1)
        assert linked_mail["Subject"] == EN("mail_devices_subject", org="BLG Wonen")
        assert 'new device "Sanne Tablet"' in linked_mail.get_content()

        # The phone is lost: from the tablet, /devices and Unlink for the phone.
        telegram.user_sends_text(TABLET, "/devices", first_name="Sanne", last_name="Tablet")
        listing = await telegram.wait_for_message(TABLET, "Your linked devices")
        assert "(this chat)" in (listing.text or "")
        button = next(b for b in listing.buttons if b["text"].startswith("Unlink 1."))
        telegram.user_presses_button(TABLET, listing.message_id, button["callback_data"])
        await telegram.wait_for_message(TABLET, "is no longer linked to the account")
        await telegram.wait_for_message(PHONE, "This chat has been unlinked")
        mails = await _mails(smtp, SANNE, 2)
        assert "was unlinked from your account" in mails[1].get_content()

        # The used link opens nothing in another chat.
        telegram.user_sends_text(STRANGER, f"/start {payload}")
        await telegram.wait_for_message(STRANGER, "pairing link cannot be used")
        telegram.user_sends_text(PHONE, "/devices")
        await telegram.wait_for_message(PHONE, "not linked to an account")
