"""Engine, sessions and transactions on PostgreSQL (asyncpg) or the embedded SQLite."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SQLITE_BUSY_TIMEOUT_MS = 30_000
DEFAULT_POOL_SIZE = 20
POOL_RECYCLE_SECONDS = 1800

# aiosqlite's DEBUG log shows every statement with its parameters (members' names, phones,
# birthdays): it stays quiet whatever level the root logger is set to.
logging.getLogger("aiosqlite").setLevel(logging.INFO)


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        # Reads need no transaction: autocommit saves the BEGIN/ROLLBACK round trips, and on
        # SQLite it keeps readers off the write lock (WAL lets them read while one writes).
        self._read_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._reads = async_sessionmaker(self._read_engine, expire_on_commit=False)
        self._before_close: list[Callable[[], Awaitable[None]]] = []

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> Database:
        parsed = make_url(url)
        options: dict[str, Any] = {
            # Optimistic disconnect handling: a connection that died (database restart) fails
            # one request and the pool is then invalidated. A pre-ping would instead cost
            # every checkout three extra round trips with asyncpg, doubling a reply's DB time.
            "pool_pre_ping": False,
            "pool_recycle": POOL_RECYCLE_SECONDS,
            # A failed statement's message and log never show its parameters: they are
            # members' names, phones and birthdays.
            "hide_parameters": True,
        }
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        else:
            options.update(pool_size=pool_size, max_overflow=pool_size // 2)
        engine = create_async_engine(url, **options)
        event.listen(engine.sync_engine, "handle_error", _hide_row_values)
        if engine.dialect.name == "sqlite":
            _serialize_sqlite_writers(engine)
        return cls(engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only: each statement sees the latest committed data."""
        async with self._reads() as session:
            yield session

    @asynccontextmanager
    async def reading_rows(self) -> AsyncIterator[AsyncConnection]:
        """A connection for plain-row reads on hot paths, with no ORM session around it."""
        async with self._read_engine.connect() as connection:
            yield connection

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block ends, rolls back if it raises. What was
        registered with `after_commit(session, ...)` runs once the commit succeeded (never
        after a rollback), in registration order, before the block's caller goes on."""
        async with self.sessions() as session:
            async with session.begin():
                yield session
            for callback in session.info.pop(_AFTER_COMMIT, ()):
                await callback()

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    def before_close(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run `callback()` when the database is closed, before its connections go: work
        still under way on it (events handed to a background worker) finishes first."""
        self._before_close.append(callback)

    async def close(self) -> None:
        while self._before_close:
            await self._before_close.pop()()
        await self.engine.dispose()


_AFTER_COMMIT = "after_commit"


def after_commit(session: AsyncSession, callback: Callable[[], Awaitable[None]]) -> None:
    """Run `callback()` when `session`'s transaction (opened by `Database.transaction`) has
    committed; dropped with the transaction if it rolls back. The callback must not raise:
    the change it follows is already committed, so there is nothing left to undo."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def _hide_row_values(context: Any) -> None:
    """PostgreSQL explains a failed constraint with the row's values ("DETAIL: Failing row
    contains (..., Ann Lee, +79990001122, 1990-11-24, ...)", "Key (phone)=(...)"), and asyncpg
    puts that in the error's text, where a logged traceback would show it: drop it."""
    seen: set[int] = set()
    error: BaseException | None = context.original_exception
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if getattr(error, "detail", None):
            error.detail = None  # type: ignore[attr-defined]
        error = error.__cause__ or error.__context__


def _serialize_sqlite_writers(engine: AsyncEngine) -> None:
    """SQLite has no row locks: take the write lock when a transaction begins instead.

    Without this, two transactions may both read a balance and then both write, and one of
    them fails late with "database is locked" (or, worse, with a stale read). BEGIN IMMEDIATE
    makes the second one wait for the first, which is what a row lock does on PostgreSQL.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
