"""Broadcasts end to end: created from a file, sent through the fake Telegram, VK and Twilio
servers, and asserted on what each member received and on the delivery rows; consent, the
holdout, quiet hours in two time zones, the WhatsApp window, pause/resume/cancel, a 429 in
the middle, and a worker that died holding a batch."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select, text, update

import main
from app import broadcasts as wiring
from app.broadcast_sending import ChannelSender
from app.broadcast_sending import engine as wiring_engine
from app.runtime import Runtime, build_runtime
from app.settings import Settings
from bots.console import ConsoleChannel
from cli.broadcasts import _summary, read_images
from core.broadcasts.engine import (
    BroadcastEngine,
    _Account,
    _Recorder,
    delivery_key,
    variant_for,
)
from core.broadcasts.errors import BroadcastRefused, InvalidBroadcast, SendAtPassed
from core.broadcasts.spec import HOLDOUT, parse_spec
from core.db.models import Broadcast, BroadcastDelivery, Coupon, Identity, Member, Notice
from core.db.rates import (
    BULK_SPAN,
    CHATS_KEPT,
    WINDOW_MARGIN,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    interval,
)
from core.members.accounts import IdentityKey
from core.offers.campaigns import CampaignSpec
from core.segments.errors import InvalidSegment
from core.shared import cards
from tests.clocks import TEST_DAY, ShiftedClock
from tests.conftest import TELEGRAM_TOKEN, WEBHOOK_SECRET, Backend, make_settings
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.fakes.vk_api import FakeVkAPI
from tests.telegram_member import (
    TelegramMember,
    inline_actions,
    text_of,
    webhook_client,
    webhook_delivery,
)
from tests.test_console import ROOT, environment, run_cli
from tests.test_vk import GROUP_ID, SECRET, fake_vk  # noqa: F401 - fixture
from tests.whatsapp_member import ACCOUNT_SID, AUTH_TOKEN, SHOP_NUMBER, fake_twilio  # noqa: F401

TEXT = {
    "en": "Hi {name}! You have {balance} points. Your code: {coupon}",
    "ru": "Привет, {name}! У вас {balance} баллов. Ваш код: {coupon}",
}
TEMPLATE_SID = "HX0123456789abcdef0123456789abcdef"
# One text, to everyone, nothing else.
PLAIN: dict[str, Any] = {
    "variants": [],
    "holdout": 0,
    "coupon_campaign": None,
    "whatsapp_template": None,
    "buttons": [],
}


def spec(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "Spring offer",
        "segment": {},
        "text": TEXT,
        "buttons": [{"open": "coupon"}],
        "coupon_campaign": "spring",
        "variants": [
            {"key": "A", "share": 50},
            {"key": "B", "share": 50, "text": {"en": "B for {name}: {coupon}"}},
        ],
        "holdout": 20,
        "whatsapp_template": {
            "content_sid": TEMPLATE_SID,
            "variables": {"1": "{name}", "2": "{coupon}"},
        },
    }
    values.update(overrides)
    return values


@dataclass
class Shop:
    runtime: Runtime
    clock: ShiftedClock
    telegram: FakeTelegramAPI
    vk: FakeVkAPI
    twilio: FakeTwilioAPI

    @property
    def engine(self) -> BroadcastEngine:
        return self.runtime.broadcast_engine

    def telegram_env(self, **extra: str) -> dict[str, str]:
        """A command-line process's environment for the fake Telegram (and `extra`)."""
        return {
            "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
            "TELEGRAM_API_URL": self.telegram.base_url,
            "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            **extra,
        }

    async def create(self, **overrides: Any) -> int:
        """As broadcast-create does it: the image files it names read here, now."""
        parsed = parse_spec(spec(**overrides))
        created = await wiring.broadcasts(self.runtime.program).create(
            parsed, actor="test", images=read_images(parsed)
        )
        return created.id

    async def send(self, broadcast_id: int) -> None:
        await self.engine.broadcasts.start(broadcast_id)
        await self.engine.run(broadcast_id)

    async def rows(self, broadcast_id: int) -> dict[int, BroadcastDelivery]:
        async with self.runtime.db.reading() as session:
            found = await session.scalars(
                select(BroadcastDelivery).where(BroadcastDelivery.broadcast_id == broadcast_id)
            )
            return {row.member_id: row for row in found}

    async def open_window(self, number: str) -> None:
        """The member wrote to us just now: WhatsApp free text is allowed for 24 hours."""
        async with self.runtime.db.transaction() as session:
            await session.execute(
                update(Identity)
                .where(Identity.channel == "whatsapp", Identity.external_id == number)
                .values(last_seen_at=self.clock.now())
            )


def settings_for(
    backend: Backend,
    telegram: FakeTelegramAPI,
    vk: FakeVkAPI,
    twilio: FakeTwilioAPI,
    **overrides: Any,
) -> Settings:
    values: dict[str, Any] = {
        "telegram_bot_token": TELEGRAM_TOKEN,
        "telegram_api_url": telegram.base_url,
        "telegram_webhook_secret": WEBHOOK_SECRET,
        "vk_group_token": vk.token,
        "vk_group_id": GROUP_ID,
        "vk_secret": SECRET,
        "vk_api_url": vk.base_url,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_whatsapp_from": f"whatsapp:{SHOP_NUMBER}",
        "twilio_api_url": twilio.base_url,
        # Fast tests; the pacing has tests of its own.
        "broadcast_telegram_per_second": 1000,
        "broadcast_vk_per_second": 100,
        "broadcast_whatsapp_per_second": 100,
    }
    values.update(overrides)
    return make_settings(backend, **values)


@pytest.fixture
async def shop(
    backend: Backend,
    settings: Settings,
    fake_telegram: FakeTelegramAPI,
    fake_vk: FakeVkAPI,  # noqa: F811
    fake_twilio: FakeTwilioAPI,  # noqa: F811
) -> AsyncIterator[Shop]:
    # Real time, moved to a day when it is 13:00 in Moscow (the program's zone).
    clock = ShiftedClock()
    clock.offset = TEST_DAY - datetime.now(UTC)
    runtime = build_runtime(settings_for(backend, fake_telegram, fake_vk, fake_twilio), clock=clock)
    await runtime.program.coupons.create_campaign(
        CampaignSpec(slug="spring", name="Spring", kind="percent", value="15"), actor="test"
    )
    try:
        yield Shop(runtime, clock, fake_telegram, fake_vk, fake_twilio)
    finally:
        await runtime.close()


async def add_members(
    shop: Shop,
    channel: str,
    external_ids: list[str],
    *,
    consent: bool = True,
    language: str = "en",
    time_zone: str | None = None,
) -> list[int]:
    """Members as sign-up leaves them (a name, a language, one account), written at once."""
    now = shop.clock.now()
    ids = []
    async with shop.runtime.db.transaction() as session:
        for external_id in external_ids:
            member = Member(
                card_code=cards.generate(),
                name=f"M{external_id[-4:]}",
                language=language,
                marketing_opt_in=consent,
                terms_accepted_at=now,
                balance=int(external_id[-2:]),
                time_zone=time_zone,
                created_at=now,
                updated_at=now,
                last_active_at=now,
            )
            session.add(member)
            await session.flush()
            session.add(
                Identity(
                    member_id=member.id, channel=channel, external_id=external_id, created_at=now
                )
            )
            ids.append(member.id)
    return ids


def telegram_ids(start: int, count: int) -> list[str]:
    return [str(start + number) for number in range(count)]


async def coupon_of(shop: Shop, member_id: int) -> str:
    async with shop.runtime.db.reading() as session:
        codes = list(
            await session.scalars(select(Coupon.code).where(Coupon.member_id == member_id))
        )
    assert len(codes) <= 1, codes
    return codes[0] if codes else ""


# ---------------------------------------------------------------------- the segment
async def test_a_segment_picks_who_gets_it_on_the_account_they_wrote_from_last(
    shop: Shop,
) -> None:
    program = shop.runtime.program
    vip = await add_members(shop, "telegram", telegram_ids(8000, 3))
    others = await add_members(shop, "telegram", telegram_ids(8100, 3))
    for member in vip:
        await program.segments.tag(member, "vip", actor="test")
    # The first VIP also has a VK account, and wrote from it last.
    now = shop.clock.now()
    async with shop.runtime.db.transaction() as session:
        session.add(
            Identity(
                member_id=vip[0], channel="vk", external_id="8800", created_at=now,
                last_seen_at=now,
            )
        )  # fmt: skip
        await session.execute(
            update(Identity)
            .where(Identity.member_id == vip[0], Identity.channel == "telegram")
            .values(last_seen_at=now - timedelta(days=1))
        )
    broadcast_id = await shop.create(**PLAIN, text="Hi VIP", segment={"tags": {"any": ["vip"]}})

    await shop.send(broadcast_id)

    rows = await shop.rows(broadcast_id)
    assert set(rows) == set(vip)
    assert (rows[vip[0]].status, rows[vip[0]].channel) == ("sent", "vk")
    assert len(shop.vk.sent_to(8800)) == 1 and shop.telegram.sent_to(8000) == []
    for external in telegram_ids(8001, 2):
        assert len(shop.telegram.sent_to(int(external))) == 1
    for external in telegram_ids(8100, 3):
        assert shop.telegram.sent_to(int(external)) == []
    assert not set(rows) & set(others)

    # A segment that is not one is refused before anything is stored.
    with pytest.raises(InvalidSegment, match="tier"):
        await shop.create(**PLAIN, text="Hi", segment={"tier": 5})
    # So is one that names what the program does not have.
    with pytest.raises(InvalidSegment, match="coupon: no campaign 'sprng'"):
        await shop.create(**PLAIN, text="Hi", segment={"coupon": {"campaign": "sprng"}})


