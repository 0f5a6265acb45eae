"""What members are told when something happens to them: the notices context subscribes to
the other contexts' events and records each notice in the transaction of its cause.

A notice's dedupe key is made of the event's ids, so an event published again (a replayed
redemption) records nothing new. Registered last in `LoyaltyProgram.build`: a notice reports
the balance after everything else the event caused (a friend's referral bonus).

What a scheduled job did to a member, not their own action just now (points expired, a tier
lost or gained in the nightly review), is held like a reminder until the member's night is
over (`morning_for`); a tier reached at the till is told at once.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Member
from core.earning.events import (
    EVENT_REASON,
    PURCHASE_REASON,
    REDEMPTION_REASON,
    EventBonusRecorded,
    PointsRedeemed,
    PointsReturned,
    PurchaseRecorded,
)
from core.ledger.events import PointsAdjusted, PointsExpired
from core.notices.outbox import NoticeKind, enqueue_in
from core.offers.events import CouponIssued, CouponRedemptionCancelled, CouponVoided
from core.rules.book import RuleBook
from core.shared.bus import MessageBus
from core.shared.quiet_hours import morning_for
from core.tiers.events import TierChanged


def subscribe(bus: MessageBus, rules: RuleBook) -> None:
    bus.subscribe_in_transaction(PurchaseRecorded, points_earned_by_purchase)
    bus.subscribe_in_transaction(EventBonusRecorded, points_earned_by_event)
    bus.subscribe_in_transaction(PointsRedeemed, points_spent)
    bus.subscribe_in_transaction(TierChanged, partial(tier_changed, rules=rules))
    bus.subscribe_in_transaction(CouponIssued, coupon_received)
    bus.subscribe_in_transaction(PointsExpired, partial(points_expired, rules=rules))
    bus.subscribe_in_transaction(PointsReturned, points_returned)
    bus.subscribe_in_transaction(CouponRedemptionCancelled, coupon_use_cancelled)
    bus.subscribe_in_transaction(PointsAdjusted, points_adjusted)
    bus.subscribe_in_transaction(CouponVoided, coupon_voided)


async def points_earned_by_purchase(session: AsyncSession, event: PurchaseRecorded) -> None:
    if event.points <= 0:
        return
    # The balance now, after whatever else the purchase paid (a referral bonus).
    member = await session.get(Member, event.member_id)
    assert member is not None
    await _points(
        session,
        event,
        NoticeKind.POINTS_EARNED,
        balance=member.balance,
        reason=PURCHASE_REASON,
        reference=event.purchase_id,
        dedupe_key=f"earned:purchase:{event.purchase_id}",
    )


async def points_earned_by_event(session: AsyncSession, event: EventBonusRecorded) -> None:
    if event.points <= 0:
        return
    await _points(
        session,
        event,
        NoticeKind.POINTS_EARNED,
        balance=event.balance,
        reason=EVENT_REASON,
        reference=event.kind,
        dedupe_key=f"earned:event:{event.record_id}",
    )


async def points_spent(session: AsyncSession, event: PointsRedeemed) -> None:
    await _points(
        session,
        event,
        NoticeKind.POINTS_SPENT,
        balance=event.balance,
        reason=REDEMPTION_REASON,
        reference=event.redemption_id,
        dedupe_key=f"spent:redemption:{event.redemption_id}",
    )


async def _points(
    session: AsyncSession,
    event: PurchaseRecorded | EventBonusRecorded | PointsRedeemed,
    kind: NoticeKind,
    *,
    balance: int,
    reason: str,
    reference: str,
    dedupe_key: str,
) -> None:
    await enqueue_in(
        session,
        member_id=event.member_id,
        kind=kind,
        payload={
            "points": event.points,
            "balance": balance,
            "reason": reason,
            "reference": reference,
        },
        dedupe_key=dedupe_key,
        now=event.occurred_at,
    )


async def _morning_in(
    session: AsyncSession, rules: RuleBook, member_id: int, now: datetime
) -> datetime | None:
    """The end of the member's night if `now` is in it, else None. The member is the
    publisher's (locked and loaded in this session: no query), the rules those it pinned."""
    member = await session.get(Member, member_id)
    assert member is not None
    return morning_for(now, member.time_zone, await rules.in_force(session))


