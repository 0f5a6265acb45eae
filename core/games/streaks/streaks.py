"""Streaks and the daily check-in.

A streak (one per member and streak rule, `rules.streaks`) counts consecutive periods (days
or ISO weeks in the member's time zone) with its action. The action arrives as a domain
event in its own transaction (`CheckedIn`, `PurchaseRecorded`), so a streak moves with the
check-in or the purchase that moved it, or not at all.

The period after the last one extends the streak; the same or an earlier period (a replayed
or late event) changes nothing; a gap of exactly one period is forgiven (a freeze) when no
other missed period was forgiven in the last `streak_freeze_every` periods; a longer gap
starts again at 1. Periods are integers (core.games.streaks.periods), so calendar edges
(a month's end, a year's, a DST change) are nothing special.

Merged cards: when two members become one, each streak keeps the better of the two cards'
(the longer one still alive today in the survivor's time zone; the later one on a tie) and
the best of both bests.

Locking: every change locks the member's row first (the purchase's ledger posting already
holds it; a check-in takes it), so two taps or a tap and a purchase are serialized per
member, on PostgreSQL by the row lock and on SQLite by the write lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import Member, Streak
from core.earning.events import PurchaseRecorded
from core.games.events import CheckedIn
from core.games.facts import CHECKIN, record_fact
from core.games.streaks.events import StreakExtended
from core.games.streaks.periods import DAY, WEEK, local_day, ordinal
from core.members.events import MembersMerged
from core.notices.outbox import NoticeKind, enqueue_in
from core.rules.book import RuleBook
from core.rules.sections import ProgramRules, StreakRule
from core.shared.bus import MessageBus
from core.shared.clock import Clock
from core.shared.errors import MemberNotFound
from core.shared.quiet_hours import is_quiet, zone_of

log = logging.getLogger(__name__)

REMINDER_BATCH = 500


@dataclass(frozen=True)
class StreakView:
    key: str
    action: str
    period: str
    # 0 once the streak is broken (more than a forgivable gap since the last period).
    current: int
    best: int
    # The action was done in the current period already.
    done_now: bool
    # A missed period would be forgiven now.
    freeze_available: bool


@dataclass(frozen=True)
class CheckIn:
    # False: the member had checked in today (in their time zone) already.
    new: bool
    day: date
    streaks: tuple[StreakView, ...]


def freeze_available(row: Streak | None, missed: int, every: int) -> bool:
    if every <= 0:
        return False
    frozen = row.frozen_period if row is not None else None
    return frozen is None or missed - frozen >= every


def advance(row: Streak, period: int, every: int) -> bool:
    """Move `row` to an action in `period`; True if the streak grew."""
    last = row.last_period
    if last is not None and period <= last:
        return False  # the same period again, or a late event: counted already
    if last is None or row.current == 0:
        row.current = 1
    elif period == last + 1:
        row.current += 1
    elif period == last + 2 and freeze_available(row, last + 1, every):
        row.frozen_period = last + 1
        row.current += 1
    else:
        row.current = 1
    row.last_period = period
    row.best = max(row.best, row.current)
    return True


def alive(row: Streak, today: int, every: int) -> int:
    """The streak as it stands in period `today`: its length, or 0 if it broke."""
    last = row.last_period
    if last is None:
        return 0
    if last >= today - 1:
        return row.current
    if last == today - 2 and freeze_available(row, today - 1, every):
        return row.current
    return 0


class Streaks:
    def __init__(self, db: Database, clock: Clock, rules: RuleBook, bus: MessageBus) -> None:
        self._db = db
        self._clock = clock
        self._rules = rules
        self._bus = bus

    def subscribe(self, bus: MessageBus) -> None:
        bus.subscribe_in_transaction(CheckedIn, self.checked_in)
        bus.subscribe_after_commit(PurchaseRecorded, self.on_purchase_recorded)
        bus.subscribe_after_commit(MembersMerged, self.on_members_merged)

    # ------------------------------------------------------------------ the check-in
    async def check_in(self, member_id: int) -> CheckIn:
        """Check the member in for today in their time zone: at most once a day. The first
        check-in of a day publishes `CheckedIn` in its transaction."""
        now = self._clock.now()
        async with self._db.transaction() as session:
            member = await session.get(Member, member_id, with_for_update=True)
            if member is None or member.erased_at is not None:
                raise MemberNotFound(member_id)
            rules = await self._rules.in_force(session)
            zone = self._zone(member, rules)
            day = local_day(now, zone)
            new = await record_fact(
                session, member_id=member_id, kind=CHECKIN, ref=f"{member_id}:{day}", now=now
            )
            if new:
                await self._bus.publish_in(
                    session, CheckedIn(occurred_at=now, member_id=member_id, day=day)
                )
            views = await self._views_in(session, member, rules, now)
        return CheckIn(new=new, day=day, streaks=views)

    # ------------------------------------------------------------------ subscribers
    async def checked_in(self, session: AsyncSession, event: CheckedIn) -> None:
        await self._act(session, event.member_id, "checkin", event.day, event.occurred_at)

    async def on_purchase_recorded(self, session: AsyncSession, event: PurchaseRecorded) -> None:
        member = await session.get(Member, event.member_id)
        if member is None:
            return
        rules = await self._rules.in_force(session)
        day = local_day(event.occurred_at, self._zone(member, rules))
        await self._act(session, event.member_id, "purchase", day, event.occurred_at)

    async def on_members_merged(self, session: AsyncSession, event: MembersMerged) -> None:
        """Each streak keeps the better card's run and the best of both (the merge holds
        both members' row locks)."""
        absorbed = (
            await session.scalars(select(Streak).where(Streak.member_id == event.absorbed_id))
        ).all()
        survivor = await session.get(Member, event.member_id)
        if not absorbed or survivor is None:
            return
        rules = await self._rules.in_force(session)
        today = local_day(event.occurred_at, self._zone(survivor, rules))
        periods = {rule.key: rule.period for rule in rules.streaks}
        every = rules.streak_freeze_every

        def standing(row: Streak) -> tuple[int, int]:
            period = periods.get(row.key)
            now = alive(row, ordinal(today, period), every) if period is not None else 0
            return now, row.last_period if row.last_period is not None else -1

        for row in absorbed:
            kept = await session.get(Streak, (survivor.id, row.key))
            if kept is None:
                kept = Streak(member_id=survivor.id, key=row.key, current=0, best=0)
                session.add(kept)
            if kept.last_period is None or standing(row) > standing(kept):
                kept.current = row.current
                kept.last_period = row.last_period
                kept.frozen_period = row.frozen_period
            kept.best = max(kept.best, row.best)
            kept.updated_at = event.occurred_at
            await session.delete(row)
        await session.flush()

    async def _act(
        self, session: AsyncSession, member_id: int, action: str, day: date, now: datetime
    ) -> None:
        rules = await self._rules.in_force(session)
        for rule in rules.streaks:
            if rule.action != action:
                continue
            row = await self._row(session, member_id, rule.key, now)
            if advance(row, ordinal(day, rule.period), rules.streak_freeze_every):
                row.updated_at = now
                await session.flush()
                await self._bus.publish_in(
                    session,
                    StreakExtended(
                        occurred_at=now,
                        member_id=member_id,
                        key=rule.key,
                        current=row.current,
                        best=row.best,
                    ),
                )

    async def _row(self, session: AsyncSession, member_id: int, key: str, now: datetime) -> Streak:
        # The member's row lock (the publisher's: a purchase's posting, a check-in) makes
        # this read-then-insert safe: one transaction per member at a time.
        row = await session.get(Streak, (member_id, key))
        if row is None:
            row = Streak(member_id=member_id, key=key, current=0, best=0, updated_at=now)
            session.add(row)
        return row

    # ------------------------------------------------------------------ reading
    async def view(self, member_id: int) -> tuple[StreakView, ...]:
        now = self._clock.now()
        async with self._db.reading() as session:
            member = await session.get(Member, member_id)
            if member is None:
                raise MemberNotFound(member_id)
            rules = await self._rules.in_force(session)
            return await self._views_in(session, member, rules, now)

    async def _views_in(
        self, session: AsyncSession, member: Member, rules: ProgramRules, now: datetime
    ) -> tuple[StreakView, ...]:
        rows = {
            row.key: row
            for row in await session.scalars(select(Streak).where(Streak.member_id == member.id))
        }
        today = local_day(now, self._zone(member, rules))
        views = []
        for rule in rules.streaks:
            period = ordinal(today, rule.period)
            row = rows.get(rule.key)
            every = rules.streak_freeze_every
            views.append(
                StreakView(
                    key=rule.key,
                    action=rule.action,
                    period=rule.period,
                    current=alive(row, period, every) if row is not None else 0,
                    best=row.best if row is not None else 0,
                    done_now=row is not None and row.last_period == period,
                    freeze_available=freeze_available(row, period, every),
                )
            )
        return tuple(views)

    def _zone(self, member: Member, rules: ProgramRules) -> ZoneInfo:
        return zone_of(member.time_zone, zone_of(rules.time_zone, ZoneInfo("UTC")))

    # ------------------------------------------------------------------ reminders
    async def remind_due(self) -> int:
        """Remind every member whose streak breaks unless they act before their local
        period ends: on its last local day, from `streak_reminder_hour` until the quiet
        hours (the rules' `quiet_hours_start`). Once per (member, streak, period): the
        notice's dedupe key. Hourly."""
        now = self._clock.now()
        rules = await self._rules.current()
        reminded = 0
        for rule in rules.streaks:
            reminded += await self._remind(rule, rules, now)
        return reminded

    async def _remind(self, rule: StreakRule, rules: ProgramRules, now: datetime) -> int:
        # Every zone's today is UTC's yesterday, today or tomorrow: a streak at risk last
        # acted one period (or, with a freeze, two) before one of those.
        todays = {
            ordinal((now + timedelta(days=shift)).date(), rule.period) for shift in (-1, 0, 1)
        }
        lasts = sorted({today - gap for today in todays for gap in (1, 2)})
        program_zone = zone_of(rules.time_zone, ZoneInfo("UTC"))
        reminded = 0
        after = 0
        while True:
            async with self._db.transaction() as session:
                rows = (
                    await session.execute(
                        select(Streak, Member.time_zone, Member.id)
                        .join(Member, Member.id == Streak.member_id)
                        .where(
                            Streak.key == rule.key,
                            Streak.last_period.in_(lasts),
                            Streak.current > 0,
                            Streak.member_id > after,
                            Member.erased_at.is_(None),
                            Member.merged_into_id.is_(None),
                        )
                        .order_by(Streak.member_id)
                        .limit(REMINDER_BATCH)
                    )
                ).all()
                for streak, zone_name, member_id in rows:
                    after = member_id
                    local = now.astimezone(zone_of(zone_name, program_zone))
                    today = ordinal(local.date(), rule.period)
                    if rule.period == WEEK and local.isoweekday() != 7:
                        continue  # a week's reminder comes on its Sunday
                    # From the reminder hour until the member's night (the rules' quiet hours).
                    if local.hour < rules.streak_reminder_hour or is_quiet(
                        rules.quiet_hours, local.hour
                    ):
                        continue
                    current = alive(streak, today, rules.streak_freeze_every)
                    if current == 0 or streak.last_period == today:
                        continue
                    if await enqueue_in(
                        session,
                        member_id=member_id,
                        kind=NoticeKind.STREAK_REMINDER,
                        payload={
                            "key": rule.key,
                            "action": rule.action,
                            "period": rule.period,
                            "current": current,
                        },
                        dedupe_key=f"streak-reminder:{member_id}:{rule.key}:{today}",
                        now=now,
                        marketing=rules.streak_reminder_is_marketing,
                    ):
                        reminded += 1
            if len(rows) < REMINDER_BATCH:
                break
        return reminded


__all__ = ["DAY", "WEEK", "CheckIn", "StreakView", "Streaks"]
