"""Manual corrections of a balance by staff: points added or taken back through the ledger,
with who did it and why.

An adjustment is one ledger entry (reason `adjustment`, the staff's words as its reference,
the staff member as its actor), idempotent on the adjustment's id, as the ledger judges a
replay (core.ledger.entries): the same id again for the same member (or the card it was
merged into since), amount and reason is a replay, which returns the first entry and tells
the member nothing more; the same id with another member, amount or reason is refused.
Taking points back never takes the balance below zero; points added settle a refund's debt
first, as any earning does (core.ledger.entries).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.ledger.entries import Entry, Ledger
from core.ledger.events import PointsAdjusted
from core.shared.bus import MessageBus
from core.shared.clock import Clock
from core.shared.errors import InvalidAmount, InvalidReference
from core.shared.parsing import clean_text, parse_actor, parse_reference
from core.shared.writes import retry_on_conflict

ADJUSTMENT_REASON = "adjustment"
# The staff's reason is kept as the entry's reference (128 characters).
MAX_REASON_LENGTH = 128
# Far above any real correction: a typo of a few extra digits is refused, not posted.
MAX_ADJUSTMENT = 10_000_000


@dataclass(frozen=True)
class Adjustment:
    member_id: int
    adjustment_id: str
    entry: Entry
    balance: int
    replayed: bool


def parse_adjustment_reason(raw: str) -> str:
    reason = clean_text(raw)
    if not reason or len(reason) > MAX_REASON_LENGTH:
        raise InvalidReference(f"a reason of 1 to {MAX_REASON_LENGTH} characters is required")
    return reason


class Adjustments:
    def __init__(self, db: Database, clock: Clock, ledger: Ledger, bus: MessageBus) -> None:
        self._db = db
        self._clock = clock
        self._ledger = ledger
        self._bus = bus

    async def adjust(
        self, member_id: int, points: int, *, adjustment_id: str, reason: str, actor: str
    ) -> Adjustment:
        """Add `points` to the member's balance (negative: take them back)."""
        if points == 0:
            raise InvalidAmount("an adjustment must add or take back at least one point")
        if abs(points) > MAX_ADJUSTMENT:
            raise InvalidAmount(f"an adjustment moves at most {MAX_ADJUSTMENT} points")
        adjustment_id = parse_reference("adjustment id", adjustment_id)
        reason = parse_adjustment_reason(reason)
        actor = parse_actor(actor)

        async def attempt() -> Adjustment:
            async with self._db.transaction() as session:
                return await self._adjust_in(
                    session, member_id, points, adjustment_id, reason, actor
                )

        # The same adjustment posted concurrently: the retry reports it.
        return await retry_on_conflict(attempt)

    async def _adjust_in(
        self,
        session: AsyncSession,
        member_id: int,
        points: int,
        adjustment_id: str,
        reason: str,
        actor: str,
    ) -> Adjustment:
        posting = await self._ledger.post_in(
            session,
            member_id,
            points,
            reason=ADJUSTMENT_REASON,
            actor=actor,
            idempotency_key=f"{ADJUSTMENT_REASON}:{adjustment_id}",
            reference=reason,
        )
        if posting.replayed:
            # Told when it was made: the member hears of one adjustment once.
            return Adjustment(
                member_id, adjustment_id, posting.entry, posting.balance, replayed=True
            )
        await self._bus.publish_in(
            session,
            PointsAdjusted(
                occurred_at=self._clock.now(),
                member_id=member_id,
                adjustment_id=adjustment_id,
                points=points,
                balance=posting.balance,
            ),
        )
        return Adjustment(member_id, adjustment_id, posting.entry, posting.balance, replayed=False)
