"""Points that expire: what is due goes as ledger entries, members hear of it beforehand.

Both jobs are safe to run in several processes at once and to rerun: expiring takes each
lot's remainder under the member's row lock, keyed by the lot, so a lot expires once;
reminders are notices with a key per batch of expiring points, so each is sent once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import Member, PointLot
from core.ledger.entries import Ledger
from core.notices.outbox import NoticeKind, enqueue_in
from core.rules.book import RuleBook
from core.shared.clock import Clock

EXPIRY_REASON = "expiry"
EXPIRY_ACTOR = "program"
MEMBERS_PER_BATCH = 200


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
    def __init__(self, db: Database, clock: Clock, ledger: Ledger, rules: RuleBook) -> None:
        self._db = db
        self._clock = clock
        self._ledger = ledger
        self._rules = rules

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

    async def expire_due(self) -> ExpiryRun:
        """Post the expiry of every lot whose time has come, one transaction per member."""
        now = self._clock.now()
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
            # Each lot is drained once, so its id names its expiry for good.
            posting = await self._ledger.post_in(
                session,
                member_id,
                -lot.remaining,
                reason=EXPIRY_REASON,
                actor=EXPIRY_ACTOR,
                idempotency_key=f"expiry:lot:{lot.id}",
                only_from_lot=lot.id,
            )
            total += -posting.entry.points
            balance = posting.balance
        if total:
            await enqueue_in(
                session,
                member_id=member_id,
                kind=NoticeKind.POINTS_EXPIRED,
                payload={"points": total, "balance": balance},
                dedupe_key=f"expired:lot:{lots[0].id}",
                now=now,
            )
        return total

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
