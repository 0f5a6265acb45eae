"""Tiers: upgrade at once on a purchase, downgrade only after the grace period (the scheduled
review, with a controllable clock), refunds reversing progress, the rolling window."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.runtime import Runtime
from core.db.models import Member, Notice, TierChange
from core.program import LoyaltyProgram
from core.tiers.tiers import GRACE_OVER
from tests.clocks import StoppedClock
from tests.data import count, enrol

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TIERS = [
    {"key": "silver", "name": {"en": "Silver", "ru": "Серебро"}, "threshold": 1000},
    {"key": "gold", "name": "Gold", "threshold": 5000, "earn_multiplier": "1.5"},
]


async def program_with_tiers(runtime: Runtime, **rules: Any) -> tuple[LoyaltyProgram, StoppedClock]:
    clock = StoppedClock(START)
    program = LoyaltyProgram.build(runtime.db, clock)
    await program.rules.update(
        actor="m", **{"tiers": TIERS, "tier_window_days": 365, "tier_grace_days": 30, **rules}
    )
    return program, clock


async def member_row(runtime: Runtime, member_id: int) -> Member:
    async with runtime.db.reading() as session:
        member = await session.get(Member, member_id)
    assert member is not None
    return member


async def changes(runtime: Runtime, member_id: int) -> list[tuple[str | None, str | None, str]]:
    async with runtime.db.reading() as session:
        rows = await session.scalars(
            select(TierChange).where(TierChange.member_id == member_id).order_by(TierChange.id)
        )
        return [(row.from_tier, row.to_tier, row.reason) for row in rows]


async def tier_notices(runtime: Runtime, member_id: int) -> list[dict[str, Any]]:
    async with runtime.db.reading() as session:
        rows = await session.scalars(
            select(Notice)
            .where(Notice.member_id == member_id, Notice.kind == "tier_changed")
            .order_by(Notice.id)
        )
        return [json.loads(row.payload) for row in rows]


async def test_a_purchase_that_reaches_a_threshold_upgrades_at_once(runtime: Runtime) -> None:
    program, clock = await program_with_tiers(runtime)
    member = await enrol(runtime)

    first = await program.purchases.credit(member.card_code, "600", purchase_id="P1", actor="t")
    status = await program.tiers.status(member.id)
    assert (first.tier, first.tier_changed) == (None, False)
    assert status.tier is None and status.next_tier is not None
    assert (status.next_tier.key, status.to_next, status.value) == (
        "silver",
        Decimal(400),
        Decimal(600),
    )

    clock.advance(days=1)
    second = await program.purchases.credit(member.card_code, "450", purchase_id="P2", actor="t")

    assert (second.tier, second.tier_changed) == ("silver", True)
    row = await member_row(runtime, member.id)
    assert (row.tier, row.tier_since, row.tier_grace_until) == ("silver", clock.current, None)
    assert await changes(runtime, member.id) == [(None, "silver", "purchase")]
    assert await tier_notices(runtime, member.id) == [
        {
            "from_tier": None,
            "to_tier": "silver",
            "upgrade": True,
            "reason": "purchase",
            "from_name": None,
            "to_name": {"en": "Silver", "ru": "Серебро", "fa": "Silver"},
        }
    ]
    status = await program.tiers.status(member.id)
    assert status.tier is not None and status.tier.key == "silver"
    assert status.next_tier is not None and status.next_tier.key == "gold"
    assert status.to_next == Decimal("3950")

    # A big purchase skips a tier; the gold rate applies from the next purchase on.
    big = await program.purchases.credit(member.card_code, "5000", purchase_id="P3", actor="t")
    assert (big.points, big.tier) == (500, "gold")
    after = await program.purchases.credit(member.card_code, "100", purchase_id="P4", actor="t")
    assert after.points == 15
    assert await changes(runtime, member.id) == [
        (None, "silver", "purchase"),
        ("silver", "gold", "purchase"),
    ]
    status = await program.tiers.status(member.id)
    assert status.next_tier is None and status.to_next is None


async def test_downgrade_only_after_the_grace_period(runtime: Runtime) -> None:
    program, clock = await program_with_tiers(runtime)
    member = await enrol(runtime)
    await program.purchases.credit(member.card_code, "1200", purchase_id="P1", actor="t")
    assert (await member_row(runtime, member.id)).tier == "silver"

    clock.advance(days=364)
    review = await program.tiers.review_all()
    assert (review.grace_started, review.downgraded) == (0, 0), "still within the window"

    clock.advance(days=2)  # the purchase has left the 365-day window
    review = await program.tiers.review_all()
    assert (review.checked, review.grace_started, review.downgraded) == (1, 1, 0)
    row = await member_row(runtime, member.id)
    grace_until = clock.current + timedelta(days=30)
    assert (row.tier, row.tier_grace_until) == ("silver", grace_until)
    status = await program.tiers.status(member.id)
    assert status.tier is not None and status.tier.key == "silver"
    assert (status.grace_until, status.to_keep) == (grace_until, Decimal(1000))

    clock.advance(days=29)
    review = await program.tiers.review_all()
    assert (review.grace_started, review.downgraded) == (0, 0), "the grace starts only once"
    assert (await member_row(runtime, member.id)).tier_grace_until == grace_until

    clock.advance(days=1)
    review = await program.tiers.review_all()
    assert review.downgraded == 1
    row = await member_row(runtime, member.id)
    assert (row.tier, row.tier_grace_until) == (None, None)
    assert await changes(runtime, member.id) == [
        (None, "silver", "purchase"),
        ("silver", None, GRACE_OVER),
    ]
    assert (await tier_notices(runtime, member.id))[-1] == {
        "from_tier": "silver",
        "to_tier": None,
        "upgrade": False,
        "reason": GRACE_OVER,
        "from_name": {"en": "Silver", "ru": "Серебро", "fa": "Silver"},
        "to_name": None,
    }

    again = await program.tiers.review_all()
    assert (again.checked, again.downgraded) == (0, 0)
    assert await count(runtime, TierChange) == 2


async def test_qualifying_again_during_the_grace_ends_it(runtime: Runtime) -> None:
    program, clock = await program_with_tiers(runtime)
    member = await enrol(runtime)
    await program.purchases.credit(member.card_code, "1000", purchase_id="P1", actor="t")
    clock.advance(days=366)
    await program.tiers.review_all()
    assert (await member_row(runtime, member.id)).tier_grace_until is not None

    clock.advance(days=10)
    await program.purchases.credit(member.card_code, "1000", purchase_id="P2", actor="t")

    row = await member_row(runtime, member.id)
    assert (row.tier, row.tier_grace_until) == ("silver", None)
    clock.advance(days=60)
    assert (await program.tiers.review_all()).downgraded == 0
    assert await changes(runtime, member.id) == [(None, "silver", "purchase")]


async def test_a_refund_takes_back_the_progress_and_the_tier_it_bought(runtime: Runtime) -> None:
    program, clock = await program_with_tiers(runtime)
    member = await enrol(runtime)
    await program.purchases.credit(member.card_code, "700", purchase_id="P1", actor="t")
    clock.advance(hours=1)
    await program.purchases.credit(member.card_code, "500", purchase_id="P2", actor="t")
    assert (await member_row(runtime, member.id)).tier == "silver"

    clock.advance(hours=1)
    await program.purchases.refund("P2", refund_id="F1", actor="t", amount="100")
    assert (await member_row(runtime, member.id)).tier == "silver", "1100 still qualifies"
    assert (await program.tiers.status(member.id)).value == Decimal(1100)

    clock.advance(hours=1)
    await program.purchases.refund("P1", refund_id="F2", actor="t", amount="200")

    row = await member_row(runtime, member.id)
    assert (row.tier, row.tier_grace_until) == (None, None), "no grace for a reversal"
    assert await changes(runtime, member.id) == [
        (None, "silver", "purchase"),
        ("silver", None, "refund"),
    ]
    status = await program.tiers.status(member.id)
    assert (status.value, status.to_next) == (Decimal(900), Decimal(100))


async def test_refunding_a_later_purchase_is_like_time_passing(runtime: Runtime) -> None:
    program, clock = await program_with_tiers(runtime)
    member = await enrol(runtime)
    await program.purchases.credit(member.card_code, "1000", purchase_id="P1", actor="t")
    clock.advance(days=300)
    await program.purchases.credit(member.card_code, "100", purchase_id="P2", actor="t")
    clock.advance(days=66)  # P1 has left the window; the silver tier rests on nothing now

    await program.purchases.refund("P2", refund_id="F1", actor="t")

    row = await member_row(runtime, member.id)
    assert row.tier == "silver"
    assert row.tier_grace_until == clock.current + timedelta(days=30)


async def test_only_the_rolling_window_counts(runtime: Runtime) -> None:
    program, clock = await program_with_tiers(runtime)
    member = await enrol(runtime)
    await program.purchases.credit(member.card_code, "800", purchase_id="old", actor="t")
    clock.advance(days=200)
    await program.purchases.credit(member.card_code, "150", purchase_id="mid", actor="t")
    assert (await program.tiers.status(member.id)).value == Decimal(950)

    clock.advance(days=166)  # "old" is 366 days old
    await program.purchases.credit(member.card_code, "500", purchase_id="new", actor="t")

    status = await program.tiers.status(member.id)
    assert status.value == Decimal(650)
    assert status.tier is None, "800 + 150 + 500 never lay in one window"
    # A refund of a purchase that already left the window changes nothing.
    await program.purchases.refund("old", refund_id="F-old", actor="t")
    assert (await program.tiers.status(member.id)).value == Decimal(650)


async def test_tiers_by_points_and_a_free_base_tier(runtime: Runtime) -> None:
    tiers = [
        {"key": "bronze", "name": "Bronze", "threshold": 0, "perks": "Birthday gift"},
        {"key": "silver", "name": "Silver", "threshold": 150, "earn_multiplier": "2"},
    ]
    program, _clock = await program_with_tiers(
        runtime,
        tiers=tiers,
        tier_metric="points",
        event_bonuses={"review": {"points": 500}},
    )
    member = await enrol(runtime)
    status = await program.tiers.status(member.id)
    assert status.tier is not None and status.tier.key == "bronze"
    assert status.to_next == Decimal(150)

    await program.events.emit(card_code=member.card_code, kind="review", event_id="E1", actor="t")
    await program.purchases.credit(member.card_code, "1000", purchase_id="P1", actor="t")
    status = await program.tiers.status(member.id)
    assert (status.value, status.to_next) == (Decimal(100), Decimal(50)), "events do not count"
    assert await changes(runtime, member.id) == []

    await program.purchases.credit(member.card_code, "500", purchase_id="P2", actor="t")
    assert await changes(runtime, member.id) == [("bronze", "silver", "purchase")]


async def test_concurrent_reviews_downgrade_once(runtime: Runtime) -> None:
    program, clock = await program_with_tiers(runtime, tier_grace_days=0)
    members = [await enrol(runtime, f"m{n}") for n in range(3)]
    for member in members:
        await program.purchases.credit(
            member.card_code, "6000", purchase_id=f"P-{member.id}", actor="t"
        )
    clock.advance(days=400)
    other = LoyaltyProgram.build(runtime.db, clock)

    reviews = await asyncio.gather(
        program.tiers.review_all(), other.tiers.review_all(), program.tiers.review_all()
    )

    assert sum(review.downgraded for review in reviews) == 3
    assert await count(runtime, TierChange, TierChange.reason == GRACE_OVER) == 3
    assert await count(runtime, Notice, Notice.kind == "tier_changed") == 6
    for member in members:
        assert (await member_row(runtime, member.id)).tier is None
