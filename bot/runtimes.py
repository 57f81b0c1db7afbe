"""Entry points that run the desk on a channel: Telegram (aiogram or python-telegram-bot,
long polling or webhook) or the terminal."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from functools import partial
from typing import Any, TextIO

import aiogram
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot import deep_links, telegram_sender
from bot.app import Balie
from bot.directories.sync import close_due_accounts
from bot.notifications.worker import OutboxWorker
from bot.ops import OpsServer
from bot.polling import aiogram_get_updates, polling
from bot.sealing import Sealer
from bot.settings import Runtime, Settings
from bot.telegram_sender import OutboxKeeper
from bot.webhook import Feed, StoreInbox, WebhookServer, webhook_path, with_webhook_secret
from flows.digest import NoticeScheduler
from flows.domain import AuditAction
from flows.operator_views import chat_identities
from flows.ports import SharedPace
from handlers.aiogram_adapter import (
    AiogramChat,
    PacedRequests,
    build_router,
    set_command_menu,
)
from handlers.telegram_common import ALLOWED_UPDATES, CommandMenu, set_command_menus
from handlers.telegram_pacing import bulk
from handlers.terminal import TerminalChannel
from storage.chat_turns import ChatTurns

log = logging.getLogger("balie")


class StoreUsedByTelegram(Exception):
    """``balie run`` without a token on a store a Telegram runtime used (one line)."""


async def used_by_telegram(app: Balie) -> bool:
    async with app.store.transaction() as tx:
        return await tx.audit.any_of(AuditAction.RUNTIME_STARTED, "telegram")


async def run(
    settings: Settings, *, leader: bool = True, on_ready: Callable[[], None] | None = None
) -> None:
    """``balie run``: Telegram when a token is set, else the terminal channel. ``leader``:
    this process does the once-per-bot work (see :mod:`bot.workers`); one worker of
    ``--workers N`` is the leader, the others are not. ``on_ready``: called once the
    webhook server serves."""
    if settings.telegram_token is None:
        await run_terminal(settings, explicit=False)
    elif settings.runtime is Runtime.PTB:
        from bot.ptb_runtime import run_ptb  # python-telegram-bot is imported only when used

        await run_ptb(settings, leader=leader, on_ready=on_ready)
    else:
        await run_aiogram(settings, leader=leader, on_ready=on_ready)


# -- what both Telegram runtimes share ----------------------------------------------------


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM, so a runtime shuts down gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError, RuntimeError, ValueError):  # e.g. on Windows
            loop.add_signal_handler(signum, stop.set)
    return stop


def startup_line(settings: Settings, runtime: str, version: str, worker: OutboxWorker) -> str:
    """The one start-up log line: runtime and version, mode, store, delivery. No secret."""
    if settings.webhook_url:
        mode = (
            f"webhook {settings.webhook_url}, listening on "
            f"{settings.webhook_host}:{settings.webhook_port}"
        )
    else:
        mode = f"long polling via {settings.telegram_api_url}"
    return (
        f"Balie starting: channel Telegram, runtime {runtime} {version} ({mode}); "
        f"store {settings.safe_database_url()}; delivery: {worker.routes_description()}"
    )


@asynccontextmanager
async def outbox_running(
    app: Balie, worker: OutboxWorker, *, leader: bool = True
) -> AsyncIterator[None]:
    """The outbox worker and housekeeping run while the body runs; both stop after it.
    Every worker delivers (claims are exclusive); only the ``leader`` keeps house, closes
    accounts and serves the portal API on its own port (every webhook server serves it)."""
    worker_stop = asyncio.Event()
    worker_task = asyncio.create_task(worker.run(worker_stop))
    background = []
    if leader:
        background = [
            asyncio.create_task(_housekeeping(app, worker_stop)),
            asyncio.create_task(_close_due_accounts(app, worker, worker_stop)),
            asyncio.create_task(_notice_ticks(app, worker, worker_stop)),
        ]
    ops = _ops_server(app)
    api = app.api_server() if leader else None
    async with app.store.transaction() as tx:
        await tx.audit.add(
            AuditAction.RUNTIME_STARTED, actor="balie", channel="telegram", now=app.clock.now()
        )
    try:
        if ops is not None:
            await ops.start()
        if api is not None:
            await api.start()
        yield
    finally:
        if api is not None:
            await api.stop()
        if ops is not None:
            await ops.stop()
        worker_stop.set()
        await worker_task
        for task in background:
            await task
        await worker.aclose()


def _ops_server(app: Balie) -> OpsServer | None:
    """/healthz and /metrics on their own port, in polling mode when asked for (webhook mode
    serves them on the webhook server)."""
    settings = app.settings
    if settings.metrics_port is None or settings.webhook_url:
        return None
    return OpsServer(app.ops(), settings.metrics_host, settings.metrics_port)


def webhook_server(settings: Settings, app: Balie, feed: Feed, name: str) -> WebhookServer:
    """The shared webhook server for ``settings`` (which must hold a webhook secret)."""
    assert settings.webhook_url and settings.webhook_secret is not None
    return WebhookServer(
        host=settings.webhook_host,
        port=settings.webhook_port,
        path=webhook_path(settings.webhook_url),
        secret=settings.webhook_secret.get_secret_value(),
        feed=feed,
        # Workers of one PostgreSQL store take turns per chat (a webhook may go to any).
        inbox=StoreInbox(
            app.store,
            app.clock,
            Sealer(app.hasher),
            ChatTurns.of(app.store),
            door=app.answered_door,
        ),
        name=name,
        ops=app.ops(),
        install_also=app.install_api,
        reuse_port=settings.workers > 1,
    )


async def set_menus_in_bulk(app: Balie, apply: Callable[[CommandMenu], Awaitable[None]]) -> int:
    """The command menus, as bulk calls: they yield to replies to people who are typing."""
    with bulk():
        return await set_command_menus(app.store, app.settings.default_language, apply)


def aiogram_bot(
    settings: Settings,
    on_flood: Callable[[], None] = lambda: None,
    shared: SharedPace | None = None,
) -> Bot:
    """The bot, with every Bot API call paced by one :class:`~handlers.telegram_pacing.Pacer`
    (a session request middleware)."""
    assert settings.telegram_token is not None
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    session.middleware(PacedRequests(telegram_sender.pacer(settings, on_flood, shared)))
    return Bot(settings.telegram_token.get_secret_value(), session=session)


async def run_aiogram(
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
    bot = aiogram_bot(settings, app.metrics.telegram_429.inc, app.shared_pace)
    worker = app.outbox_worker(AiogramChat(bot))
    dispatcher = Dispatcher()
    keeper = OutboxKeeper(
        app.store, app.clock, on_kept=worker.notify, shared=app.shared_pace is not None
    )
    await keeper.load()
    dispatcher.include_router(build_router(app.desk, on_handled=worker.notify, keeper=keeper))
    log.info(startup_line(settings, "aiogram", aiogram.__version__, worker))
    try:
        async with outbox_running(app, worker, leader=leader):
            me = await bot.me()  # a refused token or an unreachable Bot API stops the start here
            app.desk.links = deep_links.for_username(me.username)
            if leader:
                await set_menus_in_bulk(app, partial(set_command_menu, bot))
            if settings.webhook_url:
                await _aiogram_webhook(settings, app, bot, dispatcher, stop, leader, on_ready)
            else:
                await _aiogram_polling(app, bot, dispatcher, stop)
    finally:
        await bot.session.close()
        await app.close()


async def _aiogram_polling(
    app: Balie, bot: Bot, dispatcher: Dispatcher, stop: asyncio.Event
) -> None:
    # A webhook left by an earlier deployment would block polling; its queue is kept.
    await bot.delete_webhook(drop_pending_updates=False)
    feed = aiogram_feed(bot, dispatcher)
    await polling(app, aiogram_get_updates(bot), feed, "aiogram-polling").run(stop)


def aiogram_feed(bot: Bot, dispatcher: Dispatcher) -> Feed:
    """Hands one update (JSON) to the dispatcher; returns once it is handled and answered."""

    async def feed(update: dict[str, Any]) -> None:
        await dispatcher.feed_raw_update(bot, update)

    return feed


async def _aiogram_webhook(
    settings: Settings,
    app: Balie,
    bot: Bot,
    dispatcher: Dispatcher,
    stop: asyncio.Event,
    leader: bool,
    on_ready: Callable[[], None] | None,
) -> None:
    server = webhook_server(settings, app, aiogram_feed(bot, dispatcher), "aiogram-webhook")
    await server.start()
    try:
        assert settings.webhook_url and settings.webhook_secret is not None
        if leader:  # the same URL and secret for every worker: set once
            await bot.set_webhook(
                settings.webhook_url,
                secret_token=settings.webhook_secret.get_secret_value(),
                allowed_updates=list(ALLOWED_UPDATES),
                drop_pending_updates=False,
            )
        if on_ready is not None:
            on_ready()
        await stop.wait()
    finally:
        await server.stop()


async def _housekeeping(app: Balie, stop: asyncio.Event, every: float = 3600) -> None:
    while not stop.is_set():
        try:
            await app.desk.housekeeping()
        except Exception:
            log.exception("housekeeping failed; will try again")
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def _close_due_accounts(app: Balie, worker: OutboxWorker, stop: asyncio.Event) -> None:
    """Seed 000: from the out-of-service date on, the account is disabled in the directory.
    Every few minutes (and at start, catching up on days the worker was down)."""
    while not stop.is_set():
        try:
            if await close_due_accounts(app.store, app.clock):
                worker.notify()
        except Exception:
            log.exception("closing the accounts of people out of service failed; will try again")
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), app.settings.directory_sweep_seconds)


async def _notice_ticks(app: Balie, worker: OutboxWorker, stop: asyncio.Event) -> None:
    """The rest of a large urgent notice's audience, the weekly digests when due, and the
    count of each finished urgent notice for its sender: a tick every
    ``BALIE_NOTICE_TICK_SECONDS`` (and at start, catching up)."""
    scheduler = NoticeScheduler(
        app.store, app.clock, default_language=app.settings.default_language
    )
    while not stop.is_set():
        try:
            if await scheduler.tick():
                worker.notify()
        except Exception:
            log.exception("the notice tick failed; will try again")
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), app.settings.notice_tick_seconds)


async def run_terminal(
    settings: Settings,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    *,
    explicit: bool = True,
) -> None:
    """``balie chat`` (``explicit``), or ``balie run`` without a token. On a store a Telegram
    runtime used, the terminal delivers no Telegram message: those are the bot's, for real
    people; and ``balie run`` refuses, since a missing token there is a mistake."""
    app = await Balie.open(settings, channel="terminal")
    shared = await used_by_telegram(app)
    if shared and not explicit:
        await app.close()
        raise StoreUsedByTelegram(
            "this store is used by a Telegram bot, and BALIE_TELEGRAM_TOKEN is not set: "
            "set it, or open the terminal on purpose with `balie chat`"
        )
    channel = TerminalChannel(app.desk, app.store, output=stdout or sys.stdout)
    worker = app.outbox_worker(
        None if shared else channel, on_delivery=channel.on_delivery, chat_name="the terminal"
    )
    channel.worker = worker
    if shared:
        channel.output.write(
            "This store is also used by a Telegram bot: the terminal leaves Telegram "
            "messages to it (cards and notices are not shown here).\n"
        )
    log.info(
        "Balie starting: channel terminal; store %s; delivery: %s",
        settings.safe_database_url(),
        worker.routes_description(),
    )
    await close_due_accounts(app.store, app.clock)
    if not await chat_identities(app.store):
        channel.output.write(
            "The store has no organization with staff yet: quit (/quit) and run `balie demo`.\n"
        )
    api = app.api_server()
    ticks_stop = asyncio.Event()
    ticks = asyncio.create_task(_notice_ticks(app, worker, ticks_stop))
    try:
        if api is not None:
            await api.start()
        await channel.run(stdin)
    finally:
        ticks_stop.set()
        await ticks
        if api is not None:
            await api.stop()
        await worker.aclose()
        await app.close()
