"""The bot's deep links (``https://t.me/<username>?start=...``) from its ``getMe`` username."""

from __future__ import annotations

from bot.settings import Settings
from flows.ports import DeepLinks, TelegramLinks, TypedStart


def for_username(username: str | None) -> DeepLinks:
    """Telegram links for the bot's username; without one, the ``/start`` line to type."""
    return TelegramLinks(username) if username else TypedStart()


async def from_settings(settings: Settings) -> DeepLinks:
    """One ``getMe`` through aiogram against ``BALIE_TELEGRAM_API_URL`` when a token is set
    (``balie invite`` outside a running bot); the typed ``/start`` line when none is."""
    if settings.telegram_token is None:
        return TypedStart()
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    bot = Bot(settings.telegram_token.get_secret_value(), session=session)
    try:
        me = await bot.get_me()
    finally:
        await bot.session.close()
    return for_username(me.username)
