"""What the offers context (coupons and rewards) publishes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.shared.bus import DomainEvent


@dataclass(frozen=True, kw_only=True)
class CouponIssued(DomainEvent):
    member_id: int
    coupon_id: int
    code: str
    campaign: str
    kind: str
    value: Decimal | None
    item: str | None
    valid_until: datetime | None
    terms: str | None
    source: str
    # False when the caller hands the coupon over itself (the chat's answer to a claim).
    notify: bool


@dataclass(frozen=True, kw_only=True)
class CouponVoided(DomainEvent):
    """Staff cancelled a coupon a member held (a code never issued tells no one)."""

    member_id: int
    coupon_id: int
    code: str
    campaign: str


@dataclass(frozen=True, kw_only=True)
class CouponRedeemed(DomainEvent):
    # The holder who showed their card, if any (a transferable code needs none).
    member_id: int | None
    redemption_id: str
    code: str
    campaign: str
    discount: Decimal
    order_amount: Decimal | None


@dataclass(frozen=True, kw_only=True)
class CouponRedemptionCancelled(DomainEvent):
    """A coupon's use cancelled (the order was returned): it no longer counts anywhere.
    `restored`: the coupon can be used again; False when it had expired or was voided."""

    # Whom to tell: the coupon's holder, else who showed their card (None: nobody known).
    member_id: int | None
    redemption_id: str
    code: str
    campaign: str
    restored: bool
    valid_until: datetime | None


@dataclass(frozen=True, kw_only=True)
class RewardClaimed(DomainEvent):
    member_id: int
    claim_id: str
    reward: str
    points: int
    balance: int
    coupon_id: int
