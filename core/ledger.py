"""The points ledger: append-only entries, a balance derived from them, never below zero.

Every posting locks the member's row (SELECT ... FOR UPDATE on PostgreSQL; the write lock
taken at BEGIN IMMEDIATE on SQLite) before it reads the balance, so concurrent postings and
redemptions are serialized per member. The cached `members.balance` is changed in the same
transaction as the entry, and a database constraint keeps it at or above zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.db import Database
from core.errors import IdempotencyConflict, InsufficientPoints, MemberNotFound
from core.models import LedgerEntry, Member


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

    @property
    def consistent(self) -> bool:
        return self.cached_balance == self.sum_of_entries


DEBT_SETTLEMENT_REASON = "debt_settlement"


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
    ) -> Posting:
        """Add `points` (negative to spend). Replaying a key returns the first result."""
        for attempt in range(2):
            try:
                async with self._db.transaction() as session:
                    return await self.post_in(
                        session,
                        member_id,
                        points,
                        reason=reason,
                        actor=actor,
                        idempotency_key=idempotency_key,
                        reference=reference,
                    )
            except IntegrityError:
                # Another member's posting took this key first: the retry reports it.
                if attempt:
                    raise
        raise AssertionError("unreachable")

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
    ) -> Posting:
        """The same as `post`, inside a transaction the caller owns."""
        if points == 0:
            raise ValueError("a ledger entry must move points")
        member = await session.get(Member, member_id, with_for_update=True)
        if member is None:
            raise MemberNotFound(member_id)
        previous = await session.scalar(
            select(LedgerEntry).where(LedgerEntry.idempotency_key == idempotency_key)
        )
        if previous is not None:
            if (previous.member_id, previous.points, previous.reason) != (
                member_id,
                points,
                reason,
            ):
                raise IdempotencyConflict(idempotency_key)
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
        if points > 0 and member.debt > 0:
            # Earnings settle a refund's debt first; the settlement is an entry of its own, so
            # the history shows it and the balance stays the sum of the entries.
            settled = min(member.debt, points)
            member.debt -= settled
            member.balance -= settled
            session.add(
                LedgerEntry(
                    member_id=member_id,
                    points=-settled,
                    reason=DEBT_SETTLEMENT_REASON,
                    actor=actor,
                    idempotency_key=f"{idempotency_key}:settles-debt",
                    reference=reference,
                    balance_after=member.balance,
                    created_at=self._clock.now(),
                )
            )
        await session.flush()
        return Posting(entry=Entry.of(row), balance=member.balance, replayed=False)

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
        return Audit(cached_balance=cached, sum_of_entries=int(total or 0))
