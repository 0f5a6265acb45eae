"""What earning keeps about a member, for their data export: purchases and event bonuses."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import MemberEvent, Purchase


class PurchasesSection:
    name = "purchases"

    async def export_in(self, session: AsyncSession, member_id: int) -> Any:
        purchases = await session.scalars(
            select(Purchase).where(Purchase.member_id == member_id).order_by(Purchase.id)
        )
        return [
            {
                "purchase_id": row.purchase_id,
                "amount": str(row.amount),
                "points": row.points,
                "at": row.created_at.isoformat(),
                "store": row.store,
            }
            for row in purchases
        ]


class EventsSection:
    name = "events"

    async def export_in(self, session: AsyncSession, member_id: int) -> Any:
        events = await session.scalars(
            select(MemberEvent).where(MemberEvent.member_id == member_id).order_by(MemberEvent.id)
        )
        return [
            {
                "kind": row.kind,
                "event_id": row.event_id,
                "points": row.points,
                "at": row.created_at.isoformat(),
            }
            for row in events
        ]
