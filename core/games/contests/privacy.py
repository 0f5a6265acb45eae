"""What contests keep about a member, for the data export and the erasure."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Contest, ContestEntry, ContestWinner
from core.games.contests.contests import Contests


class ContestsSection:
    """Entries (contest, tickets, the pseudonym once frozen) and places won. On erasure the
    entries of contests still open go; a frozen entry keeps its line in the published list
    (a pseudonym and tickets, nothing that names the member) but is cut from the member, so
    the list's hash still verifies and the draw passes the line over as `erased`. In a
    leaderboard contest `frozen_tickets` is the member's final score (their line of the
    frozen standings); their live scores are the leaderboards' (GamesSection)."""

    name = "contests"

    def __init__(self, contests: Contests) -> None:
        self._contests = contests

    async def export_in(self, session: AsyncSession, member_id: int) -> Any:
        rows = (
            await session.execute(
                select(ContestEntry, Contest.slug)
                .join(Contest, Contest.id == ContestEntry.contest_id)
                .where(ContestEntry.member_id == member_id)
                .order_by(ContestEntry.id)
            )
        ).all()
        exported = []
        for entry, slug in rows:
            places = (
                await session.scalars(
                    select(ContestWinner)
                    .where(ContestWinner.entry_id == entry.id)
                    .order_by(ContestWinner.position)
                )
            ).all()
            exported.append(
                {
                    "contest": slug,
                    "joined": entry.joined,
                    "tickets": entry.tickets,
                    "pseudonym": entry.pseudonym,
                    "frozen_tickets": entry.frozen_tickets,
                    "entered_at": entry.created_at.isoformat(),
                    "places": [
                        {
                            "position": place.position,
                            "status": place.status,
                            "claimed_at": place.claimed_at.isoformat()
                            if place.claimed_at
                            else None,
                        }
                        for place in places
                    ],
                }
            )
        return exported

    async def erase_in(self, session: AsyncSession, member_id: int) -> None:
        await self._contests.forget_in(session, member_id)
