"""The idempotent-write pattern, written once.

A write that is idempotent on a unique key (a purchase id, a ledger key, a coupon code) runs
in its own transaction; when two processes race, the loser's INSERT fails with an
IntegrityError and its transaction rolls back. Running the same operation again then finds
the winner's row and answers as a replay. `insert_ignoring` is the other half: an INSERT that
leaves an existing row alone without failing the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Base

T = TypeVar("T")


async def retry_on_conflict(
    operation: Callable[[], Awaitable[T]],
    *,
    attempts: int = 2,
    on_conflict: Callable[[], Awaitable[T | None]] | None = None,
) -> T:
    """Run `operation` (which opens its own transaction) until it does not lose a race on a
    unique key, at most `attempts` times; the last IntegrityError is raised.

    `on_conflict`, if given, is asked after each lost race and ends the retries with its
    answer when it has one (the row the winner created)."""
    for attempt in range(1, attempts + 1):
        try:
            return await operation()
        except IntegrityError:
            if on_conflict is not None:
                found = await on_conflict()
                if found is not None:
                    return found
            if attempt == attempts:
                raise
    raise AssertionError("attempts must be at least 1")


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def insert_ignoring(
    session: AsyncSession,
    model: type[Base],
    values: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    unique: Sequence[str],
) -> Insert:
    """INSERT ... ON CONFLICT (unique) DO NOTHING in the session's database: a row that
    already exists is skipped without disturbing the transaction."""
    insert = postgresql.insert if dialect_of(session) == "postgresql" else sqlite.insert
    return insert(model).values(values).on_conflict_do_nothing(index_elements=list(unique))
