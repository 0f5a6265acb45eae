"""Feedback after a purchase: "How likely are you to recommend us? 0-10", an optional comment,
an optional reward for answering, and the NPS per store and period.

A question is opened by a feedback trigger (core.broadcasts.triggers) in the transaction that
fires it, one per (broadcast, purchase), naming the delivery row that will carry it; it is
asked (answerable, for ANSWERABLE_FOR) only from when the engine records that row as sent, in
the same transaction (`ask_sent_in`). A holdout member, or one the message was skipped or
failed for, has no question to answer. The member answers their latest question: the first
answer is kept (the request's row is locked while it is written) and its reward, if any, is
posted with the ledger key "feedback:<id>" in the same transaction, so a second tap, a replayed
update or two processes pay it at most once; a later answer is told it was already counted.

NPS = % promoters (9-10) - % detractors (0-6) of the answers in a store and period.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, Select, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import BroadcastDelivery, FeedbackRequest, Member
from core.feedback.errors import FeedbackNotAsked, InvalidPeriod, InvalidScore
from core.ledger.entries import Ledger
from core.shared.clock import Clock
from core.shared.writes import insert_ignoring

REASON = "feedback"
ACTOR = "feedback"
LOWEST, HIGHEST = 0, 10
PROMOTER_FROM = 9
DETRACTOR_UP_TO = 6
# A question is answerable this long after it was asked.
ANSWERABLE_FOR = timedelta(days=14)
MAX_COMMENT = 2000
NO_STORE = "(no store)"
# A delivery row's status once its message went out (core.broadcasts.broadcasts.SENT: the
# broadcasts context imports this one, not the other way round).
SENT_STATUS = "sent"


@dataclass(frozen=True)
class Answer:
    request_id: int
    score: int
    # False: the question had been answered already (this answer changed nothing).
    counted: bool
    reward: int
    # The member's balance after the reward (None when nothing was posted).
    balance: int | None


@dataclass(frozen=True)
class StoreScore:
    store: str
    answers: int
    promoters: int
    passives: int
    detractors: int

    @property
    def nps(self) -> float:
        if not self.answers:
            return 0.0
        return round(100 * (self.promoters - self.detractors) / self.answers, 1)

    def as_json(self) -> dict[str, object]:
        return {
            "store": self.store,
            "answers": self.answers,
            "promoters": self.promoters,
            "passives": self.passives,
            "detractors": self.detractors,
            "nps": self.nps,
        }


@dataclass(frozen=True)
class Comment:
    """A comment a member wrote after their score, as the shop reads it."""

    answered_at: datetime
    store: str
    score: int
    card_code: str
    text: str

    def as_json(self) -> dict[str, object]:
        return {
            "answered_at": self.answered_at.isoformat(),
            "store": self.store,
            "score": self.score,
            "card": self.card_code,
            "comment": self.text,
        }


def check_score(score: int) -> int:
    if not LOWEST <= score <= HIGHEST:
        raise InvalidScore(score)
    return score


class Feedback:
    def __init__(self, db: Database, clock: Clock, ledger: Ledger) -> None:
        self._db = db
        self._clock = clock
        self._ledger = ledger

    async def ask_in(
        self,
        session: AsyncSession,
        *,
        broadcast_id: int,
        member_id: int,
        purchase_id: str,
        store: str | None,
        reward_points: int,
        delivery_id: int,
    ) -> None:
        """Open the question about a purchase (once per broadcast and purchase), to be asked
        when `delivery_id` is sent."""
        await session.execute(
            insert_ignoring(
                session,
                FeedbackRequest,
                {
                    "broadcast_id": broadcast_id,
                    "member_id": member_id,
                    "purchase_id": purchase_id,
                    "store": store,
                    "reward_points": reward_points,
                    "delivery_id": delivery_id,
                },
                unique=("broadcast_id", "purchase_id"),
            )
        )

    @staticmethod
    async def ask_sent_in(session: AsyncSession, delivery_ids: Collection[int]) -> None:
        """Ask the questions these delivery rows carry, those of them that are sent now (the
        engine calls it in the transaction that records them: a row whose claim was lost is not
        sent, its question stays unasked): answerable from the row's `sent_at`."""
        if not delivery_ids:
            return
        d = BroadcastDelivery
        sent = (
            select(d.sent_at)
            .where(d.id == FeedbackRequest.delivery_id, d.status == SENT_STATUS)
            .scalar_subquery()
        )
        await session.execute(
            update(FeedbackRequest)
            .where(
                FeedbackRequest.delivery_id.in_(list(delivery_ids)),
                FeedbackRequest.asked_at.is_(None),
                sent.is_not(None),
            )
            .values(asked_at=sent)
            .execution_options(synchronize_session=False)
        )

    async def unanswered(self, member_id: int) -> int | None:
        """The member's latest question, if it is still answerable and not answered yet."""
        now = self._clock.now()
        async with self._db.reading() as session:
            request_id = await session.scalar(self._latest(member_id, None, now))
            if request_id is None:
                return None
            score = await session.scalar(
                select(FeedbackRequest.score).where(FeedbackRequest.id == request_id)
            )
        return request_id if score is None else None

    @staticmethod
    def _latest(member_id: int, broadcast_id: int | None, now: datetime) -> Select[int]:
        query = (
            select(FeedbackRequest.id)
            .where(
                FeedbackRequest.member_id == member_id,
                FeedbackRequest.asked_at <= now,
                FeedbackRequest.asked_at > now - ANSWERABLE_FOR,
            )
            .order_by(FeedbackRequest.asked_at.desc(), FeedbackRequest.id.desc())
            .limit(1)
        )
        if broadcast_id is not None:
            query = query.where(FeedbackRequest.broadcast_id == broadcast_id)
        return query

    async def answer(
        self, member_id: int, score: int, *, broadcast_id: int | None = None
    ) -> Answer:
        """Answer the member's latest question (of `broadcast_id`, when the button says)."""
        check_score(score)
        now = self._clock.now()
        async with self._db.transaction() as session:
            request_id = await session.scalar(self._latest(member_id, broadcast_id, now))
            if request_id is None:
                raise FeedbackNotAsked()
            request = await session.scalar(
                select(FeedbackRequest).where(FeedbackRequest.id == request_id).with_for_update()
            )
            assert request is not None
            if request.score is not None:
                return Answer(request.id, request.score, False, 0, None)
            request.score = score
            request.answered_at = now
            balance = None
            if request.reward_points > 0:
                posting = await self._ledger.post_in(
                    session,
                    member_id,
                    request.reward_points,
                    reason=REASON,
                    actor=ACTOR,
                    idempotency_key=f"feedback:{request.id}",
                    reference=request.purchase_id,
                )
                balance = posting.balance
            return Answer(request.id, score, True, request.reward_points, balance)

    async def comment(self, member_id: int, request_id: int, text: str) -> bool:
        """Keep the comment of an answered question (the first one only); False if none can
        be kept there."""
        text = text.strip()[:MAX_COMMENT]
        if not text:
            return False
        async with self._db.transaction() as session:
            request = await session.scalar(
                select(FeedbackRequest)
                .where(FeedbackRequest.id == request_id, FeedbackRequest.member_id == member_id)
                .with_for_update()
            )
            if request is None or request.score is None or request.comment is not None:
                return False
            request.comment = text
            return True

    async def comments(
        self,
        *,
        store: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> list[Comment]:
        """The comments of the answers given in [since, until), newest first, at most
        `limit`, each with the card of the member who wrote it."""
        self._check_period(since, until)
        r = FeedbackRequest
        query = (
            select(r.answered_at, r.store, r.score, Member.card_code, r.comment)
            .join(Member, Member.id == r.member_id)
            .where(r.comment.is_not(None), r.score.is_not(None), r.answered_at.is_not(None))
            .order_by(r.answered_at.desc(), r.id.desc())
            .limit(limit)
        )
        async with self._db.reading() as session:
            rows = (await session.execute(query.where(*self._in_period(store, since, until)))).all()
        return [
            # The query keeps only answered ones with a comment: none of these is None.
            Comment(cast(datetime, at), name or NO_STORE, cast(int, score), card, cast(str, text))
            for at, name, score, card, text in rows
        ]

    @staticmethod
    def _check_period(since: datetime | None, until: datetime | None) -> None:
        if since is not None and until is not None and since >= until:
            raise InvalidPeriod("--since must come before --until")

    @staticmethod
    def _in_period(
        store: str | None, since: datetime | None, until: datetime | None
    ) -> list[ColumnElement[bool]]:
        """The answers of a store (all: None) given in [since, until)."""
        r = FeedbackRequest
        conditions: list[ColumnElement[bool]] = []
        if store is not None:
            conditions.append(r.store == store)
        if since is not None:
            conditions.append(r.answered_at >= since)
        if until is not None:
            conditions.append(r.answered_at < until)
        return conditions

    async def report(
        self,
        *,
        store: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[StoreScore]:
        """NPS per store of the answers given in [since, until), stores by name."""
        self._check_period(since, until)
        r = FeedbackRequest
        promoter = func.sum(case((r.score >= PROMOTER_FROM, 1), else_=0))
        detractor = func.sum(case((r.score <= DETRACTOR_UP_TO, 1), else_=0))
        query = (
            select(r.store, func.count(), promoter, detractor)
            .where(r.score.is_not(None))
            .group_by(r.store)
        )
        async with self._db.reading() as session:
            rows = (await session.execute(query.where(*self._in_period(store, since, until)))).all()
        scores = [
            StoreScore(
                store=name or NO_STORE,
                answers=int(count),
                promoters=int(promoters or 0),
                passives=int(count) - int(promoters or 0) - int(detractors or 0),
                detractors=int(detractors or 0),
            )
            for name, count, promoters, detractors in rows
        ]
        return sorted(scores, key=lambda score: score.store)
