"""Earning rules as data: per-tier rate, promotions for a period, a category, a store, and
how they combine; transactional notices for points earned and spent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.runtime import Runtime
from core.db.models import Member, Notice, Purchase
from core.program import LoyaltyProgram
from core.rules.book import ProgramRules, RuleBook, parse_rule
from core.shared.errors import IdempotencyConflict, InvalidAmount, InvalidReference
from tests.clocks import StoppedClock
from tests.data import count, enrol

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
TIERS = [
    {"key": "silver", "name": {"en": "Silver", "ru": "Серебро"}, "threshold": 1000},
    {
        "key": "gold",
        "name": "Gold",
        "threshold": "5000",
        "earn_multiplier": "1.5",
        "perks": {"en": "Free coffee", "ru": "Бесплатный кофе"},
    },
]


def promotion(key: str, multiplier: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "name": {"en": key.title()}, "multiplier": multiplier, **extra}


async def set_tier(runtime: Runtime, member_id: int, tier: str | None) -> None:
    async with runtime.db.transaction() as session:
        member = await session.get(Member, member_id)
        assert member is not None
        member.tier = tier


def test_the_combination_policy_on_plain_rules() -> None:
    rules = ProgramRules(
        tiers=parse_rule("tiers", TIERS),
        promotions=parse_rule(
            "promotions",
            [
                promotion("coffee", "3", category="coffee"),
                promotion("store", "2", store="msk-1"),
                promotion("weekend", "2.5"),
            ],
        ),
    )
    # 300 coffee at best(3, 2, 2.5) = 3; the 700 rest at best(2, 2.5) = 2.5; gold 1.5:
    # floor(300 x 0.1 x 1.5 x 3 + 700 x 0.1 x 1.5 x 2.5) = floor(135 + 262.5) = 397.
    assert (
        rules.purchase_points(
            Decimal(1000),
            at=START,
            tier="gold",
            store="msk-1",
            categories={"coffee": Decimal(300)},
        )
        == 397
    )
    assert rules.purchase_points(Decimal("9.99"), at=START) == 2  # floor(9.99 x 0.1 x 2.5)


async def test_rules_take_json_structures_and_read_them_back(runtime: Runtime) -> None:
    event_bonuses = {"review": {"points": 50, "per_member": 1}, "survey": {"points": 20}}
    promotions = [
        promotion(
            "double-week",
            "2",
            starts="2026-12-01T00:00:00+03:00",
            ends="2026-12-08T00:00:00+03:00",
        ),
        promotion("coffee", "1.5", category="coffee", store="msk-1"),
    ]
    updated = await runtime.program.rules.update(
        actor="marketer",
        tiers=TIERS,
        tier_metric="spend",
        tier_window_days=180,
        tier_grace_days=14,
        promotions=promotions,
        event_bonuses=event_bonuses,
    )

    fresh = await RuleBook(runtime.db, runtime.program.clock).current()
    assert fresh == updated
    assert [tier.key for tier in fresh.tiers] == ["silver", "gold"]
    assert fresh.tiers[0].name.get("ru") == "Серебро"
    assert fresh.tiers[0].name.get("fa") == "Silver", "a missing language falls back to English"
    assert fresh.tiers[1].name.get("ru") == "Gold", "one text serves every language"
    assert fresh.tiers[1].threshold == Decimal(5000)
    assert fresh.tiers[1].earn_multiplier == Decimal("1.5")
    assert fresh.tiers[1].perks is not None and fresh.tiers[1].perks.get("ru") == "Бесплатный кофе"
    assert fresh.promotions[0].starts == datetime(2026, 11, 30, 21, 0, tzinfo=UTC)
    assert fresh.promotions[1].category == "coffee" and fresh.promotions[1].store == "msk-1"
    bonus = fresh.event_bonus("survey")
    assert bonus is not None and (bonus.points, bonus.per_member) == (20, 1)
    assert (fresh.tier_window_days, fresh.tier_grace_days) == (180, 14)
    # Updating with what was read back changes nothing.
    assert await runtime.program.rules.update(actor="m", tiers=fresh.tiers) == fresh


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tiers": [{"key": "silver", "name": "S"}]}, "lacks threshold"),
        ({"tiers": [{"key": "Silver!", "name": "S", "threshold": 1}]}, "lowercase"),
        ({"tiers": [{"key": "s", "name": "S", "threshold": 1, "colour": "x"}]}, "unknown"),
        ({"tiers": [{"key": "s", "name": "", "threshold": 1}]}, "non-empty"),
        ({"tiers": [{"key": "s", "name": {"english": "S"}, "threshold": 1}]}, "language"),
        (
            {
                "tiers": [
                    {"key": "a", "name": "A", "threshold": 500},
                    {"key": "b", "name": "B", "threshold": 100},
                ]
            },
            "increasing",
        ),
        ({"tiers": [{"key": "s", "name": "S", "threshold": -1}]}, "threshold"),
        (
            {"tiers": [{"key": "s", "name": "S", "threshold": 1, "earn_multiplier": "0"}]},
            "earn_multiplier",
        ),
        ({"tier_metric": "visits"}, "tier_metric"),
        ({"tier_window_days": 0}, "tier_window_days"),
        ({"tier_grace_days": "30"}, "whole number"),
        ({"promotions": [promotion("p", "0.5")]}, "between 1"),
        ({"promotions": [promotion("p", "2", starts="2026-12-01T00:00:00")]}, "UTC offset"),
        ({"promotions": [promotion("p", "2", starts="next monday")]}, "ISO"),
        (
            {
                "promotions": [
                    promotion("p", "2", starts="2026-12-08T00:00:00Z", ends="2026-12-01T00:00:00Z")
                ]
            },
            "before ends",
        ),
        ({"promotions": [promotion("p", "2"), promotion("p", "3")]}, "unique"),
        ({"event_bonuses": {"review": {"points": 1.5}}}, "whole number"),
        ({"event_bonuses": {"review": {"points": -1}}}, "between 0"),
        ({"event_bonuses": {"review": {"points": 5, "per_member": -1}}}, "per_member"),
        ({"event_bonuses": [{"kind": "review"}]}, "object"),
    ],
)
async def test_malformed_structured_rules_are_refused(
    runtime: Runtime, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await runtime.program.rules.update(actor="marketer", **changes)
    assert await runtime.program.rules.current() == ProgramRules()


async def test_the_tier_rate_multiplies_purchase_points(runtime: Runtime) -> None:
    await runtime.program.rules.update(actor="m", tiers=TIERS)
    member = await enrol(runtime)
    await set_tier(runtime, member.id, "gold")

    credit = await runtime.program.purchases.credit(
        member.card_code, "1000", purchase_id="P1", actor="till"
    )

    assert credit.points == 150  # 1000 x 0.1 x 1.5


async def test_a_period_promotion_counts_only_within_its_dates(runtime: Runtime) -> None:
    clock = StoppedClock(START - timedelta(seconds=1))
    program = LoyaltyProgram.build(runtime.db, clock)
    await program.rules.update(
        actor="m",
        promotions=[
            promotion(
                "double-week", "2", starts=START.isoformat(), ends="2026-12-08T00:00:00+00:00"
            )
        ],
    )
    member = await enrol(runtime)

    async def points(purchase_id: str) -> int:
        credit = await program.purchases.credit(
            member.card_code, "1000", purchase_id=purchase_id, actor="till"
        )
        return credit.points

    assert await points("before") == 100
    clock.current = START
    assert await points("first-moment") == 200
    clock.current = datetime(2026, 12, 7, 23, 59, 59, tzinfo=UTC)
    assert await points("last-moment") == 200
    clock.current = datetime(2026, 12, 8, tzinfo=UTC)
    assert await points("after") == 100, "ends is exclusive"


async def test_category_and_store_promotions_apply_to_their_part_only(runtime: Runtime) -> None:
    await runtime.program.rules.update(
        actor="m",
        promotions=[
            promotion("coffee", "3", category="coffee"),
            promotion("flagship", "2", store="msk-1"),
        ],
    )
    member = await enrol(runtime)
    purchases = runtime.program.purchases

    elsewhere = await purchases.credit(
        member.card_code,
        "1000",
        purchase_id="P1",
        actor="till",
        store="spb-2",
        categories={"coffee": "300", "tea": "200"},
    )
    flagship = await purchases.credit(
        member.card_code,
        "1000",
        purchase_id="P2",
        actor="till",
        store="msk-1",
        categories={"coffee": "300"},
    )
    plain = await purchases.credit(member.card_code, "1000", purchase_id="P3", actor="till")

    assert elsewhere.points == 90 + 20 + 50  # coffee x3, tea and the rest x1
    assert flagship.points == 90 + 140, "coffee: the best of x3 and x2, no stacking"
    assert plain.points == 100
    async with runtime.db.reading() as session:
        stored = await session.scalar(select(Purchase).where(Purchase.purchase_id == "P1"))
    assert stored is not None and stored.store == "spb-2"
    assert json.loads(stored.categories or "") == {"coffee": "300.00", "tea": "200.00"}


async def test_promotions_do_not_stack_but_the_tier_does(runtime: Runtime) -> None:
    await runtime.program.rules.update(
        actor="m",
        tiers=TIERS,
        promotions=[promotion("double", "2"), promotion("triple", "3"), promotion("x2-5", "2.5")],
    )
    member = await enrol(runtime)
    await set_tier(runtime, member.id, "gold")

    credit = await runtime.program.purchases.credit(
        member.card_code, "1000", purchase_id="P1", actor="till"
    )

    assert credit.points == 450  # 1000 x 0.1 x 1.5 (gold) x 3 (the best promotion)


async def test_categories_are_checked_and_part_of_the_purchase_identity(runtime: Runtime) -> None:
    member = await enrol(runtime)
    purchases = runtime.program.purchases
    with pytest.raises(InvalidAmount, match="more than the purchase"):
        await purchases.credit(
            member.card_code,
            "100",
            purchase_id="P1",
            actor="t",
            categories={"a": "60", "b": "50"},
        )
    with pytest.raises(InvalidAmount):
        await purchases.credit(
            member.card_code, "100", purchase_id="P1", actor="t", categories={"a": "-5"}
        )
    with pytest.raises(InvalidReference):
        await purchases.credit(member.card_code, "100", purchase_id="P1", actor="t", store=" ")
    assert await count(runtime, Purchase) == 0

    first = await purchases.credit(
        member.card_code, "100", purchase_id="P1", actor="t", categories={"a": "60"}
    )
    again = await purchases.credit(
        member.card_code, "100.0", purchase_id="P1", actor="t", categories={"a": "60.00"}
    )
    assert again.replayed and again.points == first.points
    with pytest.raises(IdempotencyConflict):
        await purchases.credit(
            member.card_code, "100", purchase_id="P1", actor="t", categories={"a": "50"}
        )
    with pytest.raises(IdempotencyConflict):
        await purchases.credit(member.card_code, "100", purchase_id="P1", actor="t", store="x")


async def notices(runtime: Runtime, member_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    async with runtime.db.reading() as session:
        rows = await session.scalars(
            select(Notice).where(Notice.member_id == member_id).order_by(Notice.id)
        )
        return [(row.kind, row.dedupe_key, json.loads(row.payload)) for row in rows]


async def test_earning_and_spending_enqueue_one_notice_each(runtime: Runtime) -> None:
    member = await enrol(runtime)
    purchases = runtime.program.purchases
    await purchases.credit(member.card_code, "1234.50", purchase_id="P1", actor="till")
    await purchases.credit(member.card_code, "1234.50", purchase_id="P1", actor="till")
    await purchases.credit(member.card_code, "5", purchase_id="tiny", actor="till")  # 0 points
    await purchases.redeem(member.card_code, 30, redemption_id="R1", actor="till")
    await purchases.redeem(member.card_code, 30, redemption_id="R1", actor="till")

    assert await notices(runtime, member.id) == [
        (
            "points_earned",
            "earned:purchase:P1",
            {"points": 123, "balance": 223, "reason": "purchase", "reference": "P1"},
        ),
        (
            "points_spent",
            "spent:redemption:R1",
            {"points": 30, "balance": 193, "reason": "redemption", "reference": "R1"},
        ),
    ]
