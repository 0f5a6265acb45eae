"""Facts the games count once: a (kind, ref) pair is recorded at most once, so an event
published again (a replayed purchase, a duplicate quest completion) counts nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import GameFact
from core.shared.writes import insert_ignoring

CHECKIN = "checkin"
QUEST = "quest"
BOARD = "board"


async def record_fact(
    session: AsyncSession, *, member_id: int, kind: str, ref: str, now: datetime
) -> bool:
    """True if (kind, ref) is new: the caller counts it; False: counted before."""
    values = {"member_id": member_id, "kind": kind, "ref": ref, "created_at": now}
    inserted = await session.scalar(
        insert_ignoring(session, GameFact, values, unique=["kind", "ref"]).returning(GameFact.id)
    )
    return inserted is not None


async def count_facts(session: AsyncSession, member_id: int, kind: str) -> int:
    found = await session.scalar(
        select(func.count())
        .select_from(GameFact)
        .where(GameFact.member_id == member_id, GameFact.kind == kind)
    )
    return int(found or 0)
