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

At least once, idempotent on the event's ids
    An operation replayed (an idempotent retry, a job run twice) may publish the same event
    again. Every handler therefore writes keyed on the event's ids (purchase_id, refund_id, a
    coupon's id ...): a notice's dedupe key, a ledger idempotency key, a unique progress row.

How the next subscribers join (quests, badges, outbound webhooks, analytics)
    The same way notices do (`core.notices.announcements`): an in-transaction handler that
    writes its own row, keyed on the event's ids, e.g. quest progress
    `(member_id, quest, period)` or a webhook delivery `(endpoint, "purchase:<purchase_id>")`
    through `core.shared.writes.insert_ignoring`. Slow or external work (an HTTP call to a
    shop, a message) never runs in the transaction: the row is an outbox, delivered later by a
    worker that leases it, as `core.notices.outbox.Notices` does. Register the handler in
    `LoyaltyProgram.build`, after the subscribers whose effects it must see (notices come
    last, so a notice reports the balance after a referral bonus).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Something that happened in the core, at `occurred_at` (the publisher's clock)."""

    occurred_at: datetime


E = TypeVar("E", bound=DomainEvent)
InTransactionHandler = Callable[[AsyncSession, E], Awaitable[None]]


class MessageBus:
    def __init__(self) -> None:
        self._in_transaction: dict[type[DomainEvent], list[InTransactionHandler[Any]]] = {}

    def subscribe_in_transaction(
        self, event_type: type[E], handler: InTransactionHandler[E]
    ) -> None:
        """Run `handler(session, event)` in the publisher's transaction for every
        `event_type` published (exactly that type), after the handlers registered before."""
        self._in_transaction.setdefault(event_type, []).append(handler)

    async def publish_in(self, session: AsyncSession, event: DomainEvent) -> None:
        """Tell the subscribers, inside the caller's transaction (`session`)."""
        for handler in self._in_transaction.get(type(event), ()):
            await handler(session, event)

    def subscribers(self, event_type: type[DomainEvent]) -> tuple[InTransactionHandler[Any], ...]:
        """Who hears `event_type`, in order: for tests and for operators' diagnostics."""
        return tuple(self._in_transaction.get(event_type, ()))
