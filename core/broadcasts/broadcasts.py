"""Broadcasts as the marketer drives them: create from a spec, plan the recipients, send,
pause, resume, cancel, and the status.

States: draft -> sending (or scheduled until its time) -> done; paused and cancelled on the
operator's word; failed when it cannot be sent at all (an older broadcast whose image was
never stored with it: `failure` says why). Workers read the state between batches
(engine.py), so a pause or a cancel takes effect within a batch's time. Planning
materializes one delivery row per recipient with INSERT ... SELECT from the audience's query,
in batches by member id, once per broadcast (the broadcast's row is locked while it plans,
and the (broadcast, member) key makes any replay a no-op).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, exists, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.broadcasts.audience import Audience
from core.broadcasts.errors import (
    BroadcastNotFound,
    BroadcastRefused,
    InvalidBroadcast,
    SendAtPassed,
    TriggerCannotFire,
)
from core.broadcasts.images import (
    BroadcastImage,
    ImageUnavailable,
    checked,
    reference_of,
    unstored,
)
from core.broadcasts.spec import BroadcastSpec, PointsShort
from core.db.database import Database
from core.db.models import Broadcast, BroadcastDelivery, CouponCampaign, Reward
from core.db.models import BroadcastImage as BroadcastImageRow
from core.offers.issuing import TakeBack, take_back_in
from core.rules.book import RuleBook
from core.rules.sections import ProgramRules
from core.shared.clock import Clock
from core.shared.quiet_hours import zone_of

DRAFT = "draft"
SCHEDULED = "scheduled"
SENDING = "sending"
PAUSED = "paused"
CANCELLED = "cancelled"
DONE = "done"
# It cannot be sent (Broadcast.failure says why); cancel still ends it.
BROKEN = "failed"
# Delivery statuses (a quiet-hours wait or a retry is QUEUED with `not_before`).
QUEUED = "queued"
IN_FLIGHT = "sending"
SENT = "sent"
SKIPPED = "skipped"
FAILED = "failed"
# Members planned per INSERT ... SELECT.
PLAN_BATCH = 5000
# A send_at this little in the past is taken as "now" (a file written a minute ago); an
# earlier one is refused at create rather than sent at once.
SEND_AT_GRACE = timedelta(minutes=5)


# A standing rule (a triggered broadcast) as the marketer reads its state: switched on or off.
# Stored as a broadcast's (other code keys on SENDING and PAUSED); only what is shown maps.
RULE_STATES = {SENDING: "on", PAUSED: "off"}


def shown_state(state: str, *, standing: bool) -> str:
    """The state as broadcast-status and the commands say it: a standing rule that sends is
    "on", a paused one "off"; everything else as stored."""
    return RULE_STATES.get(state, state) if standing else state


@dataclass(frozen=True)
class BroadcastInfo:
    id: int
    name: str
    spec: BroadcastSpec
    state: str
    send_at: datetime | None
    planned: bool
    started_at: datetime | None
    finished_at: datetime | None
    failure: str | None = None

    @property
    def shown_state(self) -> str:
        return shown_state(self.state, standing=self.spec.trigger is not None)

    @classmethod
    def of(cls, row: Broadcast) -> BroadcastInfo:
        return cls(
            id=row.id,
            name=row.name,
            spec=BroadcastSpec.model_validate_json(row.spec),
            state=row.state,
            send_at=row.send_at,
            planned=row.planned_at is not None,
            started_at=row.started_at,
            finished_at=row.finished_at,
            failure=row.failure,
        )


@dataclass(frozen=True)
class VariantCounts:
    queued: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class BroadcastStatus:
    id: int
    name: str
    state: str
    recipients: int
    queued: int
    in_flight: int
    sent: int
    failed: int
    skipped: int
    skipped_by_reason: dict[str, int]
    # Queued and waiting for a time (quiet hours, a retry), within `queued`.
    waiting: int
    by_variant: dict[str, VariantCounts] = field(default_factory=dict)
    by_channel: dict[str, int] = field(default_factory=dict)
    # Sends per second between the first and the last send (None before two sends).
    rate: float | None = None
    # Why it cannot be sent (state "failed").
    failure: str | None = None
    # When it goes (None: at broadcast-send), and when the first of the `waiting` rows does
    # (quiet hours, a retry): both shown in the shop's zone, `time_zone`.
    send_at: datetime | None = None
    waiting_until: datetime | None = None
    time_zone: str = "UTC"
    # A standing rule (a trigger): its state is shown as "on" / "off".
    standing: bool = False

    @property
    def shown_state(self) -> str:
        return shown_state(self.state, standing=self.standing)

    @property
    def finished(self) -> int:
        return self.sent + self.failed + self.skipped

    def local(self, when: datetime | None) -> datetime | None:
        """`when` in the shop's time zone."""
        return when.astimezone(ZoneInfo(self.time_zone)) if when is not None else None

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.shown_state,
            "stored_state": self.state,
            "standing_rule": self.standing,
            "recipients": self.recipients,
            "queued": self.queued,
            "waiting": self.waiting,
            "in_flight": self.in_flight,
            "sent": self.sent,
            "failed": self.failed,
            "skipped": self.skipped,
            "skipped_by_reason": self.skipped_by_reason,
            "by_variant": {key: vars(counts) for key, counts in self.by_variant.items()},
            "by_channel": self.by_channel,
            "rate_per_second": round(self.rate, 2) if self.rate is not None else None,
            "failure": self.failure,
            "send_at": _iso(self.local(self.send_at)),
            "waiting_until": _iso(self.local(self.waiting_until)),
            "time_zone": self.time_zone,
        }


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


