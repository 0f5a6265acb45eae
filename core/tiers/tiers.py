"""Tiers: levels a member reaches by spend (or purchase points) over a rolling window.

Policy, in one place:
- The metric is computed from net purchases: a purchase counts while it lies within the last
  `tier_window_days`, minus whatever of it was refunded. "spend" counts money, "points" the
  points those purchases earned (events, welcome and referral bonuses do not count).
- Upgrades happen at once, in the transaction of the purchase that earns them.
- A member whose metric falls below their tier's threshold because time passed (old purchases
  leave the window) keeps the tier for `tier_grace_days`: the scheduled `review_all` starts the
  grace once and downgrades when it is over and the member still does not qualify. Qualifying
  again during the grace ends it.
- A refund that reverses the purchases a tier was reached with (a refunded purchase made no
  later than the tier was reached) and leaves the member below the threshold downgrades at
  once: grace is for time passing, not for reversals. A refund of a later purchase is treated
  like time passing.
- A member is never moved more than needed: a downgrade goes to the highest tier the member
  still qualifies for.
Every move is a `TierChange` row and a published `TierChanged` (a notice follows), in the same
transaction. Tiers follow `PurchaseRecorded` and `RefundRecorded`. A move the review makes is
published as `scheduled` (its notice waits for the member's morning); one at the till is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import Member, Purchase, Refund, TierChange
from core.earning.events import PurchaseRecorded, RefundRecorded
from core.rules.book import ProgramRules, RuleBook, Tier
from core.shared.bus import MessageBus
from core.shared.clock import Clock
from core.shared.errors import MemberNotFound
from core.shared.languages import SUPPORTED_LOCALES
from core.shared.owners import member_ids_of
from core.tiers.events import TierChanged

PURCHASE = "purchase"
REFUND = "refund"
REVIEW = "review"
GRACE_OVER = "grace_over"


@dataclass(frozen=True)
class TierStatus:
    """What a member sees about their tier; amounts are in the metric's unit."""

    metric: str
    value: Decimal
    window_days: int
    tier: Tier | None
    next_tier: Tier | None
    to_next: Decimal | None
    since: datetime | None
    # Set while the member no longer qualifies and keeps the tier for a while.
    grace_until: datetime | None
    to_keep: Decimal | None


@dataclass(frozen=True)
class Review:
    checked: int
    grace_started: int
    downgraded: int
    upgraded: int


def _rank(rules: ProgramRules, stored: str | None) -> int:
    held = rules.held_tier(stored)
    return -1 if held is None else rules.tiers.index(held)


def _qualifying_rank(rules: ProgramRules, value: Decimal) -> int:
    rank = -1
    for index, tier in enumerate(rules.tiers):
        if tier.threshold <= value:
            rank = index
    return rank


