"""What notices keep about a member, for their data export: which messages were sent."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Notice


class NoticesSection:
    name = "messages_sent"

    async def export_in(self, session: AsyncSession, member_id: int) -> Any:
        notices = await session.scalars(
            select(Notice).where(Notice.member_id == member_id).order_by(Notice.id)
        )
        return [
            {"kind": row.kind, "status": row.status, "at": row.created_at.isoformat()}
            for row in notices
        ]
