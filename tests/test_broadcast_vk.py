"""Broadcasts on VK, through the real vk-api client against the fake VK server: one message to
up to 100 members per messages.send (peer_ids), a member who forbade messages skipped inside
a request the others get, personalised texts one request each, a resend after a crash dropped
by VK's random_id per member, a triggered broadcast's next period not taken for a resend, and
the rate counting requests, not messages."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from app.runtime import build_runtime
from core.broadcasts.engine import RETRY_BACKOFF
from core.db.models import Broadcast, BroadcastDelivery, Identity, Member
from core.db.rates import RateLimiter
from tests import test_broadcasts, test_vk, whatsapp_member
from tests.conftest import Backend
from tests.fakes.vk_api import MAX_PEER_IDS, ApiCall
from tests.telegram_member import text_of
from tests.test_broadcasts import PLAIN, Shop, add_members, settings_for, telegram_ids
from tests.test_triggers import buy, standing

# The broadcasts' shop (a runtime on the fake Telegram, VK and Twilio servers) and its fakes.
shop = test_broadcasts.shop
fake_vk = test_vk.fake_vk
fake_twilio = whatsapp_member.fake_twilio


def peers_of(call: ApiCall) -> list[int]:
    return [int(peer) for peer in call.params["peer_ids"].split(",")]


async def vk_members(shop: Shop, start: int, count: int) -> list[int]:
    return await add_members(shop, "vk", telegram_ids(start, count))


class CountingLimiter:
    """The engine's limiter, counting the slots taken per lane."""

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter
        self.acquired: dict[str, int] = {}

    async def acquire(
        self, lane: str, per_second: float, *, chat: str = "", chat_per_second: float = 0
    ) -> float:
        self.acquired[lane] = self.acquired.get(lane, 0) + 1
        return await self._limiter.acquire(
            lane, per_second, chat=chat, chat_per_second=chat_per_second
        )

    async def sent(self, lane: str) -> None:
        await self._limiter.sent(lane)

    async def hold(self, lane: str, seconds: float) -> None:
        await self._limiter.hold(lane, seconds)

    async def held_for(self, lane: str) -> float:
        return await self._limiter.held_for(lane)


async def test_one_message_to_250_vk_members_goes_in_three_requests(shop: Shop) -> None:
    members = await vk_members(shop, 20000, 250)
    broadcast_id = await shop.create(**PLAIN, text="Spring is here")
    await shop.send(broadcast_id)

    requests = shop.vk.calls_of("messages.send")
    assert sorted(len(peers_of(call)) for call in requests) == [50, MAX_PEER_IDS, MAX_PEER_IDS]
    assert {call.error_code for call in requests} == {None}
    for external in telegram_ids(20000, 250):
        (message,) = shop.vk.sent_to(int(external))
        assert message.message == "Spring is here"
    rows = await shop.rows(broadcast_id)
    assert len(rows) == len(members)
    assert {(row.status, row.channel) for row in rows.values()} == {("sent", "vk")}


async def test_the_image_is_uploaded_once_and_the_buttons_go_with_each_message(
    shop: Shop, tmp_path: Path
) -> None:
    await vk_members(shop, 20500, 3)
    image = tmp_path / "spring.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n spring")
    broadcast_id = await shop.create(
        **{**PLAIN, "buttons": [{"open": "rewards"}]}, text="Spring is here", image=str(image)
    )
    await shop.send(broadcast_id)

    (request,) = shop.vk.calls_of("messages.send")
    assert len(peers_of(request)) == 3
    assert len(shop.vk.calls_of("photos.saveMessagesPhoto")) == 1
    (photo,) = shop.vk.photos.values()
    assert photo == image.read_bytes()
    for external in telegram_ids(20500, 3):
        (message,) = shop.vk.sent_to(int(external))
        assert message.attachment == request.params["attachment"]
        assert message.actions == [f"bc:{broadcast_id}:A:menu:rewards"]