# ---------------------------------------------------------------------- every channel
async def test_each_consenting_member_gets_one_personal_message_on_their_channel(
    shop: Shop,
) -> None:
    telegram = await add_members(shop, "telegram", telegram_ids(5000, 40))
    russians = await add_members(shop, "telegram", telegram_ids(5100, 10), language="ru")
    refused = await add_members(shop, "telegram", telegram_ids(5200, 5), consent=False)
    vk = await add_members(shop, "vk", telegram_ids(7000, 10))
    numbers = [f"+4999000{1000 + n}" for n in range(10)]
    whatsapp = await add_members(shop, "whatsapp", numbers)
    for number in numbers[:5]:
        await shop.open_window(number)
    broadcast_id = await shop.create()

    await shop.send(broadcast_id)

    rows = await shop.rows(broadcast_id)
    consenting = [*telegram, *russians, *vk, *whatsapp]
    # Nobody without consent was even planned.
    assert set(rows) == set(consenting) and not set(rows) & set(refused)
    variants = {
        member: variant_for(broadcast_id, member, parse_spec(spec()).resolved(), 20)
        for member in consenting
    }
    held_out = [member for member, key in variants.items() if key == HOLDOUT]
    assert 2 <= len(held_out) <= 25
    for member, external in zip(
        [*telegram, *russians], [*telegram_ids(5000, 40), *telegram_ids(5100, 10)], strict=True
    ):
        received = shop.telegram.sent_to(int(external))
        row = rows[member]
        if member in held_out:
            assert received == [] and (row.status, row.reason) == ("skipped", HOLDOUT)
            assert await coupon_of(shop, member) == ""
            continue
        (message,) = received
        code = await coupon_of(shop, member)
        assert code and row.coupon_code == code
        assert (row.status, row.channel, row.variant) == ("sent", "telegram", variants[member])
        name = f"M{external[-4:]}"
        if variants[member] == "B":
            # B has an English text only: everyone gets that one.
            assert text_of(message) == f"B for {name}: {code}"
        elif member in russians:
            assert text_of(message) == (
                f"Привет, {name}! У вас {int(external[-2:])} баллов. Ваш код: {code}"
            )
        else:
            assert text_of(message) == (
                f"Hi {name}! You have {int(external[-2:])} points. Your code: {code}"
            )
        assert inline_actions(message) == [f"bc:{broadcast_id}:{variants[member]}:menu:coupons"]
    for external in telegram_ids(5200, 5):
        assert shop.telegram.sent_to(int(external)) == []
    for member, external in zip(vk, telegram_ids(7000, 10), strict=True):
        delivered = shop.vk.sent_to(int(external))
        if member in held_out:
            assert delivered == []
            continue
        (vk_message,) = delivered
        code = await coupon_of(shop, member)
        assert code and code in vk_message.message
        assert vk_message.actions == [f"bc:{broadcast_id}:{variants[member]}:menu:coupons"]
    for member, number in zip(whatsapp, numbers, strict=True):
        sent = shop.twilio.sent_to(number)
        if member in held_out:
            assert sent == []
            continue
        (twilio_call,) = sent
        code = await coupon_of(shop, member)
        if number in numbers[:5]:
            assert code in twilio_call.body and not twilio_call.form.get("ContentSid")
        else:
            # Outside the 24-hour window: the approved template, with the member's values.
            assert twilio_call.form["ContentSid"] == [TEMPLATE_SID]
            variables = json.loads(twilio_call.form["ContentVariables"][0])
            assert variables == {"1": f"M{number[-4:]}", "2": code}

    status = await shop.engine.broadcasts.status(broadcast_id)
    assert status.state == "done"
    assert status.sent == len(consenting) - len(held_out)
    assert status.skipped_by_reason == {HOLDOUT: len(held_out)}
    assert status.by_channel["whatsapp"] == len([m for m in whatsapp if m not in held_out])

    # Sending again sends nothing: one row per (broadcast, member).
    calls = len(shop.telegram.calls)
    await shop.engine.broadcasts.start(broadcast_id) if status.state != "done" else None
    await shop.engine.run(broadcast_id)
    assert len(shop.telegram.calls) == calls


async def test_points_read_in_the_members_language_and_a_nameless_member_is_greeted(
    shop: Shop,
) -> None:
    """{points} is the balance with its word in its plural form; {name} of a member without
    one is a word of their language, not a blank ("Hi , ...")."""
    russians = await add_members(shop, "telegram", ["4501", "4505", "4522"], language="ru")
    await add_members(shop, "telegram", ["4601", "4611"], language="en")
    async with shop.runtime.db.transaction() as session:
        await session.execute(update(Member).where(Member.id == russians[1]).values(name=None))
    broadcast_id = await shop.create(
        **PLAIN,
        text={"en": "{name}, you have {points}.", "ru": "{name}, у вас {points}."},
        quiet_hours={"start": 0, "end": 0},
    )
    await shop.send(broadcast_id)

    assert sorted(text_of(call) for call in shop.telegram.calls_of("sendMessage")) == [
        "M4501, у вас 1 балл.",
        "M4522, у вас 22 балла.",
        "M4601, you have 1 point.",
        "M4611, you have 11 points.",
        "друг, у вас 5 баллов.",
    ]


async def test_tier_placeholders_are_never_blank(shop: Shop) -> None:
    """{tier} of a member in no tier says so in their language; {points_to_next_tier} of a
    member in the top tier is 0, not an empty gap ("level , next in ")."""
    tiers = [{"key": "silver", "name": {"en": "Silver", "ru": "Серебро"}, "threshold": 1000}]
    await shop.runtime.program.rules.update(actor="marketer", tiers=tiers)
    await add_members(shop, "telegram", ["4701"], language="ru")
    (top,) = await add_members(shop, "telegram", ["4702"])
    profile = await shop.runtime.program.members.get(top)
    await shop.runtime.program.purchases.credit(
        profile.card_code, "1200", purchase_id="tier-top", actor="till"
    )
    await shop.runtime.program.bus.drain()
    broadcast_id = await shop.create(
        **PLAIN,
        text={
            "en": "{tier}, {points_to_next_tier} to go",
            "ru": "{tier}, осталось {points_to_next_tier}",
        },
        quiet_hours={"start": 0, "end": 0},
    )
    await shop.send(broadcast_id)
    assert [text_of(m) for m in shop.telegram.sent_to(4701)] == ["пока без уровня, осталось 1000"]
    assert [text_of(m) for m in shop.telegram.sent_to(4702)] == ["Silver, 0 to go"]


async def test_outside_the_whatsapp_window_without_a_template_the_member_is_skipped(
    shop: Shop,
) -> None:
    numbers = ["+49990002001", "+49990002002"]
    inside, outside = await add_members(shop, "whatsapp", numbers)
    await shop.open_window(numbers[0])
    broadcast_id = await shop.create(
        variants=[],
        holdout=0,
        whatsapp_template=None,
        coupon_campaign=None,
        buttons=[],
        text={"en": "Hello {name}"},
    )

    await shop.send(broadcast_id)

    rows = await shop.rows(broadcast_id)
    assert [m.body for m in shop.twilio.sent_to(numbers[0])] == ["Hello M2001"]
    assert shop.twilio.sent_to(numbers[1]) == []
    assert (rows[inside].status, rows[outside].status) == ("sent", "skipped")
    assert rows[outside].reason == "whatsapp_window"


async def test_a_member_who_blocked_the_bot_is_counted_and_passed_over_until_they_write(
    shop: Shop,
) -> None:
    kept, blocked = await add_members(shop, "telegram", ["6001", "6002"])
    shop.telegram.block_chat(6002)
    broadcast_id = await shop.create(**PLAIN, text="Hi")

    await shop.send(broadcast_id)

    rows = await shop.rows(broadcast_id)
    assert rows[kept].status == "sent"
    assert (rows[blocked].status, rows[blocked].reason, rows[blocked].attempts) == (
        "skipped",
        "blocked",
        1,
    )
    status = await shop.engine.broadcasts.status(broadcast_id)
    assert (status.sent, status.skipped_by_reason, status.state) == (1, {"blocked": 1}, "done")

    # Remembered: the next broadcast does not try that account again ...
    async with shop.runtime.db.reading() as session:
        account = await session.scalar(select(Identity).where(Identity.external_id == "6002"))
    assert account is not None and account.unreachable_at is not None
    calls = len(shop.telegram.calls_of("sendMessage"))
    again = await shop.create(**PLAIN, text="Hi again")
    await shop.send(again)
    assert [call.chat_id for call in shop.telegram.calls_of("sendMessage")[calls:]] == [6001]
    row = (await shop.rows(again))[blocked]
    assert (row.status, row.reason) == ("skipped", "unreachable")
    (exported,) = (await shop.runtime.program.privacy.export(blocked))["messengers"]
    assert exported["unreachable_since"] is not None

    # ... until the member writes from it (they unblocked the bot and said hello).
    shop.telegram.unblock_chat(6002)
    shop.clock.offset += timedelta(minutes=5)
    async with webhook_client(shop.runtime) as client:
        member = TelegramMember(shop.telegram, webhook_delivery(client), user_id=6002)
        await member.send("/start")
    third = await shop.create(**PLAIN, text="Welcome back")
    await shop.send(third)
    assert text_of(shop.telegram.sent_to(6002)[-1]) == "Welcome back"


