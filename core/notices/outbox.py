"""Notices to members, written in the transaction of what caused them (transactional outbox).

The core only records that a member should be told something; a dispatcher delivers pending
notices through the member's messenger later, so a crash between the change and the message
never loses the message, and a replayed operation never sends it twice (`dedupe_key`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import Member, Notice
from core.members.activity import MARK_UNREACHABLE, Account, reachable_accounts, refused_row
from core.shared.clock import Clock
from core.shared.writes import insert_ignoring


class NoticeKind(StrEnum):
    # payload: points, balance, reason ("purchase", "event", "referral", ...), reference?
    POINTS_EARNED = "points_earned"
    # payload: points, balance, reason ("redemption", "reward", ...)
    POINTS_SPENT = "points_spent"
    # payload: code, campaign (name), kind, value?, item?, valid_until? (ISO), terms?
    COUPON_RECEIVED = "coupon_received"
    # payload: from_tier (key or None), to_tier (key or None), upgrade (bool)
    TIER_CHANGED = "tier_changed"
    # payload: points, expires_at (ISO), balance
    POINTS_EXPIRING = "points_expiring"
    # payload: points, balance
    POINTS_EXPIRED = "points_expired"
    # payload: code, campaign (name), kind, value?, item?, valid_until (ISO)
    COUPON_EXPIRING = "coupon_expiring"
    # payload: points (bonus, may be 0), coupon code?
    BIRTHDAY = "birthday"
    # payload: quest (slug), title ({language: text} or text), step (1-based), steps, done
    QUEST_STEP_DONE = "quest_step_done"
    # payload: quest, title, points, balance, badge?, coupon? (true: a coupon notice follows)
    QUEST_COMPLETED = "quest_completed"
    # payload: quest, title, approved (bool), reason?
    QUEST_PROOF_REVIEWED = "quest_proof_reviewed"
    # payload: contest_id, title (text or {language: text}), reserve (bool), deadline (ISO),
    # points, coupon (bool), item (text or {language: text} or None)
    CONTEST_WON = "contest_won"
    # payload: badge (name), title, description (per language), emoji?
    BADGE_EARNED = "badge_earned"
    # payload: key, action ("checkin", "purchase"), period ("day", "week"), current
    STREAK_REMINDER = "streak_reminder"
    # payload: points, expired (of them, gone at once), balance, reference (redemption id)
    POINTS_RETURNED = "points_returned"
    # payload: code, campaign (name), restored (bool), valid_until? (ISO)
    COUPON_USE_CANCELLED = "coupon_use_cancelled"
    # payload: points (negative: taken off), balance
    POINTS_ADJUSTED = "points_adjusted"
    # payload: code, campaign (name)
    COUPON_VOIDED = "coupon_voided"


PENDING = "pending"
SENT = "sent"
SKIPPED = "skipped"
FAILED = "failed"


async def enqueue_in(
    session: AsyncSession,
    *,
    member_id: int,
    kind: NoticeKind,
    payload: dict[str, Any],
    dedupe_key: str,
    now: datetime,
    marketing: bool = False,
    due_at: datetime | None = None,
) -> bool:
    """Record a notice inside the caller's transaction; a second one with the same
    `dedupe_key` is ignored without disturbing the transaction. True if it was new.

    `due_at`: not delivered before then (a reminder held until the member's night is over,
    core.shared.quiet_hours); None: at once."""
    values = {
        "member_id": member_id,
        "kind": str(kind),
        "payload": json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str),
        "dedupe_key": dedupe_key,
        "marketing": marketing,
        "status": PENDING,
        "attempts": 0,
        "created_at": now,
        "due_at": due_at,
    }
    inserted = await session.scalar(
        insert_ignoring(session, Notice, values, unique=["dedupe_key"]).returning(Notice.id)
    )
    return inserted is not None


# A notice a dispatcher has claimed and is delivering; back to pending (retry) or on to
# failed if it does not finish.
SENDING = "sending"
# How long a claim holds: a dispatcher that crashed mid-batch loses its notices to another
# one after this (a send takes seconds; Telegram may ask to wait up to a minute).
DEFAULT_LEASE = timedelta(minutes=5)
DEFAULT_MAX_ATTEMPTS = 5
# Retries after 30 s, 1 min, 2 min, 4 min ... at most an hour apart.
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
MAX_ERROR_LENGTH = 256
# Reasons a notice is skipped (stored in `error`), for the marketer's reports.
SKIP_ERASED = "erased"
SKIP_NO_CONSENT = "no_consent"
SKIP_NO_CHANNEL = "no_channel"
SKIP_UNKNOWN_KIND = "unknown_kind"


@dataclass(frozen=True)
class ClaimedNotice:
    id: int
    member_id: int
    kind: str
    payload: dict[str, Any]
    marketing: bool
    # This claim's attempt number (1 for the first); marks only apply to the same attempt.
    attempt: int
    created_at: datetime


@dataclass(frozen=True)
class RecipientIdentity:
    channel: str
    external_id: str


@dataclass(frozen=True)
class Recipient:
    """Who a notice goes to: the surviving member when the card was merged into another."""

    member_id: int
    language: str
    marketing_opt_in: bool
    erased: bool
    # In the order to try them, as a broadcast does: the account the member wrote from last
    # first (accounts never written from: newest first); one a messenger refused for good is
    # left out until the member writes from it again (core.members.activity).
    identities: tuple[RecipientIdentity, ...]


class Notices:
    """The dispatcher's side of the outbox: claim pending notices, then record the outcome."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        lease: timedelta = DEFAULT_LEASE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base: timedelta = BACKOFF_BASE,
        backoff_cap: timedelta = BACKOFF_CAP,
    ) -> None:
        self._db = db
        self._clock = clock
        self.lease = lease
        self.max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap

    async def enqueue(
        self,
        *,
        member_id: int,
        kind: NoticeKind,
        payload: dict[str, Any],
        dedupe_key: str,
        marketing: bool = False,
    ) -> None:
        """`enqueue_in` in a transaction of its own, for callers that have none."""
        async with self._db.transaction() as session:
            await enqueue_in(
                session,
                member_id=member_id,
                kind=kind,
                payload=payload,
                dedupe_key=dedupe_key,
                now=self._clock.now(),
                marketing=marketing,
            )

    async def has_due(self) -> bool:
        """A cheap look without a transaction: an idle dispatcher then never takes SQLite's
        write lock (nor row locks) just to find nothing to do."""
        now = self._clock.now()
        async with self._db.reading() as session:
            found = await session.execute(
                select(Notice.id)
                .where(
                    Notice.status.in_((PENDING, SENDING)),
                    or_(Notice.due_at.is_(None), Notice.due_at <= now),
                )
                .limit(1)
            )
        return found.first() is not None

    async def claim_batch(self, limit: int) -> list[ClaimedNotice]:
        """Take up to `limit` notices that are due, oldest first, for this dispatcher alone.

        The claim is one short transaction: on PostgreSQL the rows are locked with SKIP
        LOCKED, so concurrent dispatchers each get different notices without waiting; on
        SQLite the transaction holds the write lock (BEGIN IMMEDIATE), which serializes them.
        A claimed notice is "sending" until its lease ends; a dispatcher that dies meanwhile
        leaves it to be claimed again then.
        """
        if limit <= 0:
            return []
        now = self._clock.now()
        due = or_(Notice.due_at.is_(None), Notice.due_at <= now)
        async with self._db.transaction() as session:
            # A lease that ran out on the last attempt: give up instead of trying forever.
            await session.execute(
                update(Notice)
                .where(
                    Notice.status == SENDING,
                    due,
                    Notice.attempts >= self.max_attempts,
                )
                .values(status=FAILED, error="lease expired after the last attempt", due_at=None)
            )
            ids = list(
                (
                    await session.execute(
                        select(Notice.id)
                        .where(Notice.status.in_((PENDING, SENDING)), due)
                        .order_by(Notice.id)
                        .limit(limit)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            if not ids:
                return []
            await session.execute(
                update(Notice)
                .where(Notice.id.in_(ids))
                .values(status=SENDING, attempts=Notice.attempts + 1, due_at=now + self.lease)
            )
            rows = (
                await session.execute(
                    select(
                        Notice.id,
                        Notice.member_id,
                        Notice.kind,
                        Notice.payload,
                        Notice.marketing,
                        Notice.attempts,
                        Notice.created_at,
                    )
                    .where(Notice.id.in_(ids))
                    .order_by(Notice.id)
                )
            ).all()
        return [
            ClaimedNotice(
                id=row.id,
                member_id=row.member_id,
                kind=row.kind,
                payload=_payload(row.payload),
                marketing=row.marketing,
                attempt=row.attempts,
                created_at=row.created_at,
            )
            for row in rows
        ]

    async def mark_sent(
        self, notice: ClaimedNotice, channel: str, *, refused: Sequence[Account] = ()
    ) -> bool:
        now = self._clock.now()
        return await self._finish(
            notice,
            refused,
            status=SENT,
            channel=channel,
            error=None,
            sent_at=now,
            due_at=None,
        )

    async def mark_skipped(
        self,
        notice: ClaimedNotice,
        reason: str,
        channel: str | None = None,
        *,
        refused: Sequence[Account] = (),
    ) -> bool:
        """Not delivered and never will be: no consent, no reachable account, blocked bot."""
        return await self._finish(
            notice, refused, status=SKIPPED, channel=channel, error=_clip(reason), due_at=None
        )

    async def mark_failed(
        self,
        notice: ClaimedNotice,
        error: str,
        channel: str | None = None,
        *,
        retry_after: timedelta | None = None,
        refused: Sequence[Account] = (),
    ) -> bool:
        """A delivery that may work later: pending again after a backoff (or after
        `retry_after`, when the platform said how long to wait, if that is longer), or failed
        for good after the last attempt. True if it will be retried."""
        retry = notice.attempt < self.max_attempts
        if retry:
            delay = min(self._backoff_base * 2 ** (notice.attempt - 1), self._backoff_cap)
            if retry_after is not None:
                delay = max(delay, retry_after)
            await self._finish(
                notice,
                refused,
                status=PENDING,
                channel=channel,
                error=_clip(error),
                due_at=self._clock.now() + delay,
            )
        else:
            await self._finish(
                notice, refused, status=FAILED, channel=channel, error=_clip(error), due_at=None
            )
        return retry

    async def _finish(
        self, notice: ClaimedNotice, refused: Sequence[Account], **values: Any
    ) -> bool:
        """Record an outcome if the claim is still ours: a dispatcher whose lease ran out
        and whose notice another one took over must not overwrite that one's outcome.

        The accounts the delivery found refused for good are marked unreachable in the same
        transaction (whoever's claim it is: what the messenger said holds either way), never
        before it: a dispatcher killed in between leaves the notice to be claimed again, and
        its next try finds the refusal again and records it ("blocked", not "no_channel")."""
        async with self._db.transaction() as session:
            if refused:
                at = self._clock.now()
                await session.execute(
                    MARK_UNREACHABLE, [refused_row(account, at) for account in refused]
                )
            result = await session.execute(
                update(Notice)
                .where(
                    Notice.id == notice.id,
                    Notice.status == SENDING,
                    Notice.attempts == notice.attempt,
                )
                .values(**values)
            )
        return bool(getattr(result, "rowcount", 0))

    async def recipient(self, member_id: int) -> Recipient | None:
        """The member a notice reaches (following merges), with the accounts it may go to in
        the order to try them; None if there is no such member."""
        async with self._db.reading() as session:
            member = await session.get(Member, member_id)
            seen = {member_id}
            # A merged card's notices go to the card it became (chains are short, and finite).
            while member is not None and member.merged_into_id is not None:
                if member.merged_into_id in seen:
                    break
                seen.add(member.merged_into_id)
                member = await session.get(Member, member.merged_into_id)
            if member is None:
                return None
            identities = (await session.execute(reachable_accounts([member.id]))).all()
        return Recipient(
            member_id=member.id,
            language=member.language,
            marketing_opt_in=member.marketing_opt_in,
            erased=member.erased_at is not None,
            identities=tuple(RecipientIdentity(row.channel, row.external_id) for row in identities),
        )

    async def get(self, notice_id: int) -> Notice | None:
        async with self._db.reading() as session:
            return await session.get(Notice, notice_id)


def _payload(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"
