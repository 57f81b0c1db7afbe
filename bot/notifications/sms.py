"""SMS through Twilio's REST API with the official client and its aiohttp-based HTTP client."""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.notifications.errors import DeliveryError
from bot.settings import DEFAULT_TWILIO_API_URL, Settings

RETRY_CODES = frozenset({20429, 30003})
"""Twilio error codes worth another try: too many requests, unreachable handset (it may be
switched off)."""

UNDELIVERABLE_CODES = frozenset({21211, 21610, 21614, 30005, 30006})
"""Twilio error codes that refuse the number itself: not a valid number, unsubscribed (STOP),
not a mobile number, unknown handset, landline or unreachable carrier. The number is
recorded as undeliverable."""

_retry_after: ContextVar[dict[str, float] | None] = ContextVar("twilio_retry_after", default=None)
"""Where the HTTP client leaves an error response's Retry-After for :meth:`TwilioSms.send`
(the client's exceptions do not carry the response headers)."""


def _seconds(header: str | None) -> float | None:
    """A Retry-After value: delay seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


class _HttpClient(AsyncTwilioHttpClient):
    """Twilio's aiohttp client, which notes an error response's ``Retry-After`` and may send
    the requests meant for ``https://api.twilio.com`` to another base URL.

    A custom ``http_client`` is the extension point twilio-python documents for changing
    its requests ("Here you can change the URL, headers and other request parameters",
    advanced-examples/custom-http-client.md; also how Twilio's Prism mocking guide reroutes
    the Node library). The alternative, assigning ``client.api.base_url``, also works but sets
    an attribute the library does not document as settable and covers one domain only.
    """

    def __init__(self, base_url: str = DEFAULT_TWILIO_API_URL, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._base_url = base_url.rstrip("/")

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url == DEFAULT_TWILIO_API_URL or url.startswith(DEFAULT_TWILIO_API_URL + "/"):
            url = self._base_url + url[len(DEFAULT_TWILIO_API_URL) :]
        response = await super().request(method, url, *args, **kwargs)
        holder = _retry_after.get()
        if holder is not None and response.status_code >= 400 and response.headers:
            wait = _seconds(response.headers.get("Retry-After"))
            if wait is not None:
                holder["seconds"] = wait
        return response


def _error(
    exc: TwilioRestException | TwilioServiceException, retry_after: float | None
) -> DeliveryError:
    status = int(exc.status)
    code = int(exc.code) if isinstance(exc.code, int) or str(exc.code).isdigit() else None
    reason = f"Twilio HTTP {status} (error {exc.code})"
    if code in UNDELIVERABLE_CODES:
        return DeliveryError(reason, undeliverable=True)
    if status >= 500 or status == 429 or code in RETRY_CODES:
        return DeliveryError(reason, retry_after=retry_after)
    # Other 4xx: Twilio refused this message (bad body, unverified sender...): it will again.
    # 401 (wrong SID or token) is the settings' fault, not the message's: keep it pending so
    # it goes out once an operator fixes them.
    return DeliveryError(reason, permanent=400 <= status < 500 and status != 401)


class TwilioSms:
    """Sends SMS from the configured Twilio number.

    The aiohttp session behind the client is made on first use, inside the running event
    loop; :meth:`aclose` closes it.
    """

    def __init__(self, settings: Settings, *, timeout: float = 20.0) -> None:
        if not (
            settings.twilio_account_sid
            and settings.twilio_auth_token
            and settings.twilio_from_number
        ):
            raise ValueError("Twilio is not configured")
        self._account_sid = settings.twilio_account_sid
        self._auth_token = settings.twilio_auth_token.get_secret_value()
        self._from = settings.twilio_from_number
        self._api_url = settings.twilio_api_url.rstrip("/")
        self._timeout = timeout
        self._http: AsyncTwilioHttpClient | None = None
        self._client: Client | None = None

    def describe(self) -> str:
        if self._api_url == DEFAULT_TWILIO_API_URL:
            return "via Twilio"
        return f"via Twilio at {self._api_url}"

    def _ensure_client(self) -> Client:
        if self._client is None:
            self._http = _HttpClient(self._api_url, timeout=self._timeout)
            client = Client(self._account_sid, self._auth_token, http_client=self._http)
            if self._api_url != DEFAULT_TWILIO_API_URL:
                # TWILIO_EDGE / TWILIO_REGION in the environment would rename the host to
                # api.<edge>.<region>.twilio.com before our client sees it; a custom URL is
                # meant verbatim.
                client.edge = None
                client.region = None
            self._client = client
        return self._client

    async def send(self, to: str, body: str) -> None:
        """Hand one SMS to Twilio; raises :class:`DeliveryError` when Twilio does not take it."""
        client = self._ensure_client()
        holder: dict[str, float] = {}
        token = _retry_after.set(holder)
        try:
            # The twilio client passes no timeout to aiohttp for a request (it would wait
            # forever on a silent server), so bound the whole call here.
            async with asyncio.timeout(self._timeout):
                await client.messages.create_async(to=to, from_=self._from, body=body)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _error(exc, holder.get("seconds")) from None
        except TimeoutError:
            raise DeliveryError("Twilio request timed out") from None
        except TwilioException as exc:
            raise DeliveryError(f"Twilio error: {type(exc).__name__}") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise DeliveryError(f"Twilio connection failed: {type(exc).__name__}") from None
        finally:
            _retry_after.reset(token)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._http = None
        self._client = None
