"""What a member got from broadcasts: exported to them (each message's broadcast, variant,
channel, outcome, time, coupon, and the button they tapped); on erasure, whatever was still
to be sent to them is skipped (`member_gone`), so nothing reaches an erased member. The rows
themselves stay: they hold no personal data (a member id, a variant, a coupon code), and the
broadcast's figures and A/B verdict count them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.broadcasts.broadcasts import QUEUED, SKIPPED
from core.broadcasts.engine import SKIP_GONE
from core.db.models import Broadcast, BroadcastDelivery, BroadcastTap


class BroadcastsSection:
    name = "broadcasts"

    async def export_in(self, session: AsyncSession, member_id: int) -> Any:
        rows = await session.execute(
            select(BroadcastDelivery, Broadcast.name, BroadcastTap.tapped_at)
            .join(Broadcast, Broadcast.id == BroadcastDelivery.broadcast_id)
            .outerjoin(
                BroadcastTap,
                (BroadcastTap.broadcast_id == BroadcastDelivery.broadcast_id)
                & (BroadcastTap.member_id == BroadcastDelivery.member_id),
            )
            .where(BroadcastDelivery.member_id == member_id)
            .order_by(BroadcastDelivery.id)
        )
        return [
            {
                "broadcast": name,
                "variant": delivery.variant,
                "channel": delivery.channel,
                "status": delivery.status,
                "reason": delivery.reason,
                "sent_at": delivery.sent_at.isoformat() if delivery.sent_at else None,
                "coupon": delivery.coupon_code,
                "tapped_at": tapped_at.isoformat() if tapped_at else None,
            }
            for delivery, name, tapped_at in rows
        ]

    async def erase_in(self, session: AsyncSession, member_id: int) -> None:
        await session.execute(
            update(BroadcastDelivery)
            .where(BroadcastDelivery.member_id == member_id, BroadcastDelivery.status == QUEUED)
            .values(status=SKIPPED, reason=SKIP_GONE, claimed_until=None)
        )
