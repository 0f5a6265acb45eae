"""Notices (points earned, coupons, tiers, reminders, birthdays) delivered outside a
conversation turn, on every channel: enqueued as the core does, dispatched, and asserted on what
each fake platform received and on what the database recorded."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select, update

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from bots.console import ConsoleChannel
from bots.dispatch import DispatchReport
from bots.outbound import Delivery
from bots.vk.render import random_id
from core.db.database import Database
from core.db.models import Identity, Member, Notice
from core.members.accounts import IdentityKey
from core.notices.outbox import FAILED, PENDING, SENDING, SENT, SKIPPED, NoticeKind, Notices
from handlers.messages import Reply
from handlers.render.i18n import Translator
from handlers.render.notices import NoticeTexts, UnknownNotice
from tests.clocks import ShiftedClock
from tests.conftest import Backend
from tests.data import enrol, registration
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.fakes.vk_api import FakeVkAPI
from tests.telegram_member import TelegramMember, text_of, webhook_client, webhook_delivery
from tests.test_console import ROOT, environment
from tests.test_vk import GROUP_ID, VkMember, channel_for, fake_vk  # noqa: F401 - fixture
from tests.test_whatsapp import (  # noqa: F401 - fixtures
    WhatsAppMember,
    fake_twilio,
    whatsapp,
)
from tests.whatsapp_member import WhatsApp, serve_whatsapp

COUPON = {
    "code": "SPRING-7Q2X",
    "campaign": "Spring sale",
    "kind": "percent",
    "value": "15",
    "valid_until": "2026-12-31T20:59:59+00:00",
}


async def notice(runtime: Runtime, dedupe_key: str) -> Notice:
    async with runtime.db.reading() as session:
        found = await session.scalar(select(Notice).where(Notice.dedupe_key == dedupe_key))
    assert found is not None, dedupe_key
    return found


async def member_id(runtime: Runtime, channel: str, external_id: str) -> int:
    profile = await runtime.program.members.find(IdentityKey(channel, external_id))
    assert profile is not None
    return profile.id


def qr_text(png: bytes) -> str:
    (decoded,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    return decoded.text


# ---------------------------------------------------------------------- Telegram
@pytest.fixture
async def telegram(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI
) -> AsyncIterator[TelegramMember]:
    async with webhook_client(telegram_runtime) as client:
        ann = TelegramMember(fake_telegram, webhook_delivery(client), user_id=4242)
        await ann.sign_up()
        yield ann


async def test_telegram_points_earned_is_sent_once_even_when_enqueued_again(
    telegram_runtime: Runtime, telegram: TelegramMember
) -> None:
    runtime = telegram_runtime
    ann_id = await member_id(runtime, "telegram", "4242")
    before = len(telegram.received)
    for _ in range(2):  # the purchase's transaction replayed: the same dedupe key
        await runtime.notices.enqueue(
            member_id=ann_id,
            kind=NoticeKind.POINTS_EARNED,
            payload={"points": 50, "balance": 150, "reason": "purchase"},
            dedupe_key="earned:R-1",
        )

    report = await runtime.dispatch_notices(10)
    again = await runtime.dispatch_notices(10)

    assert report == DispatchReport(claimed=1, sent=1)
    assert again == DispatchReport()
    (sent,) = telegram.received[before:]
    assert sent.method.lower() == "sendmessage"
    assert sent.params["text"] == "✨ You earned 50 points. Your balance: 150 points."
    stored = await notice(runtime, "earned:R-1")
    assert (stored.status, stored.channel, stored.attempts) == (SENT, "telegram", 1)
    assert stored.sent_at is not None


async def test_a_purchase_credited_at_the_till_is_announced_in_the_chat(
    telegram_runtime: Runtime, telegram: TelegramMember
) -> None:
    runtime = telegram_runtime
    profile = await runtime.program.members.find(IdentityKey("telegram", "4242"))
    assert profile is not None
    before = len(telegram.received)

    credit = await runtime.program.purchases.credit(
        profile.card_code, "1000", purchase_id="R-77", actor="pos"
    )
    await runtime.program.purchases.credit(
        profile.card_code, "1000", purchase_id="R-77", actor="pos"
    )  # the till retried
    report = await runtime.dispatch_notices(10)

    assert report.sent == 1
    (sent,) = telegram.received[before:]
    assert sent.params["text"] == (
        f"✨ You earned {credit.points} points. Your balance: {credit.balance} points."
    )


async def test_telegram_coupon_comes_with_its_qr_code(
    telegram_runtime: Runtime, telegram: TelegramMember
) -> None:
    runtime = telegram_runtime
    ann_id = await member_id(runtime, "telegram", "4242")
    await runtime.notices.enqueue(
        member_id=ann_id,
        kind=NoticeKind.COUPON_RECEIVED,
        payload=COUPON,
        dedupe_key="coupon:1",
    )

    await runtime.dispatch_notices(10)

    photo = telegram.last
    assert photo.method.lower() == "sendphoto"
    caption = photo.params["caption"]
    assert "🎟 A coupon for you: 15% off. Your code: SPRING-7Q2X" in caption
    assert "Offer: Spring sale" in caption
    assert "Valid until 12/31/26." in caption
    assert qr_text(photo.files["photo"]) == "SPRING-7Q2X"


async def test_telegram_member_who_blocked_the_bot_is_skipped_not_failed(
    telegram_runtime: Runtime, telegram: TelegramMember, fake_telegram: FakeTelegramAPI
) -> None:
    runtime = telegram_runtime
    ann_id = await member_id(runtime, "telegram", "4242")
    fake_telegram.block_chat(4242)
    await runtime.notices.enqueue(
        member_id=ann_id,
        kind=NoticeKind.TIER_CHANGED,
        payload={"from_tier": None, "to_tier": "gold", "upgrade": True},
        dedupe_key="tier:1",
    )

    report = await runtime.dispatch_notices(10)

    assert report == DispatchReport(claimed=1, skipped=1)
    stored = await notice(runtime, "tier:1")
    assert (stored.status, stored.error, stored.channel) == (SKIPPED, "blocked", "telegram")


async def test_telegram_rate_limit_is_waited_out(
    telegram_runtime: Runtime, telegram: TelegramMember, fake_telegram: FakeTelegramAPI
) -> None:
    runtime = telegram_runtime
    ann_id = await member_id(runtime, "telegram", "4242")
    fake_telegram.rate_limit_next("sendMessage", retry_after=1)
    await runtime.notices.enqueue(
        member_id=ann_id,
        kind=NoticeKind.POINTS_EXPIRED,
        payload={"points": 30, "balance": 70},
        dedupe_key="expired:1",
    )

    report = await runtime.dispatch_notices(10)

    assert report.sent == 1
    assert telegram.last.params["text"] == "⌛ 30 points expired. Your balance: 70 points."
    assert len(fake_telegram.calls_of("sendMessage")) >= 2  # the 429, then the send


async def test_telegram_long_rate_limit_postpones_the_notice_as_long_as_asked(
    telegram_runtime: Runtime, telegram: TelegramMember, fake_telegram: FakeTelegramAPI
) -> None:
    runtime = telegram_runtime
    ann_id = await member_id(runtime, "telegram", "4242")
    fake_telegram.rate_limit_next("sendMessage", retry_after=120)
    await runtime.notices.enqueue(
        member_id=ann_id,
        kind=NoticeKind.POINTS_EARNED,
        payload={"points": 1, "balance": 101},
        dedupe_key="earned:429",
    )

    report = await runtime.dispatch_notices(10)

    assert report == DispatchReport(claimed=1, retrying=1)
    stored = await notice(runtime, "earned:429")
    assert stored.status == PENDING
    assert stored.due_at is not None
    assert stored.due_at - datetime.now(UTC) > timedelta(seconds=115)


async def test_marketing_notice_only_with_consent(
    telegram_runtime: Runtime, telegram: TelegramMember
) -> None:
    runtime = telegram_runtime
    ann_id = await member_id(runtime, "telegram", "4242")  # signed up without offers
    await runtime.notices.enqueue(
        member_id=ann_id,
        kind=NoticeKind.BIRTHDAY,
        payload={"points": 0},
        dedupe_key="birthday:2026",
        marketing=True,
    )
    before = len(telegram.received)

    report = await runtime.dispatch_notices(10)

    assert report == DispatchReport(claimed=1, skipped=1)
    assert telegram.received[before:] == []
    stored = await notice(runtime, "birthday:2026")
    assert (stored.status, stored.error) == (SKIPPED, "no_consent")

    await runtime.program.members.set_marketing(ann_id, opt_in=True, channel="telegram")
    await runtime.notices.enqueue(
        member_id=ann_id,
        kind=NoticeKind.BIRTHDAY,
        payload={"points": 200},
        dedupe_key="birthday:2027",
        marketing=True,
    )
    assert (await runtime.dispatch_notices(10)).sent == 1
    assert telegram.last.params["text"] == "🎂 Happy birthday! Here is our gift to you: 200 points."


async def test_an_erased_member_gets_nothing(
    telegram_runtime: Runtime, telegram: TelegramMember
) -> None:
    runtime = telegram_runtime
    ann_id = await member_id(runtime, "telegram", "4242")
    await runtime.notices.enqueue(
        member_id=ann_id,
        kind=NoticeKind.POINTS_SPENT,
        payload={"points": 10, "balance": 90},
        dedupe_key="spent:1",
    )
    await runtime.program.privacy.erase(ann_id)
    before = len(telegram.received)

    assert (await runtime.dispatch_notices(10)).skipped == 1

    assert telegram.received[before:] == []
    assert (await notice(runtime, "spent:1")).error == "erased"


# ---------------------------------------------------------------------- VK
@pytest.fixture
async def vk_app(runtime: Runtime, fake_vk: FakeVkAPI) -> AsyncIterator[VkMember]:  # noqa: F811
    channel = channel_for(fake_vk, runtime.conversation, runtime.updates, runtime.conversations)
    runtime.vk = channel  # closed by the runtime
    channel.register_webhook(runtime.web_app)
    async with webhook_client(runtime) as client:
        ann = VkMember(fake_vk, client, 5100)
        await ann.sign_up()
        yield ann


async def test_vk_notice_with_a_random_id_from_the_notice(
    runtime: Runtime,
    vk_app: VkMember,
    fake_vk: FakeVkAPI,  # noqa: F811
) -> None:
    ann_id = await member_id(runtime, "vk", "5100")
    await runtime.notices.enqueue(
        member_id=ann_id,
        kind=NoticeKind.POINTS_EXPIRING,
        payload={"points": 40, "expires_at": "2026-12-01T00:00:00+00:00", "balance": 140},
        dedupe_key="expiring:1",
    )
    before = len(vk_app.received)

    assert (await runtime.dispatch_notices(10)).sent == 1

    (sent,) = vk_app.received[before:]
    assert sent.message == "⏳ 40 points will expire on 12/1/26. Spend them before then!"
    stored = await notice(runtime, "expiring:1")
    assert sent.random_id == random_id(GROUP_ID, f"outbound:notice:{stored.id}", 0)
    assert (stored.status, stored.channel) == (SENT, "vk")

    # A dispatcher that sent it and died before recording it: the retry is no duplicate.
    async with runtime.db.transaction() as session:
        await session.execute(update(Notice).values(status=PENDING))
    assert (await runtime.dispatch_notices(10)).sent == 1
    assert vk_app.received[before:] == [sent]


async def test_vk_coupon_with_its_qr_photo(
    runtime: Runtime,
    vk_app: VkMember,
    fake_vk: FakeVkAPI,  # noqa: F811
) -> None:
    ann_id = await member_id(runtime, "vk", "5100")
    await runtime.notices.enqueue(
        member_id=ann_id,
        kind=NoticeKind.COUPON_RECEIVED,
        payload={**COUPON, "kind": "fixed", "value": "500"},
        dedupe_key="coupon:vk",
    )

    assert (await runtime.dispatch_notices(10)).sent == 1

    sent = vk_app.received[-1]
    assert "🎟 A coupon for you: RUB500 off. Your code: SPRING-7Q2X" in sent.message
    assert sent.attachment and sent.attachment.startswith("photo")


async def test_vk_member_who_forbade_messages_is_skipped(
    runtime: Runtime,
    vk_app: VkMember,
    fake_vk: FakeVkAPI,  # noqa: F811
) -> None:
    ann_id = await member_id(runtime, "vk", "5100")
    fake_vk.block_user(5100)
    await runtime.notices.enqueue(
        member_id=ann_id,
        kind=NoticeKind.POINTS_EARNED,
        payload={"points": 5, "balance": 105},
        dedupe_key="earned:vk",
    )

    assert (await runtime.dispatch_notices(10)).skipped == 1
    assert (await notice(runtime, "earned:vk")).error == "blocked"


# ---------------------------------------------------------------------- WhatsApp
async def whatsapp_member(app: WhatsApp, number: str, *, marketing: bool = False) -> int:
    app.runtime.whatsapp = app.channel
    await WhatsAppMember(app, number).sign_up(marketing=marketing)
    return await member_id(app.runtime, "whatsapp", number)


async def test_whatsapp_coupon_within_the_window_with_a_signed_qr_link(
    whatsapp: WhatsApp,  # noqa: F811
) -> None:
    runtime = whatsapp.runtime
    ann_id = await whatsapp_member(whatsapp, "+49990005511")
    before = len(whatsapp.fake.sent_to("+49990005511"))
    await runtime.notices.enqueue(
        member_id=ann_id,
        kind=NoticeKind.COUPON_RECEIVED,
        payload={**COUPON, "kind": "free_item", "item": "coffee", "value": None},
        dedupe_key="coupon:wa",
    )

    assert (await runtime.dispatch_notices(10)).sent == 1

    (sent,) = whatsapp.fake.sent_to("+49990005511")[before:]
    assert sent.body.startswith("🎟 A coupon for you: a free coffee. Your code: SPRING-7Q2X")
    (link,) = sent.media_urls
    assert link.startswith(whatsapp.public_url + "/media/whatsapp/image/")
    path = urlsplit(link).path
    image = await whatsapp.client.get(path)
    assert image.status == 200
    assert qr_text(await image.read()) == "SPRING-7Q2X"
    forged = await whatsapp.client.get(path.replace(path[-10:-4], "000000"))
    assert forged.status == 403
    assert (await notice(runtime, "coupon:wa")).status == SENT


async def test_whatsapp_outside_the_24_hour_window_is_skipped(
    whatsapp: WhatsApp,  # noqa: F811
) -> None:
    runtime = whatsapp.runtime
    ann_id = await whatsapp_member(whatsapp, "+49990005512")
    before = len(whatsapp.fake.sent_to("+49990005512"))
    whatsapp.clock.offset = timedelta(hours=24, minutes=1)
    await runtime.notices.enqueue(
        member_id=ann_id,
        kind=NoticeKind.POINTS_EARNED,
        payload={"points": 10, "balance": 110},
        dedupe_key="earned:wa-late",
    )

    assert (await runtime.dispatch_notices(10)).skipped == 1

    assert whatsapp.fake.sent_to("+49990005512")[before:] == []
    stored = await notice(runtime, "earned:wa-late")
    assert (stored.status, stored.error, stored.channel) == (
        SKIPPED,
        "whatsapp_window",
        "whatsapp",
    )


async def test_whatsapp_failure_is_retried_after_a_backoff(
    whatsapp: WhatsApp,  # noqa: F811
) -> None:
    runtime = whatsapp.runtime
    clock = ShiftedClock()
    runtime.notices = Notices(runtime.db, clock)
    ann_id = await whatsapp_member(whatsapp, "+49990005513")
    before = len(whatsapp.fake.sent_to("+49990005513"))
    await runtime.notices.enqueue(
        member_id=ann_id,
        kind=NoticeKind.POINTS_SPENT,
        payload={"points": 20, "balance": 80},
        dedupe_key="spent:wa",
    )
    whatsapp.fake.fail_next(20500, status=500)

    first = await runtime.dispatch_notices(10)
    too_soon = await runtime.dispatch_notices(10)
    clock.offset = timedelta(seconds=31)
    later = await runtime.dispatch_notices(10)

    assert first == DispatchReport(claimed=1, retrying=1)
    assert too_soon == DispatchReport()
    assert later == DispatchReport(claimed=1, sent=1)
    (sent,) = whatsapp.fake.sent_to("+49990005513")[before:]
    assert sent.body == "You spent 20 points. Your balance: 80 points."
    stored = await notice(runtime, "spent:wa")
    assert (stored.status, stored.attempts) == (SENT, 2)


async def test_marketing_on_whatsapp_with_consent_is_sent(
    whatsapp: WhatsApp,  # noqa: F811
) -> None:
    runtime = whatsapp.runtime
    ann_id = await whatsapp_member(whatsapp, "+49990005514", marketing=True)
    await runtime.notices.enqueue(
        member_id=ann_id,
        kind=NoticeKind.BIRTHDAY,
        payload={"points": 0},
        dedupe_key="birthday:wa",
        marketing=True,
    )

    assert (await runtime.dispatch_notices(10)).sent == 1
    assert whatsapp.fake.sent_to("+49990005514")[-1].body == (
        "🎂 Happy birthday! Thank you for being with us."
    )


# ---------------------------------------------------------------------- console
def console_for(runtime: Runtime, user_id: str, output: io.StringIO, tmp_path: Any) -> None:
    async def no_input() -> str:
        return ""

    runtime.console = ConsoleChannel(
        runtime.conversation,
        user_id=user_id,
        language_code="en",
        display_name=None,
        read_line=no_input,
        output=output,
        images_dir=tmp_path,
    )


async def test_console_prints_the_notice_and_saves_the_qr(runtime: Runtime, tmp_path: Any) -> None:
    output = io.StringIO()
    console_for(runtime, "alice", output, tmp_path)
    alice = (await runtime.program.members.enrol(registration("alice", "console"))).member
    bob = (await runtime.program.members.enrol(registration("bob", "console"))).member
    for who, key in ((alice, "coupon:alice"), (bob, "coupon:bob")):
        await runtime.notices.enqueue(
            member_id=who.id,
            kind=NoticeKind.COUPON_RECEIVED,
            payload=COUPON,
            dedupe_key=key,
        )

    report = await runtime.dispatch_notices(10)

    assert report == DispatchReport(claimed=2, sent=1, skipped=1)
    printed = output.getvalue()
    assert "🎟 A coupon for you: 15% off. Your code: SPRING-7Q2X" in printed
    assert qr_text((tmp_path / "coupon-SPRING-7Q2X.png").read_bytes()) == "SPRING-7Q2X"
    # Bob is not at this terminal.
    assert (await notice(runtime, "coupon:bob")).error == "not_connected"


# ---------------------------------------------------------------------- the outbox itself
@dataclass
class RecordingChannel:
    """An outbound channel that records what it was asked to send."""

    sent: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0

    async def send_outbound(
        self, external_id: str, replies: list[Reply], *, key: str, wait_rate_limit: bool = True
    ) -> Delivery:
        await asyncio.sleep(self.delay)
        self.sent.append((external_id, key))
        return Delivery.sent()


async def test_two_dispatchers_at_once_deliver_each_notice_exactly_once(
    backend: Backend, settings: Settings
) -> None:
    first, second = build_runtime(settings), build_runtime(settings)
    try:
        recorders = [RecordingChannel(delay=0.002), RecordingChannel(delay=0.002)]
        for runtime, recorder in zip((first, second), recorders, strict=True):
            runtime.outbound_channels = lambda recorder=recorder: {"telegram": recorder}  # type: ignore[method-assign,misc]
        for number in range(12):
            member = await enrol(first, str(7000 + number))
            for kind in ("a", "b", "c"):
                await first.notices.enqueue(
                    member_id=member.id,
                    kind=NoticeKind.POINTS_EARNED,
                    payload={"points": 1, "balance": 101},
                    dedupe_key=f"{number}:{kind}",
                )

        reports: list[DispatchReport] = []
        for _ in range(4):
            reports += await asyncio.gather(first.dispatch_notices(7), second.dispatch_notices(7))

        keys = [key for recorder in recorders for _, key in recorder.sent]
        assert len(keys) == 36
        assert len(set(keys)) == 36, "a notice was delivered twice"
        assert sum(report.sent for report in reports) == 36
        async with first.db.reading() as session:
            statuses = dict(
                (
                    await session.execute(
                        select(Notice.status, func.count()).group_by(Notice.status)
                    )
                ).all()
            )
        assert statuses == {SENT: 36}
    finally:
        await first.close()
        await second.close()


async def test_a_crashed_dispatchers_claim_is_taken_over_after_the_lease(
    runtime: Runtime,
) -> None:
    clock = ShiftedClock()
    notices = Notices(runtime.db, clock, lease=timedelta(minutes=5), max_attempts=2)
    member = await enrol(runtime, "8001")
    await notices.enqueue(
        member_id=member.id, kind=NoticeKind.POINTS_EARNED, payload={}, dedupe_key="lease"
    )

    (crashed,) = await notices.claim_batch(10)
    assert await notices.claim_batch(10) == [], "claimed notices are not handed out twice"
    clock.offset = timedelta(minutes=6)
    (taken_over,) = await notices.claim_batch(10)

    assert (crashed.id, crashed.attempt, taken_over.attempt) == (taken_over.id, 1, 2)
    assert not await notices.mark_sent(crashed, "telegram"), "the old claim is no longer ours"
    assert await notices.get(crashed.id) is not None
    assert (await notices.get(crashed.id)).status == SENDING  # type: ignore[union-attr]
    # The last attempt's lease runs out too: failed for good, not tried forever.
    clock.offset = timedelta(minutes=12)
    assert await notices.claim_batch(10) == []
    assert (await notices.get(crashed.id)).status == FAILED  # type: ignore[union-attr]


async def test_failures_back_off_and_give_up(runtime: Runtime) -> None:
    clock = ShiftedClock()
    notices = Notices(runtime.db, clock, max_attempts=3)
    member = await enrol(runtime, "8002")
    await notices.enqueue(
        member_id=member.id, kind=NoticeKind.POINTS_EARNED, payload={}, dedupe_key="flaky"
    )
    waits = []
    for _ in range(3):
        (claimed,) = await notices.claim_batch(10)
        retry = await notices.mark_failed(claimed, "HTTP 502")
        stored = await notices.get(claimed.id)
        assert stored is not None
        if retry:
            assert stored.due_at is not None
            waits.append(round((stored.due_at - clock.now()).total_seconds()))
            clock.offset += stored.due_at - clock.now()
    assert waits == [30, 60]
    assert stored is not None
    assert (stored.status, stored.attempts, stored.error) == (FAILED, 3, "HTTP 502")


async def test_the_dispatch_loop_delivers_and_stops_cleanly(runtime: Runtime) -> None:
    recorder = RecordingChannel()
    runtime.outbound_channels = lambda: {"telegram": recorder}  # type: ignore[method-assign]
    member = await enrol(runtime, "8003")
    stop = asyncio.Event()
    loop = asyncio.create_task(runtime.dispatcher.run_forever(stop, interval=0.05))

    await runtime.notices.enqueue(
        member_id=member.id, kind=NoticeKind.POINTS_EARNED, payload={}, dedupe_key="loop"
    )
    for _ in range(100):
        if recorder.sent:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(loop, 2)

    assert recorder.sent == [("8003", f"notice:{(await notice(runtime, 'loop')).id}")]


async def test_a_member_without_a_connected_channel_is_skipped(runtime: Runtime) -> None:
    member = await enrol(runtime, "8004")  # a Telegram member, and Telegram is not configured
    await runtime.notices.enqueue(
        member_id=member.id, kind=NoticeKind.POINTS_EARNED, payload={}, dedupe_key="nowhere"
    )
    await runtime.notices.enqueue(
        member_id=member.id,
        kind="from_the_future",  # type: ignore[arg-type]
        payload={},
        dedupe_key="future",
    )

    assert (await runtime.dispatch_notices(10)).skipped == 2
    assert (await notice(runtime, "nowhere")).error == "no_channel"
    assert (await notice(runtime, "future")).error == "unknown_kind"


async def test_concurrent_claims_never_share_a_notice(backend: Backend, settings: Settings) -> None:
    runtime = build_runtime(settings)
    dispatchers = [Database.from_url(settings.database_url) for _ in range(4)]
    try:
        member = await enrol(runtime, "8100")
        for number in range(40):
            await runtime.notices.enqueue(
                member_id=member.id,
                kind=NoticeKind.POINTS_EARNED,
                payload={},
                dedupe_key=f"claim:{number}",
            )
        clock = ShiftedClock()
        batches = await asyncio.gather(
            *(Notices(db, clock).claim_batch(5) for db in dispatchers for _ in range(3))
        )
        ids = [claimed.id for batch in batches for claimed in batch]
        assert len(ids) == len(set(ids)) == 40
    finally:
        for db in dispatchers:
            await db.close()
        await runtime.close()


# ---------------------------------------------------------------------- the texts
@pytest.fixture(scope="module")
def texts() -> NoticeTexts:
    return NoticeTexts(Translator.load("en"), currency="RUB")


def test_texts_use_each_languages_plurals(texts: NoticeTexts) -> None:
    (ru,) = texts.render("points_earned", {"points": 5, "balance": 21}, "ru")
    assert ru.text == "✨ Вам начислено: 5 баллов. Ваш баланс: 21 балл."
    (en,) = texts.render("points_expired", {"points": 1, "balance": 0}, "en")
    assert en.text == "⌛ 1 point expired. Your balance: 0 points."


def test_tier_upgrade_and_downgrade(texts: NoticeTexts) -> None:
    (up,) = texts.render(
        "tier_changed", {"from_tier": None, "to_tier": "gold", "upgrade": True}, "en"
    )
    (down,) = texts.render(
        "tier_changed", {"from_tier": "gold", "to_tier": None, "upgrade": False}, "en"
    )
    assert up.text == "🏆 Congratulations! You have reached the Gold level."
    assert down.text.startswith("Your level is now base.")
    names = {"ru": "Золото", "en": "Golden", "fa": None}
    payload = {"from_tier": None, "to_tier": "gold", "upgrade": True, "to_name": names}
    assert texts.render("tier_changed", payload, "ru")[0].text == (
        "🏆 Поздравляем! Теперь у вас уровень «Золото»."
    )
    assert "Golden" in texts.render("tier_changed", payload, "fa")[0].text


def test_birthday_with_and_without_a_gift(texts: NoticeTexts) -> None:
    (plain,) = texts.render("birthday", {"points": 0}, "ru")
    (gift,) = texts.render("birthday", {"points": 2, "coupon": "BDAY-1"}, "ru")
    assert plain.text == "🎂 С днём рождения! Спасибо, что вы с нами."
    assert plain.image is None
    assert gift.text.startswith("🎂 С днём рождения! Наш подарок вам: 2 балла.")
    assert "BDAY-1" in gift.text
    assert gift.image is not None and qr_text(gift.image.png) == "BDAY-1"


@pytest.mark.parametrize(
    ("title", "language", "shown"),
    [
        ("Cup", "ru", "Cup"),
        ({"en": "Cup", "ru": "Чашка"}, "ru", "Чашка"),
        ({"en": "Cup", "": "Any cup"}, "fa", "Any cup"),
        ({"ru": "Чашка", "en": "Cup"}, "fa", "Cup"),
        # A payload is stored JSON: blank or non-text entries are passed over.
        ({"fa": "  ", "en": 7, "ru": "Чашка"}, "fa", "Чашка"),
        ({"fa": None}, "fa", ""),
        (["Cup"], "en", ""),
    ],
)
def test_a_quests_title_in_the_members_language(
    texts: NoticeTexts, title: object, language: str, shown: str
) -> None:
    (reply,) = texts.render("quest_proof_reviewed", {"title": title, "approved": True}, language)
    assert reply.text == texts.texts.text(language, "notice-quest-proof-approved", quest=shown)


def test_an_unknown_kind_is_refused(texts: NoticeTexts) -> None:
    with pytest.raises(UnknownNotice):
        texts.render("from_the_future", {}, "en")


# ---------------------------------------------------------------------- a real process
async def test_the_console_chat_prints_notices_as_they_come(
    settings: Settings, tmp_path: Any
) -> None:
    runtime = build_runtime(settings)
    try:
        alice = (await runtime.program.members.enrol(registration("alice", "console"))).member
        await runtime.notices.enqueue(
            member_id=alice.id,
            kind=NoticeKind.POINTS_EARNED,
            payload={"points": 70, "balance": 170},
            dedupe_key="console:1",
        )
    finally:
        await runtime.close()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        "chat",
        "--user",
        "alice",
        cwd=tmp_path,
        env=environment(settings),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    seen: list[str] = []
    try:
        while True:
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line, "the console ended before the notice: " + "".join(seen)
            seen.append(line.decode())
            if "You earned 70 points" in seen[-1]:
                break
    finally:
        process.stdin.write(b"/quit\n")
        await process.stdin.drain()
        await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    assert "✨ You earned 70 points. Your balance: 170 points.\n" in seen
    runtime = build_runtime(settings)
    try:
        assert (await notice(runtime, "console:1")).status == SENT
    finally:
        await runtime.close()


async def test_a_merged_cards_notices_reach_the_card_it_became(runtime: Runtime) -> None:
    survivor = await enrol(runtime, "8201")
    merged = await enrol(runtime, "8202")
    async with runtime.db.transaction() as session:
        await session.execute(
            update(Member).where(Member.id == merged.id).values(merged_into_id=survivor.id)
        )

    recipient = await runtime.notices.recipient(merged.id)

    assert recipient is not None
    assert recipient.member_id == survivor.id
    assert [identity.external_id for identity in recipient.identities] == ["8201"]


# ---------------------------------------------------------------------- which account
async def add_account(
    runtime: Runtime,
    member: int,
    channel: str,
    external_id: str,
    *,
    added: datetime,
    seen: datetime | None,
) -> None:
    """Another messenger account on the member's card (linked with a code, as the profile's
    "My messengers" does), added and last written from at the given times."""
    async with runtime.db.transaction() as session:
        session.add(
            Identity(
                member_id=member,
                channel=channel,
                external_id=external_id,
                created_at=added,
                last_seen_at=seen,
            )
        )


async def account(runtime: Runtime, channel: str, external_id: str) -> Identity:
    async with runtime.db.reading() as session:
        found = await session.scalar(
            select(Identity).where(Identity.channel == channel, Identity.external_id == external_id)
        )
    assert found is not None
    return found


async def test_a_notice_goes_to_the_account_the_member_wrote_from_last(
    telegram_runtime: Runtime,
    fake_telegram: FakeTelegramAPI,
    fake_twilio: FakeTwilioAPI,  # noqa: F811
) -> None:
    """Ann joined on WhatsApp, added her Telegram account yesterday (and wrote there then),
    and wrote on WhatsApp today: her points notice comes on WhatsApp, not on the account she
    added last."""
    runtime = telegram_runtime
    async with serve_whatsapp(runtime, fake_twilio) as app:
        ann_id = await whatsapp_member(app, "+49990005601")
        now = runtime.program.clock.now()
        async with runtime.db.transaction() as session:
            await session.execute(
                update(Identity)
                .where(Identity.channel == "whatsapp")
                .values(created_at=now - timedelta(days=30))
            )
        yesterday = now - timedelta(days=1)
        await add_account(runtime, ann_id, "telegram", "4601", added=yesterday, seen=yesterday)
        before = len(app.fake.sent_to("+49990005601"))
        await runtime.notices.enqueue(
            member_id=ann_id,
            kind=NoticeKind.POINTS_EARNED,
            payload={"points": 50, "balance": 150, "reason": "purchase"},
            dedupe_key="earned:wa-last",
        )

        assert await runtime.dispatch_notices(10) == DispatchReport(claimed=1, sent=1)

        (sent,) = app.fake.sent_to("+49990005601")[before:]
        assert sent.body == "✨ You earned 50 points. Your balance: 150 points."
        assert fake_telegram.sent_to(4601) == []
        stored = await notice(runtime, "earned:wa-last")
        assert (stored.status, stored.channel) == (SENT, "whatsapp")


async def test_a_blocked_bot_gives_way_to_the_next_account_and_is_not_tried_again(
    telegram_runtime: Runtime,
    telegram: TelegramMember,
    fake_telegram: FakeTelegramAPI,
    fake_vk: FakeVkAPI,  # noqa: F811
) -> None:
    """Ann wrote last on Telegram, then blocked the bot: the notice comes on her VK account,
    and her Telegram account is marked, so the next notice (and broadcast) goes straight to
    VK; once she writes on Telegram again, Telegram is hers again."""
    runtime = telegram_runtime
    vk = channel_for(fake_vk, runtime.conversation, runtime.updates, runtime.conversations)
    runtime.vk = vk  # closed by the runtime
    ann_id = await member_id(runtime, "telegram", "4242")
    now = runtime.program.clock.now()
    await add_account(
        runtime, ann_id, "vk", "5601", added=now - timedelta(days=2), seen=now - timedelta(days=2)
    )
    fake_telegram.block_chat(4242)
    tried = len(fake_telegram.calls_of("sendMessage"))
    for key in ("earned:1", "earned:2"):
        await runtime.notices.enqueue(
            member_id=ann_id,
            kind=NoticeKind.POINTS_EARNED,
            payload={"points": 5, "balance": 105},
            dedupe_key=key,
        )
        assert await runtime.dispatch_notices(10) == DispatchReport(claimed=1, sent=1)

    assert [message.message for message in fake_vk.sent_to(5601)] == [
        "✨ You earned 5 points. Your balance: 105 points."
    ] * 2
    # Telegram was tried once, for the first notice only.
    assert [call.chat_id for call in fake_telegram.calls_of("sendMessage")[tried:]] == [4242]
    assert (await account(runtime, "telegram", "4242")).unreachable_at is not None
    assert (await notice(runtime, "earned:2")).channel == "vk"

    # She unblocks the bot and writes to it: Telegram is the account she wrote from last.
    fake_telegram.unblock_chat(4242)
    async with runtime.db.transaction() as session:
        await session.execute(
            update(Identity)
            .where(Identity.channel == "telegram")
            .values(last_seen_at=now - timedelta(hours=1))
        )
    await telegram.send("/start")
    await runtime.notices.enqueue(
        member_id=ann_id,
        kind=NoticeKind.POINTS_EARNED,
        payload={"points": 5, "balance": 110},
        dedupe_key="earned:3",
    )
    assert await runtime.dispatch_notices(10) == DispatchReport(claimed=1, sent=1)
    assert (await notice(runtime, "earned:3")).channel == "telegram"
    assert text_of(fake_telegram.sent_to(4242)[-1]) == (
        "✨ You earned 5 points. Your balance: 110 points."
    )


async def test_a_member_whose_only_account_refused_for_good_is_skipped_without_a_send(
    telegram_runtime: Runtime, telegram: TelegramMember, fake_telegram: FakeTelegramAPI
) -> None:
    runtime = telegram_runtime
    ann_id = await member_id(runtime, "telegram", "4242")
    fake_telegram.block_chat(4242)
    for key in ("tier:a", "tier:b"):
        await runtime.notices.enqueue(
            member_id=ann_id,
            kind=NoticeKind.TIER_CHANGED,
            payload={"from_tier": None, "to_tier": "gold", "upgrade": True},
            dedupe_key=key,
        )
        await runtime.dispatch_notices(10)
    calls = len(fake_telegram.calls_of("sendMessage"))

    first, second = await notice(runtime, "tier:a"), await notice(runtime, "tier:b")
    assert (first.status, first.error) == (SKIPPED, "blocked")
    assert (second.status, second.error) == (SKIPPED, "no_channel")
    assert len(fake_telegram.calls_of("sendMessage")) == calls
