"""WhatsApp (Twilio): signed form posts become `Incoming`, replies become REST messages.

Twilio posts each inbound message to PUBLIC_URL/webhook/whatsapp; we answer with empty TwiML and
send the bot's replies through the Messages API (`create_async`, never blocking the event loop).
WhatsApp has no custom keyboards for free-form messages, so buttons become numbered choices that
the member answers with the number; the member card QR, other images and the member's data
export ("My data") go as signed, short-lived links that Twilio (or the member) fetches from the
web app.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from ipaddress import IPv4Network, IPv6Network, ip_address

import twilio.rest
from aiohttp import web
from multidict import MultiDictProxy
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from bots.base import MediaLinks, Spawn
from bots.keys import KeyedStore
from bots.outbound import WHATSAPP_WINDOW, Delivery, Outcome
from bots.updates import once
from bots.webhooks import read_form
from bots.whatsapp.render import Rendered, bodies, number_choices
from bots.whatsapp.transport import (
    ADDRESS_PREFIX,
    close_client,
    send_message,
    whatsapp_address,
)
from core.db.state import ConversationStore, UpdateLog
from core.members.accounts import IdentityKey, Members
from core.shared.clock import Clock
from core.shared.languages import language_for_phone
from core.shared.redaction import who
from handlers.conversation import Conversation
from handlers.messages import Document, Incoming, Reply
from handlers.render.parsing import ascii_digits

CHANNEL = "whatsapp"
IPNetwork = IPv4Network | IPv6Network
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# Free-form messages only within this time after the member's last message (WhatsApp's rule).
SESSION_WINDOW = timedelta(hours=24)
EXPORT = "export"
EXPORT_MIME_TYPE = "application/json"
MAX_CHOICE_DIGITS = 3
# What the channel keeps in the shared store, per member's number.
CHOICES = "choices"

NOT_A_MESSAGE = "not a Twilio message"
# The shape of every field Twilio sends that we read or that names the message. Twilio signs
# the names and values run together, so a value that strays from its shape may carry a
# neighbour's name and value (MessageSid=SM...MessageTypetext): refused, not read.
_SID = "[0-9a-fA-F]{32}"
_ADDRESS = r"(?:whatsapp:)?\+[0-9]{1,15}"
FIELD_SHAPES: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern)
    for name, pattern in {
        "MessageSid": f"(?:SM|MM){_SID}",
        "SmsMessageSid": f"(?:SM|MM){_SID}",
        "SmsSid": f"(?:SM|MM){_SID}",
        "AccountSid": f"AC{_SID}",
        "MessagingServiceSid": f"MG{_SID}",
        "From": _ADDRESS,
        "To": _ADDRESS,
        "WaId": "[0-9]{1,15}",
        "NumMedia": "[0-9]{1,2}",
        "NumSegments": "[0-9]{1,3}",
        "ReferralNumMedia": "[0-9]{1,2}",
        "MessageType": "[a-z_]{1,32}",
        "SmsStatus": "[a-z_]{1,32}",
        "MessageStatus": "[a-z_]{1,32}",
        "ApiVersion": "[0-9]{4}-[0-9]{2}-[0-9]{2}",
    }.items()
}
# What a member's message cannot be without (a status callback has them too).
REQUIRED_FIELDS = ("MessageSid", "AccountSid", "From", "To")

log = logging.getLogger("bots.whatsapp")


def malformed_field(form: MultiDictProxy[str]) -> str | None:
    """The name of the first field that is missing, repeated or not in Twilio's shape; None
    when every field we know of is as Twilio writes it."""
    for name in REQUIRED_FIELDS:
        if name not in form:
            return name
    for name, shape in FIELD_SHAPES.items():
        values = form.getall(name, [])
        if len(values) > 1 or any(shape.fullmatch(value) is None for value in values):
            return name
    return None


def is_trusted(peer: str | None, proxies: Sequence[IPNetwork]) -> bool:
    """Whether the peer (`request.remote`) is one of the operator's proxies."""
    if not peer or not proxies:
        return False
    try:
        address = ip_address(peer)
    except ValueError:  # a Unix socket's peer, say
        return False
    return any(address in network for network in proxies)


