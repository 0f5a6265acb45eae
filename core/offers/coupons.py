"""Coupons as one service: campaigns, codes, issue and redemption, each in its own module,
behind the one object the program hands to handlers, the CLI and the contexts that issue
coupons (referrals and rewards reach the parts: `coupons.issuing.issue_in` in their own
transaction)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from core.db.database import Database
from core.offers.campaigns import Campaign, Campaigns, CampaignSpec
from core.offers.codes import Codes
from core.offers.issuing import IssuedCoupon, Issuing, VoidedCoupon
from core.offers.redemption import CouponCheck, CouponRedeemed, CouponUseCancelled, Redemptions
from core.shared.bus import MessageBus
from core.shared.clock import Clock


class Coupons:
    def __init__(self, db: Database, clock: Clock, bus: MessageBus) -> None:
        self.campaigns = Campaigns(db, clock)
        self.codes = Codes(db, clock, self.campaigns)
        self.issuing = Issuing(db, clock, bus, self.campaigns, self.codes)
        self.redemptions = Redemptions(db, clock, bus)

    # ------------------------------------------------------------------ campaigns
    async def create_campaign(self, spec: CampaignSpec, *, actor: str) -> Campaign:
        return await self.campaigns.create_campaign(spec, actor=actor)

    async def campaign(self, slug: str) -> Campaign:
        return await self.campaigns.campaign(slug)

    async def set_active(self, slug: str, active: bool) -> Campaign:
        return await self.campaigns.set_active(slug, active)

    # ------------------------------------------------------------------ codes
    async def generate(self, slug: str, count: int, *, pattern: str | None = None) -> list[str]:
        return await self.codes.generate(slug, count, pattern=pattern)

    async def import_codes(self, slug: str, raw_codes: Iterable[str]) -> list[str]:
        return await self.codes.import_codes(slug, raw_codes)

    # ------------------------------------------------------------------ members' coupons
    async def issue(self, slug: str, member_id: int, *, source: str = "manual") -> IssuedCoupon:
        return await self.issuing.issue(slug, member_id, source=source)

    async def void(
        self, code: str, *, reason: str | None = None, actor: str | None = None
    ) -> VoidedCoupon:
        return await self.issuing.void(code, reason=reason, actor=actor)

    async def active_for(self, member_id: int) -> list[IssuedCoupon]:
        return await self.issuing.active_for(member_id)

    # ------------------------------------------------------------------ till
    async def check(
        self,
        code: str,
        *,
        order_amount: str | Decimal | None = None,
        card_code: str | None = None,
        member_id: int | None = None,
    ) -> CouponCheck:
        return await self.redemptions.check(
            code, order_amount=order_amount, card_code=card_code, member_id=member_id
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
        return await self.redemptions.redeem(
            code,
            redemption_id=redemption_id,
            actor=actor,
            order_amount=order_amount,
            card_code=card_code,
            member_id=member_id,
        )

    async def cancel_use(
        self,
        code: str,
        *,
        actor: str,
        redemption_id: str | None = None,
        reason: str | None = None,
    ) -> CouponUseCancelled:
        return await self.redemptions.cancel(
            code, actor=actor, redemption_id=redemption_id, reason=reason
        )