async def tier_changed(session: AsyncSession, event: TierChanged, *, rules: RuleBook) -> None:
    due_at = (
        await _morning_in(session, rules, event.member_id, event.occurred_at)
        if event.scheduled
        else None  # a tier reached (or lost to a refund) at the till: at once
    )
    await enqueue_in(
        session,
        member_id=event.member_id,
        kind=NoticeKind.TIER_CHANGED,
        payload={
            "from_tier": event.from_tier,
            "to_tier": event.to_tier,
            "upgrade": event.upgrade,
            "reason": event.reason,
            "from_name": event.from_name,
            "to_name": event.to_name,
        },
        dedupe_key=f"tier:{event.change_id}",
        now=event.occurred_at,
        due_at=due_at,
    )


async def coupon_received(session: AsyncSession, event: CouponIssued) -> None:
    if not event.notify:
        return
    payload: dict[str, Any] = {"code": event.code, "campaign": event.campaign, "kind": event.kind}
    if event.value is not None:
        payload["value"] = str(event.value)
    if event.item is not None:
        payload["item"] = event.item
    if event.valid_until is not None:
        payload["valid_until"] = event.valid_until.isoformat()
    if event.terms is not None:
        payload["terms"] = event.terms
    await enqueue_in(
        session,
        member_id=event.member_id,
        kind=NoticeKind.COUPON_RECEIVED,
        payload=payload,
        dedupe_key=f"coupon:{event.coupon_id}",
        now=event.occurred_at,
    )


async def points_expired(session: AsyncSession, event: PointsExpired, *, rules: RuleBook) -> None:
    # Only the scheduled expiry publishes it.
    await enqueue_in(
        session,
        member_id=event.member_id,
        kind=NoticeKind.POINTS_EXPIRED,
        payload={"points": event.points, "balance": event.balance},
        dedupe_key=f"expired:lot:{event.first_lot_id}",
        now=event.occurred_at,
        due_at=await _morning_in(session, rules, event.member_id, event.occurred_at),
    )


async def points_returned(session: AsyncSession, event: PointsReturned) -> None:
    await enqueue_in(
        session,
        member_id=event.member_id,
        kind=NoticeKind.POINTS_RETURNED,
        payload={
            "points": event.points,
            "expired": event.expired,
            "balance": event.balance,
            "reference": event.redemption_id,
        },
        dedupe_key=f"returned:{event.cancel_key}",
        now=event.occurred_at,
    )


async def points_adjusted(session: AsyncSession, event: PointsAdjusted) -> None:
    await enqueue_in(
        session,
        member_id=event.member_id,
        kind=NoticeKind.POINTS_ADJUSTED,
        payload={"points": event.points, "balance": event.balance},
        dedupe_key=f"adjusted:{event.adjustment_id}",
        now=event.occurred_at,
    )


async def coupon_use_cancelled(session: AsyncSession, event: CouponRedemptionCancelled) -> None:
    if event.member_id is None:
        return
    payload: dict[str, Any] = {
        "code": event.code,
        "campaign": event.campaign,
        "restored": event.restored,
    }
    if event.valid_until is not None:
        payload["valid_until"] = event.valid_until.isoformat()
    await enqueue_in(
        session,
        member_id=event.member_id,
        kind=NoticeKind.COUPON_USE_CANCELLED,
        payload=payload,
        dedupe_key=f"coupon-cancelled:{event.redemption_id}",
        now=event.occurred_at,
    )


async def coupon_voided(session: AsyncSession, event: CouponVoided) -> None:
    await enqueue_in(
        session,
        member_id=event.member_id,
        kind=NoticeKind.COUPON_VOIDED,
        payload={"code": event.code, "campaign": event.campaign},
        dedupe_key=f"voided:coupon:{event.coupon_id}",
        now=event.occurred_at,
    )
