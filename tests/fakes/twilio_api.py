"""A fake Twilio REST API (Programmable Messaging) on 127.0.0.1 for tests.

Pointing the real ``twilio`` client at it
------------------------------------------
twilio-python builds every URL as ``client.<domain>.base_url + "/" + version + "/" + path``
(``twilio.base.domain.Domain.absolute_url``).  ``client.api`` is a lazily created, cached
``twilio.rest.api.Api`` domain whose ``base_url`` is the plain attribute
``"https://api.twilio.com"`` (set in ``ApiBase.__init__``) and is read on every request, so::

    client = Client(sid, token, http_client=AsyncTwilioHttpClient())
    client.api.base_url = "http://127.0.0.1:PORT"      # Messages, Calls, Accounts, ...
    await client.messages.create_async(to=..., from_=..., body=...)

is the cleanest override: no private attributes, no monkeypatching, and the rest of the
request pipeline (auth, headers, the aiohttp session) stays exactly as in production.
Other domains (``client.verify``, ``client.messaging`` ...) have their own ``base_url``.

Two things can still rewrite the host afterwards: ``Client.edge`` / ``Client.region`` (also
read from the ``TWILIO_EDGE`` / ``TWILIO_REGION`` environment variables) make
``ClientBase.get_hostname`` split the netloc on dots and insert edge/region parts - which
mangles ``127.0.0.1:PORT``.  :func:`twilio_client_for` therefore clears both.

``AsyncTwilioHttpClient`` opens its ``aiohttp.ClientSession`` in ``__init__``: build it inside
the running event loop and ``await client.http_client.close()`` when done, or aiohttp warns
about an unclosed session.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web

API_VERSION = "2010-04-01"
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)
_ERROR_TEXT = {
    400: "Bad Request",
    401: "Authenticate",
    404: "The requested resource was not found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def new_sid(prefix: str) -> str:
    """A Twilio-style SID: two-letter prefix + 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


@dataclass
class TwilioMessage:
    """An SMS the fake accepted."""

    sid: str
    account_sid: str
    to: str
    from_: str | None
    body: str
    status: str
    messaging_service_sid: str | None
    date_created: datetime
    media_urls: list[str] = field(default_factory=list)
    #: All form fields as received (one value per key; media URLs are in ``media_urls``).
    params: dict[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"

    def to_json(self) -> dict[str, Any]:
        created = format_datetime(self.date_created)
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": created,
            "date_sent": None,
            "date_updated": created,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": str(len(self.media_urls)),
            "num_segments": str(_segments(self.body)),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": self.uri.replace(".json", "/Media.json")},
            "to": self.to,
            "uri": self.uri,
        }