class Broadcasts:
    def __init__(self, db: Database, clock: Clock, rules: RuleBook, audience: Audience) -> None:
        self._db = db
        self._clock = clock
        self._rules = rules
        self.audience = audience

    async def create(
        self, spec: BroadcastSpec, *, actor: str, images: Mapping[str, bytes] | None = None
    ) -> BroadcastInfo:
        """Store a draft; its segment, coupon campaign and images are checked now, not at
        sending. `images`: the content of each image the spec names, by the name it has
        there (the caller read the files); they are stored with the broadcast and the spec
        names them by reference from then on."""
        now = self._clock.now()
        given = images or {}
        kept = {}
        for name in sorted(spec.images()):
            if name not in given:
                raise InvalidBroadcast(f"image: no image file at {name}")
            kept[name] = checked(name, given[name])
        spec = spec.with_images({name: reference_of(image.digest) for name, image in kept.items()})
        # Refuses a segment the audience cannot answer, before anything is stored.
        self.audience.members_in(spec.segment, now=now)
        rules = await self._rules.current()
        await self.audience.check_names(spec.segment, tier_keys=[tier.key for tier in rules.tiers])
        send_at = None
        if spec.send_at is not None:
            zone = zone_of(rules.time_zone, ZoneInfo("UTC"))
            when = spec.send_at
            if when.tzinfo is None:
                when = when.replace(tzinfo=zone)
            send_at = when.astimezone(UTC)
            if send_at < now - SEND_AT_GRACE:
                raise SendAtPassed(
                    f"send_at: {send_at.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key}) has "
                    f"passed (it is {now.astimezone(zone):%Y-%m-%d %H:%M} there): give a "
                    "later time, or leave send_at out to send it at broadcast-send"
                )
        async with self._db.transaction() as session:
            if isinstance(spec.trigger, PointsShort):
                await self._can_fire(session, spec.trigger, rules)
            if spec.coupon_campaign is not None:
                campaign = await session.scalar(
                    select(CouponCampaign.id).where(
                        CouponCampaign.slug == spec.coupon_campaign.strip().lower()
                    )
                )
                if campaign is None:
                    raise InvalidBroadcast(f"coupon_campaign: no campaign {spec.coupon_campaign}")
            row = Broadcast(
                name=spec.name,
                spec=spec.model_dump_json(exclude_none=True),
                state=DRAFT,
                send_at=send_at,
                created_by=actor,
                created_at=now,
            )
            session.add(row)
            await session.flush()
            for image in {image.digest: image for image in kept.values()}.values():
                session.add(
                    BroadcastImageRow(
                        broadcast_id=row.id,
                        digest=image.digest,
                        content_type=image.content_type,
                        filename=image.filename,
                        content=image.content,
                    )
                )
            return BroadcastInfo.of(row)

    @staticmethod
    async def _can_fire(session: AsyncSession, trigger: PointsShort, rules: ProgramRules) -> None:
        """Refuse a points_short rule nothing can set off: with no tier above the base, no
        member is ever short of a next one; with no active reward, of a reward (see
        triggers.Triggers._short)."""
        if trigger.of == "tier":
            if not any(tier.threshold > 0 for tier in rules.tiers):
                raise TriggerCannotFire(
                    'trigger: points_short of "tier" can never fire: the rules have no tier '
                    "to reach (tiers: none above the base); add them first (`python main.py "
                    'rules set tiers --file F.json`) or use "of": "reward"'
                )
            return
        rewards = await session.scalar(
            select(func.count()).select_from(Reward).where(Reward.active.is_(True))
        )
        if not rewards:
            raise TriggerCannotFire(
                'trigger: points_short of "reward" can never fire: the rewards catalogue has '
                "no active reward; add one first (`python main.py reward-add ...`)"
            )

    async def images(self, info: BroadcastInfo) -> dict[str, BroadcastImage]:
        """The images the broadcast sends, by the reference its spec names them by;
        ImageUnavailable if one is not stored (an older broadcast's path)."""
        names = info.spec.images()
        if not names:
            return {}
        async with self._db.reading() as session:
            rows = (
                await session.scalars(
                    select(BroadcastImageRow).where(BroadcastImageRow.broadcast_id == info.id)
                )
            ).all()
        missing = unstored(names, (row.digest for row in rows))
        if missing:
            raise ImageUnavailable(
                f"its image {', '.join(missing)} is not stored with it (a broadcast created "
                "before images were kept in the database): create it again"
            )
        return {
            reference_of(row.digest): BroadcastImage(
                row.broadcast_id, row.digest, row.content_type, row.filename, row.content
            )
            for row in rows
            if reference_of(row.digest) in names
        }

    async def fail(self, broadcast_id: int, failure: str) -> None:
        """It cannot be sent: failed with the reason, its queued recipients skipped (a
        triggered rule stops firing). A paused, cancelled or finished one stays as it is."""
        async with self._db.transaction() as session:
            row = await self._locked(session, broadcast_id)
            if row.state not in (SENDING, SCHEDULED):
                return
            row.state = BROKEN
            row.failure = failure[:256]
            row.finished_at = self._clock.now()
            await session.execute(
                update(BroadcastDelivery)
                .where(
                    BroadcastDelivery.broadcast_id == broadcast_id,
                    BroadcastDelivery.status.in_((QUEUED, IN_FLIGHT)),
                )
                .values(status=SKIPPED, reason=BROKEN, not_before=None, claimed_until=None)
            )
            # A row in flight may have been sent: its coupon is voided, not given to another.
            await take_back_coupons_in(
                session,
                BroadcastDelivery.broadcast_id == broadcast_id,
                now=self._clock.now(),
                may_have_seen=True,
            )

    async def get(self, broadcast_id: int) -> BroadcastInfo:
        async with self._db.reading() as session:
            row = await session.get(Broadcast, broadcast_id)
        if row is None:
            raise BroadcastNotFound(broadcast_id)
        return BroadcastInfo.of(row)

    async def state(self, broadcast_id: int) -> str:
        async with self._db.reading() as session:
            state = await session.scalar(
                select(Broadcast.state).where(Broadcast.id == broadcast_id)
            )
        if state is None:
            raise BroadcastNotFound(broadcast_id)
        return state

    # ------------------------------------------------------------------ the operator's word
    async def start(self, broadcast_id: int) -> BroadcastInfo:
        """Send it: now, or at its time (scheduled). Starting one that sends already is a
        no-op (another worker joins it); a cancelled or finished one is refused, and so is a
        paused one: whoever paused it meant it, only `resume` undoes that (a worker started
        late, or a colleague's `broadcast-send`, must not)."""
        return await self._go(broadcast_id, (DRAFT,))

    async def _go(self, broadcast_id: int, from_states: tuple[str, ...]) -> BroadcastInfo:
        now = self._clock.now()
        async with self._db.transaction() as session:
            row = await self._locked(session, broadcast_id)
            if row.state in (CANCELLED, DONE):
                raise BroadcastRefused(f"broadcast {broadcast_id} is {row.state}")
            if row.state == BROKEN:
                raise BroadcastRefused(f"broadcast {broadcast_id} failed: {row.failure}")
            if row.state == PAUSED and PAUSED not in from_states:
                raise BroadcastRefused(
                    f"broadcast {broadcast_id} is paused; broadcast-resume {broadcast_id} goes on"
                )
            if row.state in from_states:
                due = row.send_at is None or row.send_at <= now
                row.state = SENDING if due else SCHEDULED
                if due and row.started_at is None:
                    row.started_at = now
            return BroadcastInfo.of(row)

    async def pause(self, broadcast_id: int) -> BroadcastInfo:
        return await self._move(broadcast_id, (SENDING, SCHEDULED), PAUSED)

    async def resume(self, broadcast_id: int) -> BroadcastInfo:
        async with self._db.reading() as session:
            state = await session.scalar(
                select(Broadcast.state).where(Broadcast.id == broadcast_id)
            )
        if state is None:
            raise BroadcastNotFound(broadcast_id)
        if state != PAUSED:
            raise BroadcastRefused(f"broadcast {broadcast_id} is {state}, not paused")
        return await self._go(broadcast_id, (PAUSED,))

    async def cancel(self, broadcast_id: int) -> BroadcastInfo:
        """Nobody else gets it; what was sent stays sent. The recipients still queued are
        skipped as cancelled (a send in flight finishes)."""
        info = await self._move(
            broadcast_id, (DRAFT, SCHEDULED, SENDING, PAUSED, BROKEN), CANCELLED
        )
        async with self._db.transaction() as session:
            await session.execute(
                update(BroadcastDelivery)
                .where(
                    BroadcastDelivery.broadcast_id == broadcast_id,
                    BroadcastDelivery.status == QUEUED,
                )
                .values(status=SKIPPED, reason="cancelled", not_before=None)
            )
            # A queued row's attempts are its tries that failed (a wait for the morning, a
            # rate limit or a pause gives its try back): one with any may have been seen.
            await take_back_coupons_in(
                session,
                BroadcastDelivery.broadcast_id == broadcast_id,
                now=self._clock.now(),
                unseen_attempts=0,
            )
            await session.execute(
                update(Broadcast)
                .where(Broadcast.id == broadcast_id)
                .values(finished_at=self._clock.now())
            )
        return info

    async def _move(self, broadcast_id: int, sources: tuple[str, ...], to: str) -> BroadcastInfo:
        async with self._db.transaction() as session:
            row = await self._locked(session, broadcast_id)
            if row.state == to:
                return BroadcastInfo.of(row)
            if row.state not in sources:
                raise BroadcastRefused(f"broadcast {broadcast_id} is {row.state}")
            row.state = to
            return BroadcastInfo.of(row)

    @staticmethod
    async def _locked(session: AsyncSession, broadcast_id: int) -> Broadcast:
        row = await session.scalar(
            select(Broadcast).where(Broadcast.id == broadcast_id).with_for_update()
        )
        if row is None:
            raise BroadcastNotFound(broadcast_id)
        return row

    # ------------------------------------------------------------------ workers
    async def due(self) -> list[int]:
        """The broadcasts to work on now: sending ones, and scheduled ones whose time came
        (moved to sending here)."""
        now = self._clock.now()
        async with self._db.transaction() as session:
            await session.execute(
                update(Broadcast)
                .where(Broadcast.state == SCHEDULED, Broadcast.send_at <= now)
                .values(state=SENDING, started_at=func.coalesce(Broadcast.started_at, now))
            )
            return list(
                (
                    await session.execute(
                        select(Broadcast.id)
                        .where(Broadcast.state == SENDING)
                        .order_by(Broadcast.id)
                    )
                ).scalars()
            )

    async def plan(self, broadcast_id: int) -> int:
        """Materialize the recipients (once): how many rows this call added."""
        now = self._clock.now()
        info = await self.get(broadcast_id)
        if info.planned:
            return 0
        if info.spec.trigger is not None:
            # A standing rule has no list: its triggers add each recipient when they fire.
            async with self._db.transaction() as session:
                row = await self._locked(session, broadcast_id)
                row.planned_at = row.planned_at or now
            return 0
        audience = self.audience.members_in(info.spec.segment, now=now).subquery()
        member = audience.c[0]
        added = 0
        after = 0
        async with self._db.transaction() as session:
            row = await self._locked(session, broadcast_id)
            if row.planned_at is not None:
                return 0
            while True:
                chosen = (
                    select(member)
                    .where(member > after)
                    .where(
                        ~exists().where(
                            and_(
                                BroadcastDelivery.broadcast_id == broadcast_id,
                                BroadcastDelivery.member_id == member,
                            )
                        )
                    )
                    .order_by(member)
                    .limit(PLAN_BATCH)
                    .subquery()
                )
                last = await session.scalar(select(func.max(chosen.c[0])).select_from(chosen))
                if last is None:
                    break
                batch = select(
                    literal(broadcast_id), chosen.c[0], literal(QUEUED), literal(0)
                ).where(chosen.c[0] <= last)
                result = await session.execute(
                    insert(BroadcastDelivery).from_select(
                        ["broadcast_id", "member_id", "status", "attempts"], batch
                    )
                )
                added += int(getattr(result, "rowcount", 0) or 0)
                after = int(last)
            row.planned_at = now
        return added

    async def audience_size(self, broadcast_id: int) -> int:
        """How many members the broadcast reaches: its planned rows, or (not planned yet)
        its segment's consenting members now."""
        info = await self.get(broadcast_id)
        async with self._db.reading() as session:
            if info.planned:
                counted = select(func.count()).where(BroadcastDelivery.broadcast_id == broadcast_id)
            else:
                audience = self.audience.members_in(info.spec.segment, now=self._clock.now())
                counted = select(func.count()).select_from(audience.subquery())
            return int(await session.scalar(counted) or 0)

    async def finish_if_done(self, broadcast_id: int) -> bool:
        """Mark a sending broadcast done when no recipient is queued or in flight."""
        async with self._db.transaction() as session:
            row = await self._locked(session, broadcast_id)
            if row.state != SENDING or row.planned_at is None:
                return row.state == DONE
            if BroadcastSpec.model_validate_json(row.spec).trigger is not None:
                # A standing rule sends until it is paused or cancelled (the spec decides:
                # its raw text may quote the word, in a name or a message).
                return False
            left = await session.scalar(
                select(func.count())
                .select_from(BroadcastDelivery)
                .where(
                    BroadcastDelivery.broadcast_id == broadcast_id,
                    BroadcastDelivery.status.in_((QUEUED, IN_FLIGHT)),
                )
            )
            if left:
                return False
            row.state = DONE
            row.finished_at = self._clock.now()
            return True

    # ------------------------------------------------------------------ status
    async def status(self, broadcast_id: int) -> BroadcastStatus:
        info = await self.get(broadcast_id)
        now = self._clock.now()
        d = BroadcastDelivery
        async with self._db.reading() as session:
            rows = (
                await session.execute(
                    select(d.status, d.reason, d.variant, d.channel, func.count())
                    .where(d.broadcast_id == broadcast_id)
                    .group_by(d.status, d.reason, d.variant, d.channel)
                )
            ).all()
            waiting, waiting_until = (
                await session.execute(
                    select(func.count(), func.min(d.not_before)).where(
                        d.broadcast_id == broadcast_id, d.status == QUEUED, d.not_before > now
                    )
                )
            ).one()
            first, last = (
                await session.execute(
                    select(func.min(d.sent_at), func.max(d.sent_at)).where(
                        d.broadcast_id == broadcast_id, d.status == SENT
                    )
                )
            ).one()
        totals: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        channels: Counter[str] = Counter()
        variants: dict[str, Counter[str]] = {}
        for status, reason, variant, channel, count in rows:
            totals[status] += count
            if status == SKIPPED:
                reasons[reason or "unknown"] += count
            if status == SENT and channel:
                channels[channel] += count
            if variant:
                bucket = IN_FLIGHT if status == IN_FLIGHT else status
                variants.setdefault(variant, Counter())[bucket] += count
        sent = totals[SENT]
        rate = None
        if sent >= 2 and first is not None and last is not None and last > first:
            rate = (sent - 1) / (last - first).total_seconds()
        return BroadcastStatus(
            id=info.id,
            name=info.name,
            state=info.state,
            recipients=sum(totals.values()),
            queued=totals[QUEUED],
            in_flight=totals[IN_FLIGHT],
            sent=sent,
            failed=totals[FAILED],
            skipped=totals[SKIPPED],
            skipped_by_reason=dict(sorted(reasons.items())),
            waiting=int(waiting or 0),
            by_variant={
                key: VariantCounts(
                    queued=counts[QUEUED] + counts[IN_FLIGHT],
                    sent=counts[SENT],
                    failed=counts[FAILED],
                    skipped=counts[SKIPPED],
                )
                for key, counts in sorted(variants.items())
            },
            by_channel=dict(sorted(channels.items())),
            rate=rate,
            failure=info.failure,
            send_at=info.send_at,
            waiting_until=waiting_until,
            time_zone=zone_of((await self._rules.current()).time_zone, ZoneInfo("UTC")).key,
            standing=info.spec.trigger is not None,
        )


