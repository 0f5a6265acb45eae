"""A member's WhatsApp conversation end to end: signed Twilio webhooks in, the real twilio client
sending through a fake Twilio REST API out, asserted on what the member receives and on the
database."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
from datetime import date, timedelta
from ipaddress import ip_network
from typing import Any, Protocol
from urllib.parse import urlsplit

import pytest
import zxingcpp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from sqlalchemy import select, update
from twilio.request_validator import RequestValidator

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from bots.whatsapp.channel import EMPTY_TWIML
from bots.whatsapp.render import MAX_BODY_LENGTH, body_length, split_body
from core.db.models import Identity, LedgerEntry, Member
from core.members.accounts import IdentityKey, Profile, Registration
from core.shared import cards
from handlers.menus.privacy import export_document
from handlers.messages import Button, Document, Layout, Reply
from tests.conftest import Backend, make_settings
from tests.data import count, scalar
from tests.fakes.twilio_api import FakeTwilioAPI, SentMessage, signed_inbound
from tests.whatsapp_member import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SHOP_NUMBER,
    WEBHOOK_PATH,
    WhatsApp,
    build_channel,
    fake_twilio,
    free_port,
    whatsapp,
)
from web.app import PROBLEM_TYPE
from web.media import CARD, EXPORT, LINK_EXPIRED, media_store_key

CHOICE = re.compile(r"^(\d+)\. (.+)$")

# The fixtures this module uses, and what it still hands on to the tests that import the
# WhatsApp side from here (its home is tests/whatsapp_member.py).
__all__ = [
    "ACCOUNT_SID",
    "AUTH_TOKEN",
    "SHOP_NUMBER",
    "WEBHOOK_PATH",
    "WhatsApp",
    "build_channel",
    "fake_twilio",
    "free_port",
    "whatsapp",
]


def export_link(message: SentMessage) -> str:
    (link,) = re.findall(r"https?://\S+\.json", message.body)
    return str(link)


def choices(message: SentMessage) -> dict[str, str]:
    """The numbered choices at the end of a message: label -> number."""
    found = {}
    for line in message.body.splitlines():
        match = CHOICE.match(line)
        if match:
            found[match[2]] = match[1]
    return found


class WhatsAppSide(Protocol):
    """What a WhatsAppMember needs of the app it talks to (this file's and the parity test's)."""

    @property
    def runtime(self) -> Runtime: ...
    @property
    def client(self) -> TestClient[Any, Any]: ...
    @property
    def fake(self) -> FakeTwilioAPI: ...
    @property
    def public_url(self) -> str: ...


class WhatsAppMember:
    def __init__(self, app: WhatsAppSide, number: str, *, profile_name: str = "Ann") -> None:
        self.app = app
        self.number = number
        self.profile_name = profile_name

    @property
    def received(self) -> list[SentMessage]:
        return self.app.fake.sent_to(self.number)

    @property
    def last(self) -> SentMessage:
        return self.received[-1]

    def form(self, body: str, **fields: Any) -> tuple[dict[str, str], dict[str, str]]:
        return signed_inbound(
            self.app.public_url + WEBHOOK_PATH,
            AUTH_TOKEN,
            account_sid=ACCOUNT_SID,
            from_number=self.number,
            to_number=SHOP_NUMBER,
            body=body,
            profile_name=self.profile_name,
            **fields,
        )

    async def post(self, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        response = await self.app.client.post(WEBHOOK_PATH, data=form, headers=headers)
        return response.status, await response.text()

    async def send(self, body: str, **fields: Any) -> list[SentMessage]:
        """Write to the shop; what the member received in answer."""
        before = len(self.received)
        status, text = await self.post(*self.form(body, **fields))
        assert status == 200, text
        assert text == EMPTY_TWIML
        return self.received[before:]

    async def say(self, body: str, **fields: Any) -> SentMessage:
        answers = await self.send(body, **fields)
        assert answers, f"no answer to {body!r}"
        return answers[-1]

    async def choose(self, label: str) -> SentMessage:
        """Answer with the number of the offered choice whose label contains `label`."""
        offered = choices(self.last)
        numbers = [number for text, number in offered.items() if label in text]
        assert len(numbers) == 1, f"{label!r} is not one choice of {offered}"
        return await self.say(numbers[0])

    async def sign_up(self, *, marketing: bool = False) -> SentMessage:
        """Three messages: hello, accept the terms, answer about offers."""
        await self.say("Hi")
        await self.choose("I accept")
        return await self.choose("Yes, please" if marketing else "No, thanks")

    async def profile(self) -> Profile:
        member = await self.app.runtime.program.members.find(IdentityKey("whatsapp", self.number))
        assert member is not None
        return member


async def test_joining_by_numbers_takes_three_messages_and_keeps_the_number(
    whatsapp: WhatsApp,
) -> None:
    ann = WhatsAppMember(whatsapp, "+49990001122", profile_name="Ann Lee")

    welcome = await ann.say("Hello")
    assert welcome.to == "whatsapp:+49990001122"
    assert welcome.from_ == f"whatsapp:{SHOP_NUMBER}"
    assert "Welcome to Loyalty Club" in welcome.body
    assert "1 point for every" in welcome.body
    assert choices(welcome) == {
        "✅ I accept the terms": "1",
        "❌ Decline": "2",
        "Русский": "3",
        "فارسی": "4",
    }
    offers = await ann.say("1")
    assert choices(offers) == {"🔔 Yes, please": "1", "No, thanks": "2"}
    done = await ann.say("2")

    assert done.body.startswith("Your card is ready! You get 100 points as a welcome gift.")
    assert "💰 Balance" in choices(done)
    assert "👤 Profile" in choices(done)
    runtime = whatsapp.runtime
    member = await scalar(runtime, select(Member))
    assert member.name == "Ann Lee"
    assert (member.phone, member.phone_verified) == ("+49990001122", True)
    assert member.birthday is None
    assert member.marketing_opt_in is False
    assert member.balance == 100
    identity = await scalar(runtime, select(Identity))
    assert (identity.channel, identity.external_id) == ("whatsapp", "+49990001122")
    assert await count(runtime, LedgerEntry, LedgerEntry.reason == "welcome") == 1


@pytest.mark.parametrize(
    ("profile_name", "stored"),
    [("W" * 200, "W" * 128), ("Ann\x00 \u2028Lee\x1b", "Ann Lee"), ("\x00\t", None)],
    ids=["200-characters", "control-characters", "nothing-left"],
)
async def test_every_profile_name_whatsapp_sends_can_join(
    whatsapp: WhatsApp, profile_name: str, stored: str | None
) -> None:
    ann = WhatsAppMember(whatsapp, "+49990001188", profile_name=profile_name)

    done = await ann.sign_up()

    assert done.body.startswith("Your card is ready!"), done.body
    member = await scalar(whatsapp.runtime, select(Member))
    assert member.name == stored


async def test_balance_by_a_typed_word_and_by_number(whatsapp: WhatsApp) -> None:
    ann = WhatsAppMember(whatsapp, "+49990001123")
    menu = await ann.sign_up()

    typed = await ann.say("баланс")
    assert typed.body == "You have 100 points.\nThat is worth RUB100 at the till."
    assert (await ann.say("  BALANCE ")).body == typed.body, "any case and spacing"
    by_number = await ann.say(choices(menu)["💰 Balance"])
    assert by_number.body == typed.body
    # A reply without choices keeps the menu answerable, like a persistent keyboard.
    again = await ann.say(choices(menu)["💰 Balance"])
    assert again.body == typed.body
    unknown = await ann.say("42")
    assert "did not understand" in unknown.body, "a number that is no choice is just text"
    assert "did not understand" in (await ann.say("9" * 5000)).body
    # A quick-reply button of a template reports its payload.
    pressed = await ann.say("Check my points", button_payload="menu:balance")
    assert pressed.body == typed.body


async def test_the_card_is_sent_as_signed_short_lived_media(whatsapp: WhatsApp) -> None:
    ann = WhatsAppMember(whatsapp, "+49990001124")
    await ann.sign_up()
    member = await ann.profile()

    card = await ann.choose("My card")
    assert cards.display(member.card_code) in card.body, "the text is the media's caption"
    (media_url,) = card.media_urls
    assert media_url.startswith(f"{whatsapp.public_url}/media/whatsapp/")
    path = urlsplit(media_url).path
    response = await whatsapp.client.get(path)
    assert response.status == 200
    assert response.content_type == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(await response.read())))
    assert [code.text for code in decoded] == [member.card_code]

    member_id, expires, signature = (
        path.removeprefix("/media/whatsapp/").removesuffix(".png").split("-")
    )
    tampered_signature = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    other = f"{int(member_id, 16) + 1:032x}"
    forged = [
        f"{member_id}-{expires}-{tampered_signature}",
        f"{other}-{expires}-{signature}",  # someone else's card
        f"{member_id}-{int(expires) + 3600}-{signature}",  # a longer life
        f"{member_id}-{expires}",
        "garbage",
    ]
    for token in forged:
        refused = await whatsapp.client.get(f"/media/whatsapp/{token}.png")
        assert (refused.status, refused.content_type) == (403, PROBLEM_TYPE), token
        assert (await refused.json(content_type=PROBLEM_TYPE))["code"] == "forbidden"

    unknown = await whatsapp.channel.media.card_path(member.id + 1000)
    missing = await whatsapp.client.get(unknown)
    assert (missing.status, missing.content_type) == (404, PROBLEM_TYPE)
    assert (await missing.json(content_type=PROBLEM_TYPE))["code"] == "member_not_found"

    whatsapp.clock.offset = timedelta(minutes=11)
    expired = await whatsapp.client.get(path)
    assert (expired.status, expired.content_type) == (403, PROBLEM_TYPE), "the link expires"
    assert (await expired.json(content_type=PROBLEM_TYPE))["code"] == LINK_EXPIRED


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}, {"X-Twilio-Signature": ""}],
)
async def test_an_unsigned_or_badly_signed_webhook_is_refused_and_touches_nothing(
    whatsapp: WhatsApp, headers: dict[str, str]
) -> None:
    ann = WhatsAppMember(whatsapp, "+49990001125")
    form, genuine = ann.form("Hello")

    response = await ann.app.client.post(WEBHOOK_PATH, data=form, headers=headers)
    assert (response.status, response.content_type) == (403, PROBLEM_TYPE)
    problem = await response.json(content_type=PROBLEM_TYPE)
    # The body was a plain "forbidden": it stays the problem's detail.
    assert (problem["code"], problem["detail"], problem["status"]) == (
        "forbidden",
        "forbidden",
        403,
    )
    # Signed for another address: a replay against us is refused too.
    _, elsewhere = signed_inbound(
        "https://attacker.example" + WEBHOOK_PATH,
        AUTH_TOKEN,
        account_sid=ACCOUNT_SID,
        from_number=ann.number,
        to_number=SHOP_NUMBER,
        body="Hello",
        message_sid=form["MessageSid"],
    )
    assert (await ann.post(form, elsewhere))[0] == 403
    # The right signature over different fields: a tampered body.
    assert (await ann.post({**form, "Body": "ref_X"}, genuine))[0] == 403

    assert whatsapp.fake.calls == []
    assert await whatsapp.runtime.conversations.get("flow:signup:whatsapp:+49990001125") is None
    assert await whatsapp.channel.last_inbound(ann.number) is None
    # The refused posts were not even marked as seen: the genuine one still goes through.
    assert await ann.post(form, genuine) == (200, EMPTY_TWIML)
    assert len(ann.received) == 1


async def test_the_same_message_delivered_twice_is_processed_once(whatsapp: WhatsApp) -> None:
    ann = WhatsAppMember(whatsapp, "+49990001126")
    form, headers = ann.form("Hello")
    assert await ann.post(form, headers) == (200, EMPTY_TWIML)
    # Twilio retries a webhook it thinks failed: same MessageSid, same signature.
    assert await ann.post(form, headers) == (200, EMPTY_TWIML)
    assert len(ann.received) == 1


async def test_a_delivery_status_callback_is_no_message(whatsapp: WhatsApp) -> None:
    form, _ = signed_inbound(
        whatsapp.public_url + WEBHOOK_PATH,
        AUTH_TOKEN,
        account_sid=ACCOUNT_SID,
        from_number=SHOP_NUMBER,
        to_number="+49990001140",
        body="",
    )
    form = {key: form[key] for key in ("AccountSid", "MessageSid", "From", "To", "ApiVersion")}
    form["MessageStatus"] = form["SmsStatus"] = "delivered"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        whatsapp.public_url + WEBHOOK_PATH, form
    )
    response = await whatsapp.client.post(
        WEBHOOK_PATH, data=form, headers={"X-Twilio-Signature": signature}
    )
    assert (response.status, await response.text()) == (200, EMPTY_TWIML)
    assert whatsapp.fake.calls == []


async def test_stop_and_start_switch_offers_off_and_on(whatsapp: WhatsApp) -> None:
    ann = WhatsAppMember(whatsapp, "+49990001127")
    await ann.sign_up(marketing=True)
    member = await ann.profile()

    async def opted_in() -> bool:
        return bool(
            await scalar(
                whatsapp.runtime, select(Member.marketing_opt_in).where(Member.id == member.id)
            )
        )

    assert await opted_in() is True
    stopped = await ann.say("STOP")
    assert "🔔 Get offers" in choices(stopped)
    assert await opted_in() is False
    started = await ann.say("START")
    assert "🔕 Stop offers" in choices(started)
    assert await opted_in() is True


async def test_a_referral_code_as_the_first_message(whatsapp: WhatsApp) -> None:
    ann = WhatsAppMember(whatsapp, "+49990001128")
    await ann.sign_up()
    referrer = await ann.profile()

    friend = WhatsAppMember(whatsapp, "+49990001129", profile_name="Bob")
    welcome = await friend.say(f"ref_{referrer.card_code}")
    assert "Welcome to Loyalty Club" in welcome.body
    await friend.choose("I accept")
    done = await friend.choose("No, thanks")

    assert "You joined through a friend's invitation." in done.body
    joined = await friend.profile()
    assert joined.referrer_id == referrer.id


async def test_persian_digits_pick_a_choice(whatsapp: WhatsApp) -> None:
    sara = WhatsAppMember(whatsapp, "+989120001130", profile_name="سارا")
    # An Iranian number: the welcome is in Persian from the start.
    terms = await sara.say("سلام")
    assert "شرایط را می‌پذیرم" in terms.body
    await sara.say("۱")  # the first choice, in Persian digits
    done = await sara.say("٢")  # Arabic-Indic digits work too

    member = await sara.profile()
    assert (member.language, member.marketing_opt_in, member.birthday) == ("fa", False, None)
    assert "💰 موجودی" in choices(done)
    balance = await sara.say(choices(done)["💰 موجودی"])
    assert "۱۰۰" in balance.body or "100" in balance.body


async def test_a_twilio_error_on_send_does_not_break_the_webhook(whatsapp: WhatsApp) -> None:
    ann = WhatsAppMember(whatsapp, "+49990001131")
    await ann.sign_up()

    whatsapp.fake.fail_next(63016, 400)
    assert await ann.send("balance") == []
    refused = whatsapp.fake.calls[-1]
    assert (refused.status, refused.error_code) == (400, 63016)

    whatsapp.fake.fail_next(20500, 500)
    assert await ann.send("balance") == []
    assert (await ann.say("balance")).body.startswith("You have 100 points.")


async def test_wrong_twilio_credentials_are_logged_not_raised(
    whatsapp: WhatsApp, fake_twilio: FakeTwilioAPI, caplog: pytest.LogCaptureFixture
) -> None:
    channel = build_channel(
        whatsapp.runtime, fake_twilio, whatsapp.clock, public_url="", token="wrong-token"
    )
    try:
        await channel.deliver("+49990001132", [Reply(text="Hello")])
    finally:
        await channel.close()
    assert [call.status for call in fake_twilio.calls] == [401]
    assert "20003" in caplog.text


async def test_the_last_inbound_time_is_recorded(whatsapp: WhatsApp) -> None:
    """The 24-hour window runs from the member's WhatsApp account's last_seen_at (a column,
    shared by every process), which each message moves at most once a minute."""
    ann = WhatsAppMember(whatsapp, "+49990001133")
    assert await whatsapp.channel.last_inbound(ann.number) is None, "a stranger: no member"
    await ann.sign_up()
    joined = await whatsapp.channel.last_inbound(ann.number)
    assert joined is not None
    assert abs(joined - whatsapp.runtime.program.clock.now()) < timedelta(seconds=30)
    assert await whatsapp.channel.window_open(ann.number)

    async def seen(ago: timedelta) -> None:
        async with whatsapp.runtime.db.transaction() as session:
            await session.execute(
                update(Identity)
                .where(Identity.channel == "whatsapp", Identity.external_id == ann.number)
                .values(last_seen_at=whatsapp.runtime.program.clock.now() - ago)
            )

    # Ann last wrote 25 hours ago: the window is closed, until she writes again.
    await seen(timedelta(hours=25))
    assert not await whatsapp.channel.window_open(ann.number)
    await ann.say("Hello again")
    again = await whatsapp.channel.last_inbound(ann.number)
    assert again is not None and abs(again - whatsapp.runtime.program.clock.now()) < timedelta(
        seconds=30
    )
    assert await whatsapp.channel.window_open(ann.number)

    # Within a minute of the recorded time, a message writes nothing (the throttle).
    await seen(timedelta(seconds=30))
    recorded = await whatsapp.channel.last_inbound(ann.number)
    await ann.say("And again")
    assert await whatsapp.channel.last_inbound(ann.number) == recorded


async def test_a_long_reply_is_split_into_bodies_twilio_accepts(whatsapp: WhatsApp) -> None:
    number = "+49990001134"
    paragraph = "All about our points. " * 10
    text = "\n".join(f"{index}. {paragraph}" for index in range(14))
    assert 2900 < len(text) < 3300
    menu = Button("💰 Balance", "menu:balance")
    await whatsapp.channel.deliver(
        number, [Reply(text=text, buttons=((menu,),), layout=Layout.MENU)]
    )

    sent = whatsapp.fake.sent_to(number)
    assert len(sent) == 2
    assert all(body_length(message.body) <= MAX_BODY_LENGTH for message in sent)
    assert "\n".join(message.body for message in sent) == text + "\n\n1. 💰 Balance"
    assert [call.status for call in whatsapp.fake.calls] == [201, 201]


def test_split_body_never_exceeds_the_limit_even_without_line_breaks() -> None:
    text = "🎁" * 1000 + " " + "x" * 2500
    bodies = split_body(text)
    assert all(body_length(body) <= MAX_BODY_LENGTH for body in bodies)
    assert "".join(bodies).replace(" ", "") == text.replace(" ", "")
    assert split_body("short") == ["short"]


async def test_behind_a_proxy_the_signed_url_comes_from_forwarded_headers(
    runtime: Runtime, fake_twilio: FakeTwilioAPI
) -> None:
    # The proxy in front (TRUSTED_PROXIES) is this test's own client.
    channel = build_channel(
        runtime,
        fake_twilio,
        runtime.program.clock,
        public_url="",
        trusted_proxies=(ip_network("127.0.0.0/8"), ip_network("::1")),
    )
    app = web.Application()
    channel.register_webhook(app)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        form, headers = signed_inbound(
            "https://shop.example" + WEBHOOK_PATH,
            AUTH_TOKEN,
            account_sid=ACCOUNT_SID,
            from_number="+49990001135",
            to_number=SHOP_NUMBER,
            body="Hello",
        )
        direct = await client.post(WEBHOOK_PATH, data=form, headers=headers)
        assert direct.status == 403, "signed for the public address, not the internal one"
        proxied = await client.post(
            WEBHOOK_PATH,
            data=form,
            headers={
                **headers,
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": "shop.example",
            },
        )
        assert proxied.status == 200
        assert proxied.headers["Content-Type"].startswith("text/xml")
        assert len(fake_twilio.sent_to("+49990001135")) == 1
    finally:
        await client.close()
        await channel.close()


# ---------------------------------------------------------------------- main.py wiring
async def test_the_built_runtime_answers_whatsapp_through_twilio(
    backend: Backend, settings: Settings, fake_twilio: FakeTwilioAPI
) -> None:
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    runtime = build_runtime(
        make_settings(
            backend,
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            twilio_whatsapp_from=f"whatsapp:{SHOP_NUMBER}",
            twilio_api_url=fake_twilio.base_url,
            public_url=public_url,
        )
    )
    try:
        assert runtime.whatsapp is not None and runtime.has_messenger
        server = TestServer(runtime.web_app, host="127.0.0.1", port=port)
        async with TestClient(server) as client:
            form, headers = signed_inbound(
                f"{public_url}{WEBHOOK_PATH}",
                AUTH_TOKEN,
                account_sid=ACCOUNT_SID,
                from_number="+49995550101",
                to_number=SHOP_NUMBER,
                body="hello",
            )
            response = await client.post(WEBHOOK_PATH, data=form, headers=headers)
            assert response.status == 200
        (welcome,) = fake_twilio.sent_to("+49995550101")
    finally:
        await runtime.close()
    assert "Welcome to Loyalty Club" in welcome.body


async def test_media_links_are_signed_with_the_installations_own_key_and_name_nobody(
    backend: Backend, settings: Settings, fake_twilio: FakeTwilioAPI
) -> None:
    """Whoever holds the Twilio token cannot mint a link (the key was once derived from it),
    and a link names no member id: a random reference, fresh for every link."""
    port = free_port()
    runtime = build_runtime(
        make_settings(
            backend,
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            twilio_whatsapp_from=f"whatsapp:{SHOP_NUMBER}",
            twilio_api_url=fake_twilio.base_url,
            public_url=f"http://127.0.0.1:{port}",
        )
    )
    try:
        assert runtime.whatsapp is not None
        media = runtime.whatsapp.media
        members = [
            await runtime.program.members.enrol(
                Registration(
                    identity=IdentityKey("whatsapp", number),
                    language="en",
                    accepted_terms=True,
                    marketing_opt_in=False,
                )
            )
            for number in ("+49990001171", "+49990001172")
        ]
        ann, bob = (enrolment.member for enrolment in members)
        paths = [
            await media.export_path(ann.id),
            await media.export_path(ann.id),
            await media.export_path(bob.id),
            await media.card_path(bob.id),
        ]
        references = [path.rsplit("/", 1)[1].split("-")[0] for path in paths]
        assert len(set(references)) == len(references), "a fresh reference for every link"
        for reference in references:
            assert re.fullmatch("[0-9a-f]{32}", reference)
            assert reference not in (str(ann.id), str(bob.id))

        twilio_key = hashlib.sha256(f"whatsapp-media:{AUTH_TOKEN}".encode()).digest()

        def signed_with_twilio(subject: str, expires: str, kind: str) -> str:
            message = f"whatsapp-{kind}:{subject}:{expires}".encode()
            return hmac.new(twilio_key, message, hashlib.sha256).hexdigest()

        server = TestServer(runtime.web_app, host="127.0.0.1", port=port)
        async with TestClient(server) as client:
            assert (await client.get(paths[0])).status == 200
            expires = paths[0].rsplit("-", 2)[1]
            forged = [
                # The old shape: the member's id, signed with the Twilio-derived key.
                f"/media/whatsapp/{ann.id}-{expires}-"
                f"{signed_with_twilio(str(ann.id), expires, EXPORT)}.json",
                # A genuine reference, re-signed with that key.
                f"/media/whatsapp/{references[2]}-{expires}-"
                f"{signed_with_twilio(references[2], expires, EXPORT)}.json",
                f"/media/whatsapp/{references[3]}-{expires}-"
                f"{signed_with_twilio(references[3], expires, CARD)}.png",
            ]
            for path in forged:
                refused = await client.get(path)
                assert refused.status == 403, path
                assert (await refused.json(content_type=PROBLEM_TYPE))["code"] == "forbidden"
    finally:
        await runtime.close()


async def test_my_data_arrives_as_a_signed_short_lived_json_file(whatsapp: WhatsApp) -> None:
    ann = WhatsAppMember(whatsapp, "+49990001141")
    await ann.sign_up()
    member = await ann.profile()

    privacy = await ann.choose("My data")
    export = await ann.choose("Send me my data")
    # WhatsApp refuses JSON as media (documents must be PDF or Office files): a link it is.
    assert export.media_urls == []
    text, media_url = export.body.split("\n")
    assert text == "Here is everything we store about you."
    assert media_url.startswith(f"{whatsapp.public_url}/media/whatsapp/")
    assert media_url.endswith(".json")
    path = urlsplit(media_url).path
    response = await whatsapp.client.get(path)
    assert response.status == 200
    assert response.content_type == "application/json"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="my-data-{member.card_code}.json"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    data = json.loads(await response.read())
    assert data["profile"]["card_code"] == member.card_code
    assert (data["messengers"][0]["channel"], data["messengers"][0]["id"]) == (
        "whatsapp",
        ann.number,
    )
    # Twilio checks the type with a HEAD before it fetches.
    assert (await whatsapp.client.head(path)).status == 200

    # The button payload works as well as the number, and the privacy menu stays answerable.
    assert "📄 Send me my data" in choices(privacy)
    pressed = await ann.say("Send me my data", button_payload="privacy:export")
    again = export_link(pressed)
    assert again.endswith(".json")

    member_id, expires, signature = (
        path.removeprefix("/media/whatsapp/").removesuffix(".json").split("-")
    )
    tampered_signature = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    other = f"{int(member_id, 16) + 1:032x}"
    forged = [
        f"{member_id}-{expires}-{tampered_signature}",
        f"{other}-{expires}-{signature}",  # someone else's data
        f"{member_id}-{int(expires) + 3600}-{signature}",  # a longer life
        f"{member_id}-{expires}",
        "garbage",
    ]
    for token in forged:
        assert (await whatsapp.client.get(f"/media/whatsapp/{token}.json")).status == 403, token

    unknown = await whatsapp.channel.media.export_path(member.id + 1000)
    assert (await whatsapp.client.get(unknown)).status == 404

    whatsapp.clock.offset = timedelta(minutes=11)
    expired = await whatsapp.client.get(path)
    assert expired.status == 403, "the link expires after 10 minutes"
    # The web app's problem+json, saying which refusal it is (the body was plain "expired").
    assert expired.content_type == PROBLEM_TYPE
    assert (await expired.json(content_type=PROBLEM_TYPE))["code"] == LINK_EXPIRED


async def test_a_card_link_cannot_fetch_the_data_export_nor_the_reverse(
    whatsapp: WhatsApp,
) -> None:
    ann = WhatsAppMember(whatsapp, "+49990001142")
    await ann.sign_up()

    (card_url,) = (await ann.choose("My card")).media_urls
    card_token = urlsplit(card_url).path.removeprefix("/media/whatsapp/").removesuffix(".png")
    await ann.say("My data", button_payload="menu:privacy")
    export_url = export_link(await ann.say("x", button_payload="privacy:export"))
    export_token = urlsplit(export_url).path.removeprefix("/media/whatsapp/")
    export_token = export_token.removesuffix(".json")

    # Each works on its own route...
    assert (await whatsapp.client.get(f"/media/whatsapp/{card_token}.png")).status == 200
    assert (await whatsapp.client.get(f"/media/whatsapp/{export_token}.json")).status == 200
    # ...and on the other one it is refused before anything is looked up.
    assert (await whatsapp.client.get(f"/media/whatsapp/{card_token}.json")).status == 403
    assert (await whatsapp.client.get(f"/media/whatsapp/{export_token}.png")).status == 403


async def test_a_document_other_than_the_export_goes_as_text_alone(
    whatsapp: WhatsApp, caplog: pytest.LogCaptureFixture
) -> None:
    number = "+49990001143"
    document = Document(content=b"%PDF-1.4", filename="terms.pdf", mime_type="application/pdf")
    await whatsapp.channel.deliver(number, [Reply(text="Our terms", document=document)])
    (sent,) = whatsapp.fake.sent_to(number)
    assert (sent.body, sent.media_urls) == ("Our terms", [])
    assert "terms.pdf" in caplog.text


async def test_a_member_sets_their_time_zone_by_typing(whatsapp: WhatsApp) -> None:
    ann = WhatsAppMember(whatsapp, "+49990001190")
    await ann.sign_up()

    zones = await ann.say("time zone")
    assert "Now: Moscow (UTC+3)" in zones.body
    assert "Vladivostok (UTC+10)" in zones.body
    done = await ann.choose("Yekaterinburg (UTC+5)")
    assert "your time zone is Yekaterinburg (UTC+5)" in done.body
    assert (await ann.profile()).time_zone == "Asia/Yekaterinburg"


# ---------------------------------------------------------------------- the export, once
async def test_whatsapp_serves_the_export_the_handlers_built_without_rebuilding_it(
    whatsapp: WhatsApp,
) -> None:
    """The adapter builds no export of its own and keeps no copy: its link serves, byte for
    byte, what the handlers' one builder makes for the member (the privacy menu's file)."""
    ann = WhatsAppMember(whatsapp, "+49990001177")
    await ann.sign_up()
    member = await ann.profile()
    made = b'{"made": "by someone else"}'
    document = Document(content=made, filename="my-data-test.json")
    await whatsapp.channel.deliver(ann.number, [Reply(text="Your data", document=document)])
    link = export_link(whatsapp.fake.sent_to(ann.number)[-1])
    response = await whatsapp.client.get(urlsplit(link).path)
    built = await export_document(whatsapp.runtime.program, member.id)
    assert response.status == 200
    assert await response.read() == built.content != made
    assert response.headers["Content-Disposition"] == (f'attachment; filename="{built.filename}"')
    assert built.filename == f"my-data-{member.card_code}.json"
    stored = media_store_key("whatsapp", EXPORT, str(member.id))
    assert await whatsapp.runtime.conversations.get(stored) is None, "nothing personal is kept"


async def test_an_export_link_fetched_after_erasure_holds_nothing_personal(
    whatsapp: WhatsApp,
) -> None:
    """The link names the member, not a copy of their data: once they are forgotten, what it
    serves is the export of a forgotten member (as it was before the export went through the
    media store, where it outlived the erasure by the link's ten minutes)."""
    ann = WhatsAppMember(whatsapp, "+49990001178", profile_name="Annabel Leewood")
    await ann.sign_up()
    member = await ann.profile()
    async with whatsapp.runtime.program.db.transaction() as session:
        await session.execute(
            update(Member).where(Member.id == member.id).values(birthday=date(1990, 4, 17))
        )
    await ann.choose("My data")
    path = urlsplit(export_link(await ann.choose("Send me my data"))).path
    before = (await (await whatsapp.client.get(path)).read()).decode()
    personal = ("Annabel Leewood", ann.number.removeprefix("+"), "1990-04-17")
    assert all(value in before for value in personal), before

    await whatsapp.runtime.program.privacy.erase(member.id)

    response = await whatsapp.client.get(path)
    assert response.status == 200
    after = (await response.read()).decode()
    assert not any(value in after for value in personal), after
    assert json.loads(after)["profile"]["name"] is None


# ---------------------------------------------------------------------- the profile
async def test_phone_and_birthday_in_the_profile_by_numbers(whatsapp: WhatsApp) -> None:
    """After joining: the number WhatsApp vouches for finds the card opened elsewhere with it
    (here on Telegram), which becomes one with this one on a yes; a birthday is given once."""
    program = whatsapp.runtime.program
    elsewhere = await program.members.enrol(
        Registration(
            identity=IdentityKey("telegram", "1150"),
            language="en",
            accepted_terms=True,
            marketing_opt_in=False,
            phone="+49990001150",
            phone_verified=True,
        )
    )
    ann = WhatsAppMember(whatsapp, "+49990001150")
    welcome = await ann.say("Hi")
    assert "🔗 It is my card" in choices(welcome), "offered at joining, never applied"
    await ann.choose("I accept")
    await ann.choose("No, thanks")
    joined = await ann.profile()
    assert joined.id != elsewhere.member.id

    profile = await ann.choose("Profile")
    assert "Phone: +49990001150 (confirmed by your messenger)" in profile.body
    phone = await ann.choose("Phone")
    assert list(choices(phone)) == ["📱 Use +49990001150", "✖ Cancel"]
    typed = await ann.say("+44 20 7946 0958")
    assert "Saved: your phone is +442079460958." in typed.body
    assert ((await ann.profile()).phone, (await ann.profile()).phone_verified) == (
        "+442079460958",
        False,
    )

    await ann.choose("Profile")
    await ann.choose("Phone")
    offered = await ann.choose("Use +49990001150")
    assert "This number already has another card with us" in offered.body
    merged = await ann.choose("Yes, it is my card")
    assert merged.body.startswith("Done! Your two accounts are now one card")
    member = await ann.profile()
    assert member.id == elsewhere.member.id, "the older card survives"
    assert (member.phone, member.phone_verified, member.balance) == ("+49990001150", True, 200)

    await ann.choose("Profile")
    ask = await ann.choose("Birthday")
    assert "DD.MM.YYYY" in ask.body
    assert "could not read that date" in (await ann.say("31.02.1990")).body
    saved = await ann.say("25.12.1990")
    assert "your birthday is December 25, 1990" in saved.body
    again = await ann.choose("Profile")
    assert "Birthday: December 25, 1990" in again.body
    assert not any("Birthday" in label for label in choices(again))
    assert (await ann.profile()).birthday == date(1990, 12, 25)
