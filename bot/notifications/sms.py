"""SMS through Twilio's REST API with the official client and its aiohttp-based HTTP client."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.notifications.errors import DeliveryError
from bot.settings import DEFAULT_TWILIO_API_URL, Settings


class _RebasedHttpClient(AsyncTwilioHttpClient):
    """Sends the requests meant for ``https://api.twilio.com`` to another base URL.

    A custom ``http_client`` is the extension point twilio-python documents for changing
    its requests ("Here you can change the URL, headers and other request parameters",
    advanced-examples/custom-http-client.md; also how Twilio's Prism mocking guide reroutes
    the Node library). The alternative, assigning ``client.api.base_url``, also works but sets
    an attribute the library does not document as settable and covers one domain only.
    """

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._base_url = base_url.rstrip("/")

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url == DEFAULT_TWILIO_API_URL or url.startswith(DEFAULT_TWILIO_API_URL + "/"):
            url = self._base_url + url[len(DEFAULT_TWILIO_API_URL) :]
        return await super().request(method, url, *args, **kwargs)


def _error(exc: TwilioRestException | TwilioServiceException) -> DeliveryError:
    status = int(exc.status)
    # 4xx: Twilio refused this message (bad number, unverified sender...): it will again.
    # 429 (rate limit) and 5xx: try later. 401 (wrong SID or token) is the settings' fault,
    # not the message's: keep it pending so it goes out once an operator fixes them.
    permanent = 400 <= status < 500 and status not in (401, 429)
    return DeliveryError(f"Twilio HTTP {status} (error {exc.code})", permanent=permanent)


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
            if self._api_url == DEFAULT_TWILIO_API_URL:
                self._http = AsyncTwilioHttpClient(timeout=self._timeout)
            else:
                self._http = _RebasedHttpClient(self._api_url, timeout=self._timeout)
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
        try:
            # The twilio client passes no timeout to aiohttp for a request (it would wait
            # forever on a silent server), so bound the whole call here.
            async with asyncio.timeout(self._timeout):
                await client.messages.create_async(to=to, from_=self._from, body=body)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _error(exc) from None
        except TimeoutError:
            raise DeliveryError("Twilio request timed out") from None
        except TwilioException as exc:
            raise DeliveryError(f"Twilio error: {type(exc).__name__}") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise DeliveryError(f"Twilio connection failed: {type(exc).__name__}") from None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._http = None
        self._client = None