async def test_a_member_who_forbade_messages_is_skipped_inside_a_request(shop: Shop) -> None:
    members = await vk_members(shop, 21000, 10)
    # 21003 forbade the community's messages; 21005 too, but also has a Telegram account.
    shop.vk.block_user(21003)
    shop.vk.block_user(21005)
    now = shop.clock.now()
    async with shop.runtime.db.transaction() as session:
        session.add(
            Identity(member_id=members[5], channel="telegram", external_id="9105", created_at=now)
        )
        # VK is the account they wrote from last: the broadcast tries it first.
        await session.execute(
            update(Identity).where(Identity.channel == "vk").values(last_seen_at=now)
        )
    broadcast_id = await shop.create(**PLAIN, text="Spring is here")
    await shop.engine.broadcasts.start(broadcast_id)
    report = await shop.engine.run(broadcast_id)

    (request,) = shop.vk.calls_of("messages.send")
    assert sorted(peers_of(request)) == [int(external) for external in telegram_ids(21000, 10)]
    for external in telegram_ids(21000, 10):
        sent = shop.vk.sent_to(int(external))
        assert len(sent) == (0 if external in ("21003", "21005") else 1)
    (telegram,) = shop.telegram.sent_to(9105)
    assert text_of(telegram) == "Spring is here"
    rows = await shop.rows(broadcast_id)
    blocked = rows[members[3]]
    assert (blocked.status, blocked.reason, blocked.channel) == ("skipped", "blocked", "vk")
    assert (rows[members[5]].status, rows[members[5]].channel) == ("sent", "telegram")
    assert (report.sent, report.skipped) == (9, 1)
    status = await shop.engine.broadcasts.status(broadcast_id)
    assert status.sent == 9


async def test_personalised_messages_each_reach_their_own_member(shop: Shop) -> None:
    members = await vk_members(shop, 22000, 5)
    broadcast_id = await shop.create(**PLAIN, text="Hi {name}, you have {balance} points")
    await shop.send(broadcast_id)

    # A text of one's own goes on its own: one request per member.
    requests = shop.vk.calls_of("messages.send")
    assert sorted(len(peers_of(call)) for call in requests) == [1] * len(members)
    for external in telegram_ids(22000, 5):
        (message,) = shop.vk.sent_to(int(external))
        assert message.message == f"Hi M{external[-4:]}, you have {int(external[-2:])} points"
    rows = await shop.rows(broadcast_id)
    assert {row.status for row in rows.values()} == {"sent"}


async def test_a_resend_after_a_crash_is_dropped_by_vk_for_every_member(shop: Shop) -> None:
    members = await vk_members(shop, 23000, 30)
    broadcast_id = await shop.create(**PLAIN, text="Spring is here")
    await shop.send(broadcast_id)
    (first,) = shop.vk.calls_of("messages.send")
    assert len(peers_of(first)) == 30

    # The worker died after VK took the request, before it wrote anyone's outcome: the rows
    # are still claimed, and the lease has run out.
    async with shop.runtime.db.transaction() as session:
        await session.execute(
            update(BroadcastDelivery)
            .where(BroadcastDelivery.broadcast_id == broadcast_id)
            .values(
                status="sending",
                attempts=1,
                sent_at=None,
                claimed_until=shop.clock.now() - timedelta(seconds=1),
            )
        )
        await session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id)
            .values(state="sending", finished_at=None)
        )
    # Another worker, with smaller batches: the same members in other requests.
    engine = shop.engine
    engine.batch = 7
    report = await engine.run(broadcast_id)

    assert report.done and report.sent == 30
    again = shop.vk.calls_of("messages.send")[1:]
    assert sorted(len(peers_of(call)) for call in again) == [2, 7, 7, 7, 7]
    # Every request of the broadcast carries the same random_id: VK delivered nothing twice.
    assert {call.params["random_id"] for call in [first, *again]} == {first.params["random_id"]}
    for external in telegram_ids(23000, 30):
        assert len(shop.vk.sent_to(int(external))) == 1
    rows = await shop.rows(broadcast_id)
    assert len(rows) == len(members)
    assert {row.status for row in rows.values()} == {"sent"}


