"""Coupons through the core: campaigns, codes, issue, check and atomic redemption (with
concurrent attempts: row locks on PostgreSQL, BEGIN IMMEDIATE on SQLite), on both backends."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.runtime import Runtime
from core.db.models import Coupon, CouponCampaign, CouponRedemption, Notice
from core.offers.campaigns import CampaignSpec, CouponKind
from core.offers.codes import ALPHABET, random_code
from core.offers.coupons import Coupons
from core.program import LoyaltyProgram
from core.shared.errors import (
    CampaignNotFound,
    CouponCodesRejected,
    CouponRefused,
    IdempotencyConflict,
    InvalidAmount,
    InvalidCampaign,
)
from tests.clocks import StoppedClock
from tests.data import count, enrol, scalar


@pytest.fixture
def clock() -> StoppedClock:
    return StoppedClock()


@pytest.fixture
def program(runtime: Runtime, clock: StoppedClock) -> LoyaltyProgram:
    return LoyaltyProgram.build(runtime.db, clock)


@pytest.fixture
def coupons(program: LoyaltyProgram) -> Coupons:
    return program.coupons


def spec(slug: str = "spring", **fields: object) -> CampaignSpec:
    values: dict[str, object] = {"name": "Spring sale", "kind": "percent", "value": "10"}
    values.update(fields)
    return CampaignSpec(slug=slug, **values)  # type: ignore[arg-type]


async def refusal(awaitable: object) -> str:
    with pytest.raises(CouponRefused) as refused:
        await awaitable  # type: ignore[misc]
    return refused.value.reason


# ---------------------------------------------------------------------- campaigns


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"slug": "Bad Slug!"}, "slug"),
        ({"name": " "}, "name"),
        ({"kind": "bogus"}, "kind must be one of"),
        ({"kind": "percent", "value": None}, "percent coupon needs a value"),
        ({"kind": "percent", "value": "120"}, "at most 100"),
        ({"kind": "percent", "value": "-5"}, "value"),
        ({"kind": "fixed", "value": None}, "fixed coupon needs"),
        ({"kind": "free_item", "value": None}, "needs the item"),
        ({"kind": "free_item", "value": "5", "item": "Tea"}, "has no value"),
        ({"kind": "free_item", "value": None, "item": "Tea", "budget": "10"}, "no budget"),
        (
            {
                "starts_at": datetime(2026, 12, 1, tzinfo=UTC),
                "ends_at": datetime(2026, 11, 1, tzinfo=UTC),
            },
            "end after it starts",
        ),
        ({"ends_at": datetime(2026, 12, 1)}, "time zone"),
        ({"total_limit": 0}, "total limit"),
        ({"per_member_limit": -1}, "per-member limit"),
        ({"valid_days": 0}, "valid days"),
        ({"uses_per_coupon": 0}, "uses per coupon"),
        ({"budget": "abc"}, "budget"),
        ({"min_order": "0"}, "minimum order"),
    ],
)
async def test_a_campaign_is_validated_strictly(
    coupons: Coupons, runtime: Runtime, fields: dict[str, object], message: str
) -> None:
    fields = dict(fields)
    slug = str(fields.pop("slug", "spring"))
    with pytest.raises(InvalidCampaign, match=message):
        await coupons.create_campaign(spec(slug, **fields), actor="t")
    assert await count(runtime, CouponCampaign) == 0


async def test_a_campaign_is_created_once_per_slug(coupons: Coupons) -> None:
    created = await coupons.create_campaign(
        spec("Spring", budget="1000", total_limit=5, terms="One per receipt"), actor="ann"
    )
    assert (created.slug, created.kind, created.value) == (
        "spring",
        CouponKind.PERCENT,
        Decimal(10),
    )
    assert (created.budget, created.spent, created.redemptions) == (Decimal(1000), Decimal(0), 0)
    with pytest.raises(InvalidCampaign, match="already exists"):
        await coupons.create_campaign(spec("spring"), actor="ann")
    with pytest.raises(CampaignNotFound):
        await coupons.campaign("autumn")


# ---------------------------------------------------------------------- codes


async def test_generated_codes_follow_the_pattern_are_unique_and_unambiguous(
    coupons: Coupons, runtime: Runtime
) -> None:
    await coupons.create_campaign(spec(), actor="t")
    codes = await coupons.generate("spring", 1200, pattern="spring-####-####")

    assert len(codes) == len(set(codes)) == 1200
    shape = re.compile(rf"^SPRING-[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}$")
    assert all(shape.match(code) for code in codes), codes[:5]
    assert not set("".join(code[7:] for code in codes)) & set("0O1IL")
    assert await count(runtime, Coupon, Coupon.source == "bulk") == 1200
    assert await count(runtime, Coupon, Coupon.issued_at.is_not(None)) == 0


async def test_generation_draws_again_when_a_code_exists(
    coupons: Coupons, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await coupons.create_campaign(spec(), actor="t")
    (first,) = await coupons.generate("spring", 1, pattern="SP-####")
    drawn = iter([first, first, "SP-2345", "SP-2345", "SP-6789"])
    monkeypatch.setattr("core.offers.codes.random_code", lambda pattern: next(drawn))

    assert sorted(await coupons.generate("spring", 2, pattern="SP-####")) == [
        "SP-2345",
        "SP-6789",
    ]
    assert await count(runtime, Coupon) == 3


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("SPRING", "at least 4"),
        ("SP-##", "at least 4"),
        ("SP_####", "letters, digits"),
        ("-####", "cannot start"),
        ("X" * 30 + "####", "up to 32"),
        ("####", "too few codes"),
    ],
)
async def test_a_bad_pattern_is_refused(coupons: Coupons, pattern: str, message: str) -> None:
    await coupons.create_campaign(spec(), actor="t")
    with pytest.raises(InvalidCampaign, match=message):
        await coupons.generate("spring", 1000, pattern=pattern)


def test_random_code_uses_only_the_alphabet() -> None:
    code = random_code("AB-########")
    assert code.startswith("AB-") and all(char in ALPHABET for char in code[3:])


async def test_import_is_normalized_and_all_or_nothing(coupons: Coupons, runtime: Runtime) -> None:
    await coupons.create_campaign(spec(), actor="t")
    await coupons.create_campaign(spec("autumn"), actor="t")
    assert await coupons.import_codes("autumn", ["TAKEN-1"]) == ["TAKEN-1"]

    with pytest.raises(CouponCodesRejected) as rejected:
        await coupons.import_codes(
            "spring", ["pos-100", " POS-101 ", "pos-100", "bad code!", "", "taken-1"]
        )
    assert rejected.value.repeated == ["POS-100"]
    assert rejected.value.invalid == ["bad code!"]
    assert rejected.value.existing == ["TAKEN-1"]
    assert "nothing imported" in str(rejected.value)
    assert await count(runtime, Coupon) == 1

    imported = await coupons.import_codes("spring", ["pos-100", " POS-101 ", "", "pos 102"])
    assert imported == ["POS-100", "POS-101", "POS102"]
    assert await count(runtime, Coupon, Coupon.source == "import") == 4


# ---------------------------------------------------------------------- issue


async def test_issue_takes_a_free_code_binds_it_and_enqueues_a_notice(
    coupons: Coupons, runtime: Runtime, clock: StoppedClock
) -> None:
    ann = await enrol(runtime, "ann")
    await coupons.create_campaign(
        spec(
            ends_at=clock.current + timedelta(days=30),
            valid_days=7,
            terms="Not with other offers",
        ),
        actor="t",
    )
    codes = await coupons.generate("spring", 3, pattern="SPRING-####-####")

    issued = await coupons.issue("spring", ann.id)

    assert issued.code in codes
    assert issued.valid_until == clock.current + timedelta(days=7)
    row = await scalar(runtime, select(Coupon).where(Coupon.code == issued.code))
    assert (row.member_id, row.issued_at) == (ann.id, clock.current)
    notice = await scalar(runtime, select(Notice))
    assert (notice.member_id, notice.kind, notice.dedupe_key) == (
        ann.id,
        "coupon_received",
        f"coupon:{row.id}",
    )
    payload = json.loads(notice.payload)
    assert payload["code"] == issued.code
    assert payload["campaign"] == "Spring sale"
    assert (payload["kind"], payload["value"]) == ("percent", "10.00")
    assert payload["terms"] == "Not with other offers"
    assert datetime.fromisoformat(payload["valid_until"]) == issued.valid_until


async def test_issue_generates_a_code_when_none_is_free_and_respects_the_end(
    coupons: Coupons, runtime: Runtime, clock: StoppedClock
) -> None:
    ann = await enrol(runtime, "ann")
    ends = clock.current + timedelta(days=3)
    await coupons.create_campaign(spec("gift", ends_at=ends, valid_days=30), actor="t")
    issued = await coupons.issue("gift", ann.id)
    assert re.match(rf"^GIFT-[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}$", issued.code)
    assert issued.valid_until == ends, "never past the campaign's end"


async def test_issue_respects_the_per_member_and_total_limits(
    coupons: Coupons, runtime: Runtime, clock: StoppedClock
) -> None:
    ann = await enrol(runtime, "ann")
    bob = await enrol(runtime, "bob")
    await coupons.create_campaign(spec(per_member_limit=2, total_limit=1), actor="t")
    await coupons.issue("spring", ann.id)
    await coupons.issue("spring", ann.id)
    assert await refusal(coupons.issue("spring", ann.id)) == "member_limit"

    bobs = await coupons.issue("spring", bob.id)
    await coupons.redeem(
        bobs.code, redemption_id="R1", actor="till", order_amount="50", member_id=bob.id
    )
    assert await refusal(coupons.issue("spring", bob.id)) == "campaign_exhausted"

    await coupons.create_campaign(spec("over", ends_at=clock.current), actor="t")
    assert await refusal(coupons.issue("over", ann.id)) == "expired"
    await coupons.create_campaign(spec("off"), actor="t")
    await coupons.set_active("off", False)
    assert await refusal(coupons.issue("off", ann.id)) == "inactive"


# ---------------------------------------------------------------------- check and redeem


async def test_discounts_percent_fixed_and_free_item(coupons: Coupons, runtime: Runtime) -> None:
    await coupons.create_campaign(spec("pct", value="15", transferable=True), actor="t")
    await coupons.create_campaign(
        spec("fix", kind="fixed", value="500", transferable=True), actor="t"
    )
    await coupons.create_campaign(
        spec("tea", kind="free_item", value=None, item="Green tea", transferable=True),
        actor="t",
    )
    await coupons.import_codes("pct", ["PCT-1", "PCT-2"])
    await coupons.import_codes("fix", ["FIX-1", "FIX-2"])
    await coupons.import_codes("tea", ["TEA-1"])

    assert (await coupons.check("pct-1", order_amount="99.99")).discount == Decimal("15.00")
    assert (await coupons.check("pct-1")).discount is None, "a percent needs the order"
    with pytest.raises(InvalidAmount, match="order amount is needed"):
        await coupons.redeem("PCT-1", redemption_id="P0", actor="t")
    result = await coupons.redeem("PCT-1", redemption_id="P1", actor="t", order_amount="333.33")
    assert result.discount == Decimal("50.00")
    assert (await coupons.redeem("FIX-1", redemption_id="F1", actor="t")).discount == 500
    capped = await coupons.redeem("FIX-2", redemption_id="F2", actor="t", order_amount="120.50")
    assert capped.discount == Decimal("120.50"), "never more than the order"
    tea = await coupons.redeem("TEA-1", redemption_id="T1", actor="t", order_amount="10")
    assert (tea.discount, tea.item, tea.kind) == (Decimal(0), "Green tea", CouponKind.FREE_ITEM)


async def test_every_refusal_has_its_own_reason(
    coupons: Coupons, runtime: Runtime, clock: StoppedClock
) -> None:
    ann = await enrol(runtime, "ann")
    bob = await enrol(runtime, "bob")
    now = clock.current
    await coupons.create_campaign(spec("base", value="10", min_order="100"), actor="t")
    await coupons.create_campaign(
        spec("later", starts_at=now + timedelta(days=1), transferable=True), actor="t"
    )
    await coupons.create_campaign(spec("short", valid_days=1), actor="t")
    await coupons.create_campaign(
        spec("budget", kind="fixed", value="300", budget="500", transferable=True), actor="t"
    )
    await coupons.create_campaign(spec("once", total_limit=1, transferable=True), actor="t")
    await coupons.create_campaign(spec("mine", per_member_limit=1, transferable=True), actor="t")
    await coupons.create_campaign(spec("paused", transferable=True), actor="t")
    await coupons.import_codes("later", ["LATER-1"])
    await coupons.import_codes("budget", ["BUDGET-1", "BUDGET-2"])
    await coupons.import_codes("once", ["ONCE-1", "ONCE-2"])
    await coupons.import_codes("mine", ["MINE-1", "MINE-2"])
    await coupons.import_codes("paused", ["PAUSED-1", "VOID-1"])
    anns = await coupons.issue("base", ann.id)
    short = await coupons.issue("short", ann.id)

    async def reason(code: str, **fields: object) -> str:
        check = await coupons.check(code, **fields)  # type: ignore[arg-type]
        redeemed = await refusal(
            coupons.redeem(code, redemption_id=f"x-{code}-{len(fields)}", actor="t", **fields)  # type: ignore[arg-type]
        )
        assert check.reason == redeemed, (check, redeemed)
        assert not check.ok
        return redeemed

    assert await reason("NOPE-1", order_amount="200") == "unknown"
    assert await reason(anns.code, order_amount="200", member_id=bob.id) == "foreign"
    assert await reason(anns.code, order_amount="200") == "foreign", "no card shown"
    assert await reason(anns.code, order_amount="99.99", member_id=ann.id) == "min_order"
    assert await reason("LATER-1", order_amount="200") == "not_started"
    await coupons.set_active("paused", False)
    assert await reason("PAUSED-1", order_amount="200") == "inactive"
    await coupons.set_active("paused", True)
    await coupons.void("void-1")
    assert await reason("VOID-1", order_amount="200") == "voided"

    await coupons.redeem("BUDGET-1", redemption_id="B1", actor="t")
    assert await reason("BUDGET-2") == "budget_exhausted", "300 does not fit in the 200 left"
    assert await reason("BUDGET-1") == "used_up"
    await coupons.redeem("ONCE-1", redemption_id="O1", actor="t", order_amount="50")
    assert await reason("ONCE-2", order_amount="50") == "campaign_exhausted"
    await coupons.redeem(
        "MINE-1", redemption_id="M1", actor="t", order_amount="50", member_id=ann.id
    )
    assert await reason("MINE-2", order_amount="50", member_id=ann.id) == "member_limit"

    ok = await coupons.check(anns.code, order_amount="250", member_id=ann.id)
    assert (ok.ok, ok.discount, ok.campaign, ok.uses_left) == (
        True,
        Decimal("25.00"),
        "Spring sale",
        1,
    )
    clock.current = now + timedelta(days=1)
    assert await reason(short.code, order_amount="50", member_id=ann.id) == "expired"
    assert (await coupons.check("LATER-1", order_amount="200")).ok, "started now"
    assert await count(runtime, CouponRedemption) == 3


async def test_a_redemption_replay_returns_the_first_result(
    coupons: Coupons, runtime: Runtime
) -> None:
    ann = await enrol(runtime, "ann")
    await coupons.create_campaign(spec(budget="1000"), actor="t")
    coupon = await coupons.issue("spring", ann.id)
    card = ann.card_code

    first = await coupons.redeem(
        coupon.code, redemption_id="R-1", actor="till", order_amount="200", card_code=card
    )
    again = await coupons.redeem(
        coupon.code.lower(), redemption_id="R-1", actor="till", order_amount="200", card_code=card
    )
    assert (first.replayed, again.replayed) == (False, True)
    assert first.discount == again.discount == Decimal("20.00")
    with pytest.raises(IdempotencyConflict):
        await coupons.redeem(
            coupon.code, redemption_id="R-1", actor="till", order_amount="300", card_code=card
        )
    campaign = await coupons.campaign("spring")
    assert (campaign.redemptions, campaign.spent) == (1, Decimal("20.00"))
    assert await count(runtime, CouponRedemption) == 1
    assert await coupons.active_for(ann.id) == [], "used up: no longer among my coupons"


async def test_my_coupons_lists_active_ones_soonest_expiry_first(
    coupons: Coupons, runtime: Runtime, clock: StoppedClock
) -> None:
    ann = await enrol(runtime, "ann")
    bob = await enrol(runtime, "bob")
    await coupons.create_campaign(spec("long", valid_days=30), actor="t")
    await coupons.create_campaign(spec("soon", valid_days=2), actor="t")
    await coupons.create_campaign(spec("forever", transferable=True), actor="t")
    await coupons.create_campaign(spec("gone"), actor="t")
    forever = await coupons.issue("forever", ann.id)
    long = await coupons.issue("long", ann.id)
    soon = await coupons.issue("soon", ann.id)
    voided = await coupons.issue("gone", ann.id)
    await coupons.void(voided.code)
    await coupons.issue("long", bob.id)

    assert [c.code for c in await coupons.active_for(ann.id)] == [
        soon.code,
        long.code,
        forever.code,
    ]
    clock.current += timedelta(days=3)
    assert [c.code for c in await coupons.active_for(ann.id)] == [long.code, forever.code]


async def test_concurrent_redemptions_never_exceed_the_limits(
    coupons: Coupons, runtime: Runtime
) -> None:
    """20 tills at once: a coupon of 5 uses, a campaign of 5 redemptions, a budget of 5."""
    # Row locks on PostgreSQL; on SQLite, BEGIN IMMEDIATE makes the attempts take turns.
    await coupons.create_campaign(spec("uses", uses_per_coupon=5, transferable=True), actor="t")
    await coupons.create_campaign(spec("total", total_limit=5, transferable=True), actor="t")
    await coupons.create_campaign(
        spec("money", kind="fixed", value="100", budget="500", transferable=True), actor="t"
    )
    await coupons.import_codes("uses", ["MULTI-1"])
    total_codes = await coupons.generate("total", 20, pattern="TOT-######")
    money_codes = await coupons.generate("money", 20, pattern="MON-######")

    async def attempt(code: str, redemption_id: str) -> str:
        try:
            await coupons.redeem(code, redemption_id=redemption_id, actor="t", order_amount="1000")
        except CouponRefused as refused:
            return refused.reason
        return "ok"

    for label, codes, refused_as in (
        ("uses", ["MULTI-1"] * 20, "used_up"),
        ("total", total_codes, "campaign_exhausted"),
        ("money", money_codes, "budget_exhausted"),
    ):
        outcomes = await asyncio.gather(
            *(attempt(code, f"{label}-{index}") for index, code in enumerate(codes))
        )
        assert sorted(set(outcomes)) == sorted({"ok", refused_as}), (label, outcomes)
        assert outcomes.count("ok") == 5, (label, outcomes)
        campaign = await coupons.campaign(label)
        assert campaign.redemptions == 5
    assert (await coupons.campaign("money")).spent == Decimal(500)
    assert await scalar(runtime, select(Coupon.uses).where(Coupon.code == "MULTI-1")) == 5
    assert await count(runtime, CouponRedemption) == 15
