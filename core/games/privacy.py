"""What the games keep about a member, for their data export; erasure forgets it all and
takes the member off every leaderboard."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Badge, BadgeAward, Board, BoardScore, GameFact, GameProfile, Streak
from core.games.leaderboards.boards import Leaderboards


class GamesSection:
    name = "games"

    def __init__(self, boards: Leaderboards) -> None:
        self._boards = boards

    async def export_in(self, session: AsyncSession, member_id: int) -> Any:
        badges = await session.execute(
            select(Badge.name, BadgeAward.awarded_at)
            .join(BadgeAward, BadgeAward.badge_id == Badge.id)
            .where(BadgeAward.member_id == member_id)
            .order_by(BadgeAward.id)
        )
        streaks = await session.scalars(
            select(Streak).where(Streak.member_id == member_id).order_by(Streak.key)
        )
        scores = await session.execute(
            select(Board.key, BoardScore.score, BoardScore.reached_at)
            .join(BoardScore, BoardScore.board_id == Board.id)
            .where(BoardScore.member_id == member_id)
            .order_by(Board.id)
        )
        check_ins = await session.scalars(
            select(GameFact.ref)
            .where(GameFact.member_id == member_id, GameFact.kind == "checkin")
            .order_by(GameFact.id)
        )
        profile = await session.get(GameProfile, member_id)
        return {
            "nickname": profile.nickname if profile is not None else None,
            "badges": [{"badge": name, "at": at.isoformat()} for name, at in badges],
            "streaks": [
                {"streak": row.key, "current": row.current, "best": row.best} for row in streaks
            ],
            "check_ins": [ref.split(":", 1)[1] for ref in check_ins],
            "leaderboards": [
                {"board": key, "score": score, "reached_at": at.isoformat()}
                for key, score, at in scores
            ],
        }

    async def erase_in(self, session: AsyncSession, member_id: int) -> None:
        await self._boards.leave_in(session, member_id)
        await session.execute(delete(BadgeAward).where(BadgeAward.member_id == member_id))
        await session.execute(delete(Streak).where(Streak.member_id == member_id))
        await session.execute(delete(GameFact).where(GameFact.member_id == member_id))
