"""The rewards catalogue through the core: add, update, list, and claims that spend points,
take stock and yield a holder-only coupon, exactly once; concurrent claims on PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from app.runtime import Runtime
from core.db.models import Coupon, CouponCampaign, LedgerEntry, Notice, Reward, RewardClaim
from core.offers.campaigns import CouponKind
from core.offers.rewards import RewardSpec
from core.shared.errors import (
    CampaignNotFound,
    IdempotencyConflict,
    InvalidCampaign,
    RewardNotFound,
    RewardRefused,
)
from tests.data import count, enrol, scalar

WELCOME = 100


async def add(runtime: Runtime, slug: str = "mug", **fields: object) -> object:
    values: dict[str, object] = {"name": "Coffee mug", "cost": 40}
    values.update(fields)
    return await runtime.program.rewards.add(
        RewardSpec(slug=slug, **values),  # type: ignore[arg-type]
        actor="marketer",
    )


async def test_a_reward_gets_its_own_free_item_campaign(runtime: Runtime) -> None:
    mug = await add(runtime, description="Ceramic, 300 ml", picture="pictures/mug.png", stock=3)
    campaign = await runtime.program.coupons.campaign("reward-mug")
    assert (campaign.kind, campaign.item, campaign.transferable) == (
        CouponKind.FREE_ITEM,
        "Coffee mug",
        False,
    )
    assert mug.campaign == "reward-mug"  # type: ignore[attr-defined]
    assert [r.slug for r in await runtime.program.rewards.catalogue()] == ["mug"]


async def test_a_reward_can_yield_an_existing_campaign(runtime: Runtime) -> None:
    from core.offers.campaigns import CampaignSpec

    await runtime.program.coupons.create_campaign(
        CampaignSpec(slug="ten-off", name="10 off", kind="fixed", value="10"), actor="t"
    )
    item = await add(runtime, "voucher", name="10 RUB voucher", cost=20, campaign="ten-off")
    assert item.campaign == "ten-off"  # type: ignore[attr-defined]
    with pytest.raises(CampaignNotFound):
        await add(runtime, "other", campaign="nope")
    assert await count(runtime, CouponCampaign) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"slug": "Big Mug"}, "slug"),
        ({"name": ""}, "name"),
        ({"cost": 0}, "at least 1 point"),
        ({"stock": -1}, "stock"),
        ({"per_member_limit": 0}, "per-member limit"),
        ({"picture": "http://example.com/mug.png"}, "https"),
    ],
)
async def test_a_reward_is_validated(
    runtime: Runtime, fields: dict[str, object], message: str
) -> None:
    fields = dict(fields)
    with pytest.raises(InvalidCampaign, match=message):
        await add(runtime, str(fields.pop("slug", "mug")), **fields)
    assert await count(runtime, Reward) == 0
    assert await count(runtime, CouponCampaign) == 0


async def test_update_and_list(runtime: Runtime) -> None:
    rewards = runtime.program.rewards
    await add(runtime, "mug", cost=40, stock=2)
    await add(runtime, "tea", name="Tea", cost=10)
    with pytest.raises(InvalidCampaign, match="already exists"):
        await add(runtime, "tea")
    updated = await rewards.update("mug", cost=30, stock=None, picture="https://x.test/m.png")
    assert (updated.cost, updated.stock, updated.picture) == (30, None, "https://x.test/m.png")
    await rewards.update("tea", active=False)
    assert [r.slug for r in await rewards.catalogue()] == ["mug"]
    assert [r.slug for r in await rewards.catalogue(active_only=False)] == ["tea", "mug"]
    with pytest.raises(RewardNotFound):
        await rewards.update("nope", cost=1)


async def test_a_claim_spends_points_takes_stock_and_issues_a_holder_only_coupon(
    runtime: Runtime,
) -> None:
    ann = await enrol(runtime, "ann")
    rewards = runtime.program.rewards
    await add(runtime, stock=2)

    claim = await rewards.claim(ann.id, "mug", claim_id="c1", actor="chat")
    again = await rewards.claim(ann.id, "mug", claim_id="c1", actor="chat")

    assert (claim.points, claim.balance, claim.replayed) == (40, WELCOME - 40, False)
    assert (again.replayed, again.coupon.code, again.balance) == (True, claim.coupon.code, 60)
    assert claim.coupon.kind is CouponKind.FREE_ITEM and claim.coupon.item == "Coffee mug"
    assert claim.reward.stock == 1
    assert await scalar(runtime, select(Reward.stock)) == 1
    assert await count(runtime, RewardClaim) == 1
    entry = await scalar(runtime, select(LedgerEntry).where(LedgerEntry.reason == "reward"))
    assert (entry.points, entry.reference, entry.idempotency_key) == (-40, "mug", "reward-claim:c1")
    coupon = await scalar(runtime, select(Coupon))
    assert (coupon.member_id, coupon.source, coupon.code) == (ann.id, "reward", claim.coupon.code)
    assert await count(runtime, Notice, Notice.kind == "coupon_received") == 1
    assert [c.code for c in await runtime.program.coupons.active_for(ann.id)] == [coupon.code]

    bob = await enrol(runtime, "bob")
    refused = await runtime.program.coupons.check(coupon.code, member_id=bob.id)
    assert refused.reason == "foreign"
    with pytest.raises(IdempotencyConflict):
        await rewards.claim(bob.id, "mug", claim_id="c1", actor="chat")


async def test_claim_refusals(runtime: Runtime) -> None:
    ann = await enrol(runtime, "ann")
    rewards = runtime.program.rewards
    await add(runtime, "mug", cost=40, per_member_limit=1)
    await add(runtime, "bike", name="Bike", cost=250)
    await add(runtime, "gone", name="Gone", cost=1, stock=0)
    await add(runtime, "old", name="Old", cost=1, active=False)

    async def reason(reward: str, claim_id: str) -> RewardRefused:
        with pytest.raises(RewardRefused) as refused:
            await rewards.claim(ann.id, reward, claim_id=claim_id, actor="chat")
        return refused.value

    poor = await reason("bike", "b1")
    assert (poor.reason, poor.missing) == ("not_enough_points", 150)
    assert (await reason("gone", "g1")).reason == "out_of_stock"
    assert (await reason("old", "o1")).reason == "inactive"
    await rewards.claim(ann.id, "mug", claim_id="m1", actor="chat")
    assert (await reason("mug", "m2")).reason == "limit_reached"
    with pytest.raises(RewardNotFound):
        await rewards.claim(ann.id, "nope", claim_id="n1", actor="chat")
    assert await runtime.program.ledger.balance(ann.id) == WELCOME - 40
    assert await count(runtime, RewardClaim) == 1
    assert await count(runtime, Coupon) == 1


async def test_two_concurrent_claims_of_the_last_unit(runtime: Runtime) -> None:
    # Row locks on PostgreSQL; on SQLite, BEGIN IMMEDIATE makes the attempts take turns.
    ann = await enrol(runtime, "ann")
    bob = await enrol(runtime, "bob")
    await add(runtime, "mug", cost=10, stock=1)
    rewards = runtime.program.rewards

    async def attempt(member_id: int, claim_id: str) -> str:
        try:
            await rewards.claim(member_id, "mug", claim_id=claim_id, actor="chat")
        except RewardRefused as refused:
            return refused.reason
        return "ok"

    outcomes = await asyncio.gather(
        *(attempt(member.id, f"{member.id}-{n}") for n in range(5) for member in (ann, bob))
    )
    assert sorted(outcomes) == ["ok"] + ["out_of_stock"] * 9
    assert await scalar(runtime, select(Reward.stock)) == 0
    assert await count(runtime, RewardClaim) == 1
    assert await count(runtime, Coupon) == 1
    assert await count(runtime, LedgerEntry, LedgerEntry.reason == "reward") == 1
