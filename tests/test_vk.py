"""A member's VK conversation end to end: the real vk-api client against a fake VK API, events
arriving by Callback API and by Bots Long Poll, asserted on what the member receives and on
the database."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
import zxingcpp
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from pydantic import ValidationError
from sqlalchemy import select

from app.lifecycle import run
from app.runtime import Runtime, build_runtime
from app.settings import Settings
from bots.vk.channel import VkChannel
from bots.vk.inbound import photo_of
from bots.vk.render import MAX_LABEL_LENGTH, keyboard_for, random_id
from bots.vk.transport import TokenBucket, create_api
from core.db.models import Identity, LedgerEntry, Member
from core.db.state import MemoryConversationStore, MemoryUpdateLog
from core.members.accounts import IdentityKey
from core.shared import cards
from handlers.conversation import Conversation
from handlers.messages import Button, Document, Incoming, Layout, Reply
from tests.conftest import Backend, make_settings
from tests.data import count, scalar
from tests.fakes.vk_api import FakeVkAPI, SentMessage
from web.app import PROBLEM_TYPE

GROUP_ID = 227000001
SECRET = "vk-callback-secret"
CONFIRMATION_CODE = "a1b2c3d4"
LANG_EN = 3


# ---------------------------------------------------------------------- fixtures and helpers
@pytest.fixture
async def fake_vk() -> AsyncIterator[FakeVkAPI]:
    async with FakeVkAPI(group_id=GROUP_ID, secret=SECRET) as fake:
        yield fake


def channel_for(
    fake: FakeVkAPI,
    conversation: Conversation,
    updates: Any = None,
    store: Any = None,
) -> VkChannel:
    return VkChannel(
        create_api(fake.token, api_url=fake.base_url),
        conversation,
        updates or MemoryUpdateLog(3600),
        store or MemoryConversationStore(3600),
        group_id=GROUP_ID,
        confirmation_code=CONFIRMATION_CODE,
        secret=SECRET,
        long_poll_wait=1,
    )


@pytest.fixture
async def vk(runtime: Runtime, fake_vk: FakeVkAPI) -> AsyncIterator[VkChannel]:
    channel = channel_for(fake_vk, runtime.conversation, runtime.updates, runtime.conversations)
    try:
        yield channel
    finally:
        await channel.close()


@pytest.fixture
async def webhook(runtime: Runtime, vk: VkChannel) -> AsyncIterator[TestClient[Any, Any]]:
    vk.register_webhook(runtime.web_app)
    client: TestClient[Any, Any] = TestClient(TestServer(runtime.web_app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


class SilentConversation:
    """For tests of the transport alone: no database, no replies."""

    async def handle(self, message: Incoming) -> list[Reply]:
        return []


@pytest.fixture
async def bare_vk(fake_vk: FakeVkAPI) -> AsyncIterator[VkChannel]:
    """A channel that needs no database (so these tests run once, not per backend)."""
    channel = channel_for(fake_vk, cast(Conversation, SilentConversation()))
    try:
        yield channel
    finally:
        await channel.close()


class VkMember:
    """A VK user driving the bot: real-shaped events in, what the community sent out."""

    def __init__(
        self, fake: FakeVkAPI, client: TestClient[Any, Any], user_id: int, lang_id: int = LANG_EN
    ) -> None:
        self.fake = fake
        self.client = client
        self.user_id = user_id
        self.lang_id = lang_id

    @property
    def received(self) -> list[SentMessage]:
        return self.fake.sent_to(self.user_id)

    async def post(self, event: dict[str, Any]) -> list[SentMessage]:
        before = len(self.received)
        response = await self.client.post("/webhook/vk", json=event)
        assert (response.status, await response.text()) == (200, "ok")
        return self.received[before:]

    async def send(
        self,
        text: str,
        *,
        payload: dict[str, Any] | None = None,
        ref: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> list[SentMessage]:
        event = self.fake.message_new(
            self.user_id,
            text,
            payload=payload,
            ref=ref,
            lang_id=self.lang_id,
            attachments=attachments,
        )
        return await self.post(event)

    async def press(self, action: str) -> list[SentMessage]:
        """Press the newest button with this action: a callback button sends message_event,
        a keyboard button sends its label as a message with the payload."""
        for message in reversed(self.received):
            for row in message.keyboard_rows:
                for button in row:
                    if json.loads(button["action"]["payload"]) != {"action": action}:
                        continue
                    if button["action"]["type"] == "callback":
                        event = self.fake.message_event(
                            self.user_id, {"action": action}, message.message_id
                        )
                        return await self.post(event)
                    return await self.send(button["action"]["label"], payload={"action": action})
        raise AssertionError(f"no button {action!r} in what {self.user_id} received")

    async def sign_up(self, *, marketing: bool = False) -> SentMessage:
        """Start, accept the terms, answer about offers: three taps."""
        await self.send("Start", payload={"command": "start"})
        await self.press("terms:accept")
        return (await self.press("consent:yes" if marketing else "consent:no"))[-1]


def member(fake: FakeVkAPI, client: TestClient[Any, Any], user_id: int) -> VkMember:
    return VkMember(fake, client, user_id)


# ---------------------------------------------------------------------- Callback API
async def test_the_confirmation_request_gets_the_code(webhook: TestClient[Any, Any]) -> None:
    response = await webhook.post(
        "/webhook/vk", json={"type": "confirmation", "group_id": GROUP_ID}
    )
    assert (response.status, await response.text()) == (200, CONFIRMATION_CODE)

    other = await webhook.post("/webhook/vk", json={"type": "confirmation", "group_id": 1})
    assert other.status == 403


@pytest.mark.parametrize(
    "tamper",
    [
        {"secret": None},
        {"secret": "wrong"},
        {"secret": ""},
        {"group_id": 1},
    ],
    ids=["missing-secret", "wrong-secret", "empty-secret", "other-group"],
)
async def test_an_event_without_our_secret_is_refused_and_touches_nothing(
    runtime: Runtime,
    fake_vk: FakeVkAPI,
    webhook: TestClient[Any, Any],
    tamper: dict[str, Any],
) -> None:
    event = fake_vk.message_new(5001, "Start", payload={"command": "start"})
    event.update(tamper)
    event = {key: value for key, value in event.items() if value is not None}

    response = await webhook.post("/webhook/vk", json=event)

    assert (response.status, response.content_type) == (403, PROBLEM_TYPE)
    assert (await response.json(content_type=PROBLEM_TYPE))["code"] == "forbidden"
    assert fake_vk.calls == []
    assert await runtime.conversations.get("flow:signup:vk:5001") is None
    assert await runtime.conversations.get("vk-profile:5001") is None
    # Refused events are not marked as seen: the genuine one still gets through.
    assert await runtime.updates.first_time(f"vk:{GROUP_ID}:{event['event_id']}")


async def test_malformed_and_unknown_events(
    fake_vk: FakeVkAPI, webhook: TestClient[Any, Any]
) -> None:
    broken = await webhook.post(
        "/webhook/vk", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status == 400
    not_an_object = await webhook.post("/webhook/vk", json=[1, 2])
    assert not_an_object.status == 400
    # JSON as Python reads it allows Infinity: no group id, not a crash.
    infinite = await webhook.post(
        "/webhook/vk",
        data=b'{"type": "confirmation", "group_id": Infinity}',
        headers={"Content-Type": "application/json"},
    )
    assert infinite.status == 403
    for refused in (broken, not_an_object):
        assert refused.content_type == PROBLEM_TYPE
        problem = await refused.json(content_type=PROBLEM_TYPE)
        assert (problem["code"], problem["detail"]) == ("bad_request", "not a VK event")

    typing = {
        "group_id": GROUP_ID,
        "type": "message_typing_state",
        "event_id": "e-typing",
        "v": "5.199",
        "object": {"state": "typing", "from_id": 5002, "to_id": -GROUP_ID},
        "secret": SECRET,
    }
    response = await webhook.post("/webhook/vk", json=typing)
    assert (response.status, await response.text()) == (200, "ok")
    assert fake_vk.calls == []


async def test_the_same_event_delivered_twice_is_processed_once(
    runtime: Runtime, fake_vk: FakeVkAPI, webhook: TestClient[Any, Any]
) -> None:
    ann = member(fake_vk, webhook, 5003)
    await ann.send("Start", payload={"command": "start"})
    await ann.press("terms:accept")
    last_step = fake_vk.message_new(
        5003, "No, thanks", payload={"action": "consent:no"}, lang_id=LANG_EN
    )

    first = await ann.post(last_step)
    again = await ann.post(last_step)  # VK retries an event it thinks failed

    assert len(first) == 1
    assert again == []
    assert await count(runtime, Member) == 1
    assert await count(runtime, LedgerEntry) == 1


# ---------------------------------------------------------------------- the member's journey
async def test_sign_up_with_keyboard_and_callback_buttons(
    runtime: Runtime, fake_vk: FakeVkAPI, webhook: TestClient[Any, Any]
) -> None:
    fake_vk.set_name(5004, "Анна", "Иванова")
    ann = member(fake_vk, webhook, 5004)

    (welcome,) = await ann.send("Начать", payload={"command": "start"})
    assert "Welcome to Loyalty Club" in welcome.message
    assert "1 point for every" in welcome.message
    assert "We are talking in English" in welcome.message, "VK's lang_id=3 is English"
    assert welcome.inline
    assert welcome.actions == ["terms:accept", "terms:decline", "lang:ru", "lang:fa"]
    (offers,) = await ann.press("terms:accept")
    assert offers.actions == ["consent:yes", "consent:no"]
    (done,) = await ann.press("consent:no")

    assert done.message.startswith("Your card is ready! You get 100 points as a welcome gift.")
    assert done.keyboard is not None and not done.inline and done.keyboard["one_time"] is False
    assert "💰 Balance" in done.labels
    assert all(len(row) <= 5 for row in done.keyboard_rows)
    assert len(fake_vk.event_answers) == 2, "every callback press stops its spinner"
    assert {answer["user_id"] for answer in fake_vk.event_answers} == {"5004"}
    assert len(fake_vk.calls_of("users.get")) == 1, "the name is fetched once, then cached"

    # The phone, later, in the profile: VK cannot share a contact, so it is typed.
    (profile,) = await ann.press("menu:profile")
    assert "Phone: not given" in profile.message
    (phone,) = await ann.press("profile:phone")
    assert not phone.inline and phone.keyboard is not None
    share = phone.keyboard_rows[0][0]["action"]
    assert share["type"] == "text", "VK has no contact button: a plain text button instead"
    (typed,) = await ann.press("phone:share")
    assert typed.message.startswith("Please type your phone number")
    (saved,) = await ann.send("+7 999 123-45-67")
    assert "your phone is +79991234567" in saved.message
    assert "💰 Balance" in saved.labels

    found = await scalar(runtime, select(Member))
    assert found.name == "Анна Иванова"
    assert found.balance == 100
    assert (found.phone, found.phone_verified) == ("+79991234567", False)
    assert cards.is_valid(found.card_code)
    identity = await scalar(runtime, select(Identity))
    assert (identity.channel, identity.external_id) == ("vk", "5004")
    assert await count(runtime, LedgerEntry, LedgerEntry.reason == "welcome") == 1


async def test_every_name_vk_sends_can_join(
    runtime: Runtime, fake_vk: FakeVkAPI, webhook: TestClient[Any, Any]
) -> None:
    fake_vk.set_name(5009, "Анна\x00\n" + "А" * 100, "Б" * 100)
    ann = member(fake_vk, webhook, 5009)

    done = await ann.sign_up()

    assert done.message.startswith("Your card is ready!"), done.message
    found = await scalar(runtime, select(Member))
    assert found.name == "Анна " + "А" * 100 + " " + "Б" * 22


async def test_balance_and_card_with_its_qr_photo(
    runtime: Runtime, fake_vk: FakeVkAPI, webhook: TestClient[Any, Any]
) -> None:
    ann = member(fake_vk, webhook, 5005)
    await ann.sign_up()
    profile = await runtime.program.members.find(IdentityKey("vk", "5005"))
    assert profile is not None

    (balance,) = await ann.press("menu:balance")
    assert "You have 100 points." in balance.message

    (card,) = await ann.press("menu:card")
    assert cards.display(profile.card_code) in card.message
    assert card.attachment is not None
    owner_and_id = card.attachment.removeprefix("photo").split("_")
    assert owner_and_id[0] == str(-GROUP_ID)
    assert len(owner_and_id) == 3, "the access key is attached too"
    png = fake_vk.photos[int(owner_and_id[1])]
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert [code.text for code in decoded] == [profile.card_code]


async def test_my_data_export_arrives_as_a_document(
    runtime: Runtime, fake_vk: FakeVkAPI, webhook: TestClient[Any, Any]
) -> None:
    ann = member(fake_vk, webhook, 5012)
    await ann.sign_up()
    profile = await runtime.program.members.find(IdentityKey("vk", "5012"))
    assert profile is not None

    (privacy,) = await ann.press("menu:privacy")
    assert "privacy:export" in privacy.actions
    (export,) = await ann.press("privacy:export")

    assert export.message == "Here is everything we store about you."
    assert export.attachment is not None and export.attachment.startswith("doc")
    doc = fake_vk.doc_for(export.attachment)
    assert doc.owner_id == -GROUP_ID
    assert (doc.title, doc.peer_id) == (f"my-data-{profile.card_code}.json", 5012)
    assert doc.filename.endswith(".json")
    data = json.loads(doc.content)
    assert data["profile"]["card_code"] == profile.card_code
    assert data["messengers"][0]["channel"] == "vk"
    (server,) = fake_vk.calls_of("docs.getMessagesUploadServer")
    assert server.params["peer_id"] == "5012"


async def test_a_failed_document_upload_still_sends_the_text(
    bare_vk: VkChannel, fake_vk: FakeVkAPI
) -> None:
    fake_vk.fail("docs.save", 10)
    reply = Reply(text="Here it is.", document=Document(b'{"a": 1}', "my-data.json"))

    await bare_vk.deliver(5013, [reply], event_id="evt-doc")

    (sent,) = fake_vk.sent_to(5013)
    assert (sent.message, sent.attachment) == ("Here it is.", None)
    assert fake_vk.docs == {}


async def test_a_vk_me_ref_link_is_a_referral(
    runtime: Runtime, fake_vk: FakeVkAPI, webhook: TestClient[Any, Any]
) -> None:
    await member(fake_vk, webhook, 5006).sign_up()
    referrer = await runtime.program.members.find(IdentityKey("vk", "5006"))
    assert referrer is not None

    friend = member(fake_vk, webhook, 5007)
    (welcome,) = await friend.send("Начать", ref=f"ref_{referrer.card_code}")
    assert "Welcome to Loyalty Club" in welcome.message
    await friend.press("terms:accept")
    (done,) = await friend.press("consent:no")

    assert "You joined through a friend's invitation." in done.message
    joined = await runtime.program.members.find(IdentityKey("vk", "5007"))
    assert joined is not None and joined.referrer_id == referrer.id


async def test_a_member_who_blocked_the_community_breaks_nothing(
    runtime: Runtime, fake_vk: FakeVkAPI, webhook: TestClient[Any, Any]
) -> None:
    fake_vk.block_user(5008)
    ann = member(fake_vk, webhook, 5008)

    assert await ann.send("Start", payload={"command": "start"}) == []

    refused = fake_vk.calls_of("messages.send")
    assert [call.error_code for call in refused] == [901]
    # The conversation went on; the member simply did not get the message.
    assert (await runtime.conversations.get("flow:signup:vk:5008") or {}).get("step") == "terms"


async def test_other_vk_errors_are_logged_and_the_event_still_acknowledged(
    runtime: Runtime, fake_vk: FakeVkAPI, webhook: TestClient[Any, Any]
) -> None:
    fake_vk.fail("users.get", 10)
    ann = member(fake_vk, webhook, 5011)
    (welcome,) = await ann.send("Start", payload={"command": "start"})
    assert "Welcome to Loyalty Club" in welcome.message, "no name is no reason to stay silent"
    assert await runtime.conversations.get("vk-profile:5011") is None, "asked again next time"

    fake_vk.fail("messages.sendMessageEventAnswer", 100)
    fake_vk.fail("messages.send", 10)
    assert await ann.press("terms:accept") == []  # the webhook still answered 200 "ok"
    step = (await runtime.conversations.get("flow:signup:vk:5011") or {}).get("step")
    assert step == "marketing"


async def test_resending_the_same_replies_for_an_event_delivers_them_once(
    bare_vk: VkChannel, fake_vk: FakeVkAPI
) -> None:
    replies = [Reply(text="one"), Reply(text="two", buttons=((Button("OK", "ok"),),))]

    await bare_vk.deliver(5009, replies, event_id="evt-1")
    await bare_vk.deliver(5009, replies, event_id="evt-1")  # e.g. a retried send

    sends = fake_vk.calls_of("messages.send")
    assert len(sends) == 4
    first, second = (
        [int(c.params["random_id"]) for c in sends[:2]],
        [int(c.params["random_id"]) for c in sends[2:]],
    )
    assert first == second == [random_id(GROUP_ID, "evt-1", 0), random_id(GROUP_ID, "evt-1", 1)]
    assert first[0] != first[1]
    assert [sent.message for sent in fake_vk.sent_to(5009)] == ["one", "two"]
    assert 0 < random_id(GROUP_ID, "evt-2", 0) < 2**31


# ---------------------------------------------------------------------- threads and pacing
async def test_a_burst_of_sends_stays_within_vks_rate_limit(
    bare_vk: VkChannel, fake_vk: FakeVkAPI
) -> None:
    await asyncio.gather(
        *(
            bare_vk.deliver(6000 + number, [Reply(text=f"offer {number}")], event_id=f"b{number}")
            for number in range(60)
        )
    )

    assert len(fake_vk.deliveries) == 60
    assert fake_vk.rate_limit_errors == 0
    assert fake_vk.max_calls_in_one_second() <= 20


async def test_slow_vk_calls_never_stall_the_event_loop(
    bare_vk: VkChannel, fake_vk: FakeVkAPI
) -> None:
    fake_vk.latency = 0.3
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    await bare_vk.deliver(6100, [Reply(text=f"part {n}") for n in range(4)], event_id="slow")
    elapsed = time.monotonic() - started
    done.set()
    await ticker

    assert len(fake_vk.sent_to(6100)) == 4
    assert elapsed >= 1.2, "the calls really took their time"
    assert max(gaps) < 0.1


async def test_the_token_bucket_paces_callers_in_order() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))

    bucket = TokenBucket(10.0, capacity=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        await bucket.acquire()
    # Two saved tokens go at once; then each caller waits for its own slot.
    assert slept == [0.1, 0.2]
    now[0] = 10.0
    slept.clear()
    await bucket.acquire(2)
    await bucket.acquire(2)
    assert slept == [0.2], "the bucket refilled only up to its capacity"
    with pytest.raises(ValueError):
        TokenBucket(0)


# ---------------------------------------------------------------------- keyboards
def test_keyboards_respect_vks_limits() -> None:
    wide = tuple(Button(f"b{n}", f"a{n}") for n in range(7))
    menu = json.loads(keyboard_for(Reply("m", buttons=(wide,), layout=Layout.MENU)) or "")
    assert [len(row) for row in menu["buttons"]] == [5, 2]
    assert menu["inline"] is False and menu["one_time"] is False

    pairs = tuple((Button(f"b{n}", f"a{n}"), Button(f"c{n}", f"d{n}")) for n in range(5))
    inline = json.loads(keyboard_for(Reply("i", buttons=pairs)) or "")
    assert inline["inline"] is True and sum(len(row) for row in inline["buttons"]) == 10
    assert {b["action"]["type"] for row in inline["buttons"] for b in row} == {"callback"}

    # More than an inline keyboard holds (10 buttons, 6 rows): a one-time keyboard, all of them.
    tall = tuple((Button(f"b{n}", f"a{n}"), Button(f"c{n}", f"d{n}")) for n in range(8))
    once = json.loads(keyboard_for(Reply("t", buttons=tall)) or "")
    assert (once["inline"], once["one_time"]) == (False, True)
    assert [b["action"]["label"] for row in once["buttons"] for b in row] == [
        label for row in tall for label in (row[0].label, row[1].label)
    ]
    assert {b["action"]["type"] for row in once["buttons"] for b in row} == {"text"}

    # More than any keyboard holds (10 rows): the inline keyboard's share of them.
    huge = tuple((Button(f"b{n}", f"a{n}"),) for n in range(12))
    trimmed = json.loads(keyboard_for(Reply("h", buttons=huge)) or "")
    assert trimmed["inline"] is True and len(trimmed["buttons"]) == 6

    long_label = Button("x" * 60, "long", request_contact=True)
    (row,) = json.loads(
        keyboard_for(Reply("l", buttons=((long_label,),), layout=Layout.MENU)) or ""
    )["buttons"]
    assert len(row[0]["action"]["label"]) == MAX_LABEL_LENGTH
    assert row[0]["action"]["type"] == "text"
    assert json.loads(row[0]["action"]["payload"]) == {"action": "long"}

    removed = json.loads(keyboard_for(Reply("r", remove_menu=True)) or "")
    assert removed["buttons"] == []
    assert keyboard_for(Reply("plain")) is None


# ---------------------------------------------------------------------- a member's photo
PHOTO_URL = "https://sun9-1.userapi.com/impg/1.jpg?size=960x1280&sign=ab"


def photo_attachment(**photo: Any) -> dict[str, Any]:
    return {"type": "photo", "photo": {"id": 457239100, "owner_id": 5001, **photo}}


@pytest.mark.parametrize(
    ("message", "found"),
    [
        ({}, None),
        ({"attachments": "photo5001_1"}, None),
        (
            {"attachments": [None, 7, "photo", {"type": "photo"}, {"type": "photo", "photo": []}]},
            None,
        ),
        ({"attachments": [{"type": "doc", "doc": {"id": 1, "owner_id": 5001}}]}, None),
        # By area, whatever the order VK lists the sizes in.
        (
            {
                "attachments": [
                    photo_attachment(
                        sizes=[
                            {"type": "s", "width": 56, "height": 75, "url": PHOTO_URL + "&s"},
                            {"type": "w", "width": 960, "height": 1280, "url": PHOTO_URL},
                            {"type": "x", "width": 453, "height": 604, "url": PHOTO_URL + "&x"},
                        ]
                    )
                ]
            },
            PHOTO_URL,
        ),
        # Old photos report no dimensions: VK's letters order them.
        (
            {
                "attachments": [
                    photo_attachment(
                        sizes=[
                            {"type": "z", "width": 0, "height": 0, "url": PHOTO_URL},
                            {"type": "m", "width": 0, "height": 0, "url": PHOTO_URL + "&m"},
                            {"type": "bogus", "width": "wide", "url": PHOTO_URL + "&b"},
                        ]
                    )
                ]
            },
            PHOTO_URL,
        ),
        # API versions before 5.77.
        (
            {"attachments": [photo_attachment(photo_130=PHOTO_URL + "&130", photo_604=PHOTO_URL)]},
            PHOTO_URL,
        ),
        # No URL that can be kept (not https, too long, a terminal escape): the reference.
        (
            {
                "attachments": [
                    photo_attachment(
                        access_key="0a1b2c",
                        sizes=[
                            {"type": "w", "width": 9, "height": 9, "url": "http://a.example/p"},
                            {"type": "z", "width": 8, "height": 8, "url": PHOTO_URL + "x" * 600},
                            {"type": "y", "width": 7, "height": 7, "url": PHOTO_URL + "\x1b[2J"},
                            {"type": "x", "width": 6, "height": 6, "url": ["not", "a", "url"]},
                        ],
                    )
                ]
            },
            "vk:photo5001_457239100_0a1b2c",
        ),
        (
            {"attachments": [photo_attachment(access_key="no spaces; no\nlines")]},
            "vk:photo5001_457239100",
        ),
        ({"attachments": [photo_attachment(owner_id=True)]}, None),
        ({"attachments": [photo_attachment(id="457239100")]}, None),
        ({"attachments": [photo_attachment(id=-1)]}, None),
        # The first usable photo of the first ten attachments.
        (
            {"attachments": [photo_attachment(id=None), photo_attachment(id=2, sizes=None)]},
            "vk:photo5001_2",
        ),
        ({"attachments": [{"type": "doc"}] * 10 + [photo_attachment()]}, None),
    ],
)
def test_a_photo_a_member_sent_is_read_defensively(
    message: dict[str, Any], found: str | None
) -> None:
    assert photo_of(message) == found


async def test_a_photo_is_passed_on_with_its_caption(fake_vk: FakeVkAPI) -> None:
    received: list[Incoming] = []

    class Recording:
        async def handle(self, message: Incoming) -> list[Reply]:
            received.append(message)
            return []

    channel = channel_for(fake_vk, cast(Conversation, Recording()))
    try:
        photo = fake_vk.member_photo(5001, original=False)
        await channel.process(fake_vk.message_new(5001, "My cup", attachments=[photo]))
        await channel.process(fake_vk.message_new(5001, "No photo"))
    finally:
        await channel.close()
    largest = photo["photo"]["sizes"][1]["url"]
    assert [(message.text, message.photo) for message in received] == [
        ("My cup", largest),
        ("No photo", None),
    ]


# ---------------------------------------------------------------------- Bots Long Poll
async def test_long_poll_receives_a_message_and_replies(
    runtime: Runtime, fake_vk: FakeVkAPI, vk: VkChannel
) -> None:
    polling = asyncio.create_task(vk.run_long_poll())
    try:
        # Events queued before the bot asks for a long-poll server are not its to see.
        await fake_vk.wait_for_call("groups.getLongPollServer")
        fake_vk.queue_long_poll(fake_vk.message_new(5010, "Start", payload={"command": "start"}))
        (welcome,) = await fake_vk.wait_for_sent(5010, 1)
        assert "Добро пожаловать" in welcome.message, "lang_id=0 is Russian"
        assert await runtime.conversations.get("flow:signup:vk:5010") is not None
    finally:
        started = time.monotonic()
        await vk.stop()
        await asyncio.wait_for(polling, 2)
    assert time.monotonic() - started < 1.0, "stopping does not wait for a long poll to end"
    assert len(fake_vk.calls_of("groups.getLongPollServer")) == 1


# ---------------------------------------------------------------------- main.py wiring
def vk_settings(backend: Backend, fake: FakeVkAPI, **overrides: Any) -> Settings:
    return make_settings(
        backend,
        vk_group_token=fake.token,
        vk_group_id=GROUP_ID,
        vk_confirmation_code=CONFIRMATION_CODE,
        vk_secret=SECRET,
        vk_api_url=fake.base_url,
        **overrides,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_run_with_a_group_token_and_no_public_url_uses_long_poll(
    backend: Backend, settings: Settings, fake_vk: FakeVkAPI
) -> None:
    configured = vk_settings(backend, fake_vk, web_port=free_port())
    served = asyncio.create_task(run(configured))
    try:
        await fake_vk.wait_for_call("groups.getLongPollServer", timeout=20)
        fake_vk.queue_long_poll(fake_vk.message_new(from_id=5900, text="/start"))
        (welcome,) = await fake_vk.wait_for_sent(5900, 1, timeout=20)
    finally:
        served.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await served
    assert "Loyalty Club" in welcome.message


async def test_the_built_runtime_serves_the_vk_callback_api(
    backend: Backend, settings: Settings, fake_vk: FakeVkAPI
) -> None:
    runtime = build_runtime(vk_settings(backend, fake_vk, public_url="https://shop.example"))
    try:
        assert runtime.vk is not None
        async with TestClient(TestServer(runtime.web_app)) as client:
            confirm = {"type": "confirmation", "group_id": GROUP_ID}
            response = await client.post("/webhook/vk", json=confirm)
            assert await response.text() == CONFIRMATION_CODE
    finally:
        await runtime.close()


def test_a_vk_webhook_without_a_secret_is_refused_at_start(backend: Backend) -> None:
    with pytest.raises(ValidationError, match="VK_SECRET is required"):
        make_settings(
            backend,
            vk_group_token="t",
            vk_group_id=GROUP_ID,
            public_url="https://shop.example",
        )
