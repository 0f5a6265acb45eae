"""Did it work: what a broadcast's recipients did after it, per variant, against the holdout.

Counted per variant, over the members it was sent to:
- tapped: members who tapped one of its buttons (a row in broadcast_taps, the first tap per
  (broadcast, member); written by `record_tap` from the tap handler);
- redeemed: members whose broadcast coupon (the code on their delivery row) was redeemed within
  the attribution window after their own send, and that use not cancelled since;
- purchased / revenue: members with a purchase within the attribution window after their own
  send (`sent_at` <= purchase < `sent_at` + window), and the sum of those purchases net of
  what was refunded of them (whenever refunded: a refund names its purchase); `refunded` is
  that part.
The holdout (delivery rows skipped with reason "holdout") is the baseline: its members'
purchases within the same window from when each would have been sent: a standing rule's
firing for them (the row's `due_at`), a one-off broadcast's start.

A standing rule sends a member a row per round (core.broadcasts.triggers): each round counts
as a delivery of its own, with its own window, so a member fired for in two periods counts
(and can convert) in both.

Everything but the taps is read from the existing tables at status time with set-based SQL
(one GROUP BY per measure), so nothing else is written when members buy or redeem.

Conversion is purchased / delivered. A difference between two groups is judged by a
two-proportion z-test (pooled, two-sided); `compare` says it in words, and says "not enough
data yet" while either group has fewer than MIN_GROUP members or fewer than MIN_EXPECTED
expected conversions or non-conversions (group size x pooled rate), where the normal
approximation the test rests on does not hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Interval, and_, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from core.broadcasts.broadcasts import CANCELLED, IN_FLIGHT, SENT, SKIPPED
from core.broadcasts.errors import BroadcastNotFound
from core.broadcasts.spec import HOLDOUT
from core.db.database import Database
from core.db.models import (
    Broadcast,
    BroadcastDelivery,
    BroadcastTap,
    Coupon,
    CouponRedemption,
    Purchase,
    Refund,
    UTCDateTime,
)
from core.shared.clock import Clock
from core.shared.writes import insert_ignoring

DEFAULT_WINDOW = timedelta(days=7)
# Below these, a comparison says "not enough data yet" (see the module's docstring).
MIN_GROUP = 30
MIN_EXPECTED = 5
# The confidence from which one group "beats" another.
SIGNIFICANT = 0.95
NOT_ENOUGH = "not enough data yet"


# ---------------------------------------------------------------------- the statistics
def two_proportion_p_value(hits_a: int, size_a: int, hits_b: int, size_b: int) -> float:
    """The two-sided p-value of a pooled two-proportion z-test of hits_a/size_a against
    hits_b/size_b (1.0 when the two cannot differ: every member or no member converted)."""
    if size_a <= 0 or size_b <= 0:
        raise ValueError("both groups need members")
    pooled = (hits_a + hits_b) / (size_a + size_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / size_a + 1 / size_b))
    if spread == 0:
        return 1.0
    z = (hits_a / size_a - hits_b / size_b) / spread
    # 2 x (1 - Phi(|z|)) with Phi(z) = (1 + erf(z / sqrt 2)) / 2.
    return math.erfc(abs(z) / math.sqrt(2))


def enough_data(hits_a: int, size_a: int, hits_b: int, size_b: int) -> bool:
    if size_a < MIN_GROUP or size_b < MIN_GROUP:
        return False
    pooled = (hits_a + hits_b) / (size_a + size_b)
    return all(
        size * pooled >= MIN_EXPECTED and size * (1 - pooled) >= MIN_EXPECTED
        for size in (size_a, size_b)
    )


@dataclass(frozen=True)
class Verdict:
    """Two groups compared: `ahead` converted at least as well as `behind`."""

    ahead: str
    behind: str
    enough_data: bool
    p_value: float | None

    @property
    def confidence(self) -> float | None:
        return None if self.p_value is None else 1 - self.p_value

    @property
    def words(self) -> str:
        if not self.enough_data or self.p_value is None:
            return NOT_ENOUGH
        # Floored, and at most 99: never a "100%" no test can give.
        percent = min(99, math.floor((1 - self.p_value) * 100))
        ahead, behind = _named(self.ahead), _named(self.behind)
        if 1 - self.p_value >= SIGNIFICANT:
            return f"{ahead} beats {behind} with {percent}% confidence"
        return f"no winner yet: {ahead} is ahead of {behind} with only {percent}% confidence"

    def as_json(self) -> dict[str, object]:
        return {
            "ahead": self.ahead,
            "behind": self.behind,
            "enough_data": self.enough_data,
            "p_value": None if self.p_value is None else round(self.p_value, 6),
            "confidence": None if self.confidence is None else round(self.confidence, 6),
            "words": self.words,
        }


def _named(group: str) -> str:
    return "the holdout" if group == HOLDOUT else group


def compare(a: str, hits_a: int, size_a: int, b: str, hits_b: int, size_b: int) -> Verdict:
    """The two groups' conversions judged; the group with the higher rate is `ahead`."""
    if size_b > 0 and (size_a == 0 or hits_a / size_a < hits_b / size_b):
        a, hits_a, size_a, b, hits_b, size_b = b, hits_b, size_b, a, hits_a, size_a
    if not enough_data(hits_a, size_a, hits_b, size_b):
        return Verdict(a, b, enough_data=False, p_value=None)
    return Verdict(a, b, True, two_proportion_p_value(hits_a, size_a, hits_b, size_b))


