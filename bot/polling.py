"""Long polling with the inbox first, for both Telegram runtimes.

Telegram counts an update as delivered once ``getUpdates`` is called with an offset past
it, so the frameworks' own polling loops (which ask for the next batch while the last one
is still being handled) lose a batch when the process is killed. This loop asks for the
next batch only after the last one is kept in the store's inbox (sealed, like webhook
updates: :class:`bot.webhook.StoreInbox`); each kept update is then processed by the same
:class:`bot.webhook.InboxProcessing` the webhook server uses, with the same ``feed``, and
leaves the inbox once handled and answered. Updates a kill left in the inbox are handled at
start; a stop finishes every accepted update before it returns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from aiogram import Bot

from bot.app import Balie
from bot.sealing import Sealer
from bot.webhook import Feed, InboxProcessing, StoreInbox
from handlers.telegram_common import ALLOWED_UPDATES

log = logging.getLogger("balie.polling")

POLL_TIMEOUT = 10
"""Seconds a getUpdates call may wait for an update (Telegram's long poll)."""

RETRY_DELAYS = (0.5, 1, 2, 5, 10)
"""Seconds to wait after a failed getUpdates (or a batch the store could not keep)."""

GetUpdates = Callable[[int | None, int], Awaitable[list[dict[str, Any]]]]
"""``(offset, timeout)`` -> the next batch of updates as JSON dicts; the offset confirms
every update below it to Telegram."""


class InboxPolling:
    def __init__(
        self, get_updates: GetUpdates, processing: InboxProcessing, timeout: int = POLL_TIMEOUT
    ) -> None:
        self._get_updates = get_updates
        self._processing = processing
        self._timeout = timeout

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set, then finish every accepted update."""
        await self._processing.leftovers()
        offset: int | None = None
        failures = 0
        try:
            while not stop.is_set():
                batch = await _unless_stopped(self._get_updates(offset, self._timeout), stop)
                if batch is None:
                    break
                try:
                    updates = batch.result()
                    updates = [u for u in updates if isinstance(u.get("update_id"), int)]
                    fresh = await self._processing.inbox.fresh(updates)
                    if fresh:
                        # Kept before the next call confirms them: a kill loses none.
                        await self._processing.inbox.keep_all(fresh)
                except Exception as exc:
                    delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
                    failures += 1
                    log.warning("polling failed (%s); again in %ss", type(exc).__name__, delay)
                    with suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
                    continue
                failures = 0
                if updates:
                    offset = max(int(u["update_id"]) for u in updates) + 1
                    for update in fresh:
                        self._processing.spawn(update)
            if offset is not None:
                await self._confirm(offset)
        finally:
            await self._processing.drain()

    async def _confirm(self, offset: int) -> None:
        """Tell Telegram what is kept, so a restart is not sent it again (it would be
        recognised as handled, but this saves the work)."""
        try:
            await self._get_updates(offset, 0)
        except Exception as exc:
            log.info("could not confirm the last batch (%s); it comes again", type(exc).__name__)


async def _unless_stopped(
    call: Awaitable[list[dict[str, Any]]], stop: asyncio.Event
) -> asyncio.Future[list[dict[str, Any]]] | None:
    """The finished call, or None when ``stop`` came first (the call is then cancelled:
    nothing it fetched was confirmed, so Telegram sends it again)."""
    fetch = asyncio.ensure_future(call)
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({fetch, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if fetch.done():
        return fetch
    fetch.cancel()
    with suppress(asyncio.CancelledError, Exception):
        await fetch
    return None


def polling(app: Balie, get_updates: GetUpdates, feed: Feed, name: str) -> InboxPolling:
    """The inbox-first polling loop on ``app``'s store."""
    inbox = StoreInbox(app.store, app.clock, Sealer(app.hasher), door=app.answered_door)
    return InboxPolling(get_updates, InboxProcessing(feed, inbox, name))


def aiogram_get_updates(bot: Bot) -> GetUpdates:
    async def get_updates(offset: int | None, wait: int) -> list[dict[str, Any]]:
        updates = await bot.get_updates(
            offset=offset,
            timeout=wait,
            allowed_updates=list(ALLOWED_UPDATES),
            request_timeout=wait + 30,
        )
        return [update.model_dump(mode="json", exclude_none=True) for update in updates]

    return get_updates
