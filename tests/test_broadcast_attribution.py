"""Did a broadcast work: a button tapped through the fake Telegram, a broadcast coupon redeemed
at the till, purchases inside and outside the attribution window, the holdout's baseline, and
`broadcast-status` in words and as JSON; the statistics against known values."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

import main
from app import broadcasts as wiring
from core.broadcasts.attribution import (
    NOT_ENOUGH,
    Outcome,
    compare,
    enough_data,
    judged,
    two_proportion_p_value,
)
from core.broadcasts.spec import HOLDOUT
from core.db.models import Broadcast, BroadcastDelivery, BroadcastTap, Member
from tests import test_broadcasts
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_member import TelegramMember, text_of, webhook_client, webhook_delivery
from tests.test_broadcasts import Shop, add_members, coupon_of, telegram_ids
from tests.test_vk import fake_vk  # noqa: F401 - fixture
from tests.whatsapp_member import fake_twilio  # noqa: F401 - fixture

WEEK = timedelta(days=7)
# The broadcasts' shop: the program with the fake Telegram, VK and Twilio servers.
shop = test_broadcasts.shop


# ---------------------------------------------------------------------- the statistics
def test_the_p_value_is_the_textbook_two_proportion_z_test() -> None:
    # R: prop.test(c(200, 250), c(1000, 1000), correct = FALSE)$p.value == 0.007419649
    assert two_proportion_p_value(200, 1000, 250, 1000) == pytest.approx(0.0074196, abs=1e-6)
    # R: prop.test(c(15, 25), c(50, 50), correct = FALSE)$p.value == 0.04122683
    assert two_proportion_p_value(15, 50, 25, 50) == pytest.approx(0.0412268, abs=1e-6)
    # Equal rates: z = 0; nobody (or everybody) converted: no spread, nothing to tell apart.
    assert two_proportion_p_value(12, 40, 30, 100) == pytest.approx(1.0)
    assert two_proportion_p_value(0, 50, 0, 50) == 1.0
    assert two_proportion_p_value(7, 40, 3, 40) == two_proportion_p_value(3, 40, 7, 40)
    with pytest.raises(ValueError):
        two_proportion_p_value(0, 0, 1, 10)


def test_the_verdict_in_plain_words() -> None:
    assert compare("A", 30, 300, "B", 60, 300).words == "B beats A with 99% confidence"
    assert compare("A", 9, 40, "B", 19, 40).words == "B beats A with 98% confidence"
    assert compare("A", 100, 1000, "B", 130, 1000).words == "B beats A with 96% confidence"
    # Nearly certain still reads 99 %, never 100.
    assert compare("A", 0, 40, "B", 40, 40).words == "B beats A with 99% confidence"
    assert compare("A", 10, 100, "B", 12, 100).words == (
        "no winner yet: B is ahead of A with only 34% confidence"
    )
    assert "B is ahead of the holdout" in compare("B", 12, 100, HOLDOUT, 10, 100).words


def test_too_little_data_says_so() -> None:
    # Fewer than 30 in a group.
    assert compare("A", 2, 20, "B", 10, 20).words == NOT_ENOUGH
    assert not enough_data(15, 29, 15, 100)
    # Fewer than 5 expected conversions in a group (n x pooled rate).
    assert compare("A", 1, 100, "B", 3, 100).words == NOT_ENOUGH
    assert compare("A", 0, 40, "B", 0, 40).words == NOT_ENOUGH
    # ... or fewer than 5 expected non-conversions.
    assert not enough_data(98, 100, 99, 100)
    assert enough_data(5, 50, 5, 50)
    verdict = compare("A", 2, 20, "B", 10, 20)
    assert (verdict.p_value, verdict.confidence, verdict.as_json()["words"]) == (
        None,
        None,
        NOT_ENOUGH,
    )


def test_the_best_variant_against_the_next_and_each_against_the_holdout() -> None:
    def outcome(key: str, purchased: int, delivered: int) -> Outcome:
        return Outcome(key, delivered, 0, 0, purchased, Decimal(purchased * 10))

    report = judged(
        [outcome("A", 30, 300), outcome("B", 60, 300), outcome("C", 33, 300)],
        outcome(HOLDOUT, 20, 300),
        WEEK,
    )

    assert report.best_versus_next is not None
    assert report.best_versus_next.words == "B beats C with 99% confidence"
    by_key = {o.key: o for o in report.variants}
    assert by_key["B"].uplift_points == pytest.approx(20 - 20 / 3)
    assert by_key["B"].uplift_relative == pytest.approx(2.0)
    assert by_key["B"].versus_holdout is not None
    assert by_key["B"].versus_holdout.words == "B beats the holdout with 99% confidence"
    assert by_key["A"].versus_holdout is not None
    assert by_key["A"].versus_holdout.words.startswith("no winner yet: A is ahead of the holdout")
    # Without a holdout there is no uplift, only the comparison of the variants.
    alone = judged([outcome("A", 1, 10), outcome("B", 2, 10)], None, WEEK)
    assert [o.uplift_points for o in alone.variants] == [None, None]
    assert alone.best_versus_next is not None and alone.best_versus_next.words == NOT_ENOUGH


# ---------------------------------------------------------------------- taps
async def taps(shop: Shop, broadcast_id: int) -> list[tuple[int, str]]:
    async with shop.runtime.db.reading() as session:
        rows = await session.execute(
            select(BroadcastTap.member_id, BroadcastTap.variant).where(
                BroadcastTap.broadcast_id == broadcast_id
            )
        )
        return sorted((int(member), str(variant)) for member, variant in rows)


async def test_a_tap_counts_once_and_only_for_a_recipient_of_a_live_broadcast(
    shop: Shop, fake_telegram: FakeTelegramAPI
) -> None:
    async with webhook_client(shop.runtime) as client:
        deliver = webhook_delivery(client)
        ann = TelegramMember(fake_telegram, deliver, user_id=4301)
        bob = TelegramMember(fake_telegram, deliver, user_id=4302, first_name="Bob")
        await ann.sign_up(marketing=True)
        # Bob wants no offers: he is not in the broadcast.
        await bob.sign_up(marketing=False)
        broadcast_id = await shop.create(variants=[], holdout=0, text="Your code {coupon}")
        await shop.send(broadcast_id)
        ann_id = (await shop.rows(broadcast_id)).popitem()[0]
        code = await coupon_of(shop, ann_id)
        button = f"bc:{broadcast_id}:A:menu:coupons"

        first = await ann.press(button)
        again = await ann.press(button)
        # A forwarded or forged button: Bob's coupons open, the tap is not counted.
        bobs = await bob.exchange(fake_telegram.callback_update(user_id=4302, data=button))

        assert code in text_of(first) and code in text_of(again)
        assert code not in text_of(bobs) and text_of(bobs)
        assert await taps(shop, broadcast_id) == [(ann_id, "A")]

        # A second broadcast, cancelled after Ann got it: her tap opens it, it does not count.
        second = await shop.create(variants=[], holdout=0, text="More {coupon}")
        await shop.send(second)
        async with shop.runtime.db.transaction() as session:
            await session.execute(
                update(Broadcast).where(Broadcast.id == second).values(state="cancelled")
            )
        await ann.press(f"bc:{second}:A:menu:coupons")
        assert await taps(shop, second) == []

    report = await wiring.attribution(shop.runtime.program).report(broadcast_id)
    (outcome,) = report.variants
    assert (outcome.key, outcome.delivered, outcome.tapped, report.holdout) == ("A", 1, 1, None)


# ---------------------------------------------------------------------- coupons, purchases
async def card_of(shop: Shop, member_id: int) -> str:
    async with shop.runtime.db.reading() as session:
        card = await session.scalar(select(Member.card_code).where(Member.id == member_id))
    assert card is not None
    return card


async def buy(shop: Shop, member_id: int, amount: str, purchase_id: str) -> None:
    await shop.runtime.program.purchases.credit(
        await card_of(shop, member_id), amount, purchase_id=purchase_id, actor="till"
    )


async def redeem(shop: Shop, code: str | None, member_id: int, redemption_id: str) -> None:
    assert code
    await shop.runtime.program.coupons.redeem(
        code,
        redemption_id=redemption_id,
        actor="till",
        order_amount="100",
        card_code=await card_of(shop, member_id),
    )


async def test_redemptions_and_purchases_in_the_window_count_against_the_holdout(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    program = shop.runtime.program
    members = await add_members(shop, "telegram", telegram_ids(4400, 40))
    async with shop.runtime.db.transaction() as session:
        # As sign-up leaves them: active now (a purchase moves it on).
        await session.execute(
            update(Member).where(Member.id.in_(members)).values(last_active_at=shop.clock.now())
        )
    # A purchase before the broadcast is nobody's conversion.
    await buy(shop, members[0], "70", "before")
    shop.clock.offset += timedelta(minutes=1)
    broadcast_id = await shop.create()
    await shop.send(broadcast_id)
    rows = await shop.rows(broadcast_id)
    groups: dict[str, list[int]] = {}
    for member, row in sorted(rows.items()):
        groups.setdefault(str(row.variant), []).append(member)
    a, b, held = groups["A"], groups["B"], groups[HOLDOUT]
    assert len(a) >= 3 and len(b) >= 3 and len(held) >= 3, groups
    # Quiet hours held b[2]'s message back three days: their window starts then.
    sent_at = rows[b[2]].sent_at
    assert sent_at is not None
    async with shop.runtime.db.transaction() as session:
        await session.execute(
            update(BroadcastDelivery)
            .where(BroadcastDelivery.id == rows[b[2]].id)
            .values(sent_at=sent_at + timedelta(days=3))
        )

    # A's first two redeem their broadcast coupon at the till (once is once, replayed).
    for number, member in enumerate(a[:2]):
        code = rows[member].coupon_code
        assert code
        for _ in range(2):
            await program.coupons.redeem(
                code,
                redemption_id=f"r{number}",
                actor="till",
                order_amount="100",
                card_code=await card_of(shop, member),
            )
    # Inside the window: two of A (one of them twice), one of B, one held out.
    shop.clock.offset += timedelta(days=2)
    await buy(shop, a[0], "100.50", "a0-1")
    await buy(shop, a[0], "20", "a0-2")
    await buy(shop, a[2], "30", "a2")
    await buy(shop, b[0], "45", "b0")
    await buy(shop, held[0], "60", "h0")
    # b[2] redeems their coupon before their (held back) message: not the message's doing.
    await redeem(shop, rows[b[2]].coupon_code, b[2], "early")
    # Partly refunded later (after the window, too): the revenue is what was kept.
    shop.clock.offset += timedelta(days=1)
    await program.purchases.refund("a0-1", refund_id="a0-1-r1", actor="till", amount="30")
    await program.purchases.refund("h0", refund_id="h0-r1", actor="till", amount="15")
    # Outside it (8 days after): nothing counts, a redemption neither.
    shop.clock.offset += timedelta(days=5)
    await buy(shop, a[1], "999", "a1-late")
    await buy(shop, b[1], "999", "b1-late")
    await buy(shop, held[1], "999", "h1-late")
    await buy(shop, b[2], "50", "b2-in-their-window")
    await redeem(shop, rows[a[2]].coupon_code, a[2], "late")
    await program.purchases.refund("a0-1", refund_id="a0-1-r2", actor="till", amount="20.50")

    report = await wiring.attribution(program).report(broadcast_id, WEEK)

    by_key = {o.key: o for o in report.variants}
    assert (by_key["A"].delivered, by_key["A"].redeemed, by_key["A"].purchased) == (len(a), 2, 2)
    # 150.50 bought, 30 + 20.50 of it refunded.
    assert (by_key["A"].revenue, by_key["A"].refunded) == (Decimal("100.00"), Decimal("50.50"))
    assert (by_key["B"].delivered, by_key["B"].redeemed, by_key["B"].purchased) == (len(b), 0, 2)
    assert (by_key["B"].revenue, by_key["B"].refunded) == (Decimal("95.00"), Decimal("0.00"))
    assert report.holdout is not None
    assert (report.holdout.delivered, report.holdout.purchased) == (len(held), 1)
    assert (report.holdout.revenue, report.holdout.refunded) == (Decimal("45.00"), Decimal("15.00"))
    assert by_key["A"].uplift_points == pytest.approx((2 / len(a) - 1 / len(held)) * 100)
    assert by_key["A"].versus_holdout is not None
    assert by_key["A"].versus_holdout.words == NOT_ENOUGH
    # A 9-day window takes the late purchases in.
    wider = await wiring.attribution(program).report(broadcast_id, timedelta(days=9))
    assert [o.purchased for o in wider.variants] == [3, 3]
    # ... and a[2]'s late redemption; b[2]'s, before their message, never counts.
    assert [o.redeemed for o in wider.variants] == [3, 0]
    assert wider.holdout is not None and wider.holdout.purchased == 2

    # The command line, in this process (same main.main), in words and as JSON.
    monkeypatch.setenv("DATABASE_URL", shop.runtime.settings.database_url)
    monkeypatch.setenv("REDIS_URL", shop.runtime.settings.redis_url)
    capsys.readouterr()
    assert await asyncio.to_thread(main.main, ["broadcast-status", str(broadcast_id)]) == 0
    out = capsys.readouterr().out
    assert "did it work (purchases within 7 days of the message, revenue net of refunds):" in out
    assert (
        f"variant A: delivered {len(a)}, tapped 0, redeemed 2, purchased 2,"
        f" revenue 100.00 (50.50 refunded), conversion {2 / len(a) * 100:.1f}%, uplift "
    ) in out
    assert (
        f"holdout: held out {len(held)}, tapped 0, redeemed 0, purchased 1,"
        " revenue 45.00 (15.00 refunded)"
    ) in out
    assert "best variant: not enough data yet" in out
    assert "A against the holdout: not enough data yet" in out

    command = ["broadcast-status", str(broadcast_id), "--json", "--window-days", "9"]
    assert await asyncio.to_thread(main.main, command) == 0
    shown: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert shown["state"] == "done" and shown["sent"] == len(a) + len(b)
    attribution = shown["attribution"]
    assert set(attribution) == {"window_days", "variants", "holdout", "best_versus_next"}
    assert attribution["window_days"] == 9
    assert set(attribution["variants"]) == {"A", "B"}
    variant_a = attribution["variants"]["A"]
    assert set(variant_a) == {
        "delivered",
        "tapped",
        "redeemed",
        "purchased",
        "revenue",
        "refunded",
        "conversion",
        "uplift_points",
        "uplift_relative",
        "versus_holdout",
    }
    assert (variant_a["purchased"], variant_a["revenue"], variant_a["refunded"]) == (
        3,
        "1099.00",
        "50.50",
    )
    assert variant_a["conversion"] == round(3 / len(a), 6)
    versus = variant_a["versus_holdout"]
    assert {versus.pop("ahead"), versus.pop("behind")} == {"A", HOLDOUT}
    assert versus == {
        "enough_data": False,
        "p_value": None,
        "confidence": None,
        "words": NOT_ENOUGH,
    }
    assert attribution["holdout"]["purchased"] == 2
    assert attribution["best_versus_next"]["words"] == NOT_ENOUGH

    assert await asyncio.to_thread(main.main, ["broadcast-status", "999"]) == 1
    assert capsys.readouterr().err.strip() == "Refused: no broadcast 999"
    bad = ["broadcast-status", str(broadcast_id), "--window-days", "0"]
    assert await asyncio.to_thread(main.main, bad) == 1
    assert "Refused: --window-days must be 1 to 366" in capsys.readouterr().err

    # a[2] returns the order the late coupon paid for: a cancelled use is no redemption.
    late_code = rows[a[2]].coupon_code
    assert late_code
    cancelled = await program.coupons.cancel_use(late_code, actor="till", redemption_id="late")
    assert cancelled.restored and not cancelled.replayed
    again = await wiring.attribution(program).report(broadcast_id, timedelta(days=9))
    assert [o.redeemed for o in again.variants] == [2, 0]
