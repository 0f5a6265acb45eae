"""Coupons in members' hands: issue (a free code of the campaign, or a new one), void, and
the coupons a member can use today.

Issuing locks the campaign's row first and only ever takes a free code with SKIP LOCKED, so
it cannot deadlock with a redemption (which locks the coupon, then its campaign).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import Coupon, CouponCampaign, Member
from core.offers import events
from core.offers.campaigns import (
    CAMPAIGN_EXHAUSTED,
    EXPIRED,
    INACTIVE,
    MEMBER_LIMIT,
    UNKNOWN,
    USED_UP,
    VOIDED,
    Campaigns,
    CouponKind,
)
from core.offers.codes import Codes, normalize_code
from core.shared.bus import MessageBus
from core.shared.clock import Clock
from core.shared.errors import CouponRefused, InvalidReference, MemberNotFound
from core.shared.owners import member_ids_of, owner_of
from core.shared.parsing import clean_text, parse_actor

# Kept with a voided coupon (coupons.void_reason).
MAX_VOID_REASON_LENGTH = 128
# The source of a code an issue gave back to its campaign's free codes (`take_back_in`).
RETURNED = "returned"


@dataclass(frozen=True)
class IssuedCoupon:
    """A coupon as its holder sees it: the code, what it gives, until when, on what terms."""

    id: int
    code: str
    campaign: str
    kind: CouponKind
    value: Decimal | None
    item: str | None
    terms: str | None
    min_order: Decimal | None
    valid_until: datetime | None
    uses_left: int

    @classmethod
    def of(cls, coupon: Coupon, campaign: CouponCampaign) -> IssuedCoupon:
        return cls(
            id=coupon.id,
            code=coupon.code,
            campaign=campaign.name,
            kind=CouponKind(campaign.kind),
            value=campaign.value,
            item=campaign.item,
            terms=campaign.terms,
            min_order=campaign.min_order,
            valid_until=valid_until(coupon, campaign),
            uses_left=max(0, campaign.uses_per_coupon - coupon.uses),
        )


@dataclass(frozen=True)
class VoidedCoupon:
    code: str
    campaign: str
    # Whom it had been issued to (today's member, after a merge); None: it was not issued.
    member_id: int | None


def parse_void_reason(raw: str) -> str:
    reason = clean_text(raw)
    if not reason or len(reason) > MAX_VOID_REASON_LENGTH:
        raise InvalidReference(f"a reason of 1 to {MAX_VOID_REASON_LENGTH} characters is required")
    return reason


@dataclass(frozen=True)
class TakeBack:
    """An issued coupon to take back (`take_back_in`)."""

    code: str
    # True: its holder cannot have seen it, the code goes back to its campaign's free codes
    # (the next issue takes it); False: it may have reached them, it is voided for good.
    to_pool: bool
    # Kept as the void's reason (unused when the code goes back to the pool).
    reason: str


async def take_back_in(
    session: AsyncSession, takes: Sequence[TakeBack], *, now: datetime, actor: str = "broadcast"
) -> list[TakeBack]:
    """Undo issues whose message never reached the member, in the caller's transaction (the
    one that records why); those taken back.

    Only a coupon still as it was issued is touched (issued, not voided, never used): one
    used or voided meanwhile stays as it is. No notice: the holder never knew of it. A code
    back in the pool is as if never issued (no holder, no date), so it counts against neither
    the campaign nor the member's limit; a voided one keeps its holder and says why.
    Locks the coupons (after whatever the caller holds): as a redemption or a void does."""
    by_code = {take.code: take for take in takes}
    if not by_code:
        return []
    coupons = (
        await session.scalars(
            select(Coupon)
            .where(
                Coupon.code.in_(sorted(by_code)),
                Coupon.issued_at.is_not(None),
                Coupon.voided_at.is_(None),
                Coupon.uses == 0,
            )
            .order_by(Coupon.id)
            .with_for_update()
        )
    ).all()
    for coupon in coupons:
        take = by_code[coupon.code]
        if take.to_pool:
            coupon.member_id = None
            coupon.issued_at = None
            coupon.valid_until = None
            coupon.source = RETURNED
        else:
            coupon.voided_at = now
            coupon.void_reason = take.reason[:MAX_VOID_REASON_LENGTH]
            coupon.voided_by = actor
    await session.flush()
    return [by_code[coupon.code] for coupon in coupons]


def valid_until(coupon: Coupon, campaign: CouponCampaign) -> datetime | None:
    """When a coupon stops working: its own date once issued, else the campaign's end."""
    if coupon.valid_until is not None:
        return coupon.valid_until
    return campaign.ends_at


