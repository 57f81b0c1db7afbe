"""The floor: a bare aiogram 3 echo bot, run as its own process by the benchmark.

    python -m bench.echo_bot polling
    python -m bench.echo_bot webhook --port 8081 --secret S

It reads BALIE_TELEGRAM_TOKEN and BALIE_TELEGRAM_API_URL like Balie does, answers every text
with the same text and every button press with an answer and a message, and nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import CallbackQuery, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

router = Router()


@router.message()
async def echo(message: Message) -> None:
    await message.answer(message.text or "?")


@router.callback_query()
async def pressed(query: CallbackQuery) -> None:
    await query.answer()
    if query.message is not None:
        await query.message.answer(query.data or "?")


def _bot() -> Bot:
    server = TelegramAPIServer.from_base(os.environ["BALIE_TELEGRAM_API_URL"])
    return Bot(os.environ["BALIE_TELEGRAM_TOKEN"], session=AiohttpSession(api=server))


async def _polling() -> None:
    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    bot = _bot()
    await dispatcher.start_polling(bot, handle_signals=True, close_bot_session=True)


async def _webhook(port: int, secret: str) -> None:
    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    bot = _bot()
    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token=secret).register(app, path="/webhook")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await bot.set_webhook(f"http://127.0.0.1:{port}/webhook", secret_token=secret)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    await runner.cleanup()
    await bot.session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["polling", "webhook"])
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--secret", default="bench")
    args = parser.parse_args()
    if args.mode == "polling":
        asyncio.run(_polling())
    else:
        asyncio.run(_webhook(args.port, args.secret))


if __name__ == "__main__":
    main()
