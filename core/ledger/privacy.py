"""What the ledger keeps about a member, for their data export: every points entry.

Entries stay on erasure (anonymous once the member is), so the shop's books still add up."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import LedgerEntry


class PointsSection:
    name = "points"

    async def export_in(self, session: AsyncSession, member_id: int) -> Any:
        entries = await session.scalars(
            select(LedgerEntry).where(LedgerEntry.member_id == member_id).order_by(LedgerEntry.id)
        )
        return [
            {
                "points": row.points,
                "reason": row.reason,
                "reference": row.reference,
                "balance_after": row.balance_after,
                "at": row.created_at.isoformat(),
            }
            for row in entries
        ]
