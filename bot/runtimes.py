"""Entry points that run the desk on a channel: Telegram (aiogram) or the terminal."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from contextlib import suppress
from typing import Any, TextIO

import aiogram
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.app import Balie
from bot.settings import Settings
from flows.directory import chat_identities
from handlers.aiogram_adapter import AiogramChat, build_router
from handlers.terminal import TerminalChannel

log = logging.getLogger("balie")


async def run(settings: Settings) -> None:
    """``balie run``: Telegram when a token is set, else the terminal channel."""
    if settings.telegram_token is not None:
        await run_aiogram(settings)
    else:
        await run_terminal(settings)


def aiogram_bot(settings: Settings) -> Bot:
    assert settings.telegram_token is not None
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(settings.telegram_token.get_secret_value(), session=session)


async def run_aiogram(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Long polling; updates sent while the bot was down are answered (never dropped)."""
    app = await Balie.open(settings, channel="telegram")
    bot = aiogram_bot(settings)
    worker = app.outbox_worker(AiogramChat(bot))
    dispatcher = Dispatcher()
    dispatcher.include_router(build_router(app.desk, on_handled=worker.notify))
    log.info(
        "Balie starting: channel Telegram, runtime aiogram %s (long polling via %s); "
        "store %s; delivery: %s",
        aiogram.__version__,
        settings.telegram_api_url,
        settings.safe_database_url(),
        worker.routes_description(),
    )
    worker_stop = asyncio.Event()
    worker_task = asyncio.create_task(worker.run(worker_stop))
    housekeeping = asyncio.create_task(_housekeeping(app, worker_stop))
    try:
        # A webhook left by an earlier deployment would block polling; its queue is kept.
        await bot.delete_webhook(drop_pending_updates=False)
        polling = dispatcher.start_polling(
            bot,
            handle_signals=stop is None,
            close_bot_session=False,
            allowed_updates=dispatcher.resolve_used_update_types(),
        )
        if stop is None:
            await polling
        else:
            await _until(polling, stop, dispatcher)
    finally:
        worker_stop.set()
        await worker_task
        await housekeeping
        await worker.aclose()
        await bot.session.close()
        await app.close()


async def _housekeeping(app: Balie, stop: asyncio.Event, every: float = 3600) -> None:
    while not stop.is_set():
        try:
            await app.desk.housekeeping()
        except Exception:
            log.exception("housekeeping failed; will try again")
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def _until(
    polling: Coroutine[Any, Any, None], stop: asyncio.Event, dispatcher: Dispatcher
) -> None:
    task = asyncio.ensure_future(polling)
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        await dispatcher.stop_polling()
        await task
    stopper.cancel()


async def run_terminal(
    settings: Settings, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> None:
    app = await Balie.open(settings, channel="terminal")
    channel = TerminalChannel(app.desk, app.store, output=stdout or sys.stdout)
    worker = app.outbox_worker(channel, on_delivery=channel.on_delivery)
    channel.worker = worker
    log.info(
        "Balie starting: channel terminal; store %s; delivery: %s",
        settings.safe_database_url(),
        worker.routes_description(),
    )
    if not await chat_identities(app.store):
        channel.output.write(
            "The store has no organization with staff yet: quit (/quit) and run `balie demo`.\n"
        )
    try:
        await channel.run(stdin)
    finally:
        await worker.aclose()
        await app.close()
