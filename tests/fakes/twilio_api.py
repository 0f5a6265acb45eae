"""A small fake Twilio REST API for end-to-end tests with the real `twilio` client.

Point the client at it with
`bots.whatsapp.transport.create_client(sid, token, api_url=fake.base_url)`.

What it speaks, as the real API does (2010-04-01):
- `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP basic auth `AccountSid:AuthToken`,
  an `application/x-www-form-urlencoded` body with `To`, `From`, `Body` and repeatable `MediaUrl`;
- `201 Created` with the message resource as JSON (`sid` "SM…", `status` "queued", …);
- errors as `{"code": 20003, "message": ..., "more_info": ..., "status": 401}`.

Also builds signed inbound webhook forms, the way Twilio posts a member's WhatsApp message.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import secrets
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from aiohttp import web
from twilio.request_validator import RequestValidator

from tests.fakes.server import LocalServer

JSON = dict[str, Any]
MAX_BODY_LENGTH = 1600
ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    21211: "Invalid 'To' Phone Number",
    21602: "Message body is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    21910: "Invalid From and To pair. From and To should be of the same channel",
    63016: (
        "Failed to send freeform message because you are outside the allowed window. "
        "If you are using WhatsApp, please use a Message Template."
    ),
}


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def error_body(code: int, status: int, message: str | None = None) -> JSON:
    return {
        "code": code,
        "message": message or ERROR_MESSAGES.get(code, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def bare_number(address: str) -> str:
    return address.removeprefix("whatsapp:")


@dataclass
class SentMessage:
    """One Messages.json call as the fake received it, and how it answered."""

    to: str
    from_: str
    body: str
    media_urls: list[str]
    status: int
    sid: str | None = None
    error_code: int | None = None
    form: dict[str, list[str]] = field(default_factory=dict)
    # When the fake received it (time.monotonic()), for tests of pacing.
    at: float = field(default_factory=time.monotonic)

    @property
    def number(self) -> str:
        return bare_number(self.to)


class FakeTwilioAPI(LocalServer):
    def __init__(self, *, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.calls: list[SentMessage] = []
        self._failures: list[tuple[int, int]] = []
        self._unsubscribed: set[str] = set()
        self._changed = asyncio.Event()
        super().__init__()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._changed = asyncio.Event()  # bound to the loop that starts us
        await super().start()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/2010-04-01/Accounts/{account_sid}/Messages.json", self._create)

    # ------------------------------------------------------------------ test controls
    def fail_next(self, code: int, status: int = 400) -> None:
        """The next Messages.json call answers with this Twilio error instead of sending."""
        self._failures.append((code, status))

    def unsubscribe(self, number: str) -> None:
        """The member replied STOP: every later message to them is refused (21610)."""
        self._unsubscribed.add(bare_number(number))

    def sent_to(self, number: str) -> list[SentMessage]:
        """Messages Twilio accepted for this member ("+7…" or "whatsapp:+7…")."""
        wanted = bare_number(number)
        return [call for call in self.calls if call.number == wanted and call.status == 201]

    async def wait_for_sent(
        self,
        number: str,
        count: int,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[SentMessage]:
        deadline = time.monotonic() + timeout
        while True:
            # Cleared before counting, so a message recorded in between still wakes us.
            self._changed.clear()
            sent = self.sent_to(number)
            remaining = deadline - time.monotonic()
            if len(sent) >= count:
                return sent
            if remaining <= 0:
                raise AssertionError(f"expected {count} messages to {number}, got {len(sent)}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    # ------------------------------------------------------------------ the API
    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user, self.account_sid) and secrets.compare_digest(
            password, self.auth_token
        )

    async def _create(self, request: web.Request) -> web.Response:
        form = await request.post()
        fields = {key: [str(value) for value in form.getall(key)] for key in set(form)}
        call = SentMessage(
            to=str(form.get("To", "")),
            from_=str(form.get("From", "")),
            body=str(form.get("Body", "")),
            media_urls=fields.get("MediaUrl", []),
            status=201,
            form=fields,
        )
        if not self._authorized(request):
            code, status = 20003, 401
        elif request.match_info["account_sid"] != self.account_sid:
            code, status = 20404, 404
        else:
            code, status = self._refusal(call)
        if code:
            call.status, call.error_code = status, code
            return self._record(call, web.json_response(error_body(code, status), status=status))
        call.sid = new_sid("SM")
        return self._record(call, web.json_response(self._resource(call), status=201))

    def _refusal(self, call: SentMessage) -> tuple[int, int]:
        """(Twilio error code, HTTP status) this call earns, or (0, 0) to accept it."""
        if self._failures:
            return self._failures.pop(0)
        if not call.to:
            return 21211, 400
        if call.number in self._unsubscribed:
            return 21610, 400
        if call.to.startswith("whatsapp:") != call.from_.startswith("whatsapp:"):
            return 21910, 400
        if not call.body and not call.media_urls and not call.form.get("ContentSid"):
            return 21602, 400
        # Twilio counts UTF-16 code units.
        if len(call.body.encode("utf-16-le")) // 2 > MAX_BODY_LENGTH:
            return 21617, 400
        return 0, 0

    def _record(self, call: SentMessage, response: web.Response) -> web.Response:
        self.calls.append(call)
        self._changed.set()
        return response

    def _resource(self, call: SentMessage) -> JSON:
        now = formatdate(usegmt=True)
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{call.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": call.body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": call.from_,
            "messaging_service_sid": None,
            "num_media": str(len(call.media_urls)),
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": call.sid,
            "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": call.to,
            "uri": f"{uri}.json",
        }


def signed_inbound(
    url: str,
    auth_token: str,
    *,
    account_sid: str,
    from_number: str,
    to_number: str,
    body: str,
    profile_name: str = "Ann",
    button_payload: str | None = None,
    message_sid: str | None = None,
    media: tuple[str, str] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """(form, headers) of an inbound WhatsApp message as Twilio posts it to `url`."""
    form = {
        "SmsMessageSid": "",
        "NumMedia": "0",
        "ProfileName": profile_name,
        "MessageType": "button" if button_payload else "text",
        "SmsSid": "",
        "WaId": bare_number(from_number).lstrip("+"),
        "SmsStatus": "received",
        "Body": body,
        "To": f"whatsapp:{bare_number(to_number)}",
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": message_sid or new_sid("SM"),
        "AccountSid": account_sid,
        "From": f"whatsapp:{bare_number(from_number)}",
        "ApiVersion": "2010-04-01",
    }
    form["SmsMessageSid"] = form["SmsSid"] = form["MessageSid"]
    if button_payload is not None:
        form["ButtonPayload"] = button_payload
        form["ButtonText"] = body
    if media is not None:
        # (content type, URL) of one attachment, as Twilio numbers them from 0.
        form["NumMedia"] = "1"
        form["MediaContentType0"], form["MediaUrl0"] = media
        form["MessageSid"] = form["SmsSid"] = form["SmsMessageSid"] = "MM" + form["MessageSid"][2:]
        form["MessageType"] = "image"
    signature = RequestValidator(auth_token).compute_signature(url, form)
    return form, {"X-Twilio-Signature": signature}
