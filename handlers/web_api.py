"""The portal API over HTTP (aiohttp): it only translates requests to
:class:`flows.portal_api.PortalApi` and its answers back."""

from __future__ import annotations

import json

from aiohttp import web

from flows.portal_api import BAD_REQUEST, PortalApi
from flows.ports import Clock

VERIFY_PATH = "/api/v1/verify"
MAX_BODY = 4096


def install(app: web.Application, api: PortalApi, clock: Clock) -> None:
    """Add ``POST /api/v1/verify`` to ``app``."""

    async def verify(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        scheme, _, key = auth.partition(" ")
        given = key.strip() if scheme.lower() == "bearer" else None
        body: object = None
        if request.content_length is not None and request.content_length > MAX_BODY:
            answer = BAD_REQUEST
        else:
            try:
                body = json.loads(await request.read() or b"null")
            except (ValueError, UnicodeDecodeError):
                body = None
            answer = await api.verify(given, body, clock.now())
        headers = {"Cache-Control": "no-store"}
        if answer.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="balie"'
        if answer.status == 429:
            headers["Retry-After"] = str(answer.body.get("retry_after", 60))
        return web.json_response(answer.body, status=answer.status, headers=headers)

    app.router.add_post(VERIFY_PATH, verify)


class ApiServer:
    """The portal API on a port of its own (``BALIE_API_PORT``)."""

    def __init__(self, api: PortalApi, clock: Clock, host: str, port: int) -> None:
        self._api = api
        self._clock = clock
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        install(app, self._api, self._clock)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
