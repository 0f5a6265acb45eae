"""Referrals: a friend joins with a member's code; both are rewarded, exactly once, when the
friend does what the marketer chose (joining, or the first purchase). Guards: one referrer per
member, no referring oneself (the same verified phone, or accounts merged later), and a daily
cap per referrer. Everything is decided in the transaction of the friend's own action."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import Member, Referral
from core.earning.events import PurchaseRecorded
from core.ledger.entries import Ledger
from core.members.events import MemberJoined, MembersMerged
from core.offers.coupons import Coupons
from core.referrals.events import ReferralQualified
from core.rules.book import ProgramRules, RuleBook
from core.shared.bus import MessageBus
from core.shared.clock import Clock
from core.shared.errors import CampaignNotFound, CouponRefused

PENDING = "pending"
REWARDED = "rewarded"
REJECTED = "rejected"
FRIEND_REASON = "referral_friend"
REFERRER_REASON = "referral_referrer"
COUPON_SOURCE = "referral"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    joined: int
    rewarded: int
    pending: int
    points_earned: int


class Referrals:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        ledger: Ledger,
        coupons: Coupons,
        rules: RuleBook,
        bus: MessageBus,
    ) -> None:
        self._db = db
        self._clock = clock
        self._ledger = ledger
        self._coupons = coupons
        self._rules = rules
        self._bus = bus

    def subscribe(self, bus: MessageBus) -> None:
        """Referrals follow members' lives: joining, buying, turning out to be one person."""
        bus.subscribe_in_transaction(MemberJoined, self.on_member_joined)
        bus.subscribe_in_transaction(PurchaseRecorded, self.on_purchase_recorded)
        bus.subscribe_in_transaction(MembersMerged, self.on_members_merged)

    async def on_member_joined(self, session: AsyncSession, event: MemberJoined) -> None:
        if event.referrer_id is None:
            return
        friend = await session.get(Member, event.member_id)
        assert friend is not None
        rules = await self._rules.in_force(session)
        await self.attribute_in(session, friend, event.referrer_id, rules)

    async def on_purchase_recorded(self, session: AsyncSession, event: PurchaseRecorded) -> None:
        rules = await self._rules.in_force(session)
        await self.qualify_in(session, event.member_id, "first_purchase", rules)

    async def on_members_merged(self, session: AsyncSession, event: MembersMerged) -> None:
        await self.forget_between_in(session, event.member_id, event.absorbed_id)
        # Friends the absorbed member invited now count for the survivor.
        await session.execute(
            update(Referral)
            .where(Referral.referrer_id == event.absorbed_id)
            .values(referrer_id=event.member_id)
        )

    async def attribute_in(
        self, session: AsyncSession, friend: Member, referrer_id: int, rules: ProgramRules
    ) -> Referral:
        """Record who invited a new member; reward at once when joining is what qualifies."""
        now = self._clock.now()
        referrer = await session.get(Member, referrer_id, with_for_update=True)
        referral = Referral(
            referrer_id=referrer_id,
            friend_id=friend.id,
            status=PENDING,
            friend_points=0,
            referrer_points=0,
            created_at=now,
        )
        if referrer is None or referrer.erased_at is not None:
            referral.status, referral.reason = REJECTED, "referrer_gone"
        elif friend.phone is not None and friend.phone == referrer.phone:
            referral.status, referral.reason = REJECTED, "same_person"
        elif await self._counted_today(session, referrer_id, now) >= rules.referral_daily_cap:
            referral.status, referral.reason = REJECTED, "daily_cap"
        session.add(referral)
        await session.flush()
        if referral.status == PENDING and rules.referral_qualifies_on == "join":
            await self._reward_in(session, referral, rules)
        return referral

    async def qualify_in(
        self, session: AsyncSession, friend_id: int, action: str, rules: ProgramRules
    ) -> Referral | None:
        """The friend did `action`: reward a pending referral if that is what qualifies."""
        if rules.referral_qualifies_on != action:
            return None
        referral = await session.scalar(
            select(Referral)
            .where(Referral.friend_id == friend_id, Referral.status == PENDING)
            .with_for_update()
        )
        if referral is None:
            return None
        await self._reward_in(session, referral, rules)
        return referral

    async def forget_between_in(self, session: AsyncSession, first: int, second: int) -> None:
        """Two members turned out to be one person (a merge): no reward between them."""
        await session.execute(
            update(Referral)
            .where(
                Referral.status == PENDING,
                ((Referral.referrer_id == first) & (Referral.friend_id == second))
                | ((Referral.referrer_id == second) & (Referral.friend_id == first)),
            )
            .values(status=REJECTED, reason="same_person")
        )

    async def progress(self, referrer_id: int) -> Progress:
        async with self._db.reading() as session:
            row = (
                await session.execute(
                    select(
                        func.count(),
                        func.count(case((Referral.status == REWARDED, 1))),
                        func.count(case((Referral.status == PENDING, 1))),
                        func.coalesce(func.sum(Referral.referrer_points), 0),
                    ).where(Referral.referrer_id == referrer_id, Referral.status != REJECTED)
                )
            ).one()
        return Progress(
            joined=int(row[0]),
            rewarded=int(row[1]),
            pending=int(row[2]),
            points_earned=int(row[3]),
        )

    async def _reward_in(
        self, session: AsyncSession, referral: Referral, rules: ProgramRules
    ) -> None:
        referrer = await session.get(Member, referral.referrer_id)
        # The referrer may have been merged into another member since: reward that one.
        referrer_id = (
            referrer.merged_into_id
            if referrer and referrer.merged_into_id
            else referral.referrer_id
        )
        if referrer_id == referral.friend_id:
            referral.status, referral.reason = REJECTED, "same_person"
            return
        if rules.referral_friend_bonus > 0:
            await self._ledger.post_in(
                session,
                referral.friend_id,
                rules.referral_friend_bonus,
                reason=FRIEND_REASON,
                actor="program",
                idempotency_key=f"referral:{referral.id}:friend",
            )
        if rules.referral_referrer_bonus > 0:
            await self._ledger.post_in(
                session,
                referrer_id,
                rules.referral_referrer_bonus,
                reason=REFERRER_REASON,
                actor="program",
                idempotency_key=f"referral:{referral.id}:referrer",
            )
        await self._give_coupon_in(session, rules.referral_friend_coupon, referral.friend_id)
        await self._give_coupon_in(session, rules.referral_referrer_coupon, referrer_id)
        referral.status = REWARDED
        referral.friend_points = rules.referral_friend_bonus
        referral.referrer_points = rules.referral_referrer_bonus
        referral.rewarded_at = self._clock.now()
        await self._bus.publish_in(
            session,
            ReferralQualified(
                occurred_at=referral.rewarded_at,
                member_id=referral.friend_id,
                referrer_id=referrer_id,
                referral_id=referral.id,
                friend_points=referral.friend_points,
                referrer_points=referral.referrer_points,
            ),
        )

    async def _give_coupon_in(self, session: AsyncSession, slug: str, member_id: int) -> None:
        """A coupon reward on top of the points. A campaign that ended or ran out must not
        undo the friend's purchase: that side just gets no coupon, and the log says why."""
        if not slug:
            return
        try:
            async with session.begin_nested():
                campaign = await self._coupons.campaigns.campaign_in(session, slug, lock=True)
                await self._coupons.issuing.issue_in(
                    session, campaign, member_id, source=COUPON_SOURCE
                )
        except (CampaignNotFound, CouponRefused) as refusal:
            log.warning("referral coupon %r not given to member %s: %s", slug, member_id, refusal)

    async def _counted_today(self, session: AsyncSession, referrer_id: int, now: datetime) -> int:
        midnight = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
        return int(
            await session.scalar(
                select(func.count()).where(
                    Referral.referrer_id == referrer_id,
                    Referral.status != REJECTED,
                    Referral.created_at >= midnight,
                )
            )
            or 0
        )