class Tiers:
    def __init__(self, db: Database, clock: Clock, rules: RuleBook, bus: MessageBus) -> None:
        self._db = db
        self._clock = clock
        self._rules = rules
        self._bus = bus

    def subscribe(self, bus: MessageBus) -> None:
        bus.subscribe_in_transaction(PurchaseRecorded, self.on_purchase_recorded)
        bus.subscribe_in_transaction(RefundRecorded, self.on_refund_recorded)

    async def on_purchase_recorded(self, session: AsyncSession, event: PurchaseRecorded) -> None:
        rules = await self._rules.in_force(session)
        await self.evaluate_in(session, event.member_id, PURCHASE, rules)

    async def on_refund_recorded(self, session: AsyncSession, event: RefundRecorded) -> None:
        await self.evaluate_in(
            session,
            event.member_id,
            REFUND,
            await self._rules.in_force(session),
            reversed_purchase_at=event.purchase_made_at,
        )

    async def metric_in(
        self, session: AsyncSession, member_id: int, rules: ProgramRules, now: datetime
    ) -> Decimal:
        """Net spend (or net purchase points) of the rolling window ending at `now`."""
        since = now - timedelta(days=rules.tier_window_days)
        owned = member_ids_of(member_id)
        by_points = rules.tier_metric == "points"
        bought = await session.scalar(
            select(func.sum(Purchase.points if by_points else Purchase.amount)).where(
                Purchase.member_id.in_(owned), Purchase.created_at >= since
            )
        )
        # A refund counts against the purchase's own date: it takes back exactly the
        # progress that purchase gave, and nothing if the purchase already left the window.
        refunded = await session.scalar(
            select(func.sum(Refund.points if by_points else Refund.amount))
            .join(Purchase, Refund.purchase_row_id == Purchase.id)
            .where(Purchase.member_id.in_(owned), Purchase.created_at >= since)
        )
        net = Decimal(str(bought or 0)) - Decimal(str(refunded or 0))
        return max(net, Decimal(0)).quantize(Decimal("0.01"))

    async def status(self, member_id: int, rules: ProgramRules | None = None) -> TierStatus:
        rules = rules or await self._rules.current()
        now = self._clock.now()
        async with self._db.reading() as session:
            member = await session.get(Member, member_id)
            if member is not None and member.merged_into_id is not None:
                member = await session.get(Member, member.merged_into_id)
            if member is None:
                raise MemberNotFound(member_id)
            value = await self.metric_in(session, member.id, rules, now)
        held = rules.held_tier(member.tier)
        rank = _rank(rules, member.tier)
        next_tier = rules.tiers[rank + 1] if rank + 1 < len(rules.tiers) else None
        grace_until = member.tier_grace_until if held is not None else None
        return TierStatus(
            metric=rules.tier_metric,
            value=value,
            window_days=rules.tier_window_days,
            tier=held,
            next_tier=next_tier,
            to_next=max(next_tier.threshold - value, Decimal(0)) if next_tier else None,
            since=member.tier_since if held is not None else None,
            grace_until=grace_until,
            to_keep=(
                max(held.threshold - value, Decimal(0))
                if held is not None and grace_until is not None
                else None
            ),
        )

    async def evaluate_in(
        self,
        session: AsyncSession,
        member_id: int,
        reason: str,
        rules: ProgramRules,
        *,
        reversed_purchase_at: datetime | None = None,
    ) -> TierChange | None:
        """Re-evaluate a member inside the caller's transaction (a purchase, a refund).

        `reversed_purchase_at`: the date of a purchase a refund just reversed; if the member
        reached the tier with it and no longer qualifies, the downgrade is immediate."""
        if not rules.tiers:
            return None
        member = await session.get(Member, member_id, with_for_update=True)
        if member is None:
            raise MemberNotFound(member_id)
        immediate = (
            reversed_purchase_at is not None
            and member.tier_since is not None
            and reversed_purchase_at <= member.tier_since
        )
        return await self._settle(session, member, rules, reason, immediate=immediate)

    async def review_all(self) -> Review:
        """The scheduled job: start the grace of members who no longer qualify, downgrade
        those whose grace is over. Idempotent, and safe in several processes at once: each
        member is decided under its row lock, on what the database holds at that moment."""
        rules = await self._rules.current()
        if not rules.tiers:
            return Review(0, 0, 0, 0)
        async with self._db.reading() as session:
            candidates = (
                await session.scalars(
                    select(Member.id)
                    .where(Member.tier.is_not(None), Member.merged_into_id.is_(None))
                    .order_by(Member.id)
                )
            ).all()
        grace_started = downgraded = upgraded = 0
        for member_id in candidates:
            if not await self._may_need_review(member_id, rules):
                continue
            async with self._db.transaction() as session:
                # The notice of a move reads the rules' quiet hours back (see `pin`).
                self._rules.pin(session, rules)
                member = await session.get(Member, member_id, with_for_update=True)
                # Re-checked under the lock: another process may have handled it meanwhile.
                if member is None or member.tier is None or member.merged_into_id is not None:
                    continue
                had_grace = member.tier_grace_until is not None
                change = await self._settle(
                    session, member, rules, REVIEW, immediate=False, scheduled=True
                )
                if change is None:
                    grace_started += not had_grace and member.tier_grace_until is not None
                elif _is_upgrade(rules, change):
                    upgraded += 1  # the marketer lowered a threshold
                else:
                    downgraded += 1
        return Review(len(candidates), grace_started, downgraded, upgraded)

    async def _may_need_review(self, member_id: int, rules: ProgramRules) -> bool:
        """A lock-free look first: most members still qualify and need no transaction. A
        member this misses (changed just now) is seen by the change itself or the next run."""
        async with self._db.reading() as session:
            member = await session.get(Member, member_id)
            if member is None or member.tier is None or member.merged_into_id is not None:
                return False
            value = await self.metric_in(session, member_id, rules, self._clock.now())
        return member.tier_grace_until is not None or _qualifying_rank(rules, value) != _rank(
            rules, member.tier
        )

    async def _settle(
        self,
        session: AsyncSession,
        member: Member,
        rules: ProgramRules,
        reason: str,
        *,
        immediate: bool,
        scheduled: bool = False,
    ) -> TierChange | None:
        """`scheduled`: decided by the review job, not by what the member did just now."""
        now = self._clock.now()
        value = await self.metric_in(session, member.id, rules, now)
        current = _rank(rules, member.tier)
        qualifying = _qualifying_rank(rules, value)
        if qualifying > current:
            return await self._move(session, member, rules, qualifying, reason, now, scheduled)
        if qualifying == current:
            # Qualifying again (or still) ends any grace.
            member.tier_grace_until = None
            return None
        if immediate:
            return await self._move(session, member, rules, qualifying, reason, now, scheduled)
        if member.tier_grace_until is None:
            member.tier_grace_until = now + timedelta(days=rules.tier_grace_days)
        if member.tier_grace_until <= now:
            return await self._move(session, member, rules, qualifying, GRACE_OVER, now, scheduled)
        return None

    async def _move(
        self,
        session: AsyncSession,
        member: Member,
        rules: ProgramRules,
        rank: int,
        reason: str,
        now: datetime,
        scheduled: bool,
    ) -> TierChange:
        held = rules.held_tier(member.tier)
        target = rules.tiers[rank] if rank >= 0 else None
        from_tier = held.key if held is not None else None
        to_tier = target.key if target is not None else None
        upgrade = rank > _rank(rules, member.tier)
        member.tier = to_tier
        member.tier_since = now
        member.tier_grace_until = None
        change = TierChange(
            member_id=member.id,
            from_tier=from_tier,
            to_tier=to_tier,
            reason=reason,
            created_at=now,
        )
        session.add(change)
        await session.flush()
        await self._bus.publish_in(
            session,
            TierChanged(
                occurred_at=now,
                member_id=member.id,
                change_id=change.id,
                from_tier=from_tier,
                to_tier=to_tier,
                upgrade=upgrade,
                reason=reason,
                # The marketer's names, so the notice can say "Gold" (or "Золото") even if
                # the rules change before it is delivered.
                from_name=_names(held),
                to_name=_names(target),
                scheduled=scheduled,
            ),
        )
        return change


def _is_upgrade(rules: ProgramRules, change: TierChange) -> bool:
    return _rank(rules, change.to_tier) > _rank(rules, change.from_tier)


def _names(tier: Tier | None) -> dict[str, str] | None:
    if tier is None:
        return None
    return {language: tier.name.get(language) for language in SUPPORTED_LOCALES}
