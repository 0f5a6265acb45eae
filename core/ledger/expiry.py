"""Points that expire: what is due goes as ledger entries, members hear of it beforehand.

Expiring is safe to run in several processes at once and to rerun: it takes each lot's
remainder under the member's row lock, keyed by the lot, so a lot expires once, and publishes
`PointsExpired`. Reminders before the date are the notices context's job
(`core.notices.reminders`), and so is the notice of the expiry: the job runs at night for
many members, so it waits for each one's morning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import Member, PointLot
from core.ledger.entries import Ledger, Posting
from core.ledger.events import PointsExpired
from core.rules.book import RuleBook
from core.shared.bus import MessageBus
from core.shared.clock import Clock

EXPIRY_REASON = "expiry"
EXPIRY_ACTOR = "program"
MEMBERS_PER_BATCH = 200
# Lots read for a member's next expiry days (one purchase opens one lot: a day rarely has more).
LOTS_READ = 500


async def expire_lot_in(
    ledger: Ledger, session: AsyncSession, member_id: int, lot: PointLot
) -> Posting:
    """A lot's remainder goes, as one entry. Each lot is drained once, so its id names its
    expiry for good: keyed by it, whoever expires it (the job, a return of points whose date
    has passed) does so once."""
    return await ledger.post_in(
        session,
        member_id,
        -lot.remaining,
        reason=EXPIRY_REASON,
        actor=EXPIRY_ACTOR,
        idempotency_key=f"expiry:lot:{lot.id}",
        only_from_lot=lot.id,
    )


@dataclass(frozen=True)
class Upcoming:
    """The next points to expire: how many, and when the first of them goes."""

    points: int
    expires_at: datetime


@dataclass(frozen=True)
class ExpiryRun:
    members: int
    points: int


class Expiry:
    def __init__(
        self, db: Database, clock: Clock, ledger: Ledger, rules: RuleBook, bus: MessageBus
    ) -> None:
        self._db = db
        self._clock = clock
        self._ledger = ledger
        self._rules = rules
        self._bus = bus

    async def upcoming(self, member_id: int, *, within: timedelta | None = None) -> Upcoming | None:
        """Points of the lots that expire first (those expiring within a day of the first
        one count together, as members think in days), or None if nothing ever expires."""
        async with self._db.reading() as session:
            first = await session.scalar(
                select(func.min(PointLot.expires_at)).where(
                    PointLot.member_id == member_id,
                    PointLot.remaining > 0,
                    PointLot.expires_at.is_not(None),
                )
            )
            if first is None:
                return None
            if within is not None and first > self._clock.now() + within:
                return None
            points = await session.scalar(
                select(func.sum(PointLot.remaining)).where(
                    PointLot.member_id == member_id,
                    PointLot.remaining > 0,
                    PointLot.expires_at < first + timedelta(days=1),
                )
            )
        return Upcoming(points=int(points or 0), expires_at=first)

    async def next_expiries(self, member_id: int, *, days: int = 3) -> list[Upcoming]:
        """What expires on each of the next `days` days on which any of the member's points
        do (for staff; `upcoming` is what the member is told), soonest first."""
        async with self._db.reading() as session:
            lots = (
                await session.execute(
                    select(PointLot.remaining, PointLot.expires_at)
                    .where(
                        PointLot.member_id == member_id,
                        PointLot.remaining > 0,
                        PointLot.expires_at.is_not(None),
                    )
                    .order_by(PointLot.expires_at, PointLot.id)
                    .limit(LOTS_READ)
                )
            ).all()
        by_day: dict[date, Upcoming] = {}
        for points, expires_at in lots:
            if expires_at is None:
                continue
            day = expires_at.date()
            if day not in by_day and len(by_day) == days:
                break
            first = by_day.get(day)
            by_day[day] = Upcoming(
                points=points + (first.points if first else 0),
                expires_at=first.expires_at if first else expires_at,
            )
        return list(by_day.values())

    async def expire_due(self) -> ExpiryRun:
        """Post the expiry of every lot whose time has come, one transaction per member."""
        now = self._clock.now()
        # Read once per run: each member's transaction pins them for the expiry's notice.
        rules = await self._rules.current()
        members = points = 0
        after = 0
        while True:
            async with self._db.reading() as session:
                member_ids = list(
                    await session.scalars(
                        select(PointLot.member_id)
                        .where(
                            PointLot.remaining > 0,
                            PointLot.expires_at <= now,
                            PointLot.member_id > after,
                        )
                        .group_by(PointLot.member_id)
                        .order_by(PointLot.member_id)
                        .limit(MEMBERS_PER_BATCH)
                    )
                )
            if not member_ids:
                return ExpiryRun(members=members, points=points)
            for member_id in member_ids:
                async with self._db.transaction() as session:
                    self._rules.pin(session, rules)
                    expired = await self._expire_member_in(session, member_id, now)
                if expired:
                    members += 1
                    points += expired
            after = member_ids[-1]

    async def _expire_member_in(self, session: AsyncSession, member_id: int, now: datetime) -> int:
        # The member's lock first: the lots are read only after any posting in flight is done.
        await session.get(Member, member_id, with_for_update=True)
        lots = list(
            await session.scalars(
                select(PointLot)
                .where(
                    PointLot.member_id == member_id,
                    PointLot.remaining > 0,
                    PointLot.expires_at <= now,
                )
                .order_by(PointLot.expires_at, PointLot.id)
            )
        )
        total = 0
        balance = 0
        for lot in lots:
            posting = await expire_lot_in(self._ledger, session, member_id, lot)
            total += -posting.entry.points
            balance = posting.balance
        if total:
            await self._bus.publish_in(
                session,
                PointsExpired(
                    occurred_at=now,
                    member_id=member_id,
                    points=total,
                    balance=balance,
                    first_lot_id=lots[0].id,
                ),
            )
        return total
