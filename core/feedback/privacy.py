"""A member's feedback answers: exported to them; on erasure their comments are deleted (the
scores stay, with no text, for the shop's NPS)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import FeedbackRequest


class FeedbackSection:
    name = "feedback"

    async def export_in(self, session: AsyncSession, member_id: int) -> Any:
        rows = await session.scalars(
            select(FeedbackRequest)
            .where(FeedbackRequest.member_id == member_id, FeedbackRequest.score.is_not(None))
            .order_by(FeedbackRequest.id)
        )
        return [
            {
                "purchase_id": row.purchase_id,
                "store": row.store,
                "score": row.score,
                "comment": row.comment,
                "at": row.answered_at.isoformat() if row.answered_at else None,
            }
            for row in rows
        ]

    async def erase_in(self, session: AsyncSession, member_id: int) -> None:
        await session.execute(
            update(FeedbackRequest)
            .where(FeedbackRequest.member_id == member_id)
            .values(comment=None)
        )
