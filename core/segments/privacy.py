"""The tags marketers put on a member: exported to the member, deleted on erasure."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import MemberTag


class TagsSection:
    name = "tags"

    async def export_in(self, session: AsyncSession, member_id: int) -> Any:
        rows = await session.scalars(
            select(MemberTag).where(MemberTag.member_id == member_id).order_by(MemberTag.tag)
        )
        return [{"tag": row.tag, "at": row.created_at.isoformat()} for row in rows]

    async def erase_in(self, session: AsyncSession, member_id: int) -> None:
        await session.execute(delete(MemberTag).where(MemberTag.member_id == member_id))
