"""Reminders of points about to expire (a notice per batch of expiring points, sent once) and
of coupons about to expire (a notice per coupon, sent once).

Safe to run in several processes at once and to rerun: a points reminder's dedupe key is the
first lot to expire, so a later run within the reminder period finds the same lot and queues
nothing; a coupon reminder's is the coupon.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from core.db.database import Database
from core.db.models import Coupon, CouponCampaign, Member, PointLot
from core.notices.outbox import NoticeKind, enqueue_in
from core.rules.book import RuleBook
from core.shared.clock import Clock


class ExpiryReminders:
    def __init__(self, db: Database, clock: Clock, rules: RuleBook) -> None:
        self._db = db
        self._clock = clock
        self._rules = rules

    async def remind_due(self) -> int:
        """Tell members whose points expire within the reminder period; returns how many
        reminders were queued now (each batch of expiring points is announced once)."""
        rules = await self._rules.current()
        if rules.expiry_reminder_days <= 0:
            return 0
        now = self._clock.now()
        horizon = now + timedelta(days=rules.expiry_reminder_days)
        async with self._db.reading() as session:
            rows = (
                await session.execute(
                    select(PointLot.member_id, PointLot.id, PointLot.remaining, PointLot.expires_at)
                    .join(Member, Member.id == PointLot.member_id)
                    .where(
                        PointLot.remaining > 0,
                        PointLot.expires_at > now,
                        PointLot.expires_at <= horizon,
                        Member.erased_at.is_(None),
                        Member.merged_into_id.is_(None),
                    )
                    .order_by(PointLot.member_id, PointLot.expires_at, PointLot.id)
                )
            ).all()
        by_member: dict[int, list[tuple[int, int, datetime]]] = defaultdict(list)
        for member_id, lot_id, remaining, expires_at in rows:
            # Only lots with an expiry are selected.
            assert expires_at is not None
            by_member[member_id].append((lot_id, remaining, expires_at))
        queued = 0
        for member_id, lots in by_member.items():
            first_lot, _, first_expiry = lots[0]
            async with self._db.transaction() as session:
                balance = await session.scalar(select(Member.balance).where(Member.id == member_id))
                queued += await enqueue_in(
                    session,
                    member_id=member_id,
                    kind=NoticeKind.POINTS_EXPIRING,
                    payload={
                        "points": sum(remaining for _, remaining, _ in lots),
                        "expires_at": first_expiry.isoformat(),
                        "balance": int(balance or 0),
                    },
                    # The first lot to go names the reminder: a later run within the period
                    # finds the same lot first and queues nothing new.
                    dedupe_key=f"expiring:lot:{first_lot}",
                    now=now,
                    marketing=rules.expiry_reminder_is_marketing,
                )
        return queued


class CouponReminders:
    """Reminders of a member's unused coupon about to expire: one notice per coupon, ever.

    A coupon is reminded of when it still works (not voided, uses left, its campaign on and
    not run out) and stops working within `coupon_reminder_days`: at its own date, or at the
    campaign's end if that comes first. The coupon names the reminder's dedupe key, so reruns
    and concurrent runs queue it once; a merged card's coupon is told to the surviving member.
    """

    def __init__(self, db: Database, clock: Clock, rules: RuleBook) -> None:
        self._db = db
        self._clock = clock
        self._rules = rules

    async def remind_due(self) -> int:
        """Queue the reminders due now; returns how many were new."""
        rules = await self._rules.current()
        if rules.coupon_reminder_days <= 0:
            return 0
        now = self._clock.now()
        horizon = now + timedelta(days=rules.coupon_reminder_days)
        owner = func.coalesce(Member.merged_into_id, Member.id)
        async with self._db.reading() as session:
            rows = (
                await session.execute(
                    select(Coupon, CouponCampaign, owner)
                    .join(CouponCampaign, CouponCampaign.id == Coupon.campaign_id)
                    .join(Member, Member.id == Coupon.member_id)
                    .where(
                        Coupon.voided_at.is_(None),
                        Coupon.uses < CouponCampaign.uses_per_coupon,
                        CouponCampaign.active.is_(True),
                        or_(
                            CouponCampaign.total_limit.is_(None),
                            CouponCampaign.redemptions < CouponCampaign.total_limit,
                        ),
                        or_(
                            Coupon.valid_until.between(now, horizon),
                            CouponCampaign.ends_at.between(now, horizon),
                        ),
                        Member.erased_at.is_(None),
                    )
                    .order_by(Coupon.id)
                )
            ).all()
        queued = 0
        for coupon, campaign, member_id in rows:
            ends = min(
                moment for moment in (coupon.valid_until, campaign.ends_at) if moment is not None
            )
            if not now < ends <= horizon:
                continue
            async with self._db.transaction() as session:
                queued += await enqueue_in(
                    session,
                    member_id=int(member_id),
                    kind=NoticeKind.COUPON_EXPIRING,
                    payload={
                        "code": coupon.code,
                        "campaign": campaign.name,
                        "kind": campaign.kind,
                        "value": str(campaign.value) if campaign.value is not None else None,
                        "item": campaign.item,
                        "valid_until": ends.isoformat(),
                    },
                    dedupe_key=f"expiring:coupon:{coupon.id}",
                    now=now,
                    marketing=rules.coupon_reminder_is_marketing,
                )
        return queued
