"""Reminders of points about to expire (a notice per batch of expiring points, sent once) and
of coupons about to expire (a notice per coupon, sent once).

Safe to run in several processes at once and to rerun: a points reminder's dedupe key is the
first lot to expire, so a later run within the reminder period finds the same lot and queues
nothing; a coupon reminder's is the coupon.

Nobody asked for a reminder at that moment, so one found in the member's night (the rules'
quiet hours, in the member's time zone, else the program's) is queued for the end of it
(`due_at`). One that could only arrive after the points or the coupon are gone is not queued:
the next run reminds of what is left (the points' next lot), and the expiry tells the rest.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased

from core.db.database import Database
from core.db.models import Coupon, CouponCampaign, Member, PointLot
from core.notices.outbox import NoticeKind, enqueue_in
from core.rules.book import RuleBook
from core.shared.clock import Clock
from core.shared.quiet_hours import morning_for


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
                    select(
                        PointLot.member_id,
                        PointLot.id,
                        PointLot.remaining,
                        PointLot.expires_at,
                        Member.time_zone,
                    )
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
        zones: dict[int, str | None] = {}
        for member_id, lot_id, remaining, expires_at, zone_name in rows:
            # Only lots with an expiry are selected.
            assert expires_at is not None
            by_member[member_id].append((lot_id, remaining, expires_at))
            zones[member_id] = zone_name
        queued = 0
        for member_id, lots in by_member.items():
            first_lot, _, first_expiry = lots[0]
            morning = morning_for(now, zones[member_id], rules)
            if morning is not None and morning >= first_expiry:
                continue  # gone before the member wakes: see the module's docstring
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
                    due_at=morning,
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
        # The member the reminder reaches (a merged card's survivor), for their time zone.
        reached = aliased(Member)
        async with self._db.reading() as session:
            rows = (
                await session.execute(
                    select(Coupon, CouponCampaign, owner, reached.time_zone)
                    .join(CouponCampaign, CouponCampaign.id == Coupon.campaign_id)
                    .join(Member, Member.id == Coupon.member_id)
                    .join(reached, reached.id == owner)
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
        for coupon, campaign, member_id, zone_name in rows:
            ends = min(
                moment for moment in (coupon.valid_until, campaign.ends_at) if moment is not None
            )
            if not now < ends <= horizon:
                continue
            morning = morning_for(now, zone_name, rules)
            if morning is not None and morning >= ends:
                continue  # gone before the member wakes: see the module's docstring
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
                    due_at=morning,
                )
        return queued
