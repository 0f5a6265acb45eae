"""The rewards catalogue: goods and perks bought with points; a claim yields a coupon.

A claim is one transaction: the reward's row is locked (stock and the per-member limit hold
under concurrent claims), the points are spent through the ledger, the stock goes down, a
holder-only coupon is issued and the claim recorded. Replaying a claim id changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import Coupon, CouponCampaign, Member, Reward, RewardClaim
from core.ledger.entries import Ledger
from core.offers.campaigns import MAX_LIMIT, CampaignSpec, CouponKind
from core.offers.coupons import Coupons
from core.offers.events import RewardClaimed
from core.offers.issuing import IssuedCoupon
from core.shared.bus import MessageBus
from core.shared.clock import Clock
from core.shared.errors import (
    CampaignNotFound,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidCampaign,
    MemberNotFound,
    RewardNotFound,
    RewardRefused,
)
from core.shared.owners import member_ids_of, owner_of
from core.shared.parsing import (
    has_control_characters,
    parse_actor,
    parse_reference,
)
from core.shared.writes import retry_on_conflict

REWARD_REASON = "reward"
INACTIVE = "inactive"
OUT_OF_STOCK = "out_of_stock"
LIMIT_REACHED = "limit_reached"
NOT_ENOUGH_POINTS = "not_enough_points"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MAX_COST = 10**12


class _Unset:
    """ "Leave as it is" for fields where None means something (no stock limit)."""


UNSET: Final = _Unset()


@dataclass(frozen=True)
class RewardSpec:
    slug: str
    name: str
    cost: int
    description: str | None = None
    # A local file path or an https URL.
    picture: str | None = None
    # None: unlimited.
    stock: int | None = None
    per_member_limit: int | None = None
    # The campaign whose coupon a claim yields; None: a free-item campaign is made for it.
    campaign: str | None = None
    active: bool = True


@dataclass(frozen=True)
class RewardItem:
    id: int
    slug: str
    name: str
    description: str | None
    picture: str | None
    cost: int
    stock: int | None
    per_member_limit: int | None
    campaign: str
    active: bool

    @classmethod
    def of(cls, row: Reward, campaign_slug: str) -> RewardItem:
        return cls(
            id=row.id,
            slug=row.slug,
            name=row.name,
            description=row.description,
            picture=row.picture,
            cost=row.cost,
            stock=row.stock,
            per_member_limit=row.per_member_limit,
            campaign=campaign_slug,
            active=row.active,
        )


@dataclass(frozen=True)
class Claim:
    claim_id: str
    reward: RewardItem
    coupon: IssuedCoupon
    points: int
    balance: int
    replayed: bool


def _picture(raw: str | None) -> str | None:
    picture = (raw or "").strip() or None
    if picture is None:
        return None
    if len(picture) > 512:
        raise InvalidCampaign("a picture path or URL is at most 512 characters")
    if "://" in picture and not picture.startswith("https://"):
        raise InvalidCampaign(f"a picture is a file path or an https URL: {picture!r}")
    return picture


def _check_cost(cost: int) -> None:
    if cost < 1:
        raise InvalidCampaign("a reward costs at least 1 point")
    if cost > MAX_COST:
        raise InvalidCampaign(f"a reward costs at most {MAX_COST} points")


def _positive_or_none(value: int | None, what: str, *, zero_ok: bool = False) -> int | None:
    if value is None:
        return None
    least = 0 if zero_ok else 1
    if value < least:
        raise InvalidCampaign(f"{what} must be at least {least}")
    if value > MAX_LIMIT:
        # Its column is 32-bit.
        raise InvalidCampaign(f"{what} must be at most {MAX_LIMIT}")
    return value


class Rewards:
    def __init__(
        self, db: Database, clock: Clock, ledger: Ledger, coupons: Coupons, bus: MessageBus
    ) -> None:
        self._db = db
        self._clock = clock
        self._ledger = ledger
        self._coupons = coupons
        self._bus = bus

    # ------------------------------------------------------------------ catalogue
    async def add(self, spec: RewardSpec, *, actor: str) -> RewardItem:
        actor = parse_actor(actor)
        slug = spec.slug.strip().lower()
        if not _SLUG.match(slug):
            raise InvalidCampaign(
                f"a reward slug is 1 to 32 lower-case letters, digits, '-' or '_': {spec.slug!r}"
            )
        name = spec.name.strip()
        if not name or len(name) > 128 or has_control_characters(name):
            raise InvalidCampaign("a reward name of 1 to 128 characters is required")
        _check_cost(spec.cost)
        picture = _picture(spec.picture)
        stock = _positive_or_none(spec.stock, "stock", zero_ok=True)
        limit = _positive_or_none(spec.per_member_limit, "the per-member limit")
        async with self._db.transaction() as session:
            if await session.scalar(select(Reward.id).where(Reward.slug == slug)) is not None:
                raise InvalidCampaign(f"a reward {slug!r} already exists")
            if spec.campaign:
                campaign = await session.scalar(
                    select(CouponCampaign).where(
                        CouponCampaign.slug == spec.campaign.strip().lower()
                    )
                )
                if campaign is None:
                    raise CampaignNotFound(spec.campaign)
            else:
                # The coupon names the reward at the till: a free item of the same name.
                campaign = await self._coupons.campaigns.create_campaign_in(
                    session,
                    CampaignSpec(
                        slug=f"reward-{slug}"[:32].rstrip("-_"),
                        name=name,
                        kind=CouponKind.FREE_ITEM,
                        item=name,
                        terms=(spec.description or "").strip() or None,
                    ),
                    actor=actor,
                )
            row = Reward(
                slug=slug,
                name=name,
                description=(spec.description or "").strip() or None,
                picture=picture,
                cost=spec.cost,
                stock=stock,
                per_member_limit=limit,
                campaign_id=campaign.id,
                active=spec.active,
                created_at=self._clock.now(),
            )
            session.add(row)
            await session.flush()
            return RewardItem.of(row, campaign.slug)

    async def update(
        self,
        slug: str,
        *,
        name: str | None = None,
        description: str | None = None,
        picture: str | _Unset | None = UNSET,
        cost: int | None = None,
        stock: int | _Unset | None = UNSET,
        per_member_limit: int | _Unset | None = UNSET,
        active: bool | None = None,
    ) -> RewardItem:
        """Change what is given; a field left out stays as it is."""
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(Reward).where(Reward.slug == slug.strip().lower()).with_for_update()
            )
            if row is None:
                raise RewardNotFound(slug)
            if name is not None:
                if not name.strip() or len(name.strip()) > 128 or has_control_characters(name):
                    raise InvalidCampaign("a reward name of 1 to 128 characters is required")
                row.name = name.strip()
            if description is not None:
                row.description = description.strip() or None
            if not isinstance(picture, _Unset):
                row.picture = _picture(picture)
            if cost is not None:
                _check_cost(cost)
                row.cost = cost
            if not isinstance(stock, _Unset):
                row.stock = _positive_or_none(stock, "stock", zero_ok=True)
            if not isinstance(per_member_limit, _Unset):
                row.per_member_limit = _positive_or_none(per_member_limit, "the per-member limit")
            if active is not None:
                row.active = active
            await session.flush()
            campaign_slug = await session.scalar(
                select(CouponCampaign.slug).where(CouponCampaign.id == row.campaign_id)
            )
            return RewardItem.of(row, campaign_slug or "")

    async def catalogue(self, *, active_only: bool = True) -> list[RewardItem]:
        """The catalogue, cheapest first; by default what members may claim now."""
        statement = (
            select(Reward, CouponCampaign.slug)
            .join(CouponCampaign, CouponCampaign.id == Reward.campaign_id)
            .order_by(Reward.cost, Reward.id)
        )
        if active_only:
            statement = statement.where(Reward.active.is_(True))
        async with self._db.reading() as session:
            rows = (await session.execute(statement)).all()
        return [RewardItem.of(row, campaign) for row, campaign in rows]

    async def get(self, reward: str | int) -> RewardItem:
        """A reward by its slug or id."""
        condition = Reward.id == reward if isinstance(reward, int) else Reward.slug == reward
        async with self._db.reading() as session:
            found = (
                await session.execute(
                    select(Reward, CouponCampaign.slug)
                    .join(CouponCampaign, CouponCampaign.id == Reward.campaign_id)
                    .where(condition)
                )
            ).first()
        if found is None:
            raise RewardNotFound(reward)
        return RewardItem.of(found[0], found[1])

    async def claimed(self, member_id: int, reward: str | int) -> int:
        """How many times a member (with merged accounts) has claimed a reward."""
        item = await self.get(reward)
        async with self._db.reading() as session:
            return int(
                await session.scalar(
                    select(func.count()).where(
                        RewardClaim.reward_id == item.id,
                        RewardClaim.member_id.in_(member_ids_of(member_id)),
                    )
                )
                or 0
            )

    # ------------------------------------------------------------------ claims
    async def claim(
        self,
        member_id: int,
        reward: str | int,
        *,
        claim_id: str,
        actor: str,
        notify: bool = True,
    ) -> Claim:
        """Spend a member's points on a reward and give them its coupon; idempotent on
        claim_id. Refusals: RewardRefused (inactive, out_of_stock, limit_reached,
        not_enough_points with how many are missing), RewardNotFound.

        `notify=False` when the caller hands the coupon over itself (the chat's answer to
        the claim), so the member does not get it a second time as a notice."""
        actor = parse_actor(actor)
        claim_id = parse_reference("claim id", claim_id)

        async def attempt() -> Claim:
            async with self._db.transaction() as session:
                return await self._claim_in(session, member_id, reward, claim_id, actor, notify)

        # The same claim id used concurrently: the retry sees it as a replay.
        return await retry_on_conflict(attempt)

    async def _claim_in(
        self,
        session: AsyncSession,
        member_id: int,
        reward: str | int,
        claim_id: str,
        actor: str,
        notify: bool,
    ) -> Claim:
        condition = Reward.id == reward if isinstance(reward, int) else Reward.slug == reward
        row = await session.scalar(select(Reward).where(condition).with_for_update())
        if row is None:
            raise RewardNotFound(reward)
        member = await session.get(Member, member_id)
        if member is None:
            raise MemberNotFound(member_id)
        previous = await session.scalar(select(RewardClaim).where(RewardClaim.claim_id == claim_id))
        campaign = await session.get(CouponCampaign, row.campaign_id, with_for_update=True)
        assert campaign is not None
        if previous is not None:
            # The same member today: the claim may have been made with a card merged since.
            asked = member.merged_into_id or member.id
            owner = (
                asked
                if previous.member_id == member.id
                else await session.scalar(owner_of(previous.member_id))
            )
            if previous.reward_id != row.id or owner != asked:
                raise IdempotencyConflict(f"reward-claim:{claim_id}")
            coupon = await session.get(Coupon, previous.coupon_id)
            assert coupon is not None
            return Claim(
                claim_id,
                RewardItem.of(row, campaign.slug),
                IssuedCoupon.of(coupon, campaign),
                previous.points,
                member.balance,
                replayed=True,
            )
        if not row.active:
            raise RewardRefused(INACTIVE)
        if row.stock is not None and row.stock <= 0:
            raise RewardRefused(OUT_OF_STOCK)
        if row.per_member_limit is not None:
            claimed = await session.scalar(
                select(func.count()).where(
                    RewardClaim.reward_id == row.id,
                    RewardClaim.member_id.in_(member_ids_of(member_id)),
                )
            )
            if (claimed or 0) >= row.per_member_limit:
                raise RewardRefused(LIMIT_REACHED)
        try:
            posting = await self._ledger.post_in(
                session,
                member_id,
                -row.cost,
                reason=REWARD_REASON,
                actor=actor,
                idempotency_key=f"reward-claim:{claim_id}",
                reference=row.slug,
            )
        except InsufficientPoints as error:
            raise RewardRefused(
                NOT_ENOUGH_POINTS, missing=error.requested - error.balance
            ) from error
        if row.stock is not None:
            row.stock -= 1
        issued = await self._coupons.issuing.issue_in(
            session, campaign, member_id, source="reward", notify=notify
        )
        session.add(
            RewardClaim(
                claim_id=claim_id,
                reward_id=row.id,
                member_id=member_id,
                coupon_id=issued.id,
                ledger_entry_id=posting.entry.id,
                points=row.cost,
                created_at=self._clock.now(),
            )
        )
        await session.flush()
        await self._bus.publish_in(
            session,
            RewardClaimed(
                occurred_at=self._clock.now(),
                member_id=member_id,
                claim_id=claim_id,
                reward=row.slug,
                points=row.cost,
                balance=posting.balance,
                coupon_id=issued.id,
            ),
        )
        return Claim(
            claim_id,
            RewardItem.of(row, campaign.slug),
            issued,
            row.cost,
            posting.balance,
            replayed=False,
        )
