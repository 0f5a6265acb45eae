"""Domain events: a context says what happened; the contexts that care subscribe.

A context publishes an event (a frozen dataclass from its own `events.py`: who, when, and the
ids that make it unique) instead of calling the contexts that react to it, so enrolment does
not know referrals, and a purchase does not know referrals, tiers or notices. The bus is built
and wired once, in `core.program.LoyaltyProgram.build` (the core's composition root), and
handed to the contexts that publish; there is no module-level registry.

In-transaction subscribers
    `bus.subscribe_in_transaction(PurchaseRecorded, handler)`; `handler(session, event)` runs
    inside the publisher's transaction, when the publisher calls `publish_in(session, event)`,
    in the order the handlers were registered. What a handler writes commits or rolls back
    with the change that caused it: a referral reward with its qualifying purchase, a notice
    with the points it announces. A handler that raises fails the publisher's operation and
    its whole transaction, so a rolled-back publish leaves nothing behind and nothing is
    delivered. A handler may publish events of its own (a purchase moves a tier, which
    publishes TierChanged); those are handled at once, depth first.

After-commit subscribers (the games)
    `bus.subscribe_after_commit(PurchaseRecorded, handler)`: the publisher's transaction only
    writes the event to `pending_events` (one INSERT, whatever the number of subscribers), so
    what the games do costs a purchase nothing while it holds the member's lock. Once it has
    committed, `handler(session, event)` runs in a transaction of its own that first locks the
    event's member (as the publisher did: one member's events are never handled at the same
    time), deletes the row and then runs every after-commit handler of the event, in
    registration order: the deletion commits with what the handlers write, so an event is
    handled once even when the publishing process and the `deliver_events` job both try it.
    - By default the publisher's caller waits for that transaction (`Database.transaction`
      runs it after the commit): a member who shares a phone sees the profile quest move in
      the reply.
    - `hand_off(session)` lets the caller go on at once (the till's purchase): the events go
      to this process's background worker, handled in the order they were committed; `drain`
      waits for them (shutdown, tests, a benchmark).
    - A handler that raises, or a process that dies, leaves the row: the `deliver_events` job
      takes rows whose `due_at` has passed (a grace period after the commit, then a growing
      backoff) and tries again. Handlers must therefore be idempotent on the event's ids,
      which they are anyway (below). Events of one member may be handled out of order after a
      failure; the games take late events as they come (a streak's day is the event's).
    Events a game publishes while handling one (QuestCompleted, StreakExtended) are heard by
    the other games in that same transaction (in-transaction subscriptions).

At least once, idempotent on the event's ids
    An operation replayed (an idempotent retry, a job run twice) may publish the same event
    again. Every handler therefore writes keyed on the event's ids (purchase_id, refund_id, a
    coupon's id ...): a notice's dedupe key, a ledger idempotency key, a unique progress row.

How the next subscribers join (outbound webhooks, analytics)
    The same way notices do (`core.notices.announcements`): an in-transaction handler that
    writes its own row, keyed on the event's ids, e.g. a webhook delivery
    `(endpoint, "purchase:<purchase_id>")` through `core.shared.writes.insert_ignoring`; or,
    for work that must not slow the publisher, an after-commit handler. Slow or external
    work (an HTTP call to a shop, a message) never runs in a transaction: the row is an
    outbox, delivered later by a worker that leases it, as `core.notices.outbox.Notices`
    does. Register the handler in `LoyaltyProgram.build`, after the subscribers whose effects
    it must see (notices come last, so a notice reports the balance after a referral bonus).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import TypeAdapter
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database, after_commit
from core.db.failures import is_infrastructure_failure
from core.db.models import Member, PendingEvent
from core.shared.clock import Clock, SystemClock

log = logging.getLogger(__name__)

# The `deliver_events` job leaves a pending event this long to the process that committed it.
HANDOFF_GRACE = timedelta(minutes=1)
# After a failed handling: the first wait before the job tries again, doubling up to the last.
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=1)
# Events one process's background worker holds at most; beyond that the job takes them.
BACKGROUND_QUEUE_LIMIT = 10_000
# Pending events one `deliver_events` run handles at most.
DELIVER_BATCH = 500

_PENDING = "bus.pending_events"
_HANDED_OFF = "bus.handed_off"


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Something that happened in the core, at `occurred_at` (the publisher's clock)."""

    occurred_at: datetime


