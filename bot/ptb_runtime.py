"""The python-telegram-bot runtime (``BALIE_RUNTIME=ptb``): the same desk as aiogram's.

PTB's Application only carries updates to the adapter's handlers; nothing is kept in its
persistence or in ``chat_data``, so switching runtimes keeps every open conversation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import telegram
from telegram import Update
from telegram.ext import Application

from bot import deep_links, telegram_sender
from bot.app import Balie
from bot.polling import GetUpdates, polling
from bot.runtimes import (
    outbox_running,
    set_menus_in_bulk,
    startup_line,
    stop_on_signals,
    webhook_server,
)
from bot.settings import Settings
from bot.telegram_sender import OutboxKeeper
from bot.webhook import Feed, with_webhook_secret
from flows.ports import SharedPace
from handlers.ptb_adapter import PacedRateLimiter, PtbChat, add_handlers, set_command_menu
from handlers.telegram_common import ALLOWED_UPDATES

log = logging.getLogger("balie")

CONCURRENT_UPDATES = 32
"""Updates of different chats run side by side; the desk's per-chat lock keeps each chat's
own updates in order."""

CONNECTIONS = 2 * CONCURRENT_UPDATES
"""Bot API connections: one for each update handled at once, the same again for the outbox."""

POOL_TIMEOUT = 30.0
"""Seconds a call waits for a free connection before it fails (and is retried)."""


def ptb_application(
    settings: Settings,
    on_flood: Callable[[], None] = lambda: None,
    shared: SharedPace | None = None,
) -> Application:
    assert settings.telegram_token is not None
    api = settings.telegram_api_url
    return (
        Application.builder()
        .token(settings.telegram_token.get_secret_value())
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        # Every call but getUpdates through the same pacer as aiogram's (not AIORateLimiter:
        # see the README's "One sender for Telegram").
        .rate_limiter(PacedRateLimiter(telegram_sender.pacer(settings, on_flood, shared)))
        .concurrent_updates(CONCURRENT_UPDATES)
        # python-telegram-bot's default is one connection for every call but getUpdates:
        # concurrent chats then queue for it, and the bot idles while its replies wait.
        .connection_pool_size(CONNECTIONS)
        .pool_timeout(POOL_TIMEOUT)
        .build()
    )


async def run_ptb(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    leader: bool = True,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Long polling, or a webhook when ``settings.webhook_url`` is set; either way updates
    sent while the bot was down are answered (never dropped). Runs until ``stop`` is set
    (by default: SIGINT or SIGTERM). Only the ``leader`` sets the menus and the webhook."""
    if settings.webhook_url:
        settings = with_webhook_secret(settings)
    stop = stop or stop_on_signals()
    app = await Balie.open(settings, channel="telegram")
    application = ptb_application(settings, app.metrics.telegram_429.inc, app.shared_pace)
    worker = app.outbox_worker(PtbChat(application.bot))
    keeper = OutboxKeeper(
        app.store, app.clock, on_kept=worker.notify, shared=app.shared_pace is not None
    )
    await keeper.load()
    add_handlers(application, app.desk, on_handled=worker.notify, keeper=keeper)
    log.info(startup_line(settings, "python-telegram-bot", telegram.__version__, worker))
    try:
        async with outbox_running(app, worker, leader=leader):
            await application.initialize()  # getMe: a refused token stops the start here
            app.desk.links = deep_links.for_username(application.bot.username)
            try:
                if leader:
                    await set_menus_in_bulk(app, partial(set_command_menu, application.bot))
                if settings.webhook_url:
                    await _webhook(settings, app, application, stop, leader, on_ready)
                else:
                    await _polling(app, application, stop)
            finally:
                await application.shutdown()
    finally:
        await app.close()


async def _polling(app: Balie, application: Application, stop: asyncio.Event) -> None:
    # A webhook left by an earlier deployment would block polling; its queue is kept.
    await application.bot.delete_webhook(drop_pending_updates=False)
    await application.start()  # no updater: bot.polling fetches, keeps, then processes
    try:
        await polling(app, ptb_get_updates(application), ptb_feed(application), "ptb-polling").run(
            stop
        )
    finally:
        await application.stop()


def ptb_get_updates(application: Application) -> GetUpdates:
    async def get_updates(offset: int | None, wait: int) -> list[dict[str, Any]]:
        updates = await application.bot.get_updates(
            offset=offset,
            timeout=wait,
            allowed_updates=list(ALLOWED_UPDATES),
            read_timeout=wait + 30,
        )
        return [update.to_dict() for update in updates]

    return get_updates


def ptb_feed(application: Application) -> Feed:
    async def feed(update: dict[str, Any]) -> None:
        # Processed here, not queued: the inbox lets go of it only once handled.
        await application.process_update(Update.de_json(update, application.bot))

    return feed


async def _webhook(
    settings: Settings,
    app: Balie,
    application: Application,
    stop: asyncio.Event,
    leader: bool,
    on_ready: Callable[[], None] | None,
) -> None:
    server = webhook_server(settings, app, ptb_feed(application), "ptb-webhook")
    await application.start()
    try:
        await server.start()
        try:
            assert settings.webhook_url and settings.webhook_secret is not None
            if leader:  # the same URL and secret for every worker: set once
                await application.bot.set_webhook(
                    settings.webhook_url,
                    secret_token=settings.webhook_secret.get_secret_value(),
                    allowed_updates=list(ALLOWED_UPDATES),
                    drop_pending_updates=False,
                )
            if on_ready is not None:
                on_ready()
            await stop.wait()
        finally:
            await server.stop()  # stops accepting; accepted updates are in the queue
    finally:
        await application.stop()  # handles every queued update, then returns
