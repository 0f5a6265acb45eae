"""What quests keep about a member, for their data export and erasure: the quests joined,
progress and completions, and the proofs sent (a proof's text or photo is personal data)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Quest, QuestCompletion, QuestJoin, QuestProgress, QuestProof


class QuestsSection:
    name = "quests"

    async def export_in(self, session: AsyncSession, member_id: int) -> Any:
        slugs = dict((await session.execute(select(Quest.id, Quest.slug))).all())
        joins = await session.scalars(
            select(QuestJoin).where(QuestJoin.member_id == member_id).order_by(QuestJoin.id)
        )
        progress = await session.scalars(
            select(QuestProgress)
            .where(QuestProgress.member_id == member_id)
            .order_by(QuestProgress.id)
        )
        completions = await session.scalars(
            select(QuestCompletion)
            .where(QuestCompletion.member_id == member_id)
            .order_by(QuestCompletion.id)
        )
        proofs = await session.scalars(
            select(QuestProof).where(QuestProof.member_id == member_id).order_by(QuestProof.id)
        )
        return {
            "joined": [
                {"quest": slugs.get(row.quest_id), "at": row.joined_at.isoformat()} for row in joins
            ],
            "progress": [
                {
                    "quest": slugs.get(row.quest_id),
                    "period": row.period,
                    "step": row.step + 1,
                    "source": row.source,
                    "amount": str(row.amount),
                    "at": row.created_at.isoformat(),
                }
                for row in progress
            ],
            "completed": [
                {
                    "quest": slugs.get(row.quest_id),
                    "period": row.period,
                    "points": row.points,
                    "badge": row.badge,
                    "at": row.created_at.isoformat(),
                }
                for row in completions
            ],
            "proofs": [
                {
                    "quest": slugs.get(row.quest_id),
                    "step": row.step + 1,
                    "text": row.text,
                    "photo": row.photo,
                    "status": row.status,
                    "reason": row.reason,
                    "at": row.created_at.isoformat(),
                }
                for row in proofs
            ],
        }

    async def erase_in(self, session: AsyncSession, member_id: int) -> None:
        # What the member wrote or showed goes; completions stay (they back ledger entries,
        # which stay anonymous), progress is no one's business once the person is gone.
        await session.execute(
            update(QuestProof)
            .where(QuestProof.member_id == member_id)
            .values(text=None, photo=None, reason=None)
        )
        await session.execute(delete(QuestProgress).where(QuestProgress.member_id == member_id))
        await session.execute(delete(QuestJoin).where(QuestJoin.member_id == member_id))