async def send_and_die_before_writing(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, broadcast_id: int
) -> None:
    """A worker sends the broadcast's batch and is killed before it writes any outcome: its
    rows stay claimed ("sending") until its lease runs out."""

    async def killed_before_writing() -> None:
        return None

    dying = shop.engine
    with monkeypatch.context() as patched:
        patched.setattr(dying._recorder, "flush", killed_before_writing)
        await dying.broadcasts.start(broadcast_id)
        await dying.broadcasts.plan(broadcast_id)
        await dying.run(broadcast_id)
    # What the dead worker had not written is gone with it.
    dying._recorder = _Recorder(shop.runtime.db, shop.clock)


async def take_over_after_the_lease(shop: Shop, broadcast_id: int) -> None:
    """The next worker, once the dead one's lease has run out."""
    shop.clock.offset += shop.engine.lease + timedelta(seconds=1)
    await shop.runtime.broadcast_engine.run(broadcast_id)


async def test_a_worker_killed_before_its_write_leaves_a_blocked_account_to_be_found_again(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a worker learnt of an account (blocked) is written with the recipient's outcome,
    never before it: killed in between, the row's next try finds the block again and says
    "blocked", not "unreachable" (the account passed over, the reason lost)."""
    (blocked,) = await add_members(shop, "telegram", ["6101"])
    shop.telegram.block_chat(6101)
    broadcast_id = await shop.create(**PLAIN, text="Hi")

    await send_and_die_before_writing(shop, monkeypatch, broadcast_id)
    assert len(shop.telegram.calls_of("sendMessage")) == 1
    assert (await shop.rows(broadcast_id))[blocked].status == "sending"
    async with shop.runtime.db.reading() as session:
        account = await session.scalar(select(Identity).where(Identity.external_id == "6101"))
    assert account is not None and account.unreachable_at is None

    await take_over_after_the_lease(shop, broadcast_id)

    row = (await shop.rows(broadcast_id))[blocked]
    assert (row.status, row.reason, row.attempts) == ("skipped", "blocked", 2)
    async with shop.runtime.db.reading() as session:
        account = await session.scalar(select(Identity).where(Identity.external_id == "6101"))
    assert account is not None and account.unreachable_at is not None


@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_a_lease_renewal_waits_for_the_outcomes_being_written_and_never_deadlocks_them(
    shop: Shop,
) -> None:
    """A batch's lease is renewed while its outcomes are written, by the same worker on
    another connection: the renewal waits for the group's write instead of locking the rows
    the write is locking too (in another order: PostgreSQL failed the write as a deadlock,
    and the worker stopped mid-broadcast, in the 10,000-member test)."""
    first, second = await add_members(shop, "telegram", ["6201", "6202"])
    broadcast_id = await shop.create(**PLAIN, text="Hi")
    engine = shop.engine
    await engine.broadcasts.start(broadcast_id)
    await engine.broadcasts.plan(broadcast_id)
    claimed = await engine._claim(broadcast_id)
    assert [row.member_id for row in claimed] == [first, second]
    leased = (await shop.rows(broadcast_id))[second].claimed_until
    assert leased is not None

    # The first one's outcome is written with its account found blocked; another transaction
    # holds that account, so the write stops half-way, with the first one's row locked.
    held, release = asyncio.Event(), asyncio.Event()

    async def holding_the_account() -> None:
        async with shop.runtime.db.transaction() as session:
            await session.execute(
                select(Identity).where(Identity.external_id == "6201").with_for_update()
            )
            held.set()
            await release.wait()

    holder = asyncio.create_task(holding_the_account())
    await held.wait()
    await engine._finish(
        claimed[0],
        status="skipped",
        reason="blocked",
        variant="A",
        channel="telegram",
        refused=[_Account("telegram", "6201")],
    )
    writing = asyncio.create_task(engine._recorder.flush())
    renewing: asyncio.Task[None] | None = None

    async def waiting_for_a_lock(statement: str) -> bool:
        async with shop.runtime.db.reading() as session:
            waiting = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND query LIKE :statement"
                ),
                {"statement": f"{statement}%"},
            )
        return bool(waiting)

    try:
        deadline = time.monotonic() + 30
        while not await waiting_for_a_lock("UPDATE identities"):
            assert time.monotonic() < deadline, "the outcomes' write never reached the account"
            await asyncio.sleep(0.05)

        renewing = asyncio.create_task(engine._renew(claimed))
        # Time for the renewal to reach the database, were it to go there now.
        for _ in range(20):
            await asyncio.sleep(0.1)
            assert not await waiting_for_a_lock("UPDATE broadcast_deliveries SET claimed_until")
        assert not renewing.done()
    finally:
        release.set()
        await holder
        await writing
        if renewing is not None:
            await renewing

    rows = await shop.rows(broadcast_id)
    assert (rows[first].status, rows[first].reason) == ("skipped", "blocked")
    renewed = rows[second].claimed_until
    assert rows[second].status == "sending" and renewed is not None and renewed >= leased


async def test_a_console_member_not_at_this_terminal_is_not_connected_not_unreachable(
    shop: Shop, tmp_path: Path
) -> None:
    """Only the member at `run`'s terminal reads what the console prints: another console
    member (joined with `chat --user`) is skipped as "not_connected", their account kept for
    the next broadcast, never "unreachable" (blocked or a dead number)."""
    output = io.StringIO()

    async def no_input() -> str:
        return ""

    shop.runtime.console = ConsoleChannel(
        shop.runtime.conversation, user_id="desk0001", language_code="en", display_name=None,
        read_line=no_input, output=output, images_dir=tmp_path,
    )  # fmt: skip
    here, elsewhere = await add_members(shop, "console", ["desk0001", "desk0002"])
    broadcast_id = await shop.create(**PLAIN, text="Hi from the shop")

    await shop.send(broadcast_id)

    rows = await shop.rows(broadcast_id)
    assert rows[here].status == "sent" and "Hi from the shop" in output.getvalue()
    assert (rows[elsewhere].status, rows[elsewhere].reason) == ("skipped", "not_connected")
    status = await shop.engine.broadcasts.status(broadcast_id)
    assert status.skipped_by_reason == {"not_connected": 1}
    async with shop.runtime.db.reading() as session:
        accounts = list(await session.scalars(select(Identity.unreachable_at)))
    assert accounts == [None, None]

    # A process with no console at all (a worker): both are not connected, neither refused.
    shop.runtime.console = None
    again = await shop.create(**PLAIN, text="Hi again")
    await shop.send(again)
    assert {row.reason for row in (await shop.rows(again)).values()} == {"not_connected"}
    async with shop.runtime.db.reading() as session:
        assert list(await session.scalars(select(Identity.unreachable_at))) == [None, None]


async def free_codes(shop: Shop) -> list[str]:
    async with shop.runtime.db.reading() as session:
        return sorted(
            await session.scalars(
                select(Coupon.code).where(
                    Coupon.issued_at.is_(None),
                    Coupon.member_id.is_(None),
                    Coupon.voided_at.is_(None),
                )
            )
        )


async def test_a_broadcast_coupon_is_taken_back_from_whoever_the_message_did_not_reach(
    shop: Shop,
) -> None:
    """A member the message never reached (blocked the bot, a dead number, STOP, WhatsApp's
    window with no template) is left no coupon: an imported code goes back to the pool for
    someone else, in the transaction that records the skip. Who got the message keeps it."""
    program = shop.runtime.program
    # One for each member: each is issued one before its send is tried.
    pool = ["POOL-AAAA", "POOL-BBBB", "POOL-CCCC", "POOL-EEEE"]
    await program.coupons.import_codes("spring", pool)
    (kept,) = await add_members(shop, "telegram", ["6301"])
    (blocked,) = await add_members(shop, "telegram", ["6302"])
    (stopped,) = await add_members(shop, "whatsapp", ["+49990003001"])
    (windowed,) = await add_members(shop, "whatsapp", ["+49990003002"])
    shop.telegram.block_chat(6302)
    await shop.open_window("+49990003001")
    shop.twilio.unsubscribe("+49990003001")
    broadcast_id = await shop.create(
        variants=[], holdout=0, whatsapp_template=None, text={"en": "Your code: {coupon}"}
    )

    await shop.send(broadcast_id)

    rows = await shop.rows(broadcast_id)
    code = await coupon_of(shop, kept)
    assert rows[kept].status == "sent" and rows[kept].coupon_code == code
    assert text_of(shop.telegram.sent_to(6301)[-1]) == f"Your code: {code}"
    for member, reason in ((blocked, "blocked"), (stopped, "unreachable"), (windowed,
            "whatsapp_window")):  # fmt: skip
        assert (rows[member].status, rows[member].reason) == ("skipped", reason)
        assert rows[member].coupon_code is None
        assert await coupon_of(shop, member) == ""
        assert await program.coupons.active_for(member) == []
    # Only the one delivered code left the pool (none was generated, none voided).
    assert await free_codes(shop) == sorted(set(pool) - {code})
    async with shop.runtime.db.reading() as session:
        assert await session.scalar(select(func.count()).select_from(Coupon)) == len(pool)
    # A returned code is anyone's: the next members get the pool's codes, not new ones.
    later = await add_members(shop, "telegram", ["6303", "6304", "6305"])
    issued = [(await program.coupons.issue("spring", member)).code for member in later]
    assert sorted(issued) == sorted(set(pool) - {code})
    # What the member holds who got the message stays theirs.
    assert [c.code for c in await program.coupons.active_for(kept)] == [code]


async def test_a_coupon_a_dead_worker_may_have_sent_is_voided_on_the_retrys_skip_silently(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row tried before (a worker died after its send, before writing) reuses the coupon it
    was issued; skipped on the retry, the coupon may have reached the member all the same: it
    is voided (not given to anyone else), says why, and the member is not told."""
    program = shop.runtime.program
    await program.coupons.import_codes("spring", ["POOL-DDDD"])
    (blocked,) = await add_members(shop, "telegram", ["6401"])
    shop.telegram.block_chat(6401)
    broadcast_id = await shop.create(**{**PLAIN, "coupon_campaign": "spring"}, text="{coupon}")

    await send_and_die_before_writing(shop, monkeypatch, broadcast_id)
    assert (await shop.rows(broadcast_id))[blocked].coupon_code == "POOL-DDDD"
    await take_over_after_the_lease(shop, broadcast_id)

    row = (await shop.rows(broadcast_id))[blocked]
    assert (row.status, row.reason, row.attempts, row.coupon_code) == (
        "skipped", "blocked", 2, "POOL-DDDD"
    )  # fmt: skip
    async with shop.runtime.db.reading() as session:
        coupon = await session.scalar(select(Coupon).where(Coupon.code == "POOL-DDDD"))
        notices = list(await session.scalars(select(Notice.kind)))
    assert coupon is not None and coupon.voided_at is not None
    assert coupon.void_reason == f"broadcast {broadcast_id} not delivered (blocked)"
    assert coupon.voided_by == "broadcast"
    assert await program.coupons.active_for(blocked) == []
    assert notices == []
    assert await free_codes(shop) == []


async def test_a_cancel_voids_the_coupon_of_a_member_whose_send_failed_and_waits_again(
    shop: Shop,
) -> None:
    """Cancelled while queued for a retry, a member whose send failed (it may have reached
    them all the same) has the coupon voided, not given to another."""
    program = shop.runtime.program
    await program.coupons.import_codes("spring", ["POOL-FFFF"])
    (member,) = await add_members(shop, "whatsapp", ["+49990004001"])
    await shop.open_window("+49990004001")
    shop.twilio.fail_next(20500, status=500)
    broadcast_id = await shop.create(**{**PLAIN, "coupon_campaign": "spring"}, text="{coupon}")
    await shop.send(broadcast_id)
    row = (await shop.rows(broadcast_id))[member]
    assert (row.status, row.attempts, row.coupon_code) == ("queued", 1, "POOL-FFFF")

    await wiring.broadcasts(program).cancel(broadcast_id)

    row = (await shop.rows(broadcast_id))[member]
    assert (row.status, row.reason) == ("skipped", "cancelled")
    async with shop.runtime.db.reading() as session:
        coupon = await session.scalar(select(Coupon).where(Coupon.code == "POOL-FFFF"))
    assert coupon is not None and coupon.voided_at is not None
    assert coupon.void_reason == f"broadcast {broadcast_id} not delivered (cancelled)"
    assert await free_codes(shop) == []


async def test_a_dead_whatsapp_number_is_skipped_at_once_and_a_429_holds_then_sends(
    shop: Shop,
) -> None:
    """Twilio's "not on WhatsApp" (63003) is no fault a retry cures: skipped as unreachable
    after one try (and remembered). Its 429 names no wait: every sender holds a second, then
    it goes."""
    dead_number, busy_number = "+49990002101", "+49990002102"
    dead_member, busy_member = await add_members(shop, "whatsapp", [dead_number, busy_number])
    for number in (dead_number, busy_number):
        await shop.open_window(number)
    plain = {
        "variants": [],
        "holdout": 0,
        "whatsapp_template": None,
        "coupon_campaign": None,
        "buttons": [],
        "text": {"en": "Hello {name}"},
        "quiet_hours": {"start": 0, "end": 0},
        "segment": {"tags": {"any": ["dead"]}},
    }
    await shop.runtime.program.segments.tag(dead_member, "dead", actor="test")
    await shop.runtime.program.segments.tag(busy_member, "busy", actor="test")
    dead = await shop.create(**plain)
    shop.twilio.fail_next(63003)
    await shop.send(dead)
    row = (await shop.rows(dead))[dead_member]
    assert (row.status, row.reason, row.attempts) == ("skipped", "unreachable", 1)
    assert shop.twilio.sent_to(dead_number) == []

    busy = await shop.create(**{**plain, "segment": {"tags": {"any": ["busy"]}}})
    shop.twilio.fail_next(20429, status=429)
    await shop.send(busy)
    row = (await shop.rows(busy))[busy_member]
    assert (row.status, row.reason, row.attempts) == ("queued", "rate_limited", 0)
    await asyncio.sleep(1.1)  # its time comes (the job worker's next turn, here by hand)
    await shop.engine.run(busy)
    refused, accepted = shop.twilio.calls[-2:]
    assert (refused.status, accepted.status) == (429, 201)
    assert accepted.at - refused.at >= 1.0
    assert [m.body for m in shop.twilio.sent_to(busy_number)] == ["Hello M2102"]
    assert (await shop.rows(busy))[busy_member].status == "sent"


async def test_a_button_opens_the_bot_where_it_says(
    shop: Shop, fake_telegram: FakeTelegramAPI
) -> None:
    async with webhook_client(shop.runtime) as client:
        ann = TelegramMember(fake_telegram, webhook_delivery(client), user_id=4242)
        await ann.sign_up(marketing=True)
        broadcast_id = await shop.create(variants=[], holdout=0, text="Your code {coupon}")
        await shop.send(broadcast_id)
        code = await coupon_of(shop, (await shop.rows(broadcast_id)).popitem()[0])
        assert text_of(ann.last) == f"Your code {code}"

        answer = await ann.press(f"bc:{broadcast_id}:A:menu:coupons")

    assert code in text_of(answer) or any(code in text_of(call) for call in ann.received[-3:])


# ---------------------------------------------------------------------- quiet hours
async def test_quiet_hours_hold_a_message_until_the_members_morning(shop: Shop) -> None:
    # 19:00 UTC: 22:00 in Moscow (night), 14:00 in New York.
    shop.clock.offset += timedelta(hours=9)
    (moscow,) = await add_members(shop, "telegram", ["8001"], time_zone="Europe/Moscow")
    (new_york,) = await add_members(shop, "telegram", ["8002"], time_zone="America/New_York")
    broadcast_id = await shop.create(**PLAIN, text="Hi")

    await shop.send(broadcast_id)

    rows = await shop.rows(broadcast_id)
    assert len(shop.telegram.sent_to(8002)) == 1 and shop.telegram.sent_to(8001) == []
    assert (rows[moscow].status, rows[moscow].reason) == ("queued", "quiet_hours")
    assert rows[moscow].attempts == 0  # a night's wait takes none of the attempts
    assert rows[new_york].status == "sent"
    morning = rows[moscow].not_before
    assert morning is not None
    assert morning.astimezone(UTC) == datetime(2026, 11, 25, 6, 0, tzinfo=UTC)  # 09:00 MSK
    status = await shop.engine.broadcasts.status(broadcast_id)
    assert (status.state, status.waiting) == ("sending", 1)
    # broadcast-status says until when.
    assert "(1 waiting for their time, the first at 2026-11-25 09:00 (Europe/Moscow))" in (
        _summary(status)
    )
    assert status.as_json()["waiting_until"] == "2026-11-25T09:00:00+03:00"

    # The scheduled job, run in the night, sends nothing; in the morning, the rest.
    await shop.runtime.send_broadcasts()
    assert shop.telegram.sent_to(8001) == []
    shop.clock.offset += timedelta(hours=11, minutes=1)
    await shop.runtime.send_broadcasts()

    assert len(shop.telegram.sent_to(8001)) == 1
    assert len(shop.telegram.sent_to(8002)) == 1
    assert (await shop.engine.broadcasts.status(broadcast_id)).state == "done"


async def test_my_data_lists_what_broadcasts_sent_and_an_erased_member_gets_nothing_more(
    shop: Shop,
) -> None:
    # 19:00 UTC: night in Moscow, afternoon in New York.
    shop.clock.offset += timedelta(hours=9)
    (moscow,) = await add_members(shop, "telegram", ["8101"], time_zone="Europe/Moscow")
    (new_york,) = await add_members(shop, "telegram", ["8102"], time_zone="America/New_York")
    broadcast_id = await shop.create(**PLAIN, text="Hi")
    await shop.send(broadcast_id)
    privacy = shop.runtime.program.privacy

    (got,) = (await privacy.export(new_york))["broadcasts"]
    assert got["broadcast"] == "Spring offer" and got["status"] == "sent"
    assert (got["channel"], got["tapped_at"]) == ("telegram", None) and got["sent_at"]
    (waiting,) = (await privacy.export(moscow))["broadcasts"]
    assert (waiting["status"], waiting["reason"], waiting["sent_at"]) == (
        "queued",
        "quiet_hours",
        None,
    )

    # Moscow's member leaves in the night: the morning sends them nothing.
    await privacy.erase(moscow)
    shop.clock.offset += timedelta(hours=11, minutes=1)
    await shop.runtime.send_broadcasts()
    assert shop.telegram.sent_to(8101) == []
    row = (await shop.rows(broadcast_id))[moscow]
    assert (row.status, row.reason) == ("skipped", "member_gone")
    assert (await shop.engine.broadcasts.status(broadcast_id)).state == "done"


async def test_a_scheduled_broadcast_goes_at_its_time_in_the_shops_zone(shop: Shop) -> None:
    await add_members(shop, "telegram", ["8101"])
    # 10:00 UTC is 13:00 in Moscow, the program's zone: 14:30 there is 11:30 UTC.
    broadcast_id = await shop.create(**PLAIN, text="Hi", send_at="2026-11-24T14:30")
    info = await shop.engine.broadcasts.start(broadcast_id)
    assert info.state == "scheduled"
    assert info.send_at == datetime(2026, 11, 24, 11, 30, tzinfo=UTC)

    await shop.runtime.send_broadcasts()
    assert shop.telegram.sent_to(8101) == []
    shop.clock.offset += timedelta(hours=1, minutes=31)
    await shop.runtime.send_broadcasts()

    assert len(shop.telegram.sent_to(8101)) == 1
    assert (await shop.engine.broadcasts.status(broadcast_id)).state == "done"


# ---------------------------------------------------------------------- operator's word
async def test_pause_stops_within_a_second_resume_goes_on_cancel_ends_it(
    backend: Backend,
    shop: Shop,
) -> None:
    await add_members(shop, "telegram", telegram_ids(9000, 60))
    slow = settings_for(
        backend, shop.telegram, shop.vk, shop.twilio, broadcast_telegram_per_second=20
    )
    runtime = build_runtime(slow, clock=shop.clock)
    try:
        engine = runtime.broadcast_engine
        broadcast_id = await shop.create(**PLAIN, text="Hi")
        await engine.broadcasts.start(broadcast_id)
        running = asyncio.create_task(engine.run(broadcast_id))
        await shop.telegram.wait_for_call("sendMessage", 10)

        await wiring.broadcasts(shop.runtime.program).pause(broadcast_id)
        paused_at = time.monotonic()
        await asyncio.wait_for(running, 5)
        after_pause = [c for c in shop.telegram.calls_of("sendMessage") if c.at > paused_at + 1.0]
        assert after_pause == []
        sent = len(shop.telegram.calls_of("sendMessage"))
        assert 10 <= sent < 60
        status = await engine.broadcasts.status(broadcast_id)
        assert (status.state, status.sent, status.in_flight) == ("paused", sent, 0)

        await wiring.broadcasts(shop.runtime.program).resume(broadcast_id)
        running = asyncio.create_task(engine.run(broadcast_id))
        await shop.telegram.wait_for_call("sendMessage", sent + 5)
        await wiring.broadcasts(shop.runtime.program).cancel(broadcast_id)
        await asyncio.wait_for(running, 5)
    finally:
        await runtime.close()

    status = await shop.engine.broadcasts.status(broadcast_id)
    calls = shop.telegram.calls_of("sendMessage")
    assert status.state == "cancelled"
    assert status.sent == len(calls) < 60
    assert status.skipped_by_reason == {"cancelled": 60 - len(calls)}
    assert len({call.chat_id for call in calls}) == len(calls)  # nobody twice


# ---------------------------------------------------------------------- rates and 429
async def test_a_429_in_the_middle_holds_every_send_for_retry_after(
    backend: Backend, shop: Shop
) -> None:
    await add_members(shop, "telegram", telegram_ids(9500, 40))
    paced = settings_for(
        backend, shop.telegram, shop.vk, shop.twilio, broadcast_telegram_per_second=60
    )
    runtime = build_runtime(paced, clock=shop.clock)
    try:
        engine = runtime.broadcast_engine
        broadcast_id = await shop.create(**PLAIN, text="Hi")
        await engine.broadcasts.start(broadcast_id)
        running = asyncio.create_task(engine.run(broadcast_id))
        await shop.telegram.wait_for_call("sendMessage", 10)
        shop.telegram.rate_limit_next("sendMessage", retry_after=1)
        report = await asyncio.wait_for(running, 20)
    finally:
        await runtime.close()

    calls = shop.telegram.calls_of("sendMessage")
    (limited,) = [call for call in calls if call.status == 429]
    during = [c for c in calls if limited.at + 0.1 < c.at < limited.at + 0.95]
    assert during == []  # nobody sent while Telegram asked us to wait
    delivered = [call.chat_id for call in calls if call.status == 200]
    assert sorted(delivered) == sorted(int(i) for i in telegram_ids(9500, 40))
    assert report.done
    status = await shop.engine.broadcasts.status(broadcast_id)
    assert status.sent == 40 and status.rate is not None


async def test_the_rate_limiter_spaces_sends_and_holds_the_lane() -> None:
    limiter = MemoryRateLimiter()
    started = time.monotonic()
    for _ in range(6):
        await limiter.acquire("telegram", 20)
    assert time.monotonic() - started >= 0.24  # 5 gaps of 50 ms
    await limiter.hold("telegram", 0.3)
    before = time.monotonic()
    await limiter.acquire("telegram", 1000)
    assert time.monotonic() - before >= 0.28


class FakeTime:
    """A clock that moves only when someone sleeps: the limiter's slots, exactly."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def test_the_limiter_paces_evenly_never_more_than_the_rate_in_any_second(
    shop: Shop, backend: Backend
) -> None:
    """A platform counting sends in a sliding second (Telegram's 30/s) never sees more than
    the rate, yet gets at least 95 % of it; one chat at most once a second. In Redis (the
    slots from Redis's clock, as the script took them; real waits) and in-process (a fake
    clock)."""
    fake = FakeTime()
    limiter: RateLimiter
    slots: list[float] = []
    if backend.redis_url:
        assert shop.runtime.redis is not None
        limiter = RecordingRedisLimiter(shop.runtime.redis, slots)
        sends = 2 * 30 + 1
    else:
        limiter = MemoryRateLimiter(monotonic=fake.monotonic, sleep=fake.sleep)
        sends = 3 * 30 + 1
    rate = 30
    for n in range(sends):
        await limiter.acquire("paced", rate, chat=str(n))
        if not backend.redis_url:
            slots.append(fake.now)
    assert len(slots) == sends
    for first, later in zip(slots, slots[rate:], strict=False):
        # `rate` sends after one: a second later at least, and some jitter on the way (a
        # send 30 ms late still leaves the sliding second at the rate).
        assert later - first >= 1.03
    gaps = sends - 1
    assert slots[-1] - slots[0] <= gaps / rate / 0.95  # at >= 95 % of the rate
    # On schedule (the fake clock), evenly; in real time a late sender's lane catches up,
    # at twice the rate at most. Never a burst.
    closest = interval(rate) if not backend.redis_url else interval(rate) / 2
    assert min(b - a for a, b in itertools.pairwise(slots)) >= closest - 0.001

    assert await limiter.acquire("paced-chats", 1000, chat="7", chat_per_second=1) < 0.1
    assert await limiter.acquire("paced-chats", 1000, chat="7", chat_per_second=1) >= 0.95


class RecordingRedisLimiter(RedisRateLimiter):
    """The Redis limiter, noting every slot its script takes (Redis's clock, seconds)."""

    def __init__(self, redis: Any, slots: list[float]) -> None:
        super().__init__(redis)
        reserve = self._reserve

        async def recording(*, keys: list[str], args: list[Any]) -> Any:
            answer = await reserve(keys=keys, args=args)
            if int(answer[0]) == 2:
                now = int(answer[1])
                slots.extend((now + int(offset)) / 1_000_000 for offset in answer[2:])
            return answer

        self._reserve = recording  # type: ignore[assignment]


def most_in_any_window(slots: list[float], span: float) -> int:
    ordered = sorted(slots)
    most = start = 0
    for end, at in enumerate(ordered):
        while ordered[start] <= at - span:
            start += 1
        most = max(most, end - start + 1)
    return most


async def test_the_limiter_catches_up_after_a_late_sender_within_the_rate() -> None:
    """A lane behind its schedule (its senders were late: a loaded machine, a batch's claim)
    makes the time up at twice the rate, never more than the rate in any second (+ margin)."""
    fake = FakeTime()
    limiter = MemoryRateLimiter(monotonic=fake.monotonic, sleep=fake.sleep)
    slots: list[float] = []
    for n in range(60):
        if n == 20:
            fake.now += 0.2  # nobody asked for 200 ms
        await limiter.acquire("late", 30)
        slots.append(fake.now)
    assert most_in_any_window(slots, 1 + WINDOW_MARGIN) <= 30
    # The 200 ms made up: 60 sends in the time of 59 intervals (+ a little).
    assert slots[-1] - slots[0] <= 59 * interval(30) + 0.05
    assert min(b - a for a, b in itertools.pairwise(slots)) >= interval(30) / 2 - 1e-9


async def test_a_send_that_came_back_late_counts_from_then(shop: Shop, backend: Backend) -> None:
    """The platform may stamp a send as late as its answer: the send `rate` after one that
    came back late waits a window from that answer, not from its slot."""
    fake = FakeTime()
    slots: list[float] = []
    limiter: RateLimiter
    if backend.redis_url:
        assert shop.runtime.redis is not None
        limiter = RecordingRedisLimiter(shop.runtime.redis, slots)
    else:
        limiter = MemoryRateLimiter(monotonic=fake.monotonic, sleep=fake.sleep)

    async def send(late: float) -> None:
        await limiter.acquire("late-answer", 3)
        if not backend.redis_url:
            slots.append(fake.now)
        await (fake.sleep(late) if not backend.redis_url else asyncio.sleep(late))
        await limiter.sent("late-answer")

    await send(0.3)  # held up on the way for 300 ms
    for _ in range(3):
        await send(0)
    # A second after the answer at least (the platform may have stamped it then).
    assert slots[3] - slots[0] >= 0.3 + 1.0 - 0.005
    assert slots[3] - slots[0] <= 0.3 + 1 + WINDOW_MARGIN + 0.2


async def test_the_in_process_limiter_forgets_chats_that_are_free_again() -> None:
    """A worker on the embedded default does not keep every chat of a broadcast."""
    fake = FakeTime()
    limiter = MemoryRateLimiter(monotonic=fake.monotonic, sleep=fake.sleep)
    for n in range(3 * CHATS_KEPT):
        await limiter.acquire("many", 1000, chat=str(n), chat_per_second=1)
    assert len(limiter._chats) <= CHATS_KEPT
    # A chat still within its second is kept: its second send waits.
    assert (
        await limiter.acquire("many", 1000, chat=str(3 * CHATS_KEPT - 1), chat_per_second=1) > 0.5
    )


async def test_the_engine_tells_the_limiter_when_each_send_came_back(shop: Shop) -> None:
    """So that a send that came back late counts in the lane's window from then."""
    await add_members(shop, "telegram", telegram_ids(9700, 3))
    heard: list[tuple[str, int]] = []

    class Listening(MemoryRateLimiter):
        async def sent(self, lane: str) -> None:
            # By now the platform has it.
            heard.append((lane, len(shop.telegram.calls_of("sendMessage"))))
            await super().sent(lane)

    runtime = shop.runtime
    engine = wiring_engine(
        runtime.settings,
        runtime.program,
        runtime.outbound_channels,
        runtime.conversation.texts,
        Listening(),
    )
    broadcast_id = await shop.create(**PLAIN, text="Hi")
    await engine.broadcasts.start(broadcast_id)
    assert (await engine.run(broadcast_id)).done
    assert [lane for lane, _ in heard] == ["telegram"] * 3
    assert all(calls >= n for n, (_, calls) in enumerate(heard, start=1))


async def test_bulk_slots_in_redis_keep_the_rate_across_two_processes(
    shop: Shop, backend: Backend
) -> None:
    """At a paid broadcast's rates a process takes several slots per Redis round trip; two
    processes sharing the lane still never put more than the rate into any second (+ margin),
    and the slots are spaced."""
    if not backend.redis_url:
        pytest.skip("the shared limiter lives in Redis")
    assert shop.runtime.redis is not None
    other = Redis.from_url(shop.runtime.settings.redis_url)
    slots: list[float] = []
    rate = 200
    first = RecordingRedisLimiter(shop.runtime.redis, slots)
    second = RecordingRedisLimiter(other, slots)
    calls = 0
    for limiter in (first, second):
        counted = limiter._reserve

        async def counting(*, keys: list[str], args: list[Any], _c: Any = counted) -> Any:
            nonlocal calls
            calls += 1
            return await _c(keys=keys, args=args)

        limiter._reserve = counting  # type: ignore[assignment]
    try:
        started = time.monotonic()
        await asyncio.gather(
            *(limiter.acquire("bulk", rate) for _ in range(250) for limiter in (first, second))
        )
        elapsed = time.monotonic() - started
    finally:
        await other.aclose()
    assert len(slots) >= 500  # (the last bulk may leave a few unused)
    assert most_in_any_window(slots, 1 + WINDOW_MARGIN) <= rate
    assert min(b - a for a, b in itertools.pairwise(sorted(slots))) >= interval(rate) / 2 - 1e-6
    assert elapsed >= 499 * interval(rate) / 2  # no send before its slot
    assert calls < 500  # several slots per round trip
    # A hold set by one process stops the other (once the slots it took just before, at most
    # BULK_SPAN ahead, went by: used at most BULK_SPAN + the margin late).
    await second.hold("bulk", 0.5)
    await asyncio.sleep(2 * BULK_SPAN + WINDOW_MARGIN)  # (the margin at any rate of 1/s up)
    before = time.monotonic()
    await first.acquire("bulk", rate)
    assert time.monotonic() - before >= 0.5 - 2 * BULK_SPAN - WINDOW_MARGIN - 0.05


async def test_the_redis_limiter_is_shared_by_two_processes(shop: Shop, backend: Backend) -> None:
    if not backend.redis_url:
        pytest.skip("the shared limiter lives in Redis")
    other = build_runtime(shop.runtime.settings, clock=shop.clock)
    try:
        started = time.monotonic()
        await asyncio.gather(
            *(
                limiter.acquire("vk", 20, chat=str(n))
                for n in range(5)
                for limiter in (shop.runtime.limiter, other.limiter)
            )
        )
        # Ten sends at 20/s between both: at least 9 gaps of 50 ms.
        assert time.monotonic() - started >= 0.4
        await other.limiter.hold("vk", 0.5)
        assert await shop.runtime.limiter.held_for("vk") > 0.3
    finally:
        await other.close()


# ---------------------------------------------------------------------- crash safety
async def test_a_batch_abandoned_by_a_dead_worker_is_sent_after_its_lease_once(
    shop: Shop,
) -> None:
    telegram = await add_members(shop, "telegram", telegram_ids(3000, 30))
    vk = await add_members(shop, "vk", telegram_ids(3100, 5))
    broadcast_id = await shop.create(**PLAIN, text="Hi")
    dead = shop.engine
    dead.batch = 20
    await dead.broadcasts.start(broadcast_id)
    await dead.broadcasts.plan(broadcast_id)
    # The dead worker claimed a batch and got one VK send out before it died.
    abandoned = await dead._claim(broadcast_id)
    assert len(abandoned) == 20
    async with shop.runtime.db.transaction() as session:
        await session.execute(
            update(BroadcastDelivery)
            .where(BroadcastDelivery.member_id.in_(vk[:1]))
            .values(status="queued", claimed_until=None)
        )
        await session.execute(
            update(BroadcastDelivery)
            .where(BroadcastDelivery.member_id.in_(vk[1:2]))
            .values(status="sending", claimed_until=shop.clock.now() + dead.lease, attempts=1)
        )
    sender = ChannelSender(shop.runtime.outbound_channels, shop.runtime.conversation.texts)
    message = (await dead.preview(broadcast_id))[0].message
    await sender.send("vk", "3101", message, key=delivery_key(broadcast_id))
    assert len(shop.vk.sent_to(3101)) == 1

    # Another worker goes on: everyone but the dead one's batch now ...
    report = await shop.runtime.broadcast_engine.run(broadcast_id)
    assert not report.done
    held = {m for m, row in (await shop.rows(broadcast_id)).items() if row.status == "sending"}
    assert len(held) == 20 + 1  # the batch, and the VK send that was in flight
    # ... and the dead one's batch when its lease has run out.
    shop.clock.offset += dead.lease + timedelta(seconds=1)
    report = await shop.runtime.broadcast_engine.run(broadcast_id)

    assert report.done
    for external in telegram_ids(3000, 30):
        assert len(shop.telegram.sent_to(int(external))) == 1
    for external in telegram_ids(3100, 5):
        # VK dropped the resend of the one in flight: its random_id is the same.
        assert len(shop.vk.sent_to(int(external))) == 1
    rows = await shop.rows(broadcast_id)
    assert {row.status for row in rows.values()} == {"sent"}
    assert len(rows) == len(telegram) + len(vk)


async def test_a_live_worker_keeps_its_batch_past_the_lease_so_nobody_gets_it_twice(
    backend: Backend, shop: Shop
) -> None:
    """A batch that takes longer than the lease (here 30 sends at 5/s against a 2 s lease)
    is renewed by the worker sending it: another worker looking all along takes none of it."""
    await add_members(shop, "telegram", telegram_ids(3300, 30))
    slow = settings_for(
        backend,
        shop.telegram,
        shop.vk,
        shop.twilio,
        broadcast_telegram_per_second=5,
        broadcast_lease_seconds=2,
    )
    first, second = build_runtime(slow, clock=shop.clock), build_runtime(slow, clock=shop.clock)
    try:
        broadcast_id = await shop.create(**PLAIN, text="Hi")
        await first.broadcast_engine.broadcasts.start(broadcast_id)
        sending = asyncio.create_task(first.broadcast_engine.run(broadcast_id))
        await shop.telegram.wait_for_call("sendMessage", 1)
        taken = 0
        while not sending.done():
            taken += (await second.broadcast_engine.run(broadcast_id)).claimed
            await asyncio.sleep(0.2)
        report = await sending
    finally:
        await first.close()
        await second.close()

    assert report.sent == 30 and taken == 0
    for external in telegram_ids(3300, 30):
        assert len(shop.telegram.sent_to(int(external))) == 1


# ---------------------------------------------------------------------- unit
def test_the_variant_split_is_deterministic_and_near_its_shares() -> None:
    variants = parse_spec(spec(holdout=10)).resolved()
    counts: dict[str, int] = {}
    for member in range(1, 5001):
        key = variant_for(7, member, variants, 10)
        assert key == variant_for(7, member, variants, 10)
        counts[key] = counts.get(key, 0) + 1
    assert 400 <= counts[HOLDOUT] <= 600
    assert 2000 <= counts["A"] <= 2500 and 2000 <= counts["B"] <= 2500


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"text": {"en": "Hi {nickname}"}}, "unknown placeholder(s) nickname"),
        # Filled in with plain words: a format would fail at every send.
        ({"text": {"en": "You have {balance:,}"}}, "{balance:,}: a placeholder takes no format"),
        ({"text": {"en": "Hi {name!r}"}}, "{name!r}: a placeholder takes no format"),
        ({"text": {"en": "Hi {name:{balance}}"}}, "a placeholder takes no format, write {name}"),
        ({"variants": [{"key": "A", "share": 60}]}, "add up to 100"),
        ({"coupon_campaign": None}, "{coupon} needs a"),
        ({"buttons": [{"open": "quest"}]}, 'needs its "id"'),
        ({"variants": [{"key": "A", "share": 100, "buttons": [{"open": "rewards"}] * 7}]}, "6"),
        ({"holdout": 90}, "holdout"),
        ({"whatsapp_template": {"content_sid": "nope"}}, "content_sid"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_broadcast_file_is_refused_with_the_reason(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidBroadcast) as refused:
        parse_spec(spec(**change))
    assert message in str(refused.value)


# ---------------------------------------------------------------------- the CLI
async def test_the_cli_creates_previews_sends_and_reports(
    shop: Shop,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = shop.runtime.settings
    await add_members(shop, "telegram", ["4101", "4102"])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(spec(text={"en": "Hi {nick}"})), encoding="utf-8")
    good = tmp_path / "good.json"
    good.write_text(json.dumps(spec(holdout=0, variants=[])), encoding="utf-8")

    code, out, err = await run_cli(settings, "broadcast-create", "--file", str(bad))
    assert (code, out) == (1, "")
    assert err.startswith("Refused: text: unknown placeholder(s) nick")
    assert "Traceback" not in err

    code, out, err = await run_cli(settings, "broadcast-create", "--file", str(good))
    assert code == 0, err
    broadcast_id = int(out.strip())

    # The rest in this process (the same main.main), for speed.
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    capsys.readouterr()

    assert await asyncio.to_thread(main.main, ["broadcast-preview", str(broadcast_id)]) == 0
    out = capsys.readouterr().out
    assert "Hi {name}! You have {balance} points. Your code: {coupon}" in out
    assert "[ 🎟 My coupon ]" in out and f"template {TEMPLATE_SID}" in out

    member = await shop.runtime.program.members.find(IdentityKey("telegram", "4101"))
    assert member is not None
    card = ["--card", member.card_code]
    assert await asyncio.to_thread(main.main, ["broadcast-preview", str(broadcast_id), *card]) == 0
    out = capsys.readouterr().out
    assert "Hi M4101! You have 1 points. Your code: ‹personal code›" in out

    # With a split and a holdout: the member's own variant only, or that they get nothing;
    # the card as it is printed (with dashes) or typed.
    members = await add_members(shop, "telegram", telegram_ids(4110, 12))
    split = await shop.create(holdout=50)
    resolved = parse_spec(spec(holdout=50)).resolved()
    keys = {member_id: variant_for(split, member_id, resolved, 50) for member_id in members}
    held = next(member_id for member_id, key in keys.items() if key == HOLDOUT)
    in_b = next(member_id for member_id, key in keys.items() if key == "B")
    for member_id in (held, in_b):
        profile = await shop.runtime.program.members.get(member_id)
        shown = cards.display(profile.card_code)
        assert (
            await asyncio.to_thread(main.main, ["broadcast-preview", str(split), "--card", shown])
            == 0
        )
        out = capsys.readouterr().out
        if member_id == held:
            assert out.startswith(f"Card {shown} is in the holdout: this broadcast sends them")
        else:
            assert "== variant B · en ==" in out and "== variant A" not in out
            assert f"B for {profile.name}: ‹personal code›" in out

    assert (
        await asyncio.to_thread(main.main, ["broadcast-status", "--json", str(broadcast_id)]) == 0
    )
    assert json.loads(capsys.readouterr().out)["state"] == "draft"

    assert await asyncio.to_thread(main.main, ["broadcast-cancel", "999"]) == 1
    assert capsys.readouterr().err.strip() == "Refused: no broadcast 999"


async def test_broadcast_send_on_the_command_line(shop: Shop) -> None:
    await add_members(shop, "telegram", ["4201", "4202", "4203"])
    broadcast_id = await shop.create(**PLAIN, text="Hi {name}")
    # The subprocess runs on real time: quiet hours off, so the test passes at any hour.
    async with shop.runtime.db.transaction() as session:
        row = await session.get(Broadcast, broadcast_id)
        assert row is not None
        row.spec = parse_spec(
            spec(**PLAIN, text="Hi {name}", quiet_hours={"start": 0, "end": 0})
        ).model_dump_json(exclude_none=True)

    code, out, err = await run_cli(
        shop.runtime.settings,
        "broadcast-send",
        str(broadcast_id),
        env=shop.telegram_env(),
    )

    assert code == 0, err
    assert f"Broadcast {broadcast_id} (Spring offer): done" in out
    assert "sent 3" in out
    assert sorted(text_of(c) for c in shop.telegram.calls_of("sendMessage")) == [
        "Hi M4201",
        "Hi M4202",
        "Hi M4203",
    ]
    with pytest.raises(BroadcastRefused, match=f"broadcast {broadcast_id} is done"):
        await wiring.broadcasts(shop.runtime.program).pause(broadcast_id)


async def test_a_paused_broadcast_goes_on_only_by_resume_not_by_another_send(
    shop: Shop,
) -> None:
    """Whoever paused it meant it: a late worker's or a colleague's `broadcast-send` is
    refused with what to do instead, and nothing is sent; `broadcast-resume` goes on."""
    await add_members(shop, "telegram", ["4401", "4402"])
    broadcast_id = await shop.create(**PLAIN, text="Hi {name}", quiet_hours={"start": 0, "end": 0})
    broadcasts = wiring.broadcasts(shop.runtime.program)
    await broadcasts.start(broadcast_id)
    await broadcasts.pause(broadcast_id)
    telegram = shop.telegram_env()
    settings = shop.runtime.settings

    code, out, err = await run_cli(settings, "broadcast-send", str(broadcast_id), env=telegram)
    assert code == 1, out
    assert err.strip() == (
        f"Refused: broadcast {broadcast_id} is paused; broadcast-resume {broadcast_id} goes on"
    )
    assert shop.telegram.calls_of("sendMessage") == []
    assert (await broadcasts.get(broadcast_id)).state == "paused"

    code, out, err = await run_cli(settings, "broadcast-resume", str(broadcast_id), env=telegram)
    assert code == 0, err
    assert (await broadcasts.get(broadcast_id)).state == "sending"
    code, out, err = await run_cli(settings, "broadcast-send", str(broadcast_id), env=telegram)
    assert code == 0, err
    calls = shop.telegram.calls_of("sendMessage")
    assert sorted(text_of(call) for call in calls) == ["Hi M4401", "Hi M4402"]


async def test_a_paid_telegram_broadcast_says_its_cost_and_asks_first(shop: Shop) -> None:
    await add_members(shop, "telegram", ["4301", "4302", "4303"])
    broadcast_id = await shop.create(**PLAIN, text="Hi {name}", quiet_hours={"start": 0, "end": 0})
    paid = shop.telegram_env(BROADCAST_TELEGRAM_PAID="true")
    settings = shop.runtime.settings

    # Not a terminal, no --yes: the cost is said, nothing is sent.
    code, out, err = await run_cli(settings, "broadcast-send", str(broadcast_id), env=paid)
    assert code == 1
    assert "at most 0.3 Stars for 3 recipients" in out
    assert err.strip() == "Refused: a paid broadcast costs Stars: confirm with --yes"
    assert shop.telegram.calls_of("sendMessage") == []
    assert (await shop.engine.broadcasts.get(broadcast_id)).state == "draft"

    code, out, err = await run_cli(settings, "broadcast-send", str(broadcast_id), "--yes", env=paid)
    assert code == 0, err
    calls = shop.telegram.calls_of("sendMessage")
    assert sorted(text_of(call) for call in calls) == ["Hi M4301", "Hi M4302", "Hi M4303"]
    assert all(call.params.get("allow_paid_broadcast") is True for call in calls)


async def test_broadcast_send_detach_hands_it_to_the_workers_at_once_pause_and_resume_too(
    shop: Shop, backend: Backend
) -> None:
    """`main.py worker` processes and no scheduler: nothing but a kick can start them, so
    `--detach` hands the broadcast to them at once, broadcast-pause stops them and
    broadcast-resume wakes them within a second (not at a minute job's turn)."""
    externals = telegram_ids(4400, 40)
    await add_members(shop, "telegram", externals)
    broadcast_id = await shop.create(**PLAIN, text="Hi {name}", quiet_hours={"start": 0, "end": 0})
    # Slow enough that it is still going when the pause arrives: 20 s in all, while the pause
    # is a process of its own, which takes seconds to start on a loaded machine (at 5/s, 30
    # members were all sent before it could say anything).
    env = shop.telegram_env(BROADCAST_TELEGRAM_PER_SECOND="2")
    settings = shop.runtime.settings
    if not backend.redis_url:
        code, out, err = await run_cli(
            settings, "broadcast-send", str(broadcast_id), "--detach", env=env
        )
        assert code == 1
        assert err.strip() == (
            "Refused: workers take a broadcast from Redis: set REDIS_URL, or send without --detach"
        )
        assert shop.telegram.calls_of("sendMessage") == []
        return

    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "main.py"),
            "worker",
            cwd=ROOT,
            env=environment(settings, **env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        code, out, err = await run_cli(
            settings, "broadcast-send", str(broadcast_id), "--detach", env=env
        )
        assert code == 0, err
        assert out.strip() == f"Broadcast {broadcast_id} is handed to the workers."
        await shop.telegram.wait_for_call("sendMessage", 3, timeout=45)

        code, out, err = await run_cli(settings, "broadcast-pause", str(broadcast_id), env=env)
        assert (code, out.strip()) == (0, f"Broadcast {broadcast_id} is paused."), err
        # The workers stop within a state read and give their batch back: once no row is
        # claimed, nothing is in flight.
        deadline = time.monotonic() + 30
        while "sending" in {row.status for row in (await shop.rows(broadcast_id)).values()}:
            assert time.monotonic() < deadline, "the workers kept their batch after the pause"
            await asyncio.sleep(0.1)
        paused = len(shop.telegram.calls_of("sendMessage"))
        await asyncio.sleep(1.5)
        assert len(shop.telegram.calls_of("sendMessage")) == paused < len(externals)

        code, out, err = await run_cli(settings, "broadcast-resume", str(broadcast_id), env=env)
        assert (code, out.strip()) == (0, f"Broadcast {broadcast_id} is sending."), err
        resumed = time.monotonic()
        await shop.telegram.wait_for_call("sendMessage", paused + 1, timeout=10)
        # Woken by the kick (within a second, a few on a loaded machine), not by a job's turn
        # a minute later: there is no scheduler here, without the kick nothing would go.
        assert time.monotonic() - resumed < 5.0
        await shop.telegram.wait_for_call("sendMessage", len(externals), timeout=45)
        for _ in range(100):
            if (await shop.engine.broadcasts.get(broadcast_id)).state == "done":
                break
            await asyncio.sleep(0.2)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            await worker.wait()
    received = sorted(call.chat_id for call in shop.telegram.calls_of("sendMessage"))
    assert received == sorted(int(external) for external in externals)  # each once
    assert (await shop.engine.broadcasts.get(broadcast_id)).state == "done"


@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_kill_9_mid_run_then_a_restart_loses_nobody_and_repeats_only_in_flight(
    shop: Shop,
) -> None:
    externals = telegram_ids(2000, 60)
    added = await add_members(shop, "telegram", externals)
    members = dict(zip(map(int, externals), added, strict=True))
    broadcast_id = await shop.create(**PLAIN, text="Hi {name}", quiet_hours={"start": 0, "end": 0})
    env = shop.telegram_env(BROADCAST_TELEGRAM_PER_SECOND="20", BROADCAST_LEASE_SECONDS="2")
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        "broadcast-send",
        str(broadcast_id),
        cwd=ROOT,
        env=environment(shop.runtime.settings, **env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await shop.telegram.wait_for_call("sendMessage", 15, timeout=60)
    finally:
        worker.kill()  # SIGKILL: no cleanup, its batch stays claimed
        await worker.wait()
    await asyncio.sleep(2.5)  # the dead worker's lease runs out
    # What the dead worker sent (all of it answered by now) and what it had written of that.
    sent = {call.chat_id for call in shop.telegram.calls_of("sendMessage")}
    assert len(sent) < 60
    written = {member for member, row in (await shop.rows(broadcast_id)).items() if row.sent_at}
    in_flight = {chat for chat in sent if members[chat] not in written}

    code, out, err = await run_cli(
        shop.runtime.settings, "broadcast-send", str(broadcast_id), env=env
    )

    assert code == 0, err
    assert "done" in out
    received: dict[int, int] = {}
    for call in shop.telegram.calls_of("sendMessage"):
        received[call.chat_id] = received.get(call.chat_id, 0) + 1
    assert sorted(received) == sorted(int(external) for external in externals)
    twice = {chat for chat, count in received.items() if count > 1}
    # Exactly the sends in flight at the kill came twice: sent, their outcome not written yet
    # (at 20/s those of the last FLUSH_EVERY, 0.1 s, and of the write under way: a handful,
    # more on a loaded machine). The rest was written as it went, not at the batch's end.
    assert twice == in_flight, (twice, in_flight)
    assert len(twice) < len(sent), twice
    rows = await shop.rows(broadcast_id)
    assert {row.status for row in rows.values()} == {"sent"}


async def test_the_preview_says_which_languages_get_another_languages_text(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = shop.runtime.settings
    # A: en and ru; B: en only. The shop's default language is ru.
    broadcast_id = await shop.create()
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    capsys.readouterr()

    assert await asyncio.to_thread(main.main, ["broadcast-preview", str(broadcast_id)]) == 0
    out = capsys.readouterr().out

    assert "(variant A: fa members get the ru text: variant A has no fa text)" in out
    assert "(variant B: ru members get the en text: variant B has no ru text)" in out
    assert "(variant B: fa members get the en text: variant B has no fa text)" in out
    assert "en members get" not in out
    # Said after the variant's own messages.
    assert out.index("== variant B") < out.index("(variant B: ru members")

    everyone = await shop.create(variants=[], text={"en": "Hi", "ru": "Привет", "fa": "سلام"})
    assert await asyncio.to_thread(main.main, ["broadcast-preview", str(everyone)]) == 0
    out = capsys.readouterr().out
    assert "(variant A: every member gets the text in their own language)" in out


async def test_a_send_at_already_past_is_refused_at_create_with_the_shops_time(
    shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # 10:00 UTC is 13:00 in Moscow, the program's zone: 12:57 is a file written just now.
    recent = await shop.create(**PLAIN, text="Hi", send_at="2026-11-24T12:57")
    info = await shop.engine.broadcasts.start(recent)
    assert info.state == "sending"
    with pytest.raises(SendAtPassed) as refused:
        await shop.create(**PLAIN, text="Hi", send_at="2026-11-24T12:50")
    assert refused.value.code == "broadcast_send_at_past"
    assert "2026-11-24 12:50 (Europe/Moscow) has passed (it is 2026-11-24 13:00 there)" in str(
        refused.value
    )

    settings = shop.runtime.settings
    old = tmp_path / "old.json"
    old.write_text(json.dumps(spec(**PLAIN, text="Hi", send_at="2020-01-01T10:00")), "utf-8")
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    capsys.readouterr()
    code = await asyncio.to_thread(main.main, ["broadcast-create", "--file", str(old)])
    shown = capsys.readouterr()
    assert (code, shown.out) == (1, "")
    assert shown.err.startswith("Refused: send_at: 2020-01-01 10:00 (Europe/Moscow) has passed")
    async with shop.runtime.db.reading() as session:
        names = list(await session.scalars(select(Broadcast.id)))
    assert names == [recent], "nothing else was stored"


async def test_a_scheduled_broadcast_says_when_it_goes_in_send_and_status(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = shop.runtime.settings
    await add_members(shop, "telegram", ["8201"])
    embedded = await shop.create(**PLAIN, text="Hi", send_at="2027-03-01T10:00")
    with_bot = await shop.create(**PLAIN, text="Hi", send_at="2027-03-01T10:00")

    code, out, err = await run_cli(settings, "broadcast-send", str(embedded))
    assert code == 0, err
    assert out.startswith(
        f"Broadcast {embedded} is scheduled for 2027-03-01 10:00 (Europe/Moscow); "
    )
    code, out, err = await run_cli(
        settings, "broadcast-send", str(with_bot), env=shop.telegram_env()
    )
    assert code == 0, err
    assert out.startswith(
        f"Broadcast {with_bot} is scheduled for 2027-03-01 10:00 (Europe/Moscow); "
    )

    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    capsys.readouterr()
    assert await asyncio.to_thread(main.main, ["broadcast-status", str(embedded)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:2] == [
        f"Broadcast {embedded} (Spring offer): scheduled",
        "send_at 2027-03-01 10:00 (Europe/Moscow)",
    ]
    assert await asyncio.to_thread(main.main, ["broadcast-status", "--json", str(embedded)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["send_at"], shown["time_zone"]) == ("2027-03-01T10:00:00+03:00", "Europe/Moscow")


async def test_the_rewards_button_wears_the_menus_emoji_and_no_holdout_is_promised_without_one(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = shop.runtime.settings
    plain = await shop.create(
        **{**PLAIN, "buttons": [{"open": "rewards"}]},
        text={"en": "Hi", "ru": "Привет", "fa": "سلام"},
    )
    held = await shop.create(holdout=20)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    capsys.readouterr()

    assert await asyncio.to_thread(main.main, ["broadcast-preview", str(plain)]) == 0
    out = capsys.readouterr().out
    # As the main menu shows Rewards (🎁 is its "Invite friends").
    for caption in ("[ 🛍 Rewards ]", "[ 🛍 Награды ]", "[ 🛍 جوایز ]"):
        assert caption in out
    assert "🎁" not in out

    assert await asyncio.to_thread(main.main, ["broadcast-status", str(plain)]) == 0
    assert "holdout" not in capsys.readouterr().out
    assert await asyncio.to_thread(main.main, ["broadcast-status", str(held)]) == 0
    assert "  no holdout yet: no baseline to measure an uplift against" in (capsys.readouterr().out)


def test_an_image_size_reads_in_bytes_kilobytes_or_megabytes() -> None:
    from cli.broadcasts import _size

    assert [_size(n) for n in (434, 1536, 3 * 1024 * 1024 // 2)] == [
        "434 bytes",
        "1.5 KB",
        "1.5 MB",
    ]
