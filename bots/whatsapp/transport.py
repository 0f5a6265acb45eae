"""WhatsApp's transport: the twilio client on aiohttp, and one send with Twilio's refusals
sorted into what a retry can cure and what it cannot."""

from __future__ import annotations

import base64
import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import twilio.rest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response as TwilioResponse

from bots.outbound import WHATSAPP_WINDOW, Delivery
from core.shared.redaction import who

ADDRESS_PREFIX = "whatsapp:"
REQUEST_TIMEOUT_SECONDS = 10
# Refusals worth explaining in the log: the member cannot get free text from us right now.
KNOWN_REFUSALS = {
    63016: "outside the 24-hour window (a template is needed)",
    21610: "the recipient unsubscribed (replied STOP to the number)",
    63024: "invalid recipient",
    21211: "invalid 'To' number",
    21614: "the 'To' number is not a mobile number",
    63003: "the number is not on WhatsApp",
    20429: "too many requests",
}
# Refusals that no retry cures (a dead number among them), as the reason a send is skipped.
UNREACHABLE_CODES = {
    63016: WHATSAPP_WINDOW,
    21610: "unsubscribed",
    63024: "invalid recipient",
    21211: "invalid recipient",
    21614: "invalid recipient",
    63003: "invalid recipient",
}
# Twilio's 429 names no wait (its exception carries no Retry-After): every sender holds this
# long, as for Telegram's retry_after, rather than each one hammering on.
TOO_MANY_REQUESTS_HOLD_SECONDS = 1.0

log = logging.getLogger("bots.whatsapp")


# twilio ships no type information: its base class is Any to mypy.
class _RedirectingHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """The real async client, optionally aimed at another server (tests, a regional proxy).

    Its aiohttp session is opened on first use rather than in the constructor, so the client can
    be built before the event loop runs (aiohttp sessions need a running loop).
    """

    session: aiohttp.ClientSession | None

    def __init__(self, api_url: str = "") -> None:
        super().__init__(pool_connections=False)
        self._api_url = urlsplit(api_url.rstrip("/")) if api_url else None

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - twilio's HttpClient signature
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        if self.session is None:
            # A total timeout: a hung Twilio must not hold a webhook (Twilio gives up at 15 s).
            self.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
            )
        if self._api_url is not None:
            # Keep the API path, swap scheme and host: every Twilio domain maps onto one server.
            parts = urlsplit(url)
            url = urlunsplit(
                (
                    self._api_url.scheme,
                    self._api_url.netloc,
                    self._api_url.path + parts.path,
                    parts.query,
                    "",
                )
            )
        if auth is not None:
            # aiohttp deprecates `auth=` and BasicAuth; the header is what they would send anyway.
            credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers = {**(headers or {}), "Authorization": f"Basic {credentials}"}
        return await super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None


def create_client(account_sid: str, auth_token: str, *, api_url: str = "") -> twilio.rest.Client:
    """A Twilio client on the async HTTP client; `api_url` replaces https://api.twilio.com."""
    return twilio.rest.Client(account_sid, auth_token, http_client=_RedirectingHttpClient(api_url))


def whatsapp_address(number: str) -> str:
    """Twilio's WhatsApp address of a number, given with or without the "whatsapp:" prefix."""
    number = number.strip()
    return number if number.startswith(ADDRESS_PREFIX) else ADDRESS_PREFIX + number


async def send_message(
    client: twilio.rest.Client,
    sender: str,
    number: str,
    body: str,
    media_url: str | None,
    *,
    template: tuple[str, str] | None = None,
) -> Delivery:
    """Send a text (with its media), or with `template` = (ContentSid, ContentVariables as
    JSON) an approved template, which WhatsApp delivers outside the 24-hour window too."""
    extra: dict[str, Any] = {}
    if media_url is not None:
        extra["media_url"] = [media_url]
    if template is not None:
        extra["content_sid"], extra["content_variables"] = template
    else:
        extra["body"] = body
    try:
        await client.messages.create_async(from_=sender, to=whatsapp_address(number), **extra)
        return Delivery.sent()
    except TwilioRestException as error:
        reason = KNOWN_REFUSALS.get(error.code or 0, "refused")
        # Twilio's own message may quote the number ("The 'To' number +7... is not valid"): the
        # log and the notice's reason carry the code, never the message.
        log.warning(
            "twilio did not send to %s: %s (code %s, HTTP %s)",
            who("whatsapp", number),
            reason,
            error.code,
            error.status,
        )
        if error.code in UNREACHABLE_CODES:
            return Delivery.unreachable(UNREACHABLE_CODES[error.code])
        retry_after = TOO_MANY_REQUESTS_HOLD_SECONDS if error.status == 429 else None
        return Delivery.failed(
            f"twilio {error.code} (HTTP {error.status}): {reason}", retry_after=retry_after
        )
    except (TwilioException, aiohttp.ClientError, TimeoutError) as error:
        # Only the kind of failure: a client error's text may quote the request's URL.
        log.warning(
            "twilio request for %s failed: %s", who("whatsapp", number), type(error).__name__
        )
        return Delivery.failed(type(error).__name__)


async def close_client(client: twilio.rest.Client) -> None:
    http_client = client.http_client
    if isinstance(http_client, AsyncTwilioHttpClient):
        await http_client.close()
