"""WhatsApp (Twilio): signed form posts become `Incoming`, replies become REST messages.

Twilio posts each inbound message to PUBLIC_URL/webhook/whatsapp; we answer with empty TwiML and
send the bot's replies through the Messages API (`create_async`, never blocking the event loop).
WhatsApp has no custom keyboards for free-form messages, so buttons become numbered choices that
the member answers with the number; the member card QR and the member's data export ("My data")
are served as signed, short-lived media that Twilio fetches from us.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import twilio.rest
from aiohttp import web
from multidict import MultiDictProxy
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from bots.outbound import WHATSAPP_WINDOW, Delivery, Outcome
from core.db.state import ConversationStore, UpdateLog
from core.members.accounts import IdentityKey, Members
from core.shared import qr
from core.shared.clock import Clock
from core.shared.errors import MemberNotFound
from handlers.conversation import Conversation
from handlers.messages import Document, Image, Incoming, Reply
from handlers.render.parsing import ascii_digits

CHANNEL = "whatsapp"
ADDRESS_PREFIX = "whatsapp:"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# Twilio refuses longer bodies (error 21617); WhatsApp itself would take 4096.
MAX_BODY_LENGTH = 1600
# Short: a link names one member's card, or all their personal data.
MEDIA_TOKEN_LIFETIME = timedelta(minutes=10)
MEDIA_ROUTE = "/media/whatsapp/{token}.png"
EXPORT_ROUTE = "/media/whatsapp/{token}.json"
# Any other image (a coupon's QR in a notice), kept in the shared store for Twilio to fetch.
IMAGE_ROUTE = "/media/whatsapp/image/{token}.png"
IMAGE_KEY = "whatsapp-image:{digest}"
IMAGE_TOKEN = re.compile(
    r"(?P<digest>[0-9a-f]{32})-(?P<expires>[0-9]{1,12})-(?P<signature>[0-9a-f]{64})"
)
# Free-form messages only within this time after the member's last message (WhatsApp's rule).
SESSION_WINDOW = timedelta(hours=24)
# Token kinds, signed into the HMAC: a card link cannot fetch an export, nor the reverse.
CARD = "card"
EXPORT = "export"
IMAGE = "image"
MEDIA_SUFFIX = {CARD: "png", EXPORT: "json"}
EXPORT_MIME_TYPE = "application/json"
MEDIA_TOKEN = re.compile(
    r"(?P<member>[0-9]{1,18})-(?P<expires>[0-9]{1,12})-(?P<signature>[0-9a-f]{64})"
)
MAX_CHOICE_DIGITS = 3
REQUEST_TIMEOUT_SECONDS = 10
CHOICES_KEY = "whatsapp-choices:{number}"
LAST_INBOUND_KEY = "whatsapp-last-inbound:{number}"
# Refusals worth explaining in the log: the member cannot get free text from us right now.
KNOWN_REFUSALS = {
    63016: "outside the 24-hour window (a template is needed)",
    21610: "the recipient unsubscribed (replied STOP to the number)",
    63024: "invalid recipient",
}
# Refusals that no retry cures, as the reason a notice is skipped.
UNREACHABLE_CODES = {63016: WHATSAPP_WINDOW, 21610: "unsubscribed", 63024: "invalid recipient"}

log = logging.getLogger(__name__)


class _RedirectingHttpClient(AsyncTwilioHttpClient):
    """The real async client, optionally aimed at another server (tests, a regional proxy).

    Its aiohttp session is opened on first use rather than in the constructor, so the client can
    be built before the event loop runs (aiohttp sessions need a running loop).
    """

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


def body_length(text: str) -> int:
    # Twilio counts UTF-16 code units: an emoji takes two of the 1600.
    return len(text.encode("utf-16-le")) // 2


def split_body(text: str, limit: int = MAX_BODY_LENGTH) -> list[str]:
    """Cut a long text into bodies Twilio accepts, at line breaks where possible, else spaces."""
    if body_length(text) <= limit:
        return [text]
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if body_length(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        current = line
        while body_length(current) > limit:
            cut = _cut_point(current, limit)
            chunks.append(current[:cut].rstrip())
            current = current[cut:].lstrip()
    if current.strip():
        chunks.append(current)
    return [chunk for chunk in chunks if chunk.strip()]


def _cut_point(line: str, limit: int) -> int:
    """The longest prefix within `limit`, shortened to the last space if one is not too far."""
    used = 0
    end = 0
    for index, char in enumerate(line):
        used += body_length(char)
        if used > limit:
            break
        end = index + 1
    space = line.rfind(" ", 0, end)
    return space if space > end // 2 else end


@dataclass(frozen=True)
class Rendered:
    body: str
    media_url: str | None


class WhatsAppChannel:
    def __init__(
        self,
        client: twilio.rest.Client,
        conversation: Conversation,
        updates: UpdateLog,
        store: ConversationStore,
        members: Members,
        *,
        sender: str,
        auth_token: str,
        public_url: str,
        media_key: bytes,
        clock: Clock,
    ) -> None:
        self.client = client
        self._conversation = conversation
        self._updates = updates
        self._store = store
        self._members = members
        self.sender = whatsapp_address(sender)
        self._validator = RequestValidator(auth_token)
        self._public_url = public_url.rstrip("/")
        self._media_key = media_key
        self._clock = clock

    # ------------------------------------------------------------------ inbound
    def register_webhook(self, app: web.Application, path: str = "/webhook/whatsapp") -> None:
        app.router.add_post(path, self.handle_webhook)
        app.router.add_get(MEDIA_ROUTE, self.handle_media)
        app.router.add_get(EXPORT_ROUTE, self.handle_export)
        app.router.add_get(IMAGE_ROUTE, self.handle_image)

    async def handle_webhook(self, request: web.Request) -> web.Response:
        form = await request.post()
        base_url = self._base_url(request)
        signature = request.headers.get(SIGNATURE_HEADER, "")
        algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
        # The form goes in as a MultiDict: twilio's validator reads repeated fields with getall.
        if not signature or not self._signed(
            base_url + request.raw_path, form, signature, algorithm
        ):
            log.warning("whatsapp webhook with a missing or wrong signature refused")
            return web.Response(status=403, text="forbidden")

        sender = str(form.get("From", ""))
        message_sid = str(form.get("MessageSid", ""))
        if (
            not sender.startswith(ADDRESS_PREFIX)
            or not message_sid
            or "MessageStatus" in form
            or sender == self.sender
        ):
            # Signed, but not a member's WhatsApp message: an SMS, or a delivery status callback
            # (From is then our own number) if the console points those here too.
            return self._twiml()
        if not await self._updates.first_time(f"{CHANNEL}:{message_sid}"):
            log.info("whatsapp message %s was already processed", message_sid)
            return self._twiml()

        number = sender.removeprefix(ADDRESS_PREFIX)
        await self._remember_inbound(number)
        incoming = await self._incoming(number, form)
        replies = await self._conversation.handle(incoming)
        await self.deliver(number, replies, base_url=base_url)
        # Twilio only needs to know we got it; the answers went out by REST.
        return self._twiml()

    def _signed(self, url: str, form: MultiDictProxy[Any], signature: str, algorithm: str) -> bool:
        try:
            return bool(self._validator.validate(url, form, signature, algorithm))
        except (TypeError, ValueError):
            # A multipart upload (non-text values) is nothing Twilio sends us.
            return False

    async def _incoming(self, number: str, form: MultiDictProxy[Any]) -> Incoming:
        text = str(form.get("Body", ""))
        action = str(form.get("ButtonPayload", "")) or await self._chosen_action(number, text)
        return Incoming(
            channel=CHANNEL,
            user_id=number,
            text=text,
            action=action,
            display_name=str(form.get("ProfileName", "")) or None,
            # WhatsApp does not tell the member's language; the conversation asks.
            language_code=None,
            # The sender's number is vouched for by WhatsApp: sign-up need not ask for it.
            verified_phone=number,
        )

    async def _chosen_action(self, number: str, text: str) -> str | None:
        """A reply that is exactly the number of an offered choice (in any script's digits)."""
        typed = ascii_digits(text).strip().rstrip(".")
        # Short ASCII digits only: a long digit string is no choice (and int() would refuse it).
        if not (typed.isascii() and typed.isdigit() and len(typed) <= MAX_CHOICE_DIGITS):
            return None
        stored = await self._store.get(CHOICES_KEY.format(number=number))
        actions = list(stored.get("actions", [])) if stored else []
        index = int(typed) - 1
        return str(actions[index]) if 0 <= index < len(actions) else None

    def _base_url(self, request: web.Request) -> str:
        """Scheme and host Twilio used: PUBLIC_URL, else what the proxy in front reports."""
        if self._public_url:
            return self._public_url
        scheme = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip()
        host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
        return f"{scheme or request.scheme}://{host or request.host}"

    @staticmethod
    def _twiml() -> web.Response:
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    # ------------------------------------------------------------------ 24-hour window
    async def _remember_inbound(self, number: str) -> None:
        key = LAST_INBOUND_KEY.format(number=number)
        await self._store.set(key, {"at": self._clock.now().isoformat()})

    async def last_inbound(self, number: str) -> datetime | None:
        """When the member last wrote to us: free text is allowed for 24 h after that."""
        stored = await self._store.get(LAST_INBOUND_KEY.format(number=number))
        if not stored or "at" not in stored:
            return None
        return datetime.fromisoformat(str(stored["at"]))

    async def window_open(self, number: str) -> bool:
        last = await self.last_inbound(number)
        return last is not None and self._clock.now() - last < SESSION_WINDOW

    # ------------------------------------------------------------------ outbound
    async def deliver(self, number: str, replies: list[Reply], *, base_url: str = "") -> None:
        """Send replies to a member, in order; a Twilio error is logged and ends this batch (the
        rest would fail alike, or arrive out of context)."""
        await self._send_replies(number, replies, base_url=base_url or self._public_url)

    async def send_outbound(self, external_id: str, replies: list[Reply], *, key: str) -> Delivery:
        """Send outside a conversation turn (a notice), as free text: only within 24 hours of
        the member's last message (after that WhatsApp wants an approved template, which we
        do not send). Images go as signed media links that Twilio fetches from PUBLIC_URL."""
        if not await self.window_open(external_id):
            return Delivery.unreachable(WHATSAPP_WINDOW)
        return await self._send_replies(external_id, replies, base_url=self._public_url)

    async def _send_replies(
        self,
        number: str,
        replies: list[Reply],
        *,
        base_url: str,
    ) -> Delivery:
        rendered, choices = await self._render(number, replies, base_url)
        if choices is not None:
            await self._store.set(CHOICES_KEY.format(number=number), {"actions": choices})
        for message in rendered:
            delivery = await self._send(number, message)
            if delivery.outcome is not Outcome.SENT:
                return delivery
        return Delivery.sent()

    async def _render(
        self, number: str, replies: list[Reply], base_url: str
    ) -> tuple[list[Rendered], list[str] | None]:
        rendered: list[Rendered] = []
        # Numbered across the whole batch, so two replies with choices never share a number.
        choices: list[str] = []
        cleared = False
        for reply in replies:
            lines = []
            for row in reply.buttons:
                for button in row:
                    if button.request_contact:
                        continue  # WhatsApp already gave us the number
                    choices.append(button.action)
                    lines.append(f"{len(choices)}. {button.label}")
            cleared = cleared or reply.remove_menu
            text = reply.text
            media_url = None
            if reply.image is not None and reply.image.is_card:
                media_url = await self._media_url(number, base_url, CARD)
            elif reply.image is not None:
                # Any other image (a coupon's or an invite's QR) as it is, kept in the shared
                # store behind a signed, short-lived link.
                media_url = await self._image_url(reply.image, base_url)
            elif reply.document is not None and self._is_export(reply.document):
                # WhatsApp takes documents only as PDF or Office files (Twilio refuses other
                # media types), so the member gets the signed, short-lived link to open.
                link = await self._media_url(number, base_url, EXPORT)
                if link is not None:
                    text += "\n" + link
            if lines:
                text += "\n\n" + "\n".join(lines)
            bodies = split_body(text)
            rendered.append(Rendered(bodies[0], media_url))
            rendered.extend(Rendered(body, None) for body in bodies[1:])
        # Replies without buttons keep the last menu answerable, as a persistent keyboard would.
        if choices or cleared:
            return rendered, choices
        return rendered, None

    async def _send(self, number: str, message: Rendered) -> Delivery:
        extra: dict[str, Any] = {}
        if message.media_url is not None:
            extra["media_url"] = [message.media_url]
        try:
            await self.client.messages.create_async(
                from_=self.sender, to=whatsapp_address(number), body=message.body, **extra
            )
            return Delivery.sent()
        except TwilioRestException as error:
            reason = KNOWN_REFUSALS.get(error.code or 0, "refused")
            log.warning(
                "twilio did not send to %s: %s (code %s, HTTP %s: %s)",
                number,
                reason,
                error.code,
                error.status,
                error.msg,
            )
            if error.code in UNREACHABLE_CODES:
                return Delivery.unreachable(UNREACHABLE_CODES[error.code])
            return Delivery.failed(f"twilio {error.code} (HTTP {error.status}): {error.msg}")
        except (TwilioException, aiohttp.ClientError, TimeoutError) as error:
            log.warning("twilio request for %s failed: %r", number, error)
            return Delivery.failed(repr(error))

    # ------------------------------------------------------------------ media
    @staticmethod
    def _is_export(document: Document) -> bool:
        """Twilio can only fetch what we can regenerate: the only document is the data export."""
        if document.mime_type != EXPORT_MIME_TYPE:
            log.warning("document %s is no data export: only its text is sent", document.filename)
            return False
        return True

    async def _media_url(self, number: str, base_url: str, kind: str) -> str | None:
        """A signed, short-lived link to the member's card QR or data export, or None."""
        if not base_url:
            # Twilio must fetch the media from somewhere public: without PUBLIC_URL (and outside
            # a webhook, where the request tells us our address) we send the caption alone.
            log.warning("no public URL: the %s media for %s is not sent", kind, number)
            return None
        member = await self._members.find(IdentityKey(CHANNEL, number))
        if member is None:
            log.warning("no member for %s: their %s media is not sent", number, kind)
            return None
        expires = int((self._clock.now() + MEDIA_TOKEN_LIFETIME).timestamp())
        token = self.media_token(member.id, expires, kind=kind)
        return f"{base_url}/media/whatsapp/{token}.{MEDIA_SUFFIX[kind]}"

    async def _image_url(self, image: Image, base_url: str) -> str | None:
        """A signed, short-lived link to this very image, kept in the shared store (so any
        process behind the load balancer can serve Twilio's fetch)."""
        if not base_url:
            log.warning("no public URL: an image (%s) is not sent", image.filename)
            return None
        digest = hashlib.sha256(image.png).hexdigest()[:32]
        await self._store.set(
            IMAGE_KEY.format(digest=digest), {"png": base64.b64encode(image.png).decode()}
        )
        expires = int((self._clock.now() + MEDIA_TOKEN_LIFETIME).timestamp())
        signature = self._media_signature(digest, expires, IMAGE)
        return f"{base_url}/media/whatsapp/image/{digest}-{expires}-{signature}.png"

    async def handle_image(self, request: web.Request) -> web.Response:
        match = IMAGE_TOKEN.fullmatch(request.match_info["token"])
        if match is None:
            return web.Response(status=403, text="forbidden")
        digest, expires = match["digest"], int(match["expires"])
        expected = self._media_signature(digest, expires, IMAGE)
        if not hmac.compare_digest(match["signature"].encode(), expected.encode()):
            return web.Response(status=403, text="forbidden")
        if expires < self._clock.now().timestamp():
            return web.Response(status=403, text="expired")
        stored = await self._store.get(IMAGE_KEY.format(digest=digest))
        if not stored or "png" not in stored:
            return web.Response(status=404, text="not found")
        return web.Response(
            body=base64.b64decode(stored["png"]),
            content_type="image/png",
            headers={"Cache-Control": "private, max-age=600"},
        )

    def media_token(self, member_id: int, expires: int, *, kind: str = CARD) -> str:
        """`<member id>-<unix expiry>-<HMAC>`: names one member's media of one kind (card or
        export), unforgeable without media_key."""
        return f"{member_id}-{expires}-{self._media_signature(member_id, expires, kind)}"

    def _media_signature(self, subject: int | str, expires: int, kind: str) -> str:
        message = f"whatsapp-{kind}:{subject}:{expires}".encode()
        return hmac.new(self._media_key, message, hashlib.sha256).hexdigest()

    def _verified_member(self, token: str, kind: str) -> int | web.Response:
        """The member id a genuine, fresh token of this kind names, else the 403 to answer."""
        match = MEDIA_TOKEN.fullmatch(token)
        if match is None:
            return web.Response(status=403, text="forbidden")
        member_id, expires = int(match["member"]), int(match["expires"])
        expected = self._media_signature(member_id, expires, kind)
        # Signature before expiry, and both before the database: guessing costs no query.
        if not hmac.compare_digest(match["signature"].encode(), expected.encode()):
            return web.Response(status=403, text="forbidden")
        if expires < self._clock.now().timestamp():
            return web.Response(status=403, text="expired")
        return member_id

    async def handle_media(self, request: web.Request) -> web.Response:
        """The card QR of the member a token names, while the token is fresh and genuine."""
        verified = self._verified_member(request.match_info["token"], CARD)
        if isinstance(verified, web.Response):
            return verified
        try:
            member = await self._members.get(verified)
        except MemberNotFound:
            return web.Response(status=404, text="not found")
        return web.Response(
            body=qr.png(member.card_code),
            content_type="image/png",
            headers={"Cache-Control": "private, max-age=600"},
        )

    async def handle_export(self, request: web.Request) -> web.Response:
        """Everything stored about the member a token names, made afresh on every fetch (the
        export is personal data: it is never written anywhere, nor cached on the way)."""
        verified = self._verified_member(request.match_info["token"], EXPORT)
        if isinstance(verified, web.Response):
            return verified
        try:
            data = await self._members.export(verified)
        except MemberNotFound:
            return web.Response(status=404, text="not found")
        # As handlers/menu.py words the Telegram file.
        content = json.dumps(data, ensure_ascii=False, indent=2).encode()
        filename = f"my-data-{data['profile']['card_code']}.json"
        return web.Response(
            body=content,
            content_type=EXPORT_MIME_TYPE,
            charset="utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
            },
        )

    async def close(self) -> None:
        http_client = self.client.http_client
        if isinstance(http_client, AsyncTwilioHttpClient):
            await http_client.close()
