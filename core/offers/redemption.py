"""Coupons at the till: a read-only check, and atomic, idempotent redemption.

Redemption locks the coupon's row, then its campaign's row (SELECT ... FOR UPDATE on
PostgreSQL; SQLite's BEGIN IMMEDIATE serializes writers instead), so uses per coupon, the
campaign's total limit and its budget hold under any number of concurrent attempts. Issuing
locks the campaign row first and only ever takes a free code with SKIP LOCKED, so the two
lock orders cannot deadlock.

A use is cancelled (the order was returned) under the same locks: it stops counting for the
coupon, the campaign's limits and budget, a member's limit, segments and a broadcast's
attribution, once. The coupon gets the use back unless it has expired or been voided by then
(a coupon past its date stays used: giving it back would change nothing but the books).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import Coupon, CouponCampaign, CouponRedemption
from core.offers import events
from core.offers.campaigns import (
    BUDGET_EXHAUSTED,
    CAMPAIGN_EXHAUSTED,
    EXPIRED,
    FOREIGN,
    INACTIVE,
    MEMBER_LIMIT,
    MIN_ORDER,
    NOT_STARTED,
    UNKNOWN,
    USED_UP,
    VOIDED,
    CouponKind,
)
from core.offers.codes import normalize_code
from core.offers.issuing import IssuedCoupon, valid_until
from core.shared import cards
from core.shared.bus import MessageBus
from core.shared.clock import Clock
from core.shared.errors import (
    CouponRedemptionNotFound,
    CouponRefused,
    IdempotencyConflict,
    InvalidAmount,
    InvalidReference,
    MemberNotFound,
)
from core.shared.owners import member_ids_of, owner_of, owner_of_card
from core.shared.parsing import parse_actor, parse_amount, parse_note, parse_reference
from core.shared.writes import retry_on_conflict

CENT = Decimal("0.01")


@dataclass(frozen=True)
class CouponCheck:
    """What a code would give now, or why not (`reason` is None when it would work).

    `discount` is None when it depends on an order amount that was not given."""

    code: str
    reason: str | None
    detail: str
    campaign: str | None
    kind: CouponKind | None
    discount: Decimal | None
    item: str | None
    valid_until: datetime | None
    uses_left: int

    @property
    def ok(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class CouponRedeemed:
    redemption_id: str
    code: str
    campaign: str
    kind: CouponKind
    discount: Decimal
    item: str | None
    order_amount: Decimal | None
    uses_left: int
    replayed: bool


@dataclass(frozen=True)
class CouponUseCancelled:
    """A coupon's use cancelled. `restored`: usable again; else `why_not` says why it stays
    used (expired, voided)."""

    redemption_id: str
    code: str
    campaign: str
    restored: bool
    why_not: str | None
    valid_until: datetime | None
    uses_left: int
    replayed: bool


@dataclass(frozen=True)
class _Verdict:
    discount: Decimal | None


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


class Redemptions:
    def __init__(self, db: Database, clock: Clock, bus: MessageBus) -> None:
        self._db = db
        self._clock = clock
        self._bus = bus

    async def check(
        self,
        code: str,
        *,
        order_amount: str | Decimal | None = None,
        card_code: str | None = None,
        member_id: int | None = None,
    ) -> CouponCheck:
        """What redeeming the code now would give, or the reason it would be refused.

        Reads only; a later redemption may still be refused if someone is faster."""
        code = normalize_code(code)
        amount = parse_amount(order_amount) if order_amount is not None else None
        async with self._db.reading() as session:
            holder = await self._holder(session, card_code, member_id)
            coupon = await session.scalar(select(Coupon).where(Coupon.code == code))
            campaign = await session.get(CouponCampaign, coupon.campaign_id) if coupon else None
            reason: str | None
            try:
                verdict = await self._verdict(
                    session, code, coupon, campaign, holder, amount, require_amount=False
                )
            except CouponRefused as refusal:
                reason, detail, discount = refusal.reason, refusal.detail, None
            else:
                reason, detail, discount = None, "", verdict.discount
        if coupon is None or campaign is None:
            return CouponCheck(code, reason, detail, None, None, None, None, None, 0)
        issued = IssuedCoupon.of(coupon, campaign)
        return CouponCheck(
            code=code,
            reason=reason,
            detail=detail,
            campaign=issued.campaign,
            kind=issued.kind,
            discount=discount,
            item=issued.item,
            valid_until=issued.valid_until,
            uses_left=issued.uses_left,
        )

    async def redeem(
        self,
        code: str,
        *,
        redemption_id: str,
        actor: str,
        order_amount: str | Decimal | None = None,
        card_code: str | None = None,
        member_id: int | None = None,
    ) -> CouponRedeemed:
        """Use a code at the till, atomically; idempotent on redemption_id (a replay returns
        the first result, whatever happened to the coupon since)."""
        code = normalize_code(code)
        actor = parse_actor(actor)
        redemption_id = parse_reference("redemption id", redemption_id)
        amount = parse_amount(order_amount) if order_amount is not None else None

        async def attempt() -> CouponRedeemed:
            async with self._db.transaction() as session:
                return await self._redeem_in(
                    session, code, redemption_id, actor, amount, card_code, member_id
                )

        # The same redemption id used concurrently: the retry sees it as a replay.
        return await retry_on_conflict(attempt)

    async def _redeem_in(
        self,
        session: AsyncSession,
        code: str,
        redemption_id: str,
        actor: str,
        amount: Decimal | None,
        card_code: str | None,
        member_id: int | None,
    ) -> CouponRedeemed:
        holder = await self._holder(session, card_code, member_id)
        previous = await session.scalar(
            select(CouponRedemption).where(CouponRedemption.redemption_id == redemption_id)
        )
        if previous is not None:
            return await self._replay(session, previous, code, amount)
        coupon = await session.scalar(select(Coupon).where(Coupon.code == code).with_for_update())
        campaign = (
            await session.get(CouponCampaign, coupon.campaign_id, with_for_update=True)
            if coupon is not None
            else None
        )
        verdict = await self._verdict(
            session, code, coupon, campaign, holder, amount, require_amount=True
        )
        assert coupon is not None and campaign is not None and verdict.discount is not None
        coupon.uses += 1
        campaign.redemptions += 1
        campaign.spent = Decimal(campaign.spent or 0) + verdict.discount
        session.add(
            CouponRedemption(
                redemption_id=redemption_id,
                coupon_id=coupon.id,
                member_id=holder,
                order_amount=amount,
                discount=verdict.discount,
                actor=actor,
                created_at=self._clock.now(),
            )
        )
        await session.flush()
        await self._bus.publish_in(
            session,
            events.CouponRedeemed(
                occurred_at=self._clock.now(),
                member_id=holder,
                redemption_id=redemption_id,
                code=code,
                campaign=campaign.name,
                discount=verdict.discount,
                order_amount=amount,
            ),
        )
        return CouponRedeemed(
            redemption_id=redemption_id,
            code=code,
            campaign=campaign.name,
            kind=CouponKind(campaign.kind),
            discount=verdict.discount,
            item=campaign.item,
            order_amount=amount,
            uses_left=max(0, campaign.uses_per_coupon - coupon.uses),
            replayed=False,
        )

    async def _replay(
        self,
        session: AsyncSession,
        previous: CouponRedemption,
        code: str,
        amount: Decimal | None,
    ) -> CouponRedeemed:
        coupon = await session.get(Coupon, previous.coupon_id)
        assert coupon is not None
        if coupon.code != code or previous.order_amount != amount:
            raise IdempotencyConflict(f"coupon-redemption:{previous.redemption_id}")
        campaign = await session.get(CouponCampaign, coupon.campaign_id)
        assert campaign is not None
        return CouponRedeemed(
            redemption_id=previous.redemption_id,
            code=code,
            campaign=campaign.name,
            kind=CouponKind(campaign.kind),
            discount=previous.discount,
            item=campaign.item,
            order_amount=previous.order_amount,
            uses_left=max(0, campaign.uses_per_coupon - coupon.uses),
            replayed=True,
        )

    async def cancel(
        self,
        code: str,
        *,
        actor: str,
        redemption_id: str | None = None,
        reason: str | None = None,
    ) -> CouponUseCancelled:
        """Cancel a use of the code (the order was returned): the one under `redemption_id`,
        or without it the code's latest use. Idempotent: a cancelled use stays cancelled."""
        code = normalize_code(code)
        actor = parse_actor(actor)
        if redemption_id is not None:
            redemption_id = parse_reference("redemption id", redemption_id)
        note = parse_note("reason", reason)

        async def attempt() -> CouponUseCancelled:
            async with self._db.transaction() as session:
                return await self._cancel_in(session, code, redemption_id, note, actor)

        return await retry_on_conflict(attempt)

    async def _cancel_in(
        self,
        session: AsyncSession,
        code: str,
        redemption_id: str | None,
        reason: str | None,
        actor: str,
    ) -> CouponUseCancelled:
        # The coupon's and its campaign's rows, in redemption's lock order.
        coupon = await session.scalar(select(Coupon).where(Coupon.code == code).with_for_update())
        if coupon is None:
            raise CouponRefused(UNKNOWN, code)
        campaign = await session.get(CouponCampaign, coupon.campaign_id, with_for_update=True)
        assert campaign is not None
        uses = list(
            await session.scalars(
                select(CouponRedemption)
                .where(CouponRedemption.coupon_id == coupon.id)
                .order_by(CouponRedemption.id.desc())
            )
        )
        if redemption_id is not None:
            chosen = next((use for use in uses if use.redemption_id == redemption_id), None)
            if chosen is None:
                raise CouponRedemptionNotFound(code, redemption_id)
        else:
            if not uses:
                raise CouponRedemptionNotFound(code)
            chosen = uses[0]
            live = [use for use in uses if use.cancelled_at is None]
            if chosen.cancelled_at is None and len(live) > 1:
                raise InvalidReference(
                    f"coupon {code} is used {len(live)} times: say which use with its redemption id"
                )
        until = valid_until(coupon, campaign)
        if chosen.cancelled_at is not None:
            return self._cancelled(chosen, coupon, campaign, until, replayed=True)
        now = self._clock.now()
        if coupon.voided_at is not None:
            why_not: str | None = VOIDED
        elif until is not None and now >= until:
            why_not = EXPIRED
        else:
            why_not = None
        chosen.cancelled_at = now
        chosen.cancelled_by = actor
        chosen.cancel_reason = reason
        chosen.use_restored = why_not is None
        if why_not is None:
            coupon.uses -= 1
        # The sale did not happen: the campaign's limit and budget get the use back either way.
        campaign.redemptions -= 1
        campaign.spent = Decimal(campaign.spent or 0) - chosen.discount
        await session.flush()
        told = coupon.member_id if coupon.member_id is not None else chosen.member_id
        holder = await session.scalar(owner_of(told)) if told is not None else None
        await self._bus.publish_in(
            session,
            events.CouponRedemptionCancelled(
                occurred_at=now,
                member_id=holder,
                redemption_id=chosen.redemption_id,
                code=code,
                campaign=campaign.name,
                restored=why_not is None,
                valid_until=until,
            ),
        )
        return self._cancelled(chosen, coupon, campaign, until, replayed=False)

    @staticmethod
    def _cancelled(
        use: CouponRedemption,
        coupon: Coupon,
        campaign: CouponCampaign,
        until: datetime | None,
        *,
        replayed: bool,
    ) -> CouponUseCancelled:
        why_not = None
        if not use.use_restored:
            why_not = VOIDED if coupon.voided_at is not None else EXPIRED
        return CouponUseCancelled(
            redemption_id=use.redemption_id,
            code=coupon.code,
            campaign=campaign.name,
            restored=bool(use.use_restored),
            why_not=why_not,
            valid_until=until,
            uses_left=max(0, campaign.uses_per_coupon - coupon.uses),
            replayed=replayed,
        )

    async def _holder(
        self, session: AsyncSession, card_code: str | None, member_id: int | None
    ) -> int | None:
        """Who presents the coupon: the member of a card (after merges, the survivor)."""
        if card_code is not None:
            code = cards.normalize(card_code)
            found = await session.scalar(owner_of_card(code))
            if found is None:
                raise MemberNotFound(code)
            return int(found)
        if member_id is not None:
            owner = await session.scalar(owner_of(member_id))
            if owner is None:
                raise MemberNotFound(member_id)
            return int(owner)
        return None

    async def _verdict(
        self,
        session: AsyncSession,
        code: str,
        coupon: Coupon | None,
        campaign: CouponCampaign | None,
        holder: int | None,
        amount: Decimal | None,
        *,
        require_amount: bool,
    ) -> _Verdict:
        """The discount the code gives now, or CouponRefused with the first reason it fails."""
        now = self._clock.now()
        if coupon is None or campaign is None:
            raise CouponRefused(UNKNOWN, code)
        if coupon.voided_at is not None:
            raise CouponRefused(VOIDED, code)
        if not campaign.active:
            raise CouponRefused(INACTIVE, code, f"campaign {campaign.slug} is switched off")
        if campaign.starts_at is not None and now < campaign.starts_at:
            raise CouponRefused(NOT_STARTED, code, f"from {campaign.starts_at.isoformat()}")
        until = valid_until(coupon, campaign)
        if until is not None and now >= until:
            raise CouponRefused(EXPIRED, code, f"valid until {until.isoformat()}")
        if coupon.uses >= campaign.uses_per_coupon:
            raise CouponRefused(USED_UP, code, f"used {coupon.uses} of {campaign.uses_per_coupon}")
        if not campaign.transferable and coupon.member_id is not None:
            owner = await session.scalar(owner_of(coupon.member_id))
            if holder is None or owner != holder:
                raise CouponRefused(FOREIGN, code, "only its holder may use it: show their card")
        if campaign.total_limit is not None and campaign.redemptions >= campaign.total_limit:
            raise CouponRefused(
                CAMPAIGN_EXHAUSTED, code, f"all {campaign.total_limit} redemptions are used"
            )
        if campaign.per_member_limit is not None and holder is not None:
            used = await session.scalar(
                select(func.count())
                .select_from(CouponRedemption)
                .join(Coupon, Coupon.id == CouponRedemption.coupon_id)
                .where(
                    Coupon.campaign_id == campaign.id,
                    CouponRedemption.member_id.in_(member_ids_of(holder)),
                    CouponRedemption.cancelled_at.is_(None),
                )
            )
            if (used or 0) >= campaign.per_member_limit:
                raise CouponRefused(MEMBER_LIMIT, code, f"{campaign.per_member_limit} per member")
        if campaign.min_order is not None and (amount is None or amount < campaign.min_order):
            raise CouponRefused(MIN_ORDER, code, f"for orders of at least {campaign.min_order}")
        discount = self._discount(campaign, amount)
        if discount is None:
            if require_amount:
                raise InvalidAmount("the order amount is needed to apply a percent coupon")
            return _Verdict(None)
        if campaign.budget is not None:
            left = campaign.budget - Decimal(campaign.spent or 0)
            if discount > left:
                raise CouponRefused(BUDGET_EXHAUSTED, code, f"{max(left, Decimal(0))} left")
        return _Verdict(discount)

    @staticmethod
    def _discount(campaign: CouponCampaign, amount: Decimal | None) -> Decimal | None:
        """Money off: a percent of the order, or a fixed sum, never more than the order."""
        kind = CouponKind(campaign.kind)
        if kind is CouponKind.FREE_ITEM:
            return Decimal("0.00")
        value = Decimal(campaign.value or 0)
        if kind is CouponKind.PERCENT:
            if amount is None:
                return None
            return min(amount, _cents(amount * value / 100))
        return _cents(value if amount is None else min(amount, value))
