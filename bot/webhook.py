"""The webhook server both Telegram runtimes use: an aiohttp app on HOST:PORT.

Telegram POSTs each update as JSON to the webhook URL with the secret it was given in
setWebhook in the ``X-Telegram-Bot-Api-Secret-Token`` header. A request without that exact
secret gets 401 and is not looked at any further. A good one is kept in the store's inbox
(encrypted under the server key: it may hold a typed password), answered 200 at once, and
processed in the background; once handled it leaves the inbox.
:meth:`WebhookServer.stop` first stops accepting, then waits until every accepted update is
handled, and :meth:`WebhookServer.start` first handles whatever a crash left in the inbox:
Telegram never resends an update it got a 200 for, so the inbox is what makes it safe to
answer before handling. (The desk ignores an update it already handled.)
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import SecretStr

from bot.ops import OpsEndpoints
from bot.sealing import CannotUnseal, Sealer
from bot.settings import Settings
from flows.ports import Clock
from storage.chat_turns import ChatTurns
from storage.uow import Store, Transaction

log = logging.getLogger("balie.webhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

Feed = Callable[[dict[str, Any]], Awaitable[None]]
"""Hands one update (the decoded JSON) to the runtime; returns when it is processed."""


FORGET_WITHIN = 0.2
"""Seconds an answered update may wait for a transaction to leave the inbox in."""

SEALED = "sealed"
"""The key under which an inbox row keeps its update, encrypted (see :mod:`bot.sealing`)."""


class AnsweredDoor(Protocol):
    """Remembers answered updates outside the store (Redis: :mod:`storage.redis_updates`),
    so a redelivery of one is dropped before it costs a query."""

    async def answered_before(self, update_ids: Sequence[int]) -> set[int]: ...

    async def mark_answered(self, update_id: int) -> None: ...


class StoreInbox:
    """The webhook inbox in Balie's store: each update is kept sealed under the server key
    (it may hold a password or code just typed), and removed once handled.

    ``turns``: the workers sharing this (PostgreSQL) store take turns per chat, so that a
    chat's updates apply in order even when they reach different workers (see
    :mod:`storage.chat_turns`); None: one process, whose own order is enough.

    ``door``: where answered updates are also remembered, checked by :meth:`fresh` before
    an update is kept; the store's ``handled_updates`` stays the truth behind it."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        sealer: Sealer,
        turns: ChatTurns | None = None,
        *,
        door: AnsweredDoor | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._sealer = sealer
        self._door = door
        self._turns = turns
        self._answered: list[int] = []
        """Handled and answered, to leave the inbox in the next transaction."""
        self._flusher: asyncio.Task[None] | None = None

    @property
    def takes_turns(self) -> bool:
        return self._turns is not None

    async def fresh(self, updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``updates`` without those the door knows were handled and answered (all of them
        without a door): a redelivery of one is dropped here, without a query."""
        if self._door is None or not updates:
            return updates
        answered = await self._door.answered_before([int(u["update_id"]) for u in updates])
        for update_id in answered:
            log.info("update %s was answered before; the redelivery is dropped", update_id)
        return [u for u in updates if int(u["update_id"]) not in answered]

    async def keep(self, update: dict[str, Any]) -> None:
        await self.keep_all([update])

    async def keep_all(self, updates: list[dict[str, Any]]) -> None:
        """Keep a batch in one transaction: all of it, or (on an error) none. Updates
        answered since the last transaction (:meth:`forget_soon`) leave the inbox in it."""
        now = self._clock.now()
        kept = [
            (
                int(update["update_id"]),
                {"update_id": int(update["update_id"]), SEALED: self._sealer.seal(update)},
                chat_of_update(update),
            )
            for update in updates
        ]
        answered, self._answered = self._answered, []
        try:
            async with self._store.transaction() as tx:
                await tx.inbox.keep_all(kept, now)
                if answered:
                    await self._remove_in(tx, answered)
        except BaseException:
            self._answered = answered + self._answered
            raise
        await self._mark_answered(answered)

    async def forget(self, update_id: int) -> None:
        """The update was handled and its outcome carried out in the chat: it leaves the
        inbox, and the desk no longer keeps its outcome to repeat."""
        await self._remove([update_id])
        await self._mark_answered([update_id])

    def forget_soon(self, update_id: int) -> None:
        """:meth:`forget`, in the next transaction the inbox makes anyway (keeping the next
        updates), or within :data:`FORGET_WITHIN` seconds: a step then costs one
        transaction less. Until then a crash hands the update to the desk again, which
        repeats its kept answer (a reply may come twice, never be lost), as a crash between
        the answer and :meth:`forget` always could. One process only: workers that take
        turns (:attr:`takes_turns`) forget within the turn."""
        self._answered.append(update_id)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_later(), name="inbox-forget")

    async def flush(self) -> None:
        """Forget now what :meth:`forget_soon` was given."""
        flusher = self._flusher
        if flusher is not None and flusher is not asyncio.current_task():
            flusher.cancel()
        answered, self._answered = self._answered, []
        if not answered:
            return
        try:
            await self._remove(answered)
        except BaseException:
            self._answered = answered + self._answered
            raise
        await self._mark_answered(answered)

    async def _flush_later(self) -> None:
        await asyncio.sleep(FORGET_WITHIN)
        self._flusher = None
        try:
            await self.flush()
        except Exception as exc:
            log.error("answered updates stay in the inbox for now: %s", type(exc).__name__)

    async def _mark_answered(self, update_ids: list[int]) -> None:
        if self._door is not None:
            for update_id in update_ids:
                await self._door.mark_answered(update_id)

    async def _remove(self, update_ids: list[int]) -> None:
        async with self._store.transaction() as tx:
            await self._remove_in(tx, update_ids)

    @staticmethod
    async def _remove_in(tx: Transaction, update_ids: list[int]) -> None:
        await tx.inbox.forget(update_ids)
        await tx.handled_updates.answered(update_ids)

    async def waiting(self) -> list[dict[str, Any]]:
        """The updates left by a crash, opened; one that cannot be opened (the server key
        changed without keeping the old one) is logged by id and dropped."""
        async with self._store.transaction() as tx:
            kept = await tx.inbox.waiting()
        return await self._opened(kept)

    @asynccontextmanager
    async def turn(self, chat_id: int, update_id: int) -> AsyncIterator[list[dict[str, Any]]]:
        """The chat's turn (needs ``turns``): within it, the chat's kept updates up to
        ``update_id``, opened and oldest first, are this worker's to handle; an update that
        is not among them was handled by another worker already."""
        assert self._turns is not None
        kept = await self._turns.take(chat_id, update_id)
        try:
            yield await self._opened(kept)
        finally:
            try:
                await self._turns.release(chat_id)
            except Exception as exc:  # its connection is gone, and the lock with it
                log.warning("the turn of a chat was not released: %s", type(exc).__name__)

    async def close(self) -> None:
        if self._turns is not None:
            await self._turns.close()

    async def _opened(self, kept: list[dict[str, Any]]) -> list[dict[str, Any]]:
        updates = []
        for row in kept:
            sealed = row.get(SEALED)
            if not isinstance(sealed, str):
                updates.append(row)  # kept in clear by an earlier version
                continue
            try:
                updates.append(self._sealer.unseal(sealed))
            except CannotUnseal:
                log.error("update %s in the inbox cannot be opened; dropped", row.get("update_id"))
                await self._remove([int(row["update_id"])])  # never answered: not at the door
        return updates


def with_webhook_secret(settings: Settings) -> Settings:
    """The settings with a webhook secret: ``BALIE_WEBHOOK_SECRET``, or a new random one."""
    if settings.webhook_secret is not None:
        return settings
    # token_urlsafe uses exactly Telegram's alphabet for secret_token: A-Z a-z 0-9 _ -
    return settings.model_copy(update={"webhook_secret": SecretStr(secrets.token_urlsafe(32))})


def webhook_path(url: str) -> str:
    """The path the server answers on: the webhook URL's path, ``/`` when it has none."""
    return urlsplit(url).path or "/"


def chat_of_update(update: dict[str, Any]) -> int | None:
    """The chat an update (Bot API JSON) belongs to: a message's chat, or the chat of the
    message whose button was pressed (the presser's own chat when that is not known)."""
    message = update.get("message")
    query = update.get("callback_query")
    try:
        if isinstance(message, dict):
            return int(message["chat"]["id"])
        if isinstance(query, dict):
            pressed = query.get("message")
            if isinstance(pressed, dict) and "chat" in pressed:
                return int(pressed["chat"]["id"])
            return int(query["from"]["id"])
    except (KeyError, TypeError, ValueError):
        return None
    return None


class InboxProcessing:
    """Processes kept updates as tasks, each forgotten from the inbox once handled; what a
    crash left is handled first, and :meth:`drain` waits for everything accepted. Shared by
    the webhook server and the polling loop (:mod:`bot.polling`).

    Chats run side by side, but a chat's own updates are handled (and answered) one after
    another in the order they were accepted: each task's first step is its chat's lock, and
    tasks reach it in the order they were created. Neither framework promises that order
    once it runs updates concurrently (python-telegram-bot's ``concurrent_updates``)."""

    def __init__(self, feed: Feed, inbox: StoreInbox, name: str) -> None:
        self._feed = feed
        self._inbox = inbox
        self._name = name
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._chat_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    @property
    def inbox(self) -> StoreInbox:
        return self._inbox

    async def leftovers(self) -> None:
        """Start on the updates a crash or kill left in the inbox."""
        for update in await self._inbox.waiting():
            log.info("handling update %s left in the inbox", update.get("update_id"))
            self.spawn(update)

    def spawn(self, update: dict[str, Any]) -> None:
        """Process a kept update in the background (once: an update already being processed,
        say one left in the inbox that Telegram sends again, is not started twice)."""
        update_id = int(update["update_id"])
        if update_id in self._tasks:
            return
        task = asyncio.create_task(self._process(update), name=f"{self._name}-update")
        self._tasks[update_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(update_id, None))

    async def drain(self) -> None:
        """Wait until every accepted update is processed, and out of the inbox."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
        try:
            await self._inbox.flush()
        except Exception as exc:
            log.error("answered updates stay in the inbox: %s", type(exc).__name__)

    async def _process(self, update: dict[str, Any]) -> None:
        chat_id = chat_of_update(update)
        if chat_id is None:
            await self._handle(update)
            return
        lock = self._chat_locks.get(chat_id)
        if lock is None:
            lock = self._chat_locks[chat_id] = asyncio.Lock()
        async with lock:
            if self._inbox.takes_turns:
                await self._in_turn(chat_id, update)
            else:
                await self._handle(update)

    async def _in_turn(self, chat_id: int, update: dict[str, Any]) -> None:
        """Several workers: the chat's earlier updates first, wherever they were accepted;
        one another worker handled already is skipped."""
        update_id = int(update["update_id"])
        try:
            async with self._inbox.turn(chat_id, update_id) as due:
                for kept in due:
                    await self._handle(kept)
        except Exception as exc:
            log.error("update %s stays in the inbox: %s", update_id, type(exc).__name__)

    async def _handle(self, update: dict[str, Any]) -> None:
        try:
            await self._feed(update)
        except Exception as exc:
            # The type only: the update holds what someone typed. It stays in the inbox
            # and is tried again at the next start.
            log.error("update %s failed: %s", update.get("update_id"), type(exc).__name__)
            return
        update_id = int(update["update_id"])
        if not self._inbox.takes_turns:
            self._inbox.forget_soon(update_id)
            return
        try:  # within the turn: another worker must not find it in the inbox after it
            await self._inbox.forget(update_id)
        except Exception as exc:
            log.error("update %s stays in the inbox: %s", update_id, type(exc).__name__)


class WebhookServer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        path: str,
        secret: str,
        feed: Feed,
        inbox: StoreInbox,
        name: str = "webhook",
        ops: OpsEndpoints | None = None,
        install_also: Callable[[web.Application], None] | None = None,
        reuse_port: bool = False,
    ) -> None:
        """``install_also``: more routes on this server (the portal API); ``reuse_port``:
        other workers listen on the same port, and the kernel spreads connections."""
        self.host = host
        self.port = port
        self.path = path
        self._secret = secret.encode()
        self._processing = InboxProcessing(feed, inbox, name)
        self._inbox = inbox
        self._ops = ops
        self._install_also = install_also
        self._reuse_port = reuse_port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        await self._processing.leftovers()
        app = web.Application()
        app.router.add_post(self.path, self._on_update)
        if self._ops is not None:
            self._ops.install(app)
        if self._install_also is not None:
            self._install_also(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_port=self._reuse_port or None)
        await site.start()

    async def stop(self) -> None:
        """Stop accepting, then wait for every accepted update to be processed."""
        if self._runner is not None:
            await self._runner.cleanup()  # closes the socket, waits for open requests
            self._runner = None
        await self._processing.drain()
        await self._inbox.close()

    async def _on_update(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            log.warning("webhook request without the right secret refused (401)")
            return web.Response(status=401)
        try:
            update = await request.json(loads=json.loads)
        except ValueError:
            return web.Response(status=400)
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return web.Response(status=400)
        if not await self._inbox.fresh([update]):
            return web.Response(status=200)  # answered before: Telegram need not send it again
        try:
            await self._inbox.keep(update)
        except Exception as exc:
            # Not kept, so not answered 200: Telegram will send it again.
            log.error("update %s not kept: %s", update["update_id"], type(exc).__name__)
            return web.Response(status=503)
        self._processing.spawn(update)
        return web.Response(status=200)
