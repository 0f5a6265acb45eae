"""The points ledger: append-only entries, a balance derived from them, never below zero.

Every posting locks the member's row (SELECT ... FOR UPDATE on PostgreSQL; the write lock
taken at BEGIN IMMEDIATE on SQLite) before it reads the balance, so concurrent postings and
redemptions are serialized per member. The cached `members.balance` is changed in the same
transaction as the entry, and a database constraint keeps it at or above zero.

Points live in lots: every earning entry opens one (with its expiry, if the program has
one), every spending entry takes from the lots that expire first and records which
(`lot_allocations`). The balance is always the sum of what the lots have left, so when a
batch expires only its own remainder goes, never points earned later.

Points given back (a merge moving them, a cancelled redemption returning them) go into lots
with the expiries of the lots they were taken from: giving points back never makes them
younger, and points whose date has passed meanwhile never settle a debt.

A posting is idempotent on its key, and `post_in` alone decides what "the same request
again" is; callers rely on `Posting.replayed` and keep no check of their own. The entry
already under the key is replayed when
  - its member and the member asked for are one member today (`core.shared.owners`: a card
    merged since counts as the card it was merged into, so a request replayed with the
    surviving member, or with the original one, finds its first result),
  - its points and its reason are equal, and
  - when the caller gives a reference, its reference is equal too;
anything else under that key is an `IdempotencyConflict`. A replay posts nothing and returns
that entry with the asked member's balance now. It is judged after the asked member's row is
locked, as any posting; two first requests racing on one key are settled by the key's unique
constraint, and the loser's retry (`retry_on_conflict`) is judged by this rule.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import LedgerEntry, LotAllocation, Member, PointLot, ProgramRule
from core.shared.clock import Clock
from core.shared.errors import IdempotencyConflict, InsufficientPoints, MemberNotFound
from core.shared.owners import owner_of
from core.shared.parsing import parse_actor
from core.shared.writes import retry_on_conflict


@dataclass(frozen=True)
class Entry:
    id: int
    member_id: int
    points: int
    reason: str
    actor: str
    reference: str | None
    balance_after: int
    created_at: datetime

    @classmethod
    def of(cls, row: LedgerEntry) -> Entry:
        return cls(
            id=row.id,
            member_id=row.member_id,
            points=row.points,
            reason=row.reason,
            actor=row.actor,
            reference=row.reference,
            balance_after=row.balance_after,
            created_at=row.created_at,
        )


@dataclass(frozen=True)
class Posting:
    entry: Entry
    balance: int
    replayed: bool


@dataclass(frozen=True)
class HistoryPage:
    entries: tuple[Entry, ...]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class Audit:
    cached_balance: int
    sum_of_entries: int
    left_in_lots: int

    @property
    def consistent(self) -> bool:
        return self.cached_balance == self.sum_of_entries == self.left_in_lots


class LedgerInconsistency(RuntimeError):
    """The lots do not cover the cached balance: a bug, never a member's mistake."""


DEBT_SETTLEMENT_REASON = "debt_settlement"
POINTS_TTL_RULE = "points_ttl_days"
LOT_BATCH = 100