E = TypeVar("E", bound=DomainEvent)
InTransactionHandler = Callable[[AsyncSession, E], Awaitable[None]]


@dataclass(frozen=True)
class _Recorded:
    row: PendingEvent
    event: DomainEvent


class MessageBus:
    def __init__(self, db: Database | None = None, clock: Clock | None = None) -> None:
        self._in_transaction: dict[type[DomainEvent], list[InTransactionHandler[Any]]] = {}
        self._after_commit: dict[type[DomainEvent], list[InTransactionHandler[Any]]] = {}
        # Event types by the name their pending rows carry, and how to (de)serialize each.
        self._kinds: dict[str, type[DomainEvent]] = {}
        self._adapters: dict[type[DomainEvent], TypeAdapter[Any]] = {}
        self._db = db
        self._clock = clock or SystemClock()
        if db is not None:
            db.before_close(self.close)
        self._queue: asyncio.Queue[tuple[int, DomainEvent]] | None = None
        self._worker: asyncio.Task[None] | None = None

    def subscribe_in_transaction(
        self, event_type: type[E], handler: InTransactionHandler[E]
    ) -> None:
        """Run `handler(session, event)` in the publisher's transaction for every
        `event_type` published (exactly that type), after the handlers registered before."""
        self._in_transaction.setdefault(event_type, []).append(handler)

    def subscribe_after_commit(self, event_type: type[E], handler: InTransactionHandler[E]) -> None:
        """Run `handler(session, event)` for every `event_type` published (exactly that type),
        in a transaction of its own after the publisher's has committed, after the handlers
        registered before (see the module's docstring)."""
        if self._db is None:
            raise RuntimeError("after-commit subscribers need a bus built with the database")
        kind = event_type.__name__
        if self._kinds.setdefault(kind, event_type) is not event_type:
            raise ValueError(f"two event types are named {kind}")
        self._adapters.setdefault(event_type, TypeAdapter(event_type))
        self._after_commit.setdefault(event_type, []).append(handler)

    async def publish_in(self, session: AsyncSession, event: DomainEvent) -> None:
        """Tell the in-transaction subscribers, inside the caller's transaction (`session`),
        and record the event for the after-commit ones."""
        for handler in self._in_transaction.get(type(event), ()):
            await handler(session, event)
        if type(event) in self._after_commit:
            self._record(session, event)

    def hand_off(self, session: AsyncSession) -> None:
        """The caller of `session`'s transaction does not wait for the after-commit
        subscribers: its events are handled by this process's background worker."""
        session.info[_HANDED_OFF] = True

    def subscribers(self, event_type: type[DomainEvent]) -> tuple[InTransactionHandler[Any], ...]:
        """Who hears `event_type`, in order (in the publisher's transaction, then after its
        commit): for tests and for operators' diagnostics."""
        return (
            *self._in_transaction.get(event_type, ()),
            *self._after_commit.get(event_type, ()),
        )

    async def drain(self) -> None:
        """Wait until the background worker has handled every event handed to it."""
        if self._queue is not None and self._worker is not None and not self._worker.done():
            await self._queue.join()

    async def close(self) -> None:
        """Handle what was handed off, then stop the background worker (at shutdown)."""
        await self.drain()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    async def deliver_pending(self, limit: int = DELIVER_BATCH) -> int:
        """Handle pending events whose time has come (the `deliver_events` job): those of a
        process that died before handling them, and those whose handling failed. Returns how
        many were handled here."""
        assert self._db is not None, "a bus with after-commit subscribers has a database"
        async with self._db.reading() as session:
            rows = (
                await session.execute(
                    select(PendingEvent.id, PendingEvent.kind, PendingEvent.payload)
                    .where(PendingEvent.due_at <= self._clock.now())
                    .order_by(PendingEvent.id)
                    .limit(limit)
                )
            ).all()
        handled = 0
        for row_id, kind, payload in rows:
            event_type = self._kinds.get(kind)
            if event_type is None:
                # No subscriber hears it any more (a game was removed): nothing to do.
                log.warning("pending event %s of an unknown kind %s dropped", row_id, kind)
                await self._forget(row_id)
                continue
            event = self._adapters[event_type].validate_json(payload)
            if await self._handle(row_id, event):
                handled += 1
        return handled

    def _record(self, session: AsyncSession, event: DomainEvent) -> None:
        now = self._clock.now()
        row = PendingEvent(
            kind=type(event).__name__,
            payload=self._adapters[type(event)].dump_json(event).decode(),
            member_id=getattr(event, "member_id", None),
            created_at=now,
            due_at=now + HANDOFF_GRACE,
            attempts=0,
        )
        session.add(row)
        recorded: list[_Recorded] | None = session.info.get(_PENDING)
        if recorded is None:
            recorded = session.info[_PENDING] = []
            after_commit(session, lambda: self._committed(session))
        recorded.append(_Recorded(row, event))

    async def _committed(self, session: AsyncSession) -> None:
        recorded: list[_Recorded] = session.info.pop(_PENDING, [])
        if session.info.pop(_HANDED_OFF, False):
            for item in recorded:
                self._enqueue(item.row.id, item.event)
            return
        for item in recorded:
            await self._handle(item.row.id, item.event)

    def _enqueue(self, row_id: int, event: DomainEvent) -> None:
        if self._worker is None or self._worker.done():
            self._queue = asyncio.Queue(BACKGROUND_QUEUE_LIMIT)
            self._worker = asyncio.get_running_loop().create_task(self._work())
        assert self._queue is not None
        try:
            self._queue.put_nowait((row_id, event))
        except asyncio.QueueFull:
            # The job takes it once its grace period is over: late, never lost.
            log.warning("event %s left to the deliver_events job: the worker is behind", row_id)

    async def _work(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            row_id, event = await queue.get()
            try:
                await self._handle(row_id, event)
            finally:
                queue.task_done()

    async def _handle(self, row_id: int, event: DomainEvent) -> bool:
        """Run the event's after-commit handlers in one transaction that also deletes its
        row; False if another process had handled it, or if handling failed (the row stays,
        due again after a backoff). Never raises: the publisher's change is committed."""
        assert self._db is not None
        member_id = getattr(event, "member_id", None)
        try:
            async with self._db.transaction() as session:
                # Held while the handlers run: the session's identity map keeps only what is
                # referenced, and each game reads the member (its time zone, its tier).
                member = (
                    await session.get(Member, member_id, with_for_update=True)
                    if member_id is not None
                    else None
                )
                taken = await session.execute(delete(PendingEvent).where(PendingEvent.id == row_id))
                if taken.rowcount == 0:  # type: ignore[attr-defined]
                    return False
                for handler in self._after_commit.get(type(event), ()):
                    await handler(session, event)
                del member
            return True
        except Exception as error:
            if is_infrastructure_failure(error):
                log.warning(
                    "event %s (%s) not handled: %s; the deliver_events job retries it",
                    row_id,
                    type(event).__name__,
                    type(error).__name__,
                )
            else:
                log.exception(
                    "event %s (%s) failed in a subscriber; the deliver_events job retries it",
                    row_id,
                    type(event).__name__,
                )
            await self._failed(row_id, error)
            return False

    async def _failed(self, row_id: int, error: Exception) -> None:
        assert self._db is not None
        try:
            async with self._db.transaction() as session:
                attempts = await session.scalar(
                    select(PendingEvent.attempts).where(PendingEvent.id == row_id)
                )
                if attempts is None:
                    return
                wait = min(FIRST_RETRY * 2**attempts, LONGEST_RETRY)
                await session.execute(
                    update(PendingEvent)
                    .where(PendingEvent.id == row_id)
                    .values(
                        attempts=attempts + 1,
                        due_at=self._clock.now() + wait,
                        error=type(error).__name__[:128],
                    )
                )
        except Exception as failure:
            # The row keeps its due time: the job tries again as soon as it can.
            log.warning("event %s: its failure not recorded (%s)", row_id, type(failure).__name__)

    async def _forget(self, row_id: int) -> None:
        assert self._db is not None
        async with self._db.transaction() as session:
            await session.execute(delete(PendingEvent).where(PendingEvent.id == row_id))