def _segments(body: str) -> int:
    if all(ch in _GSM7 for ch in body):
        single, multi = 160, 153
    else:
        single, multi = 70, 67
    if len(body) <= single:
        return 1
    return -(-len(body) // multi)


def _error(status: int, code: int, message: str) -> web.Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else None
    return web.json_response(body, status=status, headers=headers)


class FakeTwilio:
    """Twilio REST stand-in: ``POST /2010-04-01/Accounts/{sid}/Messages.json`` (send) and
    ``GET .../Messages/{MessageSid}.json`` (fetch).

    * ``messages`` - accepted :class:`TwilioMessage` records, in order.
    * ``requests`` - every request as ``(method, path, form_fields, response_status)``.
    * ``fail_next(n, status, code=, retry_after=)`` - the next n requests answer a
      Twilio-shaped error (with a ``Retry-After`` header when given).

    Validation mirrors Twilio's common 4xx answers (21604 missing To, 21603 missing From,
    21602 missing Body, 21211 To not E.164, 21617 body over 1600 characters), so product code
    that formats numbers wrongly fails here too.
    """

    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.account_sid = account_sid or new_sid("AC")
        self.auth_token = auth_token or secrets.token_hex(16)
        self.host = host
        self.port = port
        self.messages: list[TwilioMessage] = []
        self.requests: list[tuple[str, str, dict[str, str], int]] = []
        self._failures: list[tuple[int, int, str, int | None]] = []
        self._cursor: dict[str | None, int] = {}
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("FakeTwilio is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FakeTwilio:
        app = web.Application()
        prefix = f"/{API_VERSION}/Accounts/{{account_sid}}"
        app.router.add_post(f"{prefix}/Messages.json", self._create_message)
        app.router.add_get(f"{prefix}/Messages/{{message_sid}}.json", self._fetch_message)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTwilio:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ test helpers

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        code: int | None = None,
        message: str = "",
        retry_after: int | None = None,
    ) -> None:
        """Answer the next ``n`` requests (any route) with an error of this HTTP ``status``;
        Twilio-style ``code`` defaults to 20000 + status (20500, 20503, 20429 ...), and
        ``retry_after`` adds a ``Retry-After`` header (seconds). Calls queue up, so a script
        such as 503, then 429/20429 with Retry-After, then success is three lines."""
        error_code = code if code is not None else 20000 + status
        text = message or _ERROR_TEXT.get(status, "Error")
        self._failures.extend((status, error_code, text, retry_after) for _ in range(n))

    async def wait_for_message(
        self,
        to: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a plain number is the friendlier test API
    ) -> TwilioMessage:
        """Wait for an accepted message to ``to`` (any recipient if None).

        Consuming: each call returns the next message to that recipient after the one the
        previous call for the same ``to`` returned, so already-sent messages count.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            start = self._cursor.get(to, 0)
            for index in range(start, len(self.messages)):
                if to is None or self.messages[index].to == to:
                    self._cursor[to] = index + 1
                    return self.messages[index]
            remaining = deadline - loop.time()
            if remaining <= 0:
                sent = [(m.to, m.body) for m in self.messages]
                raise TimeoutError(f"no SMS to {to!r} within {timeout}s; sent so far: {sent}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    # ------------------------------------------------------------------ HTTP

    def _authorized(self, request: web.Request) -> bool:
        # Decoded by hand: aiohttp 3.14 deprecates BasicAuth (DeprecationWarning on use).
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            login, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return login == self.account_sid and password == self.auth_token

    def _gate(self, request: web.Request, form: dict[str, str]) -> web.Response | None:
        """Auth, injected failures and account checks shared by all routes."""
        response: web.Response | None = None
        if self._failures:
            status, code, text, retry_after = self._failures.pop(0)
            response = _error(status, code, text)
            if retry_after is not None:
                response.headers["Retry-After"] = str(retry_after)
        elif not self._authorized(request):
            response = _error(401, 20003, "Authenticate")
        elif request.match_info.get("account_sid") != self.account_sid:
            response = _error(404, 20404, f"The requested resource {request.path} was not found")
        if response is not None:
            self.requests.append((request.method, request.path, form, response.status))
        return response

    async def _create_message(self, request: web.Request) -> web.Response:
        posted = await request.post()
        form = {k: str(v) for k, v in posted.items()}
        media = [str(v) for v in posted.getall("MediaUrl", [])]
        rejected = self._gate(request, form)
        if rejected is not None:
            return rejected
        response = self._validate(form, media)
        if response is None:
            message = TwilioMessage(
                sid=new_sid("SM"),
                account_sid=self.account_sid,
                to=form["To"],
                from_=form.get("From"),
                body=form.get("Body", ""),
                status="accepted" if form.get("MessagingServiceSid") else "queued",
                messaging_service_sid=form.get("MessagingServiceSid"),
                date_created=datetime.now(UTC).replace(microsecond=0),
                media_urls=media,
                params=form,
            )
            self.messages.append(message)
            self._changed.set()
            response = web.json_response(message.to_json(), status=201)
        self.requests.append((request.method, request.path, form, response.status))
        return response

    @staticmethod
    def _validate(form: dict[str, str], media: list[str]) -> web.Response | None:
        to = form.get("To", "")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _error(400, 21603, "A 'From' phone number is required.")
        if not form.get("Body") and not media and not form.get("ContentSid"):
            return _error(400, 21602, "Message body is required.")
        number = to.removeprefix("whatsapp:")
        if not _E164.match(number):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if len(form.get("Body", "")) > 1600:
            return _error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        return None

    async def _fetch_message(self, request: web.Request) -> web.Response:
        rejected = self._gate(request, {})
        if rejected is not None:
            return rejected
        sid = request.match_info["message_sid"]
        found = next((m for m in self.messages if m.sid == sid), None)
        if found is None:
            response = _error(404, 20404, f"The requested resource {request.path} was not found")
        else:
            response = web.json_response(found.to_json())
        self.requests.append((request.method, request.path, {}, response.status))
        return response

    async def _not_found(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path, {}, 404))
        return _error(404, 20404, f"The requested resource {request.path} was not found")


def twilio_client_for(base_url: str, sid: str, token: str) -> Any:
    """TEST CONVENIENCE ONLY: a real async ``twilio.rest.Client`` aimed at ``base_url``.

    Must be called inside a running event loop; close it with
    ``await client.http_client.close()``.  See the module docstring for why this works.
    """
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    client = Client(sid, token, http_client=AsyncTwilioHttpClient())
    client.edge = None
    client.region = None
    client.api.base_url = base_url.rstrip("/")
    return client