class WhatsAppChannel:
    name = CHANNEL

    def __init__(
        self,
        client: twilio.rest.Client,
        conversation: Conversation,
        updates: UpdateLog,
        store: ConversationStore,
        members: Members,
        *,
        account_sid: str,
        sender: str,
        auth_token: str,
        public_url: str,
        media: MediaLinks,
        clock: Clock,
        trusted_proxies: Sequence[IPNetwork] = (),
    ) -> None:
        self.client = client
        self._conversation = conversation
        self._updates = updates
        self._store = KeyedStore(store, CHANNEL)
        self._members = members
        self._account_sid = account_sid
        self.sender = whatsapp_address(sender)
        self._validator = RequestValidator(auth_token)
        self._public_url = public_url.rstrip("/")
        self.media = media
        self._clock = clock
        self._trusted_proxies = tuple(trusted_proxies)

    # ------------------------------------------------------------------ the Channel protocol
    def register_routes(self, app: web.Application) -> None:
        self.register_webhook(app)

    async def start(self, spawn: Spawn) -> None:
        # Twilio posts to us; there is nothing to poll.
        log.info("whatsapp: Twilio webhook at %s/webhook/whatsapp", self._public_url)

    async def stop(self) -> None:
        return None

    # ------------------------------------------------------------------ inbound
    def register_webhook(self, app: web.Application, path: str = "/webhook/whatsapp") -> None:
        app.router.add_post(path, self.handle_webhook)
        self.media.mount(app)

    async def handle_webhook(self, request: web.Request) -> web.Response:
        # The signature covers the form, so the form is read first: bounded, uncompressed,
        # parsed defensively (bots.webhooks).
        form = await read_form(request, NOT_A_MESSAGE)
        base_url = self._base_url(request)
        signature = request.headers.get(SIGNATURE_HEADER, "")
        algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
        # The form goes in as a MultiDict: twilio's validator reads repeated fields with getall.
        if not signature or not self._signed(
            base_url + request.raw_path, form, signature, algorithm
        ):
            log.warning("whatsapp webhook with a missing or wrong signature refused")
            return web.Response(status=403, text="forbidden")
        malformed = malformed_field(form)
        if malformed is not None:
            # Signed, yet not as Twilio writes it: names and values shifted under the same
            # signature (which runs them together), made to slip past the de-duplication.
            log.warning("whatsapp webhook with a malformed %s refused", malformed)
            return web.Response(status=400, text=f"malformed {malformed}")
        foreign = self._foreign(form)
        if foreign is not None:
            # Signed with our token, yet not for us: a subaccount's message, or one to a number
            # of ours that is no WhatsApp sender of this shop. Neither handled nor answered.
            log.warning("whatsapp webhook refused: %s", foreign)
            return web.Response(status=403, text=foreign)

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
        name = f"whatsapp message {message_sid}"
        async with once(self._updates, f"{CHANNEL}:{message_sid}", name) as new:
            if not new:
                return self._twiml()
            number = sender.removeprefix(ADDRESS_PREFIX)
            incoming = await self._incoming(number, form)
            replies = await self._conversation.handle(incoming)
            await self.deliver(number, replies, base_url=base_url)
        # Twilio only needs to know we got it; the answers went out by REST.
        return self._twiml()

    def _foreign(self, form: MultiDictProxy[str]) -> str | None:
        """Why a signed request is not ours to handle (another account, or a message to a
        number that is not our WhatsApp sender); None when it is ours. A status callback is
        addressed to the member (its From is our number), so only a message's To is ours."""
        if not secrets.compare_digest(
            str(form.get("AccountSid", "")).encode(), self._account_sid.encode()
        ):
            return "not our Twilio account"
        if form.get("From") != self.sender and form.get("To") != self.sender:
            return "not our WhatsApp number"
        return None

    def _signed(self, url: str, form: MultiDictProxy[str], signature: str, algorithm: str) -> bool:
        try:
            return bool(self._validator.validate(url, form, signature, algorithm))
        except (TypeError, ValueError):
            # A signature header that is not what the algorithm produces.
            return False

    async def _incoming(self, number: str, form: MultiDictProxy[str]) -> Incoming:
        text = str(form.get("Body", ""))
        action = str(form.get("ButtonPayload", "")) or await self._chosen_action(number, text)
        return Incoming(
            channel=CHANNEL,
            user_id=number,
            text=text,
            action=action,
            display_name=str(form.get("ProfileName", "")) or None,
            # WhatsApp does not tell the member's language: their number's country hints at it
            # (the welcome offers the others in one tap).
            language_code=language_for_phone(number),
            # The sender's number is vouched for by WhatsApp: sign-up need not ask for it.
            verified_phone=number,
            photo=_photo(form),
        )

    async def _chosen_action(self, number: str, text: str) -> str | None:
        """A reply that is exactly the number of an offered choice (in any script's digits)."""
        typed = ascii_digits(text).strip().rstrip(".")
        # Short ASCII digits only: a long digit string is no choice (and int() would refuse it).
        if not (typed.isascii() and typed.isdigit() and len(typed) <= MAX_CHOICE_DIGITS):
            return None
        stored = await self._store.get(self._store.key(CHOICES, number))
        actions = list(stored.get("actions", [])) if stored else []
        index = int(typed) - 1
        return str(actions[index]) if 0 <= index < len(actions) else None

    def _base_url(self, request: web.Request) -> str:
        """Scheme and host Twilio used: PUBLIC_URL, else what the proxy in front reports (only
        a peer in TRUSTED_PROXIES is believed), else what the request itself says."""
        if self._public_url:
            return self._public_url
        scheme = host = ""
        if is_trusted(request.remote, self._trusted_proxies):
            scheme = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip()
            host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
        return f"{scheme or request.scheme}://{host or request.host}"

    @staticmethod
    def _twiml() -> web.Response:
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    # ------------------------------------------------------------------ 24-hour window
    async def last_inbound(self, number: str) -> datetime | None:
        """When the member last wrote to us: free text is allowed for 24 h after that. The
        conversation records it on the member's WhatsApp account (core.members.activity),
        at most a minute older than the last message: the window closes that much early,
        never late."""
        return await self._members.last_seen(IdentityKey(CHANNEL, number))

    async def window_open(self, number: str) -> bool:
        last = await self.last_inbound(number)
        return last is not None and self._clock.now() - last < SESSION_WINDOW

    # ------------------------------------------------------------------ outbound
    async def deliver(self, number: str, replies: list[Reply], *, base_url: str = "") -> None:
        """Send replies to a member, in order; a Twilio error is logged and ends this batch (the
        rest would fail alike, or arrive out of context)."""
        await self._send_replies(number, replies, base_url=base_url or self._public_url)

    async def send_outbound(
        self, external_id: str, replies: list[Reply], *, key: str, wait_rate_limit: bool = True
    ) -> Delivery:
        """Send outside a conversation turn (a notice), as free text: only within 24 hours of
        the member's last message (after that WhatsApp wants an approved template, which we
        do not send). Images go as signed media links that Twilio fetches from PUBLIC_URL."""
        if not await self.window_open(external_id):
            return Delivery.unreachable(WHATSAPP_WINDOW)
        return await self._send_replies(external_id, replies, base_url=self._public_url)

    async def send_template(
        self, external_id: str, content_sid: str, variables: Mapping[str, str]
    ) -> Delivery:
        """An approved template (Twilio's ContentSid and its variables): WhatsApp delivers
        it outside the 24-hour window, where free text is refused."""
        content = json.dumps(dict(variables), ensure_ascii=False)
        return await send_message(
            self.client, self.sender, external_id, "", None, template=(content_sid, content)
        )

    async def _send_replies(self, number: str, replies: list[Reply], *, base_url: str) -> Delivery:
        rendered, choices = await self._render(number, replies, base_url)
        if choices is not None:
            await self._store.set(self._store.key(CHOICES, number), {"actions": choices})
        for message in rendered:
            delivery = await send_message(
                self.client, self.sender, number, message.body, message.media_url
            )
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
            lines = number_choices(reply, choices)
            cleared = cleared or reply.remove_menu
            text = reply.text
            media_url = None
            if reply.image is not None:
                media_url = await self._media_url(number, base_url, reply)
            elif reply.document is not None and self._is_export(reply.document):
                # WhatsApp takes documents only as PDF or Office files (Twilio refuses other
                # media types), so the member gets the signed, short-lived link to open.
                link = await self._media_url(number, base_url, reply)
                if link is not None:
                    text += "\n" + link
            rendered.extend(bodies(text, lines, media_url))
        # Replies without buttons keep the last menu answerable, as a persistent keyboard would.
        if choices or cleared:
            return rendered, choices
        return rendered, None

    # ------------------------------------------------------------------ media
    @staticmethod
    def _is_export(document: Document) -> bool:
        """Only the data export goes as a link: other documents would need a route of their
        own and a member-facing reason to exist."""
        if document.mime_type != EXPORT_MIME_TYPE:
            log.warning("document %s is no data export: only its text is sent", document.filename)
            return False
        return True

    async def _media_url(self, number: str, base_url: str, reply: Reply) -> str | None:
        """A signed, short-lived link to the reply's image or export, or None."""
        kind = "image" if reply.image is not None else EXPORT
        if not base_url:
            # Twilio must fetch the media from somewhere public: without PUBLIC_URL (and outside
            # a webhook, where the request tells us our address) we send the caption alone.
            log.warning(
                "no public URL: the %s media for %s is not sent", kind, who(CHANNEL, number)
            )
            return None
        if reply.image is not None and reply.image.stored is not None:
            # A broadcast's image: one link for all its recipients, served from the database.
            return base_url + self.media.stored_image_path(reply.image.stored)
        if reply.image is not None and not reply.image.is_card:
            # A coupon's or an invite's QR as it is, for any process behind the balancer.
            return base_url + await self.media.image_path(reply.image)
        member = await self._members.find(IdentityKey(CHANNEL, number))
        if member is None:
            log.warning("no member for %s: their %s media is not sent", who(CHANNEL, number), kind)
            return None
        if reply.image is not None:
            return base_url + await self.media.card_path(member.id)
        # The link names the member; the web app has the handlers build the export when it
        # is fetched, so the reply's copy is not kept anywhere.
        return base_url + await self.media.export_path(member.id)

    async def close(self) -> None:
        await close_client(self.client)


def _photo(form: MultiDictProxy[str]) -> str | None:
    """The first image the member sent (Twilio's media URL, fetched with the account's
    credentials), if any."""
    if str(form.get("NumMedia", "0")) in ("", "0"):
        return None
    kind, url = str(form.get("MediaContentType0", "")), str(form.get("MediaUrl0", ""))
    return url if kind.startswith("image/") and url.startswith("https://") else None
