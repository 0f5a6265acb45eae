"""Coupon campaigns: what a marketer sets (kind, value, dates, limits, budget), validated
and stored; looked up, locked and switched on or off. Also the reasons a campaign's terms
refuse a code, which issuing and redemption check in this order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import CouponCampaign
from core.shared.clock import Clock
from core.shared.errors import CampaignNotFound, InvalidAmount, InvalidCampaign
from core.shared.parsing import has_control_characters, parse_actor, parse_amount

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")

# Every reason a code can be refused, in the order they are checked (most are the campaign's
# terms; issuing checks some of them, redemption all).
UNKNOWN = "unknown"
VOIDED = "voided"
INACTIVE = "inactive"
NOT_STARTED = "not_started"
EXPIRED = "expired"
USED_UP = "used_up"
FOREIGN = "foreign"
CAMPAIGN_EXHAUSTED = "campaign_exhausted"
MEMBER_LIMIT = "member_limit"
MIN_ORDER = "min_order"
BUDGET_EXHAUSTED = "budget_exhausted"
COUPON_REASONS = (
    UNKNOWN,
    VOIDED,
    INACTIVE,
    NOT_STARTED,
    EXPIRED,
    USED_UP,
    FOREIGN,
    CAMPAIGN_EXHAUSTED,
    MEMBER_LIMIT,
    MIN_ORDER,
    BUDGET_EXHAUSTED,
)


class CouponKind(StrEnum):
    PERCENT = "percent"
    FIXED = "fixed"
    FREE_ITEM = "free_item"


@dataclass(frozen=True)
class CampaignSpec:
    """What a marketer sets for a campaign; validated by `Campaigns.create_campaign`."""

    slug: str
    name: str
    kind: CouponKind | str
    value: Decimal | str | None = None
    item: str | None = None
    terms: str | None = None
    min_order: Decimal | str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    valid_days: int | None = None
    total_limit: int | None = None
    per_member_limit: int | None = None
    budget: Decimal | str | None = None
    uses_per_coupon: int = 1
    transferable: bool = False


@dataclass(frozen=True)
class Campaign:
    id: int
    slug: str
    name: str
    kind: CouponKind
    value: Decimal | None
    item: str | None
    terms: str | None
    min_order: Decimal | None
    starts_at: datetime | None
    ends_at: datetime | None
    valid_days: int | None
    total_limit: int | None
    per_member_limit: int | None
    budget: Decimal | None
    spent: Decimal
    redemptions: int
    uses_per_coupon: int
    transferable: bool
    active: bool

    @classmethod
    def of(cls, row: CouponCampaign) -> Campaign:
        return cls(
            id=row.id,
            slug=row.slug,
            name=row.name,
            kind=CouponKind(row.kind),
            value=row.value,
            item=row.item,
            terms=row.terms,
            min_order=row.min_order,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            valid_days=row.valid_days,
            total_limit=row.total_limit,
            per_member_limit=row.per_member_limit,
            budget=row.budget,
            spent=Decimal(row.spent or 0),
            redemptions=row.redemptions or 0,
            uses_per_coupon=row.uses_per_coupon,
            transferable=row.transferable,
            active=row.active,
        )


def _optional_money(raw: Decimal | str | None, what: str) -> Decimal | None:
    if raw is None or str(raw).strip() == "":
        return None
    try:
        return parse_amount(raw)
    except InvalidAmount as error:
        raise InvalidCampaign(f"{what}: {error}") from error


# The most a campaign's limits may say: their columns are 32-bit, and a coupon's validity
# must end before the calendar does (now + valid days is computed at every issue).
MAX_LIMIT = 1_000_000_000
MAX_VALID_DAYS = 36_500


def _optional_count(raw: int | None, what: str, *, most: int = MAX_LIMIT) -> int | None:
    if raw is None:
        return None
    if not 1 <= raw <= most:
        raise InvalidCampaign(f"{what} must be 1 to {most} (or left out for no limit)")
    return raw


class Campaigns:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def create_campaign(self, spec: CampaignSpec, *, actor: str) -> Campaign:
        async with self._db.transaction() as session:
            row = await self.create_campaign_in(session, spec, actor=actor)
            return Campaign.of(row)

    async def create_campaign_in(
        self, session: AsyncSession, spec: CampaignSpec, *, actor: str
    ) -> CouponCampaign:
        row = self._validated(spec, actor)
        taken = await session.scalar(
            select(CouponCampaign.id).where(CouponCampaign.slug == row.slug)
        )
        if taken is not None:
            raise InvalidCampaign(f"a campaign {row.slug!r} already exists")
        session.add(row)
        await session.flush()
        return row

    def _validated(self, spec: CampaignSpec, actor: str) -> CouponCampaign:
        slug = spec.slug.strip().lower()
        if not _SLUG.match(slug):
            raise InvalidCampaign(
                f"a campaign slug is 1 to 32 lower-case letters, digits, '-' or '_': {spec.slug!r}"
            )
        name = spec.name.strip()
        if not name or len(name) > 128 or has_control_characters(name):
            raise InvalidCampaign("a campaign name of 1 to 128 characters is required")
        try:
            kind = CouponKind(spec.kind)
        except ValueError as error:
            known = ", ".join(kind.value for kind in CouponKind)
            raise InvalidCampaign(f"kind must be one of {known}: {spec.kind!r}") from error
        value = _optional_money(spec.value, "value")
        item = (spec.item or "").strip() or None
        if kind is CouponKind.PERCENT:
            if value is None or value > 100:
                raise InvalidCampaign("a percent coupon needs a value above 0 and at most 100")
        elif kind is CouponKind.FIXED:
            if value is None:
                raise InvalidCampaign("a fixed coupon needs the amount it takes off")
        else:
            if value is not None:
                raise InvalidCampaign("a free-item coupon has no value; name the item instead")
            if item is None:
                raise InvalidCampaign("a free-item coupon needs the item it gives")
        if item is not None and (len(item) > 128 or has_control_characters(item)):
            raise InvalidCampaign("the item's name is at most 128 characters")
        budget = _optional_money(spec.budget, "budget")
        if budget is not None and kind is CouponKind.FREE_ITEM:
            raise InvalidCampaign("a free-item campaign gives no money off, so it has no budget")
        for moment in (spec.starts_at, spec.ends_at):
            if moment is not None and moment.tzinfo is None:
                raise InvalidCampaign("campaign dates need a time zone")
        if spec.starts_at and spec.ends_at and spec.starts_at >= spec.ends_at:
            raise InvalidCampaign("the campaign must end after it starts")
        if not 1 <= spec.uses_per_coupon <= MAX_LIMIT:
            raise InvalidCampaign(f"uses per coupon must be 1 to {MAX_LIMIT}")
        now = self._clock.now()
        return CouponCampaign(
            slug=slug,
            name=name,
            kind=kind.value,
            value=value,
            item=item,
            terms=(spec.terms or "").strip() or None,
            min_order=_optional_money(spec.min_order, "minimum order"),
            starts_at=spec.starts_at,
            ends_at=spec.ends_at,
            valid_days=_optional_count(spec.valid_days, "valid days", most=MAX_VALID_DAYS),
            total_limit=_optional_count(spec.total_limit, "the total limit"),
            per_member_limit=_optional_count(spec.per_member_limit, "the per-member limit"),
            budget=budget,
            spent=Decimal(0),
            redemptions=0,
            uses_per_coupon=spec.uses_per_coupon,
            transferable=spec.transferable,
            active=True,
            created_by=parse_actor(actor),
            created_at=now,
        )

    async def campaign(self, slug: str) -> Campaign:
        async with self._db.reading() as session:
            row = await session.scalar(
                select(CouponCampaign).where(CouponCampaign.slug == slug.strip().lower())
            )
        if row is None:
            raise CampaignNotFound(slug)
        return Campaign.of(row)

    async def set_active(self, slug: str, active: bool) -> Campaign:
        async with self._db.transaction() as session:
            row = await self.campaign_in(session, slug, lock=True)
            row.active = active
            return Campaign.of(row)

    async def campaign_in(
        self, session: AsyncSession, slug: str, *, lock: bool = False
    ) -> CouponCampaign:
        statement = select(CouponCampaign).where(CouponCampaign.slug == slug.strip().lower())
        row = await session.scalar(statement.with_for_update() if lock else statement)
        if row is None:
            raise CampaignNotFound(slug)
        return row
