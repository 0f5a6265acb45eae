"""What is an infrastructure failure (the database or Redis unreachable, a timeout) and what
is a bug in our own code: the one place that knows the drivers' exceptions.

A turn that fails on the infrastructure must not be answered as handled: the webhook answers
503 so that the platform delivers the update again, and the member gets the real answer once
the service is back. Only a bug gets the apology (retrying would fail the same way).
"""

from __future__ import annotations

import sqlite3

import asyncpg  # type: ignore[import-untyped]  # (no type information)
import redis.exceptions
from sqlalchemy import exc as sa

# Errors that are the infrastructure's whatever they wrap. sqlalchemy.exc.TimeoutError is the
# pool's (no connection free in time); OSError covers refused, reset and unresolvable hosts.
_ALWAYS: tuple[type[BaseException], ...] = (
    sa.OperationalError,
    sa.InterfaceError,
    sa.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # admin or crash shutdown, cannot connect now
    asyncpg.TooManyConnectionsError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
    TimeoutError,
)
# How deep to follow what an error wraps (`raise ... from`, a DBAPIError's orig). Not an
# error's __context__: a bug in an `except` block that handled an outage is still a bug.
_MAX_CHAIN = 8


class RetryLater(Exception):
    """Handling cannot happen now but will later: the webhook answers 503 with Retry-After,
    and the platform delivers the update again."""

    def __init__(self, reason: str, *, retry_after: int = 5) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def is_database_error(error: BaseException) -> bool:
    """True when `error`, or what it wraps or was raised while handling, is the database's
    (or its driver's): its message may quote the values of a statement."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending and len(seen) < _MAX_CHAIN:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(
            current,
            (sa.StatementError, asyncpg.PostgresError, asyncpg.InterfaceError, sqlite3.Error),
        ):
            return True
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend((current.__cause__, current.__context__))
    return False


def is_infrastructure_failure(error: BaseException) -> bool:
    """True when `error` (or what it wraps) means the database or Redis is unreachable, lost
    its connection or did not answer in time; False for anything else (a bug, a refusal)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending and len(seen) < _MAX_CHAIN:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, _ALWAYS):
            return True
        if isinstance(current, sa.DBAPIError):
            if current.connection_invalidated:
                return True
            orig = current.orig
            pending.append(orig if isinstance(orig, BaseException) else None)
        pending.append(current.__cause__)
    return False