async def test_a_triggered_broadcasts_next_period_is_a_new_message_on_vk(shop: Shop) -> None:
    lapsed, active = await vk_members(shop, 24000, 2)
    async with shop.runtime.db.transaction() as session:
        await session.execute(
            update(Member)
            .where(Member.id.in_([lapsed, active]))
            .values(last_active_at=shop.clock.now())
        )
    for member in (lapsed, active):
        await buy(shop, member, "100", f"old-{member}")
    shop.clock.offset += timedelta(days=61)
    await buy(shop, active, "100", f"new-{active}")
    broadcast_id = await standing(
        shop, {"kind": "win_back", "days": 60, "period_days": 90}, text="We miss you"
    )
    triggers = shop.runtime.program.triggers
    assert await triggers.fire_due() == 1
    await shop.engine.run(broadcast_id)
    assert len(shop.vk.sent_to(24000)) == 1

    # The next period (within VK's hour of random_ids, as the fake counts it): a new round,
    # a new random_id, a second message.
    shop.clock.offset += timedelta(days=90)
    await buy(shop, active, "100", f"newer-{active}")
    assert await triggers.fire_due() == 1
    await shop.engine.run(broadcast_id)
    first, second = shop.vk.sent_to(24000)
    assert first.random_id != second.random_id
    assert shop.vk.sent_to(24001) == []
    # Each round is a row of its own: the first one's outcome stays.
    async with shop.runtime.db.reading() as session:
        rows = (
            await session.scalars(
                select(BroadcastDelivery)
                .where(
                    BroadcastDelivery.broadcast_id == broadcast_id,
                    BroadcastDelivery.member_id == lapsed,
                )
                .order_by(BroadcastDelivery.round)
            )
        ).all()
    assert [(row.status, row.round) for row in rows] == [("sent", 0), ("sent", 1)]


async def test_the_vk_rate_counts_requests_not_messages(backend: Backend, shop: Shop) -> None:
    await vk_members(shop, 25000, 250)
    # 2 requests a second: 250 messages one by one would take two minutes.
    slow = settings_for(backend, shop.telegram, shop.vk, shop.twilio, broadcast_vk_per_second=2)
    runtime = build_runtime(slow, clock=shop.clock)
    try:
        engine = runtime.broadcast_engine
        limiter = CountingLimiter(engine.limiter)
        engine.limiter = limiter
        broadcast_id = await shop.create(**PLAIN, text="Spring is here")
        await engine.broadcasts.start(broadcast_id)
        started = time.monotonic()
        report = await asyncio.wait_for(engine.run(broadcast_id), 30)
        took = time.monotonic() - started
    finally:
        await runtime.close()

    assert report.done and report.sent == 250
    assert limiter.acquired == {"vk": 3}
    assert len(shop.vk.calls_of("messages.send")) == 3
    # Three slots at 2/s: the last one a second after the first.
    assert 0.9 <= took < 20


async def test_a_failed_request_is_retried_later_for_every_member_in_it(shop: Shop) -> None:
    members = await vk_members(shop, 26000, 5)
    broadcast_id = await shop.create(**PLAIN, text="Spring is here")
    shop.vk.fail("messages.send", 10)
    await shop.engine.broadcasts.start(broadcast_id)
    report = await shop.engine.run(broadcast_id)

    assert (report.sent, report.deferred, report.done) == (0, 5, False)
    assert shop.vk.deliveries == []
    rows = await shop.rows(broadcast_id)
    assert {(row.status, row.reason, row.attempts) for row in rows.values()} == {
        ("queued", "VK error 10: Internal server error", 1)
    }

    shop.vk.recover("messages.send")
    shop.clock.offset += RETRY_BACKOFF
    report = await shop.engine.run(broadcast_id)
    assert report.done and report.sent == len(members)
    for external in telegram_ids(26000, 5):
        assert len(shop.vk.sent_to(int(external))) == 1
    assert len(shop.vk.calls_of("messages.send")) == 2
