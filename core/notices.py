"""Notices to members, written in the transaction of what caused them (transactional outbox).

The core only records that a member should be told something; a dispatcher delivers pending
notices through the member's messenger later, so a crash between the change and the message
never loses the message, and a replayed operation never sends it twice (`dedupe_key`).
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Notice


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
    # payload: points (bonus, may be 0), coupon code?
    BIRTHDAY = "birthday"


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
) -> None:
    """Record a notice inside the caller's transaction; a second one with the same
    `dedupe_key` is ignored without disturbing the transaction."""
    values = {
        "member_id": member_id,
        "kind": str(kind),
        "payload": json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str),
        "dedupe_key": dedupe_key,
        "marketing": marketing,
        "status": PENDING,
        "attempts": 0,
        "created_at": now,
    }
    dialect = session.bind.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(Notice).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