class Ledger:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def post(
        self,
        member_id: int,
        points: int,
        *,
        reason: str,
        actor: str,
        idempotency_key: str,
        reference: str | None = None,
        take_first_from: int | None = None,
    ) -> Posting:
        """Add `points` (negative to spend). Replaying a key returns the first result (the
        module's docstring says what a replay is)."""

        async def attempt() -> Posting:
            async with self._db.transaction() as session:
                return await self.post_in(
                    session,
                    member_id,
                    points,
                    reason=reason,
                    actor=actor,
                    idempotency_key=idempotency_key,
                    reference=reference,
                    take_first_from=take_first_from,
                )

        # Another member's posting took this key first: the retry reports it.
        return await retry_on_conflict(attempt)

    async def post_in(
        self,
        session: AsyncSession,
        member_id: int,
        points: int,
        *,
        reason: str,
        actor: str,
        idempotency_key: str,
        reference: str | None = None,
        take_first_from: int | None = None,
        only_from_lot: int | None = None,
        lots_like: int | None = None,
        returned_before: int = 0,
    ) -> Posting:
        """The same as `post`, inside a transaction the caller owns.

        Spending takes from the lot opened by entry `take_first_from` first (a refund takes
        back its own purchase's points), then from the lots that expire soonest; with
        `only_from_lot`, from that one lot alone (its expiry). Earning
        opens one lot expiring by the program's rule, or, with `lots_like`, lots with the
        same expiries as those the spending entry `lots_like` drew from (a merge moves
        points without making them younger). A part of what `lots_like` drew is given back
        from its last-drawn points (so the latest-expiring first), after the
        `returned_before` points earlier parts gave back."""
        if points == 0:
            raise ValueError("a ledger entry must move points")
        actor = parse_actor(actor)
        member = await session.get(Member, member_id, with_for_update=True)
        if member is None:
            raise MemberNotFound(member_id)
        previous = await session.scalar(
            select(LedgerEntry).where(LedgerEntry.idempotency_key == idempotency_key)
        )
        if previous is not None:
            await self._check_replay(session, previous, member, points, reason, reference)
            return Posting(entry=Entry.of(previous), balance=member.balance, replayed=True)
        if member.balance + points < 0:
            raise InsufficientPoints(member.balance, -points)
        member.balance += points
        member.updated_at = self._clock.now()
        row = LedgerEntry(
            member_id=member_id,
            points=points,
            reason=reason,
            actor=actor,
            idempotency_key=idempotency_key,
            reference=reference,
            balance_after=member.balance,
            created_at=self._clock.now(),
        )
        session.add(row)
        await session.flush()
        spendable = 0
        if points > 0:
            spendable = await self._open_lots(session, row, lots_like, returned_before)
        else:
            await self._take_from_lots(session, row, -points, take_first_from, only_from_lot)
        if spendable > 0 and member.debt > 0:
            # Earnings settle a refund's debt first; the settlement is an entry of its own, so
            # the history shows it and the balance stays the sum of the entries.
            settled = min(member.debt, spendable)
            member.debt -= settled
            member.balance -= settled
            settlement = LedgerEntry(
                member_id=member_id,
                points=-settled,
                reason=DEBT_SETTLEMENT_REASON,
                actor=actor,
                idempotency_key=f"{idempotency_key}:settles-debt",
                reference=reference,
                balance_after=member.balance,
                created_at=self._clock.now(),
            )
            session.add(settlement)
            await session.flush()
            await self._take_from_lots(
                session, settlement, settled, row.id, spendable_at=row.created_at
            )
        await session.flush()
        return Posting(entry=Entry.of(row), balance=member.balance, replayed=False)

    async def _check_replay(
        self,
        session: AsyncSession,
        previous: LedgerEntry,
        member: Member,
        points: int,
        reason: str,
        reference: str | None,
    ) -> None:
        """IdempotencyConflict unless posting `points` to `member` is a replay of `previous`
        (the rule is in the module's docstring). `member` is locked; the previous entry's
        member is only read, so a posting still locks one member row."""
        asked = member.merged_into_id or member.id
        owner = (
            asked
            if previous.member_id == member.id
            else await session.scalar(owner_of(previous.member_id))
        )
        if (
            owner != asked
            or previous.points != points
            or previous.reason != reason
            or (reference is not None and previous.reference != reference)
        ):
            raise IdempotencyConflict(previous.idempotency_key)

    async def _open_lots(
        self,
        session: AsyncSession,
        entry: LedgerEntry,
        lots_like: int | None,
        returned_before: int,
    ) -> int:
        """Open the entry's lots; how many of its points are spendable (not past their date)."""
        if lots_like is None:
            expires_at = await self._expiry_for(session, entry.created_at)
            session.add(
                PointLot(
                    member_id=entry.member_id,
                    entry_id=entry.id,
                    points=entry.points,
                    remaining=entry.points,
                    earned_at=entry.created_at,
                    expires_at=expires_at,
                )
            )
            return entry.points
        drawn = (
            await session.execute(
                select(LotAllocation.points, PointLot.earned_at, PointLot.expires_at)
                .join(PointLot, PointLot.id == LotAllocation.lot_id)
                .where(LotAllocation.entry_id == lots_like)
                .order_by(LotAllocation.id.desc())
            )
        ).all()
        skip, wanted = returned_before, entry.points
        given: list[tuple[int, datetime, datetime | None]] = []
        for points, earned_at, expires_at in drawn:
            skipped = min(skip, points)
            skip -= skipped
            part = min(points - skipped, wanted)
            if part > 0:
                given.append((part, earned_at, expires_at))
                wanted -= part
        if wanted > 0 or skip > 0:
            raise LedgerInconsistency(
                f"entry {lots_like} did not draw {entry.points} points after {returned_before}"
            )
        spendable = 0
        # Opened in the order they were drawn: a whole give-back mirrors the spending.
        for points, earned_at, expires_at in reversed(given):
            session.add(
                PointLot(
                    member_id=entry.member_id,
                    entry_id=entry.id,
                    points=points,
                    remaining=points,
                    earned_at=earned_at,
                    expires_at=expires_at,
                )
            )
            if expires_at is None or expires_at > entry.created_at:
                spendable += points
        return spendable

    async def _expiry_for(self, session: AsyncSession, earned_at: datetime) -> datetime | None:
        # Read in the posting's own transaction: a rule change applies from the next posting.
        rule = await session.get(ProgramRule, POINTS_TTL_RULE)
        days = int(json.loads(rule.value)) if rule is not None else 0
        return earned_at + timedelta(days=days) if days > 0 else None

    async def _take_from_lots(
        self,
        session: AsyncSession,
        entry: LedgerEntry,
        points: int,
        take_first_from: int | None,
        only_from_lot: int | None = None,
        *,
        spendable_at: datetime | None = None,
    ) -> None:
        wanted = points
        mine = [PointLot.member_id == entry.member_id, PointLot.remaining > 0]
        if only_from_lot is not None:
            mine.append(PointLot.id == only_from_lot)
        if spendable_at is not None:
            mine.append(or_(PointLot.expires_at.is_(None), PointLot.expires_at > spendable_at))
        order = [
            PointLot.expires_at.is_(None),
            PointLot.expires_at,
            PointLot.id,
        ]
        if take_first_from is not None:
            order.insert(0, PointLot.entry_id.is_distinct_from(take_first_from))
        while wanted > 0:
            lots = (
                await session.scalars(
                    select(PointLot).where(*mine).order_by(*order).limit(LOT_BATCH)
                )
            ).all()
            if not lots:
                raise LedgerInconsistency(
                    f"member {entry.member_id}'s lots lack {wanted} points for entry {entry.id}"
                )
            for lot in lots:
                taken = min(lot.remaining, wanted)
                lot.remaining -= taken
                session.add(LotAllocation(entry_id=entry.id, lot_id=lot.id, points=taken))
                wanted -= taken
                if wanted == 0:
                    break
            await session.flush()

    async def balance(self, member_id: int) -> int:
        async with self._db.reading() as session:
            balance = await session.scalar(select(Member.balance).where(Member.id == member_id))
        if balance is None:
            raise MemberNotFound(member_id)
        return balance

    async def history(self, member_id: int, *, page: int = 1, page_size: int = 5) -> HistoryPage:
        """Newest first. A page past the end is clamped to the last one."""
        async with self._db.reading() as session:
            total = await session.scalar(
                select(func.count()).where(LedgerEntry.member_id == member_id)
            )
            pages = max(1, math.ceil((total or 0) / page_size))
            page = min(max(1, page), pages)
            rows = await session.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.member_id == member_id)
                .order_by(LedgerEntry.id.desc())
                .offset((page - 1) * page_size)
                .limit(page_size)
            )
            entries = tuple(Entry.of(row) for row in rows)
        return HistoryPage(entries=entries, page=page, pages=pages, total=total or 0)

    async def audit(self, member_id: int) -> Audit:
        async with self._db.reading() as session:
            cached = await session.scalar(select(Member.balance).where(Member.id == member_id))
            if cached is None:
                raise MemberNotFound(member_id)
            total = await session.scalar(
                select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(
                    LedgerEntry.member_id == member_id
                )
            )
            left = await session.scalar(
                select(func.coalesce(func.sum(PointLot.remaining), 0)).where(
                    PointLot.member_id == member_id
                )
            )
        return Audit(
            cached_balance=cached, sum_of_entries=int(total or 0), left_in_lots=int(left or 0)
        )
