"""A reply with a QR code (a pairing link, an authenticator's URI) reaches Telegram as a
photo through both runtimes' real clients, and the photo decodes to what it stands for."""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image
from pydantic import SecretStr

from bot.ptb_runtime import ptb_application
from bot.runtimes import aiogram_bot
from bot.settings import Settings
from flows.events import Outcome, Reply
from handlers.aiogram_adapter import AiogramChat
from handlers.ptb_adapter import PtbChat
from tests.fakes.bot_api import FakeBotApi

URI = "otpauth://totp/Balie:anna%40thuis.example?secret=JBSWY3DPEHPK3PXP&issuer=Balie"
CHAT = 8801


def decoded(photo: bytes) -> list[str]:
    image = Image.open(io.BytesIO(photo)).convert("L")
    return [result.text for result in zxingcpp.read_barcodes(image)]


def _settings(api: FakeBotApi) -> Settings:
    return Settings(
        telegram_token=SecretStr("123:TEST"),
        telegram_api_url=api.base_url,
        database_url="sqlite+aiosqlite:///:memory:",
    )


async def test_aiogram_sends_the_qr_code_as_a_photo_before_the_text() -> None:
    async with FakeBotApi(token="123:TEST") as api:
        bot = aiogram_bot(_settings(api))
        try:
            await AiogramChat(bot, in_bulk=False).send(CHAT, Reply("Scan this", qr=URI))
        finally:
            await bot.session.close()
        [photo] = api.photos(CHAT)
        assert decoded(photo) == [URI]
        assert api.sent_texts(CHAT)[-1] == "Scan this"


async def test_ptb_sends_the_qr_code_as_a_photo_before_the_text() -> None:
    async with FakeBotApi(token="123:TEST") as api:
        application = ptb_application(_settings(api))
        async with application:
            await PtbChat(application.bot, in_bulk=False).send(CHAT, Reply("Scan this", qr=URI))
        [photo] = api.photos(CHAT)
        assert decoded(photo) == [URI]
        assert api.sent_texts(CHAT)[-1] == "Scan this"


def test_a_kept_outcome_keeps_its_qr_code() -> None:
    outcome = Outcome([Reply("Scan this", qr=URI)])
    assert Outcome.from_kept(outcome.kept()).replies == [Reply("Scan this", qr=URI)]
    assert outcome.fitted().replies[0].qr == URI
