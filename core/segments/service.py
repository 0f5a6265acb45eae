"""Segments: who is in one, how many per channel, and where each member can be reached; the
tags marketers put on members.

Reads only, except tags. A count is taken in one statement, so it is consistent with itself
(its total is the sum of its channels) but not a promise: members opt in and out meanwhile,
and a broadcast re-reads the segment when it runs. Tags go on the member a card belongs to
today; a merged member's tags count for the survivor (core.segments.query), and untagging
removes the tag from both.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from core.db.database import Database
from core.db.models import Badge, CouponCampaign, Identity, Member, MemberTag, Quest
from core.segments.definition import BASE_TIER, Segment, parse_tag
from core.segments.errors import InvalidSegment
from core.segments.query import count_by_channel, member_is_in, members_in
from core.shared.clock import Clock
from core.shared.errors import MemberNotFound
from core.shared.owners import member_ids_of
from core.shared.parsing import parse_actor

# The channel of a member with no messenger account left (they can be reached nowhere).
NO_CHANNEL = "none"


@dataclass(frozen=True)
class SegmentCount:
    total: int
    # Per last-used channel, largest first (NO_CHANNEL for members without an account).
    by_channel: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SeenIdentity:
    """A messenger account of a member and when they last wrote from it (None: not since
    it was recorded). WhatsApp's 24-hour window runs from `last_seen_at`."""

    channel: str
    external_id: str
    last_seen_at: datetime | None


class Segments:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def count(self, segment: Segment) -> SegmentCount:
        """How many members are in the segment now, in total and by last-used channel."""
        statement = count_by_channel(segment, now=self._clock.now())
        async with self._db.reading() as session:
            rows = (await session.execute(statement)).all()
        by_channel = {channel or NO_CHANNEL: int(count) for channel, count in rows}
        ordered = dict(sorted(by_channel.items(), key=lambda item: (-item[1], item[0])))
        return SegmentCount(total=sum(ordered.values()), by_channel=ordered)

    async def member_ids(self, segment: Segment, *, after: int = 0, limit: int = 1000) -> list[int]:
        """A page of the segment's member ids in ascending order, those above `after`: a
        broadcast walks the segment page by page without holding it in memory."""
        statement = (
            members_in(segment, now=self._clock.now())
            .where(Member.id > after)
            .order_by(Member.id)
            .limit(limit)
        )
        async with self._db.reading() as session:
            return list((await session.scalars(statement)).all())

    async def contains(self, segment: Segment, member_id: int) -> bool:
        """Whether this member is in the segment now (a triggered campaign asks per member)."""
        statement = member_is_in(segment, member_id, now=self._clock.now())
        async with self._db.reading() as session:
            return await session.scalar(statement) is not None

    async def check_names(self, segment: Segment, tier_keys: Collection[str]) -> None:
        """Refuse a segment that names a tier, quest, badge or coupon campaign the program
        does not have (InvalidSegment, naming each): a typo would count nobody, or, for a
        campaign's coupon not redeemed, everybody."""
        missing = []
        if segment.tier is not None and segment.tier not in {BASE_TIER, *tier_keys}:
            known = ", ".join([BASE_TIER, *tier_keys])
            missing.append(f"tier: no tier {segment.tier!r} in the rules ({known})")
        async with self._db.reading() as session:
            if segment.quest is not None and (
                await session.scalar(select(Quest.id).where(Quest.slug == segment.quest.slug))
                is None
            ):
                missing.append(f"quest: no quest {segment.quest.slug!r}")
            if segment.badge is not None and (
                await session.scalar(select(Badge.id).where(Badge.name == segment.badge)) is None
            ):
                missing.append(f"badge: no badge {segment.badge!r}")
            if segment.coupon is not None and (
                await session.scalar(
                    select(CouponCampaign.id).where(CouponCampaign.slug == segment.coupon.campaign)
                )
                is None
            ):
                missing.append(f"coupon: no campaign {segment.coupon.campaign!r}")
        if missing:
            raise InvalidSegment("; ".join(missing))

    async def identities_by_recency(
        self, member_ids: Sequence[int]
    ) -> dict[int, list[SeenIdentity]]:
        """Each member's messenger accounts, the one they wrote from last first (accounts not
        seen yet after those, newest first). Members without an account are left out."""
        if not member_ids:
            return {}
        statement = (
            select(
                Identity.member_id, Identity.channel, Identity.external_id, Identity.last_seen_at
            )
            .where(Identity.member_id.in_(list(member_ids)))
            .order_by(
                Identity.member_id,
                Identity.last_seen_at.desc().nulls_last(),
                Identity.id.desc(),
            )
        )
        found: dict[int, list[SeenIdentity]] = {}
        async with self._db.reading() as session:
            for member_id, channel, external_id, last_seen_at in await session.execute(statement):
                found.setdefault(member_id, []).append(
                    SeenIdentity(channel, external_id, last_seen_at)
                )
        return found

    async def channel_of(
        self,
        member_id: int,
        *,
        can_reach: Callable[[SeenIdentity], bool] = lambda identity: True,
    ) -> SeenIdentity | None:
        """The account the member used last among those `can_reach` accepts (a channel that
        is configured, WhatsApp within its window or with a template ...); None if none."""
        identities = (await self.identities_by_recency([member_id])).get(member_id, [])
        return next((identity for identity in identities if can_reach(identity)), None)

    # ---------------------------------------------------------------- tags
    async def tags_of(self, member_id: int) -> list[str]:
        """The member's tags (with those of members merged into it), sorted."""
        async with self._db.reading() as session:
            rows = await session.scalars(
                select(MemberTag.tag)
                .where(MemberTag.member_id.in_(member_ids_of(member_id)))
                .distinct()
                .order_by(MemberTag.tag)
            )
            return list(rows)

    async def tag(self, member_id: int, raw_tag: str, *, actor: str) -> tuple[bool, list[str]]:
        """Put a tag on a member; (whether it is new, the member's tags now). Tagging twice
        is no error: the tag is there once."""
        tag = parse_tag(raw_tag)
        actor = parse_actor(actor)
        added = False
        try:
            async with self._db.transaction() as session:
                if await session.get(Member, member_id) is None:
                    raise MemberNotFound(member_id)
                carried = await session.scalar(
                    select(MemberTag.tag).where(
                        MemberTag.member_id.in_(member_ids_of(member_id)), MemberTag.tag == tag
                    )
                )
                if carried is None:
                    session.add(
                        MemberTag(
                            member_id=member_id,
                            tag=tag,
                            created_by=actor,
                            created_at=self._clock.now(),
                        )
                    )
                    await session.flush()
                    added = True
        except IntegrityError:
            # The same tag put on concurrently: it is there, once.
            added = False
        return added, await self.tags_of(member_id)

    async def untag(self, member_id: int, raw_tag: str) -> tuple[bool, list[str]]:
        """Take a tag off a member (and off members merged into it); (whether it was there,
        the member's tags now)."""
        tag = parse_tag(raw_tag)
        async with self._db.transaction() as session:
            removed = await session.execute(
                delete(MemberTag)
                .where(MemberTag.member_id.in_(member_ids_of(member_id)), MemberTag.tag == tag)
                .returning(MemberTag.member_id)
            )
            was_there = bool(removed.all())
        return was_there, await self.tags_of(member_id)
