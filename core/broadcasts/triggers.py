"""Triggered broadcasts: standing rules that send to a member when something happens to them.

A broadcast with a `trigger` (spec.py) is started like any other (broadcast-send) and then
stays "sending" until paused or cancelled; it has no list planned up front. When its trigger
fires for a member of its segment (consent always applies: the segment's query only yields
consenting live members), a `trigger_firings` row keyed (broadcast, member, period) is
inserted; only the insert that wins queues a delivery row for the member: a new one, one round
after their last (rows are keyed (broadcast, member, round), so every earlier round keeps its
outcome, sent time and coupon, and the status and attribution count each round), due after the
trigger's delay and recording that time (`due_at`: a holdout member's attribution window starts
there). A member whose row is still waiting (queued or sending) is sent that one: a firing
never queues a second message beside it. The engine then sends it like any broadcast's:
variant and holdout, quiet hours in the member's zone, their last channel, the rates,
attribution. A replayed event, the job run twice or two workers therefore send at most once
per member and period.

Where each trigger is found
    - win_back: by the hourly `fire_triggers` job, one INSERT ... SELECT per broadcast over
      the members whose last purchase is older than `days` (a set, never a loop over members).
    - first_purchase, points_short and feedback: from PurchaseRecorded, subscribed AFTER
      COMMIT (core.shared.bus): the purchase's transaction pays nothing for it while it holds
      the member's lock, the tier and balance it changed are visible, and the pending event
      is retried by `deliver_events` until handled, which the firing key makes idempotent.

A period is a number of `period_days` counted from the broadcast's start ("once" without
period_days): a member is fired for at most once in each.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, exists, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.broadcasts.broadcasts import IN_FLIGHT, QUEUED, SENDING
from core.broadcasts.spec import (
    BroadcastSpec,
    FeedbackTrigger,
    FirstPurchase,
    PointsShort,
    WinBack,
)
from core.db.database import Database
from core.db.models import (
    Broadcast,
    BroadcastDelivery,
    Member,
    Purchase,
    Reward,
    TriggerFiring,
)
from core.earning.events import PurchaseRecorded
from core.feedback.service import Feedback
from core.rules.book import RuleBook
from core.segments.definition import parse_segment
from core.segments.query import members_in
from core.shared.bus import MessageBus
from core.shared.clock import Clock
from core.shared.owners import member_ids_of
from core.shared.writes import insert_ignoring
from core.tiers.tiers import Tiers

log = logging.getLogger(__name__)

ONCE = "once"
WIN_BACK_CAUSE = "win_back"


@dataclass(frozen=True)
class Standing:
    """A triggered broadcast that is sending now."""

    id: int
    spec: BroadcastSpec
    started_at: datetime


def period_of(spec: BroadcastSpec, started_at: datetime, now: datetime) -> str:
    days = spec.trigger.period_days if spec.trigger is not None else None
    if days is None:
        return ONCE
    return str(max(0, (now - started_at) // timedelta(days=days)))


class Triggers:
    def __init__(
        self, db: Database, clock: Clock, rules: RuleBook, tiers: Tiers, feedback: Feedback
    ) -> None:
        self._db = db
        self._clock = clock
        self._rules = rules
        self._tiers = tiers
        self._feedback = feedback
        # The standing rules' specs as parsed, by broadcast id, with the text they were parsed
        # from: every purchase reads the texts, only a changed one is parsed (and its image
        # checked) again. Holds only what stood at the last read.
        self._parsed: dict[int, tuple[str, BroadcastSpec]] = {}

    def subscribe(self, bus: MessageBus) -> None:
        bus.subscribe_after_commit(PurchaseRecorded, self.on_purchase_recorded)

    async def standing(self, session: AsyncSession) -> list[Standing]:
        rows = (
            await session.execute(
                select(Broadcast.id, Broadcast.spec, Broadcast.started_at, Broadcast.created_at)
                .where(Broadcast.state == SENDING, Broadcast.spec.contains('"trigger"'))
                .order_by(Broadcast.id)
            )
        ).all()
        parsed: dict[int, tuple[str, BroadcastSpec]] = {}
        for row in rows:
            known = self._parsed.get(row.id)
            if known is not None and known[0] == row.spec:
                parsed[row.id] = known
            else:
                parsed[row.id] = (row.spec, BroadcastSpec.model_validate_json(row.spec))
        self._parsed = parsed
        rules = [
            Standing(row.id, parsed[row.id][1], row.started_at or row.created_at) for row in rows
        ]
        # The LIKE is a prefilter (a text may quote the word); the spec decides.
        return [rule for rule in rules if rule.spec.trigger is not None]

    # ------------------------------------------------------------------ after a purchase
    async def on_purchase_recorded(self, session: AsyncSession, event: PurchaseRecorded) -> None:
        """Fire the purchase triggers of every standing broadcast for the buyer (the bus
        holds the member's lock)."""
        standing = [
            rule
            for rule in await self.standing(session)
            if isinstance(rule.spec.trigger, FirstPurchase | PointsShort | FeedbackTrigger)
        ]
        if not standing:
            return
        now = self._clock.now()
        for rule in standing:
            trigger = rule.spec.trigger
            if not await self._in_segment(session, rule.spec, event.member_id, now):
                continue
            if isinstance(trigger, FirstPurchase) and not await self._first(session, event):
                continue
            if isinstance(trigger, PointsShort) and not await self._short(
                session, event.member_id, trigger
            ):
                continue
            assert trigger is not None and not isinstance(trigger, WinBack)
            due = now + timedelta(minutes=trigger.delay_minutes)
            delivery_id = await self._fire_one(
                session, rule, event.member_id, event.purchase_id, now, due
            )
            if delivery_id is not None and isinstance(trigger, FeedbackTrigger):
                # Not answerable yet: the engine opens it when this row is sent (never for
                # the holdout, or a member skipped or failed).
                await self._feedback.ask_in(
                    session,
                    broadcast_id=rule.id,
                    member_id=event.member_id,
                    purchase_id=event.purchase_id,
                    store=event.store,
                    reward_points=trigger.reward_points,
                    delivery_id=delivery_id,
                )

    async def _in_segment(
        self, session: AsyncSession, spec: BroadcastSpec, member_id: int, now: datetime
    ) -> bool:
        audience = members_in(parse_segment(dict(spec.segment)), now=now).subquery()
        found = await session.scalar(
            select(audience.c[0]).where(audience.c[0] == member_id).limit(1)
        )
        return found is not None

    @staticmethod
    async def _first(session: AsyncSession, event: PurchaseRecorded) -> bool:
        purchases = await session.scalar(
            select(func.count()).where(Purchase.member_id.in_(member_ids_of(event.member_id)))
        )
        return purchases == 1

    async def _short(self, session: AsyncSession, member_id: int, trigger: PointsShort) -> bool:
        """Whether the member is now within `trigger.points` (and not past it) of the next
        tier, or of the cheapest active reward they cannot afford yet."""
        member = await session.get(Member, member_id)
        if member is None:
            return False
        if trigger.of == "reward":
            cheapest = await session.scalar(
                select(func.min(Reward.cost)).where(
                    Reward.active.is_(True), Reward.cost > member.balance
                )
            )
            return cheapest is not None and cheapest - member.balance <= trigger.points
        rules = await self._rules.in_force(session)
        held = rules.held_tier(member.tier)
        rank = rules.tiers.index(held) if held is not None else -1
        if rank + 1 >= len(rules.tiers):
            return False
        value = await self._tiers.metric_in(session, member_id, rules, self._clock.now())
        to_next = rules.tiers[rank + 1].threshold - value
        return 0 < to_next <= trigger.points

    async def _fire_one(
        self,
        session: AsyncSession,
        rule: Standing,
        member_id: int,
        cause: str,
        now: datetime,
        due: datetime,
    ) -> int | None:
        """The delivery row that sends this firing; None if the member was fired for in
        this period already."""
        period = period_of(rule.spec, rule.started_at, now)
        result = await session.execute(
            insert_ignoring(
                session,
                TriggerFiring,
                {
                    "broadcast_id": rule.id,
                    "member_id": member_id,
                    "period": period,
                    "cause": cause[:64],
                    "fired_at": now,
                },
                unique=("broadcast_id", "member_id", "period"),
            )
        )
        if not getattr(result, "rowcount", 0):
            return None
        return (await self._queue(session, rule.id, [member_id], due)).get(member_id)

    async def _queue(
        self, session: AsyncSession, broadcast_id: int, member_ids: list[int], due: datetime
    ) -> dict[int, int]:
        """Each member's delivery row for this firing, by member: a new row one round after
        their last (an earlier round's row keeps its outcome, sent time and coupon for the
        status and the attribution), due at `due`; or, if one is still queued or sending, that
        one (the firing joins it: a member is sent once for it)."""
        d = BroadcastDelivery
        carrying: dict[int, int] = {}
        for start in range(0, len(member_ids), 500):
            chunk = member_ids[start : start + 500]
            rows = (
                await session.execute(
                    select(
                        d.member_id,
                        func.max(d.round),
                        func.count(case((d.status.in_((QUEUED, IN_FLIGHT)), 1))),
                    )
                    .where(d.broadcast_id == broadcast_id, d.member_id.in_(chunk))
                    .group_by(d.member_id)
                )
            ).all()
            last_round = {member_id: int(last) for member_id, last, _open in rows}
            waiting = {member_id for member_id, _last, open_rows in rows if open_rows}
            new = [
                {
                    "broadcast_id": broadcast_id,
                    "member_id": member_id,
                    "status": QUEUED,
                    "attempts": 0,
                    "round": last_round.get(member_id, -1) + 1,
                    "due_at": due,
                    "not_before": due,
                }
                for member_id in chunk
                if member_id not in waiting
            ]
            if new:
                await session.execute(
                    insert_ignoring(
                        session,
                        BroadcastDelivery,
                        new,
                        unique=("broadcast_id", "member_id", "round"),
                    )
                )
            open_rows = await session.execute(
                select(d.member_id, func.max(d.id))
                .where(
                    d.broadcast_id == broadcast_id,
                    d.member_id.in_(chunk),
                    d.status.in_((QUEUED, IN_FLIGHT)),
                )
                .group_by(d.member_id)
            )
            carrying.update({member_id: row_id for member_id, row_id in open_rows})
        return carrying

    # ------------------------------------------------------------------ the job
    async def fire_due(self) -> int:
        """The `fire_triggers` job: every standing win-back rule, as one set each. Returns
        how many members were fired for."""
        now = self._clock.now()
        async with self._db.reading() as session:
            standing = [
                rule
                for rule in await self.standing(session)
                if isinstance(rule.spec.trigger, WinBack)
            ]
        fired = 0
        for rule in standing:
            fired += await self._win_back(rule, now)
        return fired

    async def _win_back(self, rule: Standing, now: datetime) -> int:
        trigger = rule.spec.trigger
        assert isinstance(trigger, WinBack)
        period = period_of(rule.spec, rule.started_at, now)
        audience = members_in(parse_segment(dict(rule.spec.segment)), now=now).subquery()
        member = audience.c[0]
        # A merged member's purchases count for the member they are now (as in segments).
        buyer = aliased(Member)
        owner = func.coalesce(buyer.merged_into_id, buyer.id)
        lapsed = (
            select(owner)
            .select_from(Purchase)
            .join(buyer, buyer.id == Purchase.member_id)
            .group_by(owner)
            .having(func.max(Purchase.created_at) < now - timedelta(days=trigger.days))
        )
        chosen = select(
            literal(rule.id),
            member,
            literal(period, TriggerFiring.period.type),
            literal(WIN_BACK_CAUSE, TriggerFiring.cause.type),
            literal(now, TriggerFiring.fired_at.type),
        ).where(
            member.in_(lapsed),
            ~exists().where(
                and_(
                    TriggerFiring.broadcast_id == rule.id,
                    TriggerFiring.member_id == member,
                    TriggerFiring.period == period,
                )
            ),
        )
        async with self._db.transaction() as session:
            # One run at a time per broadcast (the job's claim aside: an operator's forced run).
            await session.scalar(
                select(Broadcast.id).where(Broadcast.id == rule.id).with_for_update()
            )
            await session.execute(
                insert(TriggerFiring).from_select(
                    ["broadcast_id", "member_id", "period", "cause", "fired_at"], chosen
                )
            )
            member_ids = list(
                (
                    await session.execute(
                        select(TriggerFiring.member_id).where(
                            TriggerFiring.broadcast_id == rule.id,
                            TriggerFiring.period == period,
                            TriggerFiring.fired_at == now,
                        )
                    )
                ).scalars()
            )
            await self._queue(session, rule.id, member_ids, now)
        if member_ids:
            log.info("broadcast %s: win-back fired for %d members", rule.id, len(member_ids))
        return len(member_ids)