async def take_back_coupons_in(
    session: AsyncSession,
    rows: ColumnElement[bool],
    *,
    now: datetime,
    may_have_seen: bool = False,
    unseen_attempts: int = 1,
) -> None:
    """The coupons of deliveries (of `rows`) that ended without reaching their member
    (skipped, or failed after every attempt), taken back in the caller's transaction: the one
    that records the outcome, so no crash leaves a member holding a code they were never sent.

    A skipped row whose attempts are at most `unseen_attempts` never reached anyone (the
    engine's skip at the first try: every account refused it, or nothing was sent; a
    cancel's, of a row never tried): its code goes back to the campaign's free codes, for the
    next member, and off the row. One that failed, or had a try before (a failure, a worker
    that died mid-send), may have reached them: the coupon is voided, saying why, and stays
    on the row.
    A sent row is never touched, nor a coupon used or voided meanwhile; taking back twice
    changes nothing. Locks the rows, then their coupons."""
    d = BroadcastDelivery
    found = (
        await session.execute(
            select(d.id, d.broadcast_id, d.coupon_code, d.status, d.reason, d.attempts)
            .where(rows, d.status.in_((SKIPPED, FAILED)), d.coupon_code.is_not(None))
            .order_by(d.id)
            .with_for_update()
        )
    ).all()
    if not found:
        return
    takes = {
        row.id: TakeBack(
            cast(str, row.coupon_code),
            to_pool=(
                not may_have_seen and row.status == SKIPPED and row.attempts <= unseen_attempts
            ),
            reason=f"broadcast {row.broadcast_id} not delivered ({row.reason or row.status})",
        )
        for row in found
    }
    taken = {take.code for take in await take_back_in(session, list(takes.values()), now=now)}
    pooled = [row_id for row_id, take in takes.items() if take.to_pool and take.code in taken]
    if pooled:
        await session.execute(update(d).where(d.id.in_(pooled)).values(coupon_code=None))
