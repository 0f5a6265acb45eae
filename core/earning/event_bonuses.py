"""Non-purchase events (a review, a survey, subscribing to the shop's channel, a quest step)
that a shop or a quest emits for a member, paid by the `event_bonuses` rule.

- An event is paid at most once: (kind, event_id) is unique, and replaying it returns the
  first result, whoever sends it again.
- A member is paid for a kind at most `per_member` times (0: no limit). An event past the
  limit is still recorded, with 0 points, so its replay answers the same.
- An unknown kind is refused, and nothing is recorded: a typo in a shop's integration gets a
  clear error instead of silently using up event ids that a later rule could have paid.
- Event bonuses are flat: neither the tier multiplier nor promotions apply, and they do not
  count towards tiers (those follow purchases).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import Member, MemberEvent
from core.earning.events import EVENT_REASON, EventBonusRecorded
from core.ledger.entries import Ledger
from core.rules.book import RuleBook
from core.shared import cards
from core.shared.bus import MessageBus
from core.shared.clock import Clock
from core.shared.errors import (
    IdempotencyConflict,
    InvalidReference,
    MemberNotFound,
    UnknownEventKind,
)
from core.shared.owners import member_ids_of, owner_of, owner_of_card
from core.shared.parsing import parse_actor, parse_reference
from core.shared.writes import retry_on_conflict

MAX_EVENT_ID_LENGTH = 128


@dataclass(frozen=True)
class EventResult:
    member_id: int
    kind: str
    event_id: str
    points: int
    balance: int
    replayed: bool
    # The member had already been paid `per_member` times for this kind: recorded, unpaid.
    limited: bool


class Events:
    def __init__(
        self, db: Database, clock: Clock, ledger: Ledger, rules: RuleBook, bus: MessageBus
    ) -> None:
        self._db = db
        self._clock = clock
        self._ledger = ledger
        self._rules = rules
        self._bus = bus

    async def emit(
        self,
        *,
        kind: str,
        event_id: str,
        actor: str,
        card_code: str | None = None,
        member_id: int | None = None,
    ) -> EventResult:
        """Record an event for the member with `card_code` (or `member_id`) and pay its bonus."""
        if (card_code is None) == (member_id is None):
            raise InvalidReference("give either a card code or a member id")
        actor = parse_actor(actor)
        kind = kind.strip()
        event_id = parse_reference("event id", event_id, max_length=MAX_EVENT_ID_LENGTH)
        rules = await self._rules.current()
        bonus = rules.event_bonus(kind)
        if bonus is None:
            raise UnknownEventKind(kind)
        code = cards.normalize(card_code) if card_code is not None else None

        async def attempt() -> EventResult:
            async with self._db.transaction() as session:
                owner = await self._owner_in(session, code, member_id)
                return await self._emit_in(
                    session, owner, kind, event_id, actor, bonus.points, bonus.per_member
                )

        # The same event arriving concurrently: the retry sees it as a replay.
        return await retry_on_conflict(attempt)

    async def _owner_in(
        self, session: AsyncSession, code: str | None, member_id: int | None
    ) -> int:
        if code is not None:
            owner = await session.scalar(owner_of_card(code))
            if owner is None:
                raise MemberNotFound(code)
            return int(owner)
        assert member_id is not None
        found = await session.scalar(owner_of(member_id))
        if found is None:
            raise MemberNotFound(member_id)
        return int(found)

    async def _emit_in(
        self,
        session: AsyncSession,
        member_id: int,
        kind: str,
        event_id: str,
        actor: str,
        points: int,
        per_member: int,
    ) -> EventResult:
        # The member's row lock serializes this member's events, so the limit holds under
        # concurrent emits of different event ids.
        member = await session.get(Member, member_id, with_for_update=True)
        if member is None:
            raise MemberNotFound(member_id)
        previous = await session.scalar(
            select(MemberEvent).where(MemberEvent.kind == kind, MemberEvent.event_id == event_id)
        )
        if previous is not None:
            owner = await session.scalar(owner_of(previous.member_id))
            if owner != member_id:
                raise IdempotencyConflict(f"event:{kind}:{event_id}")
            return EventResult(
                member_id,
                kind,
                event_id,
                previous.points,
                member.balance,
                replayed=True,
                limited=previous.points == 0 and points > 0,
            )
        paid_before = await session.scalar(
            select(func.count()).where(
                MemberEvent.member_id.in_(member_ids_of(member_id)),
                MemberEvent.kind == kind,
                MemberEvent.points > 0,
            )
        )
        limited = per_member > 0 and (paid_before or 0) >= per_member
        earned = 0 if limited else points
        now = self._clock.now()
        row = MemberEvent(
            member_id=member_id,
            kind=kind,
            event_id=event_id,
            points=earned,
            actor=actor,
            created_at=now,
        )
        session.add(row)
        await session.flush()
        balance = member.balance
        if earned > 0:
            posting = await self._ledger.post_in(
                session,
                member_id,
                earned,
                reason=EVENT_REASON,
                actor=actor,
                # The row's id keeps the key short whatever the shop's event ids look like.
                idempotency_key=f"event:{row.id}",
                reference=kind,
            )
            row.ledger_entry_id = posting.entry.id
            balance = posting.balance
        await self._bus.publish_in(
            session,
            EventBonusRecorded(
                occurred_at=now,
                member_id=member_id,
                kind=kind,
                event_id=event_id,
                record_id=row.id,
                points=earned,
                balance=balance,
            ),
        )
        return EventResult(
            member_id, kind, event_id, earned, balance, replayed=False, limited=limited
        )
