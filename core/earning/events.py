"""What the earning context publishes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.shared.bus import DomainEvent

# The ledger reasons of earning's entries: part of what it publishes (notices and, next,
# webhooks name them), so they live with its events rather than in its services.
PURCHASE_REASON = "purchase"
REFUND_REASON = "refund"
REDEMPTION_REASON = "redemption"
# Points of a redemption given back: the order was returned or the sale cancelled.
REDEMPTION_CANCEL_REASON = "redemption_cancel"
EVENT_REASON = "event"


@dataclass(frozen=True, kw_only=True)
class PurchaseRecorded(DomainEvent):
    """A purchase was credited (not published again for a replay of the same purchase_id)."""

    member_id: int
    purchase_id: str
    amount: Decimal
    points: int
    store: str | None
    # The parts of the amount per category ({"coffee": Decimal("300")}), if the shop gave them.
    categories: Mapping[str, Decimal] | None = None


@dataclass(frozen=True, kw_only=True)
class RefundRecorded(DomainEvent):
    member_id: int
    refund_id: str
    purchase_id: str
    # When the refunded purchase was made: a tier reached with it is lost at once.
    purchase_made_at: datetime
    amount: Decimal
    points: int
    debt_added: int


@dataclass(frozen=True, kw_only=True)
class PointsRedeemed(DomainEvent):
    """Points spent at the till; published again when the same redemption_id is replayed."""

    member_id: int
    redemption_id: str
    points: int
    balance: int


@dataclass(frozen=True, kw_only=True)
class PointsReturned(DomainEvent):
    """Points spent at the till given back (a cancel of all or part of a redemption); not
    published again for a replay. `expired` of them had passed their date and went at once."""

    member_id: int
    redemption_id: str
    # Names this return for good (the ledger entry's idempotency key).
    cancel_key: str
    points: int
    expired: int
    balance: int


@dataclass(frozen=True, kw_only=True)
class EventBonusRecorded(DomainEvent):
    """A shop's event (a review, a survey ...) was recorded; `points` is 0 past the limit."""

    member_id: int
    kind: str
    event_id: str
    # The recorded row's id: short, unique, and what the bonus's keys are made of.
    record_id: int
    points: int
    balance: int
