"""Badges: awarded exactly once per member, in the transaction of the event that earned them.

Each subscriber re-checks the badges of the kinds its event can move (visits after a
purchase, friends after a referral, ...) against the member's progress, read from what the
other contexts keep (purchases, referrals, the tier, streaks) or from the games' own facts
(quests done). A badge created after members already qualify is awarded at their next event
of its kind. When two cards merge, badges earned on either are the survivor's, once, and the
survivor is checked at once against what the two cards did together. The award is a unique
(member, badge) row written with INSERT ... ON CONFLICT DO NOTHING, and its notice has the
award's dedupe key: replays and races award nothing twice.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import Badge, BadgeAward, GameFact, Member, Purchase, Referral, Streak
from core.earning.events import PurchaseRecorded
from core.games.badges.definitions import (
    BadgeDefinition,
    Condition,
    condition_of,
    localized_of,
    parse_definition,
)
from core.games.errors import BadgeExists
from core.games.events import QuestCompleted
from core.games.facts import QUEST, record_fact
from core.games.streaks.events import StreakExtended
from core.members.events import MembersMerged
from core.notices.outbox import NoticeKind, enqueue_in
from core.referrals.events import ReferralQualified
from core.rules.book import RuleBook
from core.rules.values import LocalizedText
from core.shared.bus import MessageBus
from core.shared.clock import Clock
from core.shared.writes import insert_ignoring
from core.tiers.events import TierChanged

log = logging.getLogger(__name__)
REWARDED = "rewarded"
# How stale the badges checked on every event may be, in seconds (like the rules members see).
CATALOGUE_MAX_AGE = 10.0


@dataclass(frozen=True)
class BadgeInfo:
    id: int
    name: str
    title: LocalizedText
    description: LocalizedText
    emoji: str | None
    picture: str | None
    condition: Condition
    active: bool

    @classmethod
    def of(cls, row: Badge) -> BadgeInfo:
        return cls(
            id=row.id,
            name=row.name,
            title=localized_of(row.title),
            description=localized_of(row.description),
            emoji=row.emoji,
            picture=row.picture,
            condition=condition_of(row.condition),
            active=row.active,
        )


@dataclass(frozen=True)
class Progress:
    have: int
    need: int

    @property
    def done(self) -> bool:
        return self.have >= self.need


@dataclass(frozen=True)
class ShelfItem:
    badge: BadgeInfo
    earned_at: datetime | None
    progress: Progress


class Badges:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        rules: RuleBook,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._clock = clock
        self._monotonic = monotonic
        self._cached: tuple[float, tuple[BadgeInfo, ...]] | None = None
        self._rules = rules

    def subscribe(self, bus: MessageBus) -> None:
        bus.subscribe_after_commit(PurchaseRecorded, self.on_purchase_recorded)
        bus.subscribe_after_commit(ReferralQualified, self._friend_qualified)
        bus.subscribe_after_commit(TierChanged, self._tier_changed)
        bus.subscribe_in_transaction(QuestCompleted, self._quest_completed)
        bus.subscribe_in_transaction(StreakExtended, self._streak_extended)
        bus.subscribe_after_commit(MembersMerged, self.on_members_merged)

    # ------------------------------------------------------------------ the catalogue
    async def create(
        self, definition: dict[str, Any] | BadgeDefinition, *, actor: str
    ) -> BadgeInfo:
        checked = (
            definition if isinstance(definition, BadgeDefinition) else parse_definition(definition)
        )
        try:
            async with self._db.transaction() as session:
                existing = await session.scalar(select(Badge.id).where(Badge.name == checked.name))
                if existing is not None:
                    raise BadgeExists(checked.name)
                row = Badge(
                    name=checked.name,
                    title=json.dumps(checked.title.to_json(), ensure_ascii=False),
                    description=json.dumps(checked.description.to_json(), ensure_ascii=False),
                    emoji=checked.emoji,
                    picture=checked.picture,
                    condition=checked.condition.model_dump_json(exclude_defaults=True),
                    active=True,
                    created_by=actor,
                    created_at=self._clock.now(),
                )
                session.add(row)
                await session.flush()
                created = BadgeInfo.of(row)
        except IntegrityError:
            raise BadgeExists(checked.name) from None
        # This process checks it from its next event on (others within CATALOGUE_MAX_AGE).
        self._cached = None
        return created

    async def all(self) -> list[BadgeInfo]:
        async with self._db.reading() as session:
            rows = await session.scalars(select(Badge).order_by(Badge.id))
            return [BadgeInfo.of(row) for row in rows]

    async def awarded_count(self) -> dict[int, int]:
        async with self._db.reading() as session:
            rows = await session.execute(
                select(BadgeAward.badge_id, func.count()).group_by(BadgeAward.badge_id)
            )
            return {badge_id: int(count) for badge_id, count in rows}

    # ------------------------------------------------------------------ the shelf
    async def shelf(self, member_id: int) -> list[ShelfItem]:
        """Every active badge: the earned ones first (in the order earned), then the locked
        ones with the member's progress."""
        async with self._db.reading() as session:
            badges = [BadgeInfo.of(row) for row in await self._active(session)]
            awards = await session.execute(
                select(BadgeAward.badge_id, BadgeAward.awarded_at).where(
                    BadgeAward.member_id == member_id
                )
            )
            earned = {badge_id: at for badge_id, at in awards}
            items = []
            for badge in badges:
                at = earned.get(badge.id)
                progress = (
                    Progress(1, 1)
                    if at is not None
                    else await self._progress(session, member_id, badge.condition)
                )
                items.append(ShelfItem(badge, at, progress))
        earned_first = sorted(
            (item for item in items if item.earned_at is not None),
            key=lambda item: (item.earned_at, item.badge.id),
        )
        return earned_first + [item for item in items if item.earned_at is None]

    async def earned(self, member_id: int) -> list[str]:
        async with self._db.reading() as session:
            rows = await session.scalars(
                select(Badge.name)
                .join(BadgeAward, BadgeAward.badge_id == Badge.id)
                .where(BadgeAward.member_id == member_id)
                .order_by(BadgeAward.id)
            )
            return list(rows)

    # ------------------------------------------------------------------ awarding
    async def award(self, session: AsyncSession, member_id: int, badge_name: str, key: str) -> bool:
        """Give the badge called `badge_name` (another context's reward, e.g. a quest's), in
        the caller's transaction; idempotent: True only the first time. An unknown or retired
        badge gives nothing (logged), so it never fails the caller's operation."""
        row = await session.scalar(select(Badge).where(Badge.name == badge_name, Badge.active))
        if row is None:
            log.warning("no active badge named %r to award (key %s)", badge_name, key)
            return False
        return await self._give(session, member_id, BadgeInfo.of(row), key)

    async def _give(
        self, session: AsyncSession, member_id: int, badge: BadgeInfo, key: str
    ) -> bool:
        now = self._clock.now()
        inserted = await session.scalar(
            insert_ignoring(
                session,
                BadgeAward,
                {"member_id": member_id, "badge_id": badge.id, "key": key[:128], "awarded_at": now},
                unique=["member_id", "badge_id"],
            ).returning(BadgeAward.id)
        )
        if inserted is None:
            return False
        await enqueue_in(
            session,
            member_id=member_id,
            kind=NoticeKind.BADGE_EARNED,
            payload={
                "badge": badge.name,
                "title": badge.title.to_json(),
                "description": badge.description.to_json(),
                "emoji": badge.emoji,
            },
            dedupe_key=f"badge:{member_id}:{badge.id}",
            now=now,
        )
        return True

    async def _check(
        self, session: AsyncSession, member_id: int, kinds: Iterable[str], key: str
    ) -> None:
        kinds = set(kinds)
        candidates = [
            badge for badge in await self._catalogue(session) if badge.condition.kind in kinds
        ]
        if not candidates:
            return
        earned = set(
            await session.scalars(
                select(BadgeAward.badge_id).where(BadgeAward.member_id == member_id)
            )
        )
        for badge in candidates:
            if badge.id in earned:
                continue
            if (await self._progress(session, member_id, badge.condition)).done:
                await self._give(session, member_id, badge, key)

    async def _active(self, session: AsyncSession) -> list[Badge]:
        return list(await session.scalars(select(Badge).where(Badge.active).order_by(Badge.id)))

    async def _catalogue(self, session: AsyncSession) -> tuple[BadgeInfo, ...]:
        """The active badges the subscribers check, read at most every CATALOGUE_MAX_AGE
        seconds per process (every purchase asks): a badge created in another process is
        checked from then on, and awarded at the member's next event of its kind."""
        if self._cached is not None and self._monotonic() - self._cached[0] < CATALOGUE_MAX_AGE:
            return self._cached[1]
        read_at = self._monotonic()
        badges = tuple(BadgeInfo.of(row) for row in await self._active(session))
        self._cached = (read_at, badges)
        return badges

    # ------------------------------------------------------------------ progress
    async def _progress(
        self, session: AsyncSession, member_id: int, condition: Condition
    ) -> Progress:
        kind = condition.kind
        if kind in ("first_purchase", "visits"):
            # A merged card's purchases stay its own rows: they count for the survivor.
            absorbed = select(Member.id).where(Member.merged_into_id == member_id)
            have = await _count(
                session,
                select(func.count())
                .select_from(Purchase)
                .where(or_(Purchase.member_id == member_id, Purchase.member_id.in_(absorbed))),
            )
            return Progress(have, condition.count)
        if kind == "friends":
            have = await _count(
                session,
                select(func.count())
                .select_from(Referral)
                .where(Referral.referrer_id == member_id, Referral.status == REWARDED),
            )
            return Progress(have, condition.count)
        if kind == "quest":
            query = (
                select(func.count())
                .select_from(GameFact)
                .where(GameFact.member_id == member_id, GameFact.kind == QUEST)
            )
            if condition.quest_id is not None:
                # "<member>:<quest>:<period>", the member the card that did it (a merged
                # card's facts follow the survivor); periods hold no colon.
                query = query.where(GameFact.ref.like(f"%:{condition.quest_id}:%"))
            return Progress(await _count(session, query), condition.count)
        if kind == "streak":
            query = select(func.coalesce(func.max(Streak.best), 0)).where(
                Streak.member_id == member_id
            )
            if condition.streak is not None:
                query = query.where(Streak.key == condition.streak)
            return Progress(await _count(session, query), condition.count)
        if kind == "tier":
            member = await session.get(Member, member_id)
            rules = await self._rules.in_force(session)
            keys = [tier.key for tier in rules.tiers]
            held = member.tier if member is not None else None
            reached = (
                held in keys
                and condition.tier in keys
                and keys.index(held) >= keys.index(condition.tier)
            ) or held == condition.tier
            return Progress(1 if reached else 0, 1)
        return Progress(0, 1)  # "award": only given by name

    # ------------------------------------------------------------------ subscribers
    async def on_purchase_recorded(self, session: AsyncSession, event: PurchaseRecorded) -> None:
        await self._check(
            session, event.member_id, ("first_purchase", "visits"), f"purchase:{event.purchase_id}"
        )

    async def _friend_qualified(self, session: AsyncSession, event: ReferralQualified) -> None:
        await self._check(session, event.referrer_id, ("friends",), f"referral:{event.referral_id}")

    async def _tier_changed(self, session: AsyncSession, event: TierChanged) -> None:
        if event.upgrade:
            await self._check(session, event.member_id, ("tier",), f"tier:{event.change_id}")

    async def _quest_completed(self, session: AsyncSession, event: QuestCompleted) -> None:
        ref = f"{event.member_id}:{event.quest_id}:{event.period}"
        if await record_fact(
            session, member_id=event.member_id, kind=QUEST, ref=ref, now=event.occurred_at
        ):
            await self._check(session, event.member_id, ("quest",), f"quest:{ref}")
        if event.badge:
            # The quest's own reward: given once per (member, quest, period), like its points.
            await self.award(session, event.member_id, event.badge, f"quest-reward:{ref}")

    async def on_members_merged(self, session: AsyncSession, event: MembersMerged) -> None:
        """Badges earned on either card are the survivor's, once (an award the survivor has
        too stays on the absorbed card, unseen); quests done on the absorbed card count for
        the survivor's progress; then what the two did together may earn more."""
        survivor_id, absorbed_id = event.member_id, event.absorbed_id
        held = set(
            await session.scalars(
                select(BadgeAward.badge_id).where(BadgeAward.member_id == survivor_id)
            )
        )
        for award in (
            await session.scalars(select(BadgeAward).where(BadgeAward.member_id == absorbed_id))
        ).all():
            if award.badge_id not in held:
                award.member_id = survivor_id
        await session.execute(
            update(GameFact)
            .where(GameFact.member_id == absorbed_id, GameFact.kind == QUEST)
            .values(member_id=survivor_id)
            .execution_options(synchronize_session=False)
        )
        await session.flush()
        kinds = ("first_purchase", "visits", "friends", "quest", "streak", "tier")
        await self._check(session, survivor_id, kinds, f"merge:{absorbed_id}")

    async def _streak_extended(self, session: AsyncSession, event: StreakExtended) -> None:
        await self._check(
            session, event.member_id, ("streak",), f"streak:{event.key}:{event.current}"
        )


async def _count(session: AsyncSession, query: Any) -> int:
    return int(await session.scalar(query) or 0)
