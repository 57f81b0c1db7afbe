"""The webhook server both Telegram runtimes use: an aiohttp app on HOST:PORT.

Telegram POSTs each update as JSON to the webhook URL with the secret it was given in
setWebhook in the ``X-Telegram-Bot-Api-Secret-Token`` header. A request without that exact
secret gets 401 and is not looked at any further. A good one is answered 200 at once and its
update is processed in the background; :meth:`WebhookServer.stop` first stops accepting,
then waits until every update it accepted has been handed over, so none is left half done.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import SecretStr

from bot.settings import Settings

log = logging.getLogger("balie.webhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

Feed = Callable[[dict[str, Any]], Awaitable[None]]
"""Hands one update (the decoded JSON) to the runtime; returns when it is processed."""


def with_webhook_secret(settings: Settings) -> Settings:
    """The settings with a webhook secret: ``BALIE_WEBHOOK_SECRET``, or a new random one."""
    if settings.webhook_secret is not None:
        return settings
    # token_urlsafe uses exactly Telegram's alphabet for secret_token: A-Z a-z 0-9 _ -
    return settings.model_copy(update={"webhook_secret": SecretStr(secrets.token_urlsafe(32))})


def webhook_path(url: str) -> str:
    """The path the server answers on: the webhook URL's path, ``/`` when it has none."""
    return urlsplit(url).path or "/"


class WebhookServer:
    def __init__(
        self, *, host: str, port: int, path: str, secret: str, feed: Feed, name: str = "webhook"
    ) -> None:
        self.host = host
        self.port = port
        self.path = path
        self._secret = secret.encode()
        self._feed = feed
        self._name = name
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(self.path, self._on_update)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()

    async def stop(self) -> None:
        """Stop accepting, then wait for every accepted update to be processed."""
        if self._runner is not None:
            await self._runner.cleanup()  # closes the socket, waits for open requests
            self._runner = None
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _on_update(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            log.warning("webhook request without the right secret refused (401)")
            return web.Response(status=401)
        try:
            update = await request.json(loads=json.loads)
        except ValueError:
            return web.Response(status=400)
        if not isinstance(update, dict):
            return web.Response(status=400)
        task = asyncio.create_task(self._process(update), name=f"{self._name}-update")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.Response(status=200)

    async def _process(self, update: dict[str, Any]) -> None:
        try:
            await self._feed(update)
        except Exception as exc:
            # The type only: the update holds what someone typed.
            log.error("update %s failed: %s", update.get("update_id"), type(exc).__name__)
