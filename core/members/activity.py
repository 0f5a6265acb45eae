"""When a member was last active, and through which messenger account.

A member's message records the time on the account it came from (`identities.last_seen_at`)
and on the member (`members.last_active_at`, `members.last_channel`), at most once a minute
per account: a chat of many messages writes once, so the times may be up to a minute older
than the last message. A purchase sets `last_active_at` in its own write of the member row.

Locking: the member row is written before the identity row, in the order a merge takes
them (core.members.linking), so the two cannot deadlock.

The same times choose where a message outside a conversation goes (a broadcast, a notice):
the account the member wrote from last first, passing over an account a messenger refused for
good (`identities.unreachable_at`) until the member writes from it again.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Protocol, cast

from sqlalchemy import Select, Table, bindparam, case, or_, select, update
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


def reachable_accounts(member_ids: Collection[int]) -> Select[int, str, str]:
    """(member_id, channel, external_id) of the members' accounts a message may go to, each
    member's in the order to try them: the account they wrote from last first (accounts never
    seen yet after those, newest first). An account a messenger refused for good is left out
    until the member writes from it again (`last_seen_at` after `unreachable_at`)."""
    return (
        select(Identity.member_id, Identity.channel, Identity.external_id)
        .where(
            Identity.member_id.in_(list(member_ids)),
            or_(
                Identity.unreachable_at.is_(None),
                Identity.last_seen_at > Identity.unreachable_at,
            ),
        )
        .order_by(
            Identity.member_id,
            Identity.last_seen_at.desc().nulls_last(),
            Identity.id.desc(),
        )
    )


# Why a messenger did not take a message, as the channels (bots.outbound) report it.
BLOCKED = "blocked"
WHATSAPP_WINDOW = "whatsapp_window"
NOT_CONNECTED = "not_connected"
# Refusals that say nothing lasting about the account: WhatsApp's 24-hour window opens again
# when the member writes; "not_connected" is a channel this process has not attached (another
# terminal's console account).
PASSING_REFUSALS = frozenset({WHATSAPP_WINDOW, NOT_CONNECTED})


def refused_for_good(detail: str) -> bool:
    """Whether a messenger's refusal (blocked bot, dead number, STOP) marks the account
    unreachable, to be passed over by every later message until the member writes from it."""
    return detail not in PASSING_REFUSALS


_IDENTITIES = cast(Table, Identity.__table__)
# Marks an account refused for good, for many at once (executemany): parameters
# `refused_channel`, `refused_address`, `refused_at` (`refused_row`).
MARK_UNREACHABLE = (
    update(_IDENTITIES)
    .where(
        _IDENTITIES.c.channel == bindparam("refused_channel"),
        _IDENTITIES.c.external_id == bindparam("refused_address"),
    )
    .values(unreachable_at=bindparam("refused_at"))
)


def refused_row(account: Account, at: datetime) -> dict[str, object]:
    """MARK_UNREACHABLE's parameters for one account refused at `at`."""
    return {
        "refused_channel": account.channel,
        "refused_address": account.external_id,
        "refused_at": at,
    }
