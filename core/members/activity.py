"""When a member was last active, and through which messenger account.

A member's message records the time on the account it came from (`identities.last_seen_at`)
and on the member (`members.last_active_at`, `members.last_channel`), at most once a minute
per account: a chat of many messages writes once, so the times may be up to a minute older
than the last message. A purchase sets `last_active_at` in its own write of the member row.

Locking: the member row is written before the identity row, in the order a merge takes
them (core.members.linking), so the two cannot deadlock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Identity, Member


class Account(Protocol):
    """A messenger account (core.members.accounts.IdentityKey)."""

    @property
    def channel(self) -> str: ...

    @property
    def external_id(self) -> str: ...


# A message writes the times only when the stored one is older than this.
SEEN_THROTTLE = timedelta(minutes=1)


def is_stale(last_seen_at: datetime | None, now: datetime) -> bool:
    """Whether a message at `now` must record itself (the throttle's one rule)."""
    return last_seen_at is None or now - last_seen_at >= SEEN_THROTTLE


async def mark_seen_in(
    session: AsyncSession, identity: Account, member_id: int, now: datetime
) -> None:
    """Record, in the caller's transaction, that the member wrote from `identity` at `now`.
    Neither time moves backwards (a message handled late, another process's clock)."""
    await session.execute(
        update(Member)
        .where(Member.id == member_id)
        .values(
            last_active_at=case((Member.last_active_at > now, Member.last_active_at), else_=now),
            last_channel=identity.channel,
        )
    )
    await session.execute(
        update(Identity)
        .where(
            Identity.channel == identity.channel,
            Identity.external_id == identity.external_id,
            (Identity.last_seen_at.is_(None)) | (Identity.last_seen_at < now),
        )
        .values(last_seen_at=now)
    )


async def refresh_last_channel_in(session: AsyncSession, member_id: int) -> None:
    """After the member's accounts changed (one unlinked): the channel of the account that
    wrote last (the newest one, if none has written yet), or None if none is left."""
    channel = await session.scalar(
        select(Identity.channel)
        .where(Identity.member_id == member_id)
        .order_by(Identity.last_seen_at.desc().nulls_last(), Identity.id.desc())
        .limit(1)
    )
    await session.execute(update(Member).where(Member.id == member_id).values(last_channel=channel))
