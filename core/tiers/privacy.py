"""What tiers keep about a member, for their data export: the tier and every move."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Member, TierChange
from core.shared.errors import MemberNotFound


class TierSection:
    name = "tier"

    async def export_in(self, session: AsyncSession, member_id: int) -> Any:
        member = await session.get(Member, member_id)
        if member is None:
            raise MemberNotFound(member_id)
        changes = await session.scalars(
            select(TierChange).where(TierChange.member_id == member_id).order_by(TierChange.id)
        )
        return {
            "current": member.tier,
            "since": member.tier_since.isoformat() if member.tier_since else None,
            "changes": [
                {
                    "from": row.from_tier,
                    "to": row.to_tier,
                    "reason": row.reason,
                    "at": row.created_at.isoformat(),
                }
                for row in changes
            ],
        }
