"""What offers keep about a member, for their data export: the coupons issued to them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Coupon, CouponCampaign


class CouponsSection:
    name = "coupons"

    async def export_in(self, session: AsyncSession, member_id: int) -> Any:
        coupons = (
            await session.execute(
                select(Coupon, CouponCampaign.name)
                .join(CouponCampaign, CouponCampaign.id == Coupon.campaign_id)
                .where(Coupon.member_id == member_id)
                .order_by(Coupon.id)
            )
        ).all()
        return [
            {
                "code": coupon.code,
                "campaign": campaign,
                "uses": coupon.uses,
                "issued_at": coupon.issued_at.isoformat() if coupon.issued_at else None,
                "valid_until": coupon.valid_until.isoformat() if coupon.valid_until else None,
                # Cancelled by staff (coupon-void), and why.
                "voided_at": coupon.voided_at.isoformat() if coupon.voided_at else None,
                "void_reason": coupon.void_reason,
            }
            for coupon, campaign in coupons
        ]