# ---------------------------------------------------------------------- the report
@dataclass(frozen=True)
class Outcome:
    """One variant's (or the holdout's) recipients and what they did."""

    key: str
    # Members it was sent to (the holdout: members held out).
    delivered: int
    tapped: int
    redeemed: int
    purchased: int
    # Net of `refunded`: what was refunded of those purchases.
    revenue: Decimal
    refunded: Decimal = Decimal(0)
    # Against the holdout (None: no holdout, or this is it).
    uplift_points: float | None = None
    uplift_relative: float | None = None
    versus_holdout: Verdict | None = None

    @property
    def conversion(self) -> float | None:
        return self.purchased / self.delivered if self.delivered else None

    def as_json(self) -> dict[str, object]:
        conversion = self.conversion
        return {
            "delivered": self.delivered,
            "tapped": self.tapped,
            "redeemed": self.redeemed,
            "purchased": self.purchased,
            "revenue": str(self.revenue),
            "refunded": str(self.refunded),
            "conversion": None if conversion is None else round(conversion, 6),
            "uplift_points": _rounded(self.uplift_points),
            "uplift_relative": _rounded(self.uplift_relative),
            "versus_holdout": self.versus_holdout.as_json() if self.versus_holdout else None,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass(frozen=True)
class AttributionReport:
    window: timedelta
    variants: tuple[Outcome, ...]
    holdout: Outcome | None
    # The best variant against the next best (None with fewer than two variants).
    best_versus_next: Verdict | None

    def as_json(self) -> dict[str, object]:
        return {
            "window_days": self.window / timedelta(days=1),
            "variants": {outcome.key: outcome.as_json() for outcome in self.variants},
            "holdout": self.holdout.as_json() if self.holdout else None,
            "best_versus_next": self.best_versus_next.as_json() if self.best_versus_next else None,
        }


def judged(
    variants: list[Outcome], holdout: Outcome | None, window: timedelta
) -> AttributionReport:
    """The outcomes with their uplift and verdicts against the holdout, and the best against
    the next best."""
    base = holdout.conversion if holdout is not None else None
    complete = []
    for outcome in variants:
        conversion = outcome.conversion
        if holdout is None or base is None or conversion is None:
            complete.append(outcome)
            continue
        complete.append(
            Outcome(
                key=outcome.key,
                delivered=outcome.delivered,
                tapped=outcome.tapped,
                redeemed=outcome.redeemed,
                purchased=outcome.purchased,
                revenue=outcome.revenue,
                refunded=outcome.refunded,
                uplift_points=(conversion - base) * 100,
                uplift_relative=(conversion - base) / base if base else None,
                versus_holdout=compare(
                    outcome.key,
                    outcome.purchased,
                    outcome.delivered,
                    HOLDOUT,
                    holdout.purchased,
                    holdout.delivered,
                ),
            )
        )
    ranked = sorted(
        (outcome for outcome in complete if outcome.delivered),
        key=lambda outcome: (-(outcome.conversion or 0), outcome.key),
    )
    best = None
    if len(ranked) >= 2:
        first, second = ranked[0], ranked[1]
        best = compare(
            first.key,
            first.purchased,
            first.delivered,
            second.key,
            second.purchased,
            second.delivered,
        )
    return AttributionReport(window, tuple(complete), holdout, best)


@dataclass(frozen=True)
class Bought:
    """A group's purchases within the window: members who bought, net revenue, refunded."""

    members: int
    net: Decimal
    refunded: Decimal


def _moment(value: datetime | str) -> datetime:
    """A time read back from an aggregate over a time column (SQLite gives its text)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _money(amount: object) -> Decimal:
    return Decimal(str(amount or 0)).quantize(Decimal("0.01"))


class Attribution:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def record_tap(self, broadcast_id: int, member_id: int, variant: str) -> bool:
        """Count a tap of the broadcast's button by the member: True if it was counted now.

        Only a member it was sent to (or is being sent to: the engine writes outcomes in
        groups, a fast tap may come first) counts, with the variant of their delivery row;
        not on a cancelled broadcast, and once per (broadcast, member) whatever the races
        (INSERT ... ON CONFLICT DO NOTHING on that key)."""
        d = BroadcastDelivery
        async with self._db.transaction() as session:
            state = await session.scalar(
                select(Broadcast.state).where(Broadcast.id == broadcast_id)
            )
            if state is None or state == CANCELLED:
                return False
            # Their latest round that went out (a standing rule sends a member a row per
            # firing; a newer one may still wait while they tap the last message's button).
            delivery = (
                await session.execute(
                    select(d.status, d.variant)
                    .where(
                        d.broadcast_id == broadcast_id,
                        d.member_id == member_id,
                        d.status.in_((SENT, IN_FLIGHT)),
                    )
                    .order_by(d.round.desc())
                    .limit(1)
                )
            ).one_or_none()
            if delivery is None:
                return False
            if delivery.variant == HOLDOUT:
                return False
            result = await session.execute(
                insert_ignoring(
                    session,
                    BroadcastTap,
                    {
                        "broadcast_id": broadcast_id,
                        "member_id": member_id,
                        "variant": delivery.variant or variant,
                        "tapped_at": self._clock.now(),
                    },
                    unique=("broadcast_id", "member_id"),
                )
            )
            return int(getattr(result, "rowcount", 0) or 0) == 1

    async def report(
        self, broadcast_id: int, window: timedelta = DEFAULT_WINDOW
    ) -> AttributionReport:
        """The broadcast's outcomes so far (see the module's docstring)."""
        d = BroadcastDelivery
        async with self._db.reading() as session:
            broadcast = (
                await session.execute(
                    select(Broadcast.started_at).where(Broadcast.id == broadcast_id)
                )
            ).one_or_none()
            if broadcast is None:
                raise BroadcastNotFound(broadcast_id)
            started: datetime | None = broadcast.started_at
            sent = and_(d.broadcast_id == broadcast_id, d.status == SENT)
            held = and_(d.broadcast_id == broadcast_id, d.status == SKIPPED, d.reason == HOLDOUT)
            sizes = await self._grouped(
                session, select(d.variant, func.count()).where(or_(sent, held))
            )
            taps = await self._grouped(
                session,
                select(BroadcastTap.variant, func.count()).where(
                    BroadcastTap.broadcast_id == broadcast_id
                ),
                key=BroadcastTap.variant,
            )
            redeemed_in_window = exists().where(
                CouponRedemption.coupon_id == Coupon.id,
                CouponRedemption.created_at >= d.sent_at,
                CouponRedemption.created_at < self._plus(d.sent_at, window),
                # A use cancelled at the till (the order was returned) did not happen.
                CouponRedemption.cancelled_at.is_(None),
            )
            redeemed = await self._grouped(
                session,
                select(d.variant, func.count(func.distinct(d.id)))
                .join(Coupon, Coupon.code == d.coupon_code)
                .where(sent, redeemed_in_window),
            )
            first, last = (
                await session.execute(select(func.min(d.sent_at), func.max(d.sent_at)).where(sent))
            ).one()
            bought: dict[str, Bought] = {}
            if first is not None and last is not None:
                bought = await self._purchases(
                    session,
                    sent,
                    d.sent_at,
                    self._plus(d.sent_at, window),
                    (first, last + window),
                )
            if started is not None:
                # Each held-out member from when they would have been sent: a standing rule's
                # firing (`due_at`), or a one-off broadcast's start.
                due = func.coalesce(d.due_at, literal(started, UTCDateTime()))
                first, last = (
                    await session.execute(select(func.min(due), func.max(due)).where(held))
                ).one()
                if first is not None and last is not None:
                    bought.update(
                        await self._purchases(
                            session,
                            held,
                            due,
                            self._plus(due, window),
                            (_moment(first), _moment(last) + window),
                        )
                    )
        nothing = Bought(0, Decimal("0.00"), Decimal("0.00"))
        outcomes = {
            key: Outcome(
                key=key,
                delivered=count,
                tapped=taps.get(key, 0),
                redeemed=redeemed.get(key, 0),
                purchased=bought.get(key, nothing).members,
                revenue=bought.get(key, nothing).net,
                refunded=bought.get(key, nothing).refunded,
            )
            for key, count in sizes.items()
        }
        holdout = outcomes.pop(HOLDOUT, None)
        return judged(sorted(outcomes.values(), key=lambda o: o.key), holdout, window)

    @staticmethod
    async def _grouped(
        session: AsyncSession, query: Any, key: Any = BroadcastDelivery.variant
    ) -> dict[str, int]:
        rows = (await session.execute(query.group_by(key))).all()
        return {str(variant): int(count) for variant, count in rows if variant is not None}

    @staticmethod
    async def _purchases(
        session: AsyncSession,
        members: ColumnElement[bool],
        start: ColumnElement[Any] | InstrumentedAttribute[Any],
        end: ColumnElement[Any],
        bounds: tuple[datetime, datetime],
    ) -> dict[str, Bought]:
        """Per variant: deliveries (members; a standing rule's, once per round) with a
        purchase in [start, end), the sum of those net of their refunds, and the refunds.
        `bounds` hold every member's window: only the purchases of that span are read, by
        their time (ix_purchases_created_at), not the whole table."""
        d, p = BroadcastDelivery, Purchase
        since, until = bounds
        # What was refunded of each purchase (partial refunds add up), read per purchase by
        # the index on refunds.purchase_row_id rather than summing the whole table.
        refunded = (
            select(func.coalesce(func.sum(Refund.amount), 0))
            .where(Refund.purchase_row_id == p.id)
            .correlate(p)
            .scalar_subquery()
        )
        per_purchase = (
            select(
                d.variant.label("variant"),
                d.id.label("delivery_id"),
                p.amount.label("spent"),
                refunded.label("refunded"),
            )
            .join(
                p,
                and_(
                    p.member_id == d.member_id,
                    p.created_at >= start,
                    p.created_at < end,
                    p.created_at >= since,
                    p.created_at < until,
                ),
            )
            .where(members)
            .subquery()
        )
        per_member = (
            select(
                per_purchase.c.variant,
                func.sum(per_purchase.c.spent).label("spent"),
                func.sum(per_purchase.c.refunded).label("refunded"),
            )
            .group_by(per_purchase.c.variant, per_purchase.c.delivery_id)
            .subquery()
        )
        rows = (
            await session.execute(
                select(
                    per_member.c.variant,
                    func.count(),
                    func.sum(per_member.c.spent),
                    func.sum(per_member.c.refunded),
                ).group_by(per_member.c.variant)
            )
        ).all()
        return {
            str(variant): Bought(int(count), _money(spent) - _money(refunded), _money(refunded))
            for variant, count, spent, refunded in rows
            if variant is not None
        }

    def _plus(
        self,
        moment: InstrumentedAttribute[datetime | None] | ColumnElement[Any],
        window: timedelta,
    ) -> ColumnElement[Any]:
        """`moment` + window in SQL. SQLite keeps times as 'YYYY-MM-DD HH:MM:SS.ffffff' text:
        its strftime gives milliseconds, padded back to that form so text compares as time."""
        if self._db.dialect == "sqlite":
            seconds = int(window.total_seconds())
            shifted = func.strftime("%Y-%m-%d %H:%M:%f", moment, f"+{seconds} seconds")
            return shifted.op("||")(literal("000"))
        shifted_pg: ColumnElement[Any] = moment + literal(window, Interval())
        return shifted_pg