class Issuing:
    def __init__(
        self, db: Database, clock: Clock, bus: MessageBus, campaigns: Campaigns, codes: Codes
    ) -> None:
        self._db = db
        self._clock = clock
        self._bus = bus
        self._campaigns = campaigns
        self._codes = codes

    async def issue(self, slug: str, member_id: int, *, source: str = "manual") -> IssuedCoupon:
        """Give a member a coupon of the campaign (a free code, or a new one) and tell them."""
        async with self._db.transaction() as session:
            campaign = await self._campaigns.campaign_in(session, slug, lock=True)
            if await session.get(Member, member_id) is None:
                raise MemberNotFound(member_id)
            return await self.issue_in(session, campaign, member_id, source=source)

    async def issue_in(
        self,
        session: AsyncSession,
        campaign: CouponCampaign,
        member_id: int,
        *,
        source: str,
        notify: bool = True,
    ) -> IssuedCoupon:
        """Issue inside the caller's transaction; the campaign row must be locked by it.

        Publishes CouponIssued; with `notify`, the notices context records a "coupon
        received" notice in the same transaction."""
        now = self._clock.now()
        if not campaign.active:
            raise CouponRefused(INACTIVE, detail=f"campaign {campaign.slug} is switched off")
        if campaign.ends_at is not None and campaign.ends_at <= now:
            raise CouponRefused(EXPIRED, detail=f"campaign {campaign.slug} has ended")
        if campaign.total_limit is not None and campaign.redemptions >= campaign.total_limit:
            raise CouponRefused(CAMPAIGN_EXHAUSTED, detail=f"campaign {campaign.slug}")
        if campaign.per_member_limit is not None:
            held = await session.scalar(
                select(func.count()).where(
                    Coupon.campaign_id == campaign.id,
                    Coupon.member_id.in_(member_ids_of(member_id)),
                )
            )
            if (held or 0) >= campaign.per_member_limit:
                raise CouponRefused(
                    MEMBER_LIMIT,
                    detail=f"{campaign.per_member_limit} per member in campaign {campaign.slug}",
                )
        coupon = await session.scalar(
            select(Coupon)
            .where(
                Coupon.campaign_id == campaign.id,
                Coupon.member_id.is_(None),
                Coupon.issued_at.is_(None),
                Coupon.voided_at.is_(None),
            )
            .order_by(Coupon.id)
            .limit(1)
            # A code another issue is taking is skipped, not waited for.
            .with_for_update(skip_locked=True)
        )
        if coupon is None:
            coupon = await self._codes.new_coupon_in(session, campaign, source)
        else:
            coupon.source = coupon.source if source == "manual" else source
        # Recorded for transferable coupons too (it is how "My coupons" finds them); only
        # holder-only ones are refused in anyone else's hands.
        coupon.member_id = member_id
        coupon.issued_at = now
        until = campaign.ends_at
        if campaign.valid_days is not None:
            own = now + timedelta(days=campaign.valid_days)
            until = own if until is None else min(until, own)
        coupon.valid_until = until
        await session.flush()
        issued = IssuedCoupon.of(coupon, campaign)
        await self._bus.publish_in(
            session,
            events.CouponIssued(
                occurred_at=now,
                member_id=member_id,
                coupon_id=coupon.id,
                code=issued.code,
                campaign=issued.campaign,
                kind=issued.kind.value,
                value=issued.value,
                item=issued.item,
                valid_until=issued.valid_until,
                terms=issued.terms,
                source=coupon.source,
                notify=notify,
            ),
        )
        return issued

    async def void(
        self, code: str, *, reason: str | None = None, actor: str | None = None
    ) -> VoidedCoupon:
        """Cancel a coupon nobody has used yet (issued, or still free in its campaign), with
        why and by whom. One already voided, used (even once of several uses) or past its
        date is refused: what happened to it stays as it was."""
        code = normalize_code(code)
        reason = parse_void_reason(reason) if reason is not None else None
        actor = parse_actor(actor) if actor is not None else None
        async with self._db.transaction() as session:
            # Locked as a redemption locks it: a void and a use of one coupon are serialized.
            coupon = await session.scalar(
                select(Coupon).where(Coupon.code == code).with_for_update()
            )
            campaign = await session.get(CouponCampaign, coupon.campaign_id) if coupon else None
            if coupon is None or campaign is None:
                raise CouponRefused(UNKNOWN, code)
            if coupon.voided_at is not None:
                raise CouponRefused(VOIDED, code, f"on {coupon.voided_at:%Y-%m-%d %H:%M} UTC")
            if coupon.uses > 0:
                raise CouponRefused(
                    USED_UP, code, f"used {coupon.uses} of {campaign.uses_per_coupon}"
                )
            until = valid_until(coupon, campaign)
            now = self._clock.now()
            if until is not None and until <= now:
                raise CouponRefused(EXPIRED, code, f"valid until {until.isoformat()}")
            coupon.voided_at = now
            coupon.void_reason = reason
            coupon.voided_by = actor
            holder = await session.scalar(owner_of(coupon.member_id)) if coupon.member_id else None
            if holder is not None:
                # The notices context tells the holder, in this transaction.
                await self._bus.publish_in(
                    session,
                    events.CouponVoided(
                        occurred_at=now,
                        member_id=holder,
                        coupon_id=coupon.id,
                        code=code,
                        campaign=campaign.name,
                    ),
                )
            return VoidedCoupon(code=code, campaign=campaign.name, member_id=holder)

    # ------------------------------------------------------------------ members' coupons
    async def active_for(self, member_id: int) -> list[IssuedCoupon]:
        """A member's coupons that would work today, the soonest to expire first."""
        now = self._clock.now()
        async with self._db.reading() as session:
            rows = (
                await session.execute(
                    select(Coupon, CouponCampaign)
                    .join(CouponCampaign, CouponCampaign.id == Coupon.campaign_id)
                    .where(
                        Coupon.member_id.in_(member_ids_of(member_id)),
                        Coupon.voided_at.is_(None),
                        Coupon.uses < CouponCampaign.uses_per_coupon,
                        or_(Coupon.valid_until.is_(None), Coupon.valid_until > now),
                        or_(CouponCampaign.ends_at.is_(None), CouponCampaign.ends_at > now),
                        or_(
                            CouponCampaign.total_limit.is_(None),
                            CouponCampaign.redemptions < CouponCampaign.total_limit,
                        ),
                        CouponCampaign.active.is_(True),
                    )
                    .order_by(Coupon.valid_until.is_(None), Coupon.valid_until, Coupon.id)
                )
            ).all()
        return [IssuedCoupon.of(coupon, campaign) for coupon, campaign in rows]
