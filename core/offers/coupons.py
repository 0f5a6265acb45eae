"""Coupon campaigns and their codes: creation, bulk generation and import, issue to members,
a read-only check and atomic redemption at the till.

Redemption locks the coupon's row, then its campaign's row (SELECT ... FOR UPDATE on
PostgreSQL; SQLite's BEGIN IMMEDIATE serializes writers instead), so uses per coupon, the
campaign's total limit and its budget hold under any number of concurrent attempts. Issuing
locks the campaign row first and only ever takes a free code with SKIP LOCKED, so the two
lock orders cannot deadlock.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import Coupon, CouponCampaign, CouponRedemption, Member
from core.offers import events
from core.shared import cards
from core.shared.bus import MessageBus
from core.shared.clock import Clock
from core.shared.errors import (
    CampaignNotFound,
    CouponCodesRejected,
    CouponRefused,
    IdempotencyConflict,
    InvalidAmount,
    InvalidCampaign,
    InvalidReference,
    MemberNotFound,
)
from core.shared.owners import member_ids_of, owner_of, owner_of_card
from core.shared.parsing import MAX_REFERENCE_LENGTH, parse_amount
from core.shared.writes import insert_ignoring, retry_on_conflict

# Codes are read aloud and typed at the till: no 0/O, 1/I/L, U (the card alphabet).
ALPHABET = cards.ALPHABET
RANDOM_SLOT = "#"
MIN_RANDOM_SLOTS = 4
MAX_CODE_LENGTH = 32
# A pattern must leave far more codes than are asked for, or guessing one becomes easy.
MIN_SPACE_PER_CODE = 1000
GENERATION_BATCH = 500
MAX_GENERATION_ROUNDS = 50
MAX_CODES_PER_CALL = 100_000
_PATTERN = re.compile(r"^[A-Z0-9#-]+$")
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,30}[A-Z0-9]$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
CENT = Decimal("0.01")

# Every reason a code can be refused, in the order they are checked.
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
    """What a marketer sets for a campaign; validated by `Coupons.create_campaign`."""

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


@dataclass(frozen=True)
class IssuedCoupon:
    """A coupon as its holder sees it: the code, what it gives, until when, on what terms."""

    id: int
    code: str
    campaign: str
    kind: CouponKind
    value: Decimal | None
    item: str | None
    terms: str | None
    min_order: Decimal | None
    valid_until: datetime | None
    uses_left: int

    @classmethod
    def of(cls, coupon: Coupon, campaign: CouponCampaign) -> IssuedCoupon:
        return cls(
            id=coupon.id,
            code=coupon.code,
            campaign=campaign.name,
            kind=CouponKind(campaign.kind),
            value=campaign.value,
            item=campaign.item,
            terms=campaign.terms,
            min_order=campaign.min_order,
            valid_until=_valid_until(coupon, campaign),
            uses_left=max(0, campaign.uses_per_coupon - coupon.uses),
        )


@dataclass(frozen=True)
class CouponCheck:
    """What a code would give now, or why not (`reason` is None when it would work).

    `discount` is None when it depends on an order amount that was not given."""

    code: str
    reason: str | None
    detail: str
    campaign: str | None
    kind: CouponKind | None
    discount: Decimal | None
    item: str | None
    valid_until: datetime | None
    uses_left: int

    @property
    def ok(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class CouponRedeemed:
    redemption_id: str
    code: str
    campaign: str
    kind: CouponKind
    discount: Decimal
    item: str | None
    order_amount: Decimal | None
    uses_left: int
    replayed: bool


@dataclass(frozen=True)
class _Verdict:
    discount: Decimal | None


def normalize_code(raw: str) -> str:
    """The stored form of a typed, scanned or imported code: upper case, no spaces."""
    return "".join(raw.split()).upper()


def default_pattern(slug: str) -> str:
    """Codes of a campaign issued without bulk generation: its slug, then eight random."""
    prefix = re.sub(r"[^A-Z0-9]", "", slug.upper())[:10]
    return f"{prefix}-####-####" if prefix else "####-####"


def random_code(pattern: str) -> str:
    """One code: every `#` of the pattern becomes a random character of ALPHABET."""
    return "".join(secrets.choice(ALPHABET) if char == RANDOM_SLOT else char for char in pattern)


def validate_pattern(pattern: str, count: int) -> str:
    pattern = pattern.strip().upper()
    if not _PATTERN.match(pattern) or len(pattern) > MAX_CODE_LENGTH:
        raise InvalidCampaign(
            f"a pattern is up to {MAX_CODE_LENGTH} letters, digits, '-' and '#' (random): "
            f"{pattern!r}"
        )
    if pattern.startswith("-") or pattern.endswith("-"):
        raise InvalidCampaign(f"a pattern cannot start or end with '-': {pattern!r}")
    slots = pattern.count(RANDOM_SLOT)
    if slots < MIN_RANDOM_SLOTS:
        raise InvalidCampaign(f"a pattern needs at least {MIN_RANDOM_SLOTS} '#': {pattern!r}")
    if len(ALPHABET) ** slots < count * MIN_SPACE_PER_CODE:
        raise InvalidCampaign(
            f"{pattern!r} allows too few codes for {count}: add '#' so codes stay unguessable"
        )
    return pattern


def _valid_until(coupon: Coupon, campaign: CouponCampaign) -> datetime | None:
    """When a coupon stops working: its own date once issued, else the campaign's end."""
    if coupon.valid_until is not None:
        return coupon.valid_until
    return campaign.ends_at


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _optional_money(raw: Decimal | str | None, what: str) -> Decimal | None:
    if raw is None or str(raw).strip() == "":
        return None
    try:
        return parse_amount(raw)
    except InvalidAmount as error:
        raise InvalidCampaign(f"{what}: {error}") from error


def _optional_count(raw: int | None, what: str) -> int | None:
    if raw is None:
        return None
    if raw < 1:
        raise InvalidCampaign(f"{what} must be at least 1 (or left out for no limit)")
    return raw


class Coupons:
    def __init__(self, db: Database, clock: Clock, bus: MessageBus) -> None:
        self._db = db
        self._clock = clock
        self._bus = bus

    # ------------------------------------------------------------------ campaigns
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
        if not name or len(name) > 128:
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
        if item is not None and len(item) > 128:
            raise InvalidCampaign("the item's name is at most 128 characters")
        budget = _optional_money(spec.budget, "budget")
        if budget is not None and kind is CouponKind.FREE_ITEM:
            raise InvalidCampaign("a free-item campaign gives no money off, so it has no budget")
        for moment in (spec.starts_at, spec.ends_at):
            if moment is not None and moment.tzinfo is None:
                raise InvalidCampaign("campaign dates need a time zone")
        if spec.starts_at and spec.ends_at and spec.starts_at >= spec.ends_at:
            raise InvalidCampaign("the campaign must end after it starts")
        if spec.uses_per_coupon < 1:
            raise InvalidCampaign("uses per coupon must be at least 1")
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
            valid_days=_optional_count(spec.valid_days, "valid days"),
            total_limit=_optional_count(spec.total_limit, "the total limit"),
            per_member_limit=_optional_count(spec.per_member_limit, "the per-member limit"),
            budget=budget,
            spent=Decimal(0),
            redemptions=0,
            uses_per_coupon=spec.uses_per_coupon,
            transferable=spec.transferable,
            active=True,
            created_by=actor,
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

    # ------------------------------------------------------------------ codes
    async def generate(self, slug: str, count: int, *, pattern: str | None = None) -> list[str]:
        """`count` new, unissued codes for a campaign, random where the pattern has `#`.

        Inserted in batches with ON CONFLICT DO NOTHING: a code that already exists (from
        this or any other campaign, or a concurrent run) is skipped and drawn again."""
        if not 1 <= count <= MAX_CODES_PER_CALL:
            raise InvalidCampaign(f"generate 1 to {MAX_CODES_PER_CALL} codes at a time")
        campaign = await self.campaign(slug)
        pattern = validate_pattern(pattern or default_pattern(campaign.slug), count)
        created: list[str] = []
        # Enough rounds for every batch, plus a few to redraw the codes that collided.
        rounds = math.ceil(count / GENERATION_BATCH) + MAX_GENERATION_ROUNDS
        for _round in range(rounds):
            wanted = min(GENERATION_BATCH, count - len(created))
            if wanted == 0:
                break
            candidates = {random_code(pattern) for _ in range(wanted)}
            async with self._db.transaction() as session:
                created.extend(
                    await self._insert_codes(session, campaign.id, candidates, source="bulk")
                )
        if len(created) < count:
            raise InvalidCampaign(
                f"only {len(created)} of {count} codes could be made unique with {pattern!r}"
            )
        return created

    async def _insert_codes(
        self, session: AsyncSession, campaign_id: int, codes: Iterable[str], *, source: str
    ) -> list[str]:
        now = self._clock.now()
        rows = [
            {
                "campaign_id": campaign_id,
                "code": code,
                "source": source,
                "uses": 0,
                "created_at": now,
            }
            for code in codes
        ]
        if not rows:
            return []
        statement = insert_ignoring(session, Coupon, rows, unique=["code"]).returning(Coupon.code)
        return list((await session.scalars(statement)).all())

    async def import_codes(self, slug: str, raw_codes: Iterable[str]) -> list[str]:
        """Codes from a list (one per line from a file, a POS export, ...), all or nothing:
        if any is not a valid code, repeats in the list or already exists, nothing is
        imported and the refusal lists which. Blank lines are ignored."""
        codes: list[str] = []
        invalid: list[str] = []
        repeated: list[str] = []
        seen: set[str] = set()
        for raw in raw_codes:
            code = normalize_code(raw)
            if not code:
                continue
            if not _CODE.match(code) or "--" in code:
                invalid.append(raw.strip())
            elif code in seen:
                repeated.append(code)
            else:
                seen.add(code)
                codes.append(code)
        if not codes and not invalid and not repeated:
            raise InvalidCampaign("no codes to import")
        async with self._db.transaction() as session:
            campaign = await self.campaign_in(session, slug)
            existing: list[str] = []
            for start in range(0, len(codes), GENERATION_BATCH):
                batch = codes[start : start + GENERATION_BATCH]
                existing.extend(
                    await session.scalars(select(Coupon.code).where(Coupon.code.in_(batch)))
                )
            if invalid or repeated or existing:
                raise CouponCodesRejected(
                    invalid=invalid, repeated=repeated, existing=sorted(existing)
                )
            imported: list[str] = []
            for start in range(0, len(codes), GENERATION_BATCH):
                batch = codes[start : start + GENERATION_BATCH]
                imported.extend(
                    await self._insert_codes(session, campaign.id, batch, source="import")
                )
            if len(imported) != len(codes):
                # Another import took some of these codes meanwhile: all or nothing.
                taken = sorted(set(codes) - set(imported))
                raise CouponCodesRejected(invalid=[], repeated=[], existing=taken)
            return codes

    # ------------------------------------------------------------------ issue
    async def issue(self, slug: str, member_id: int, *, source: str = "manual") -> IssuedCoupon:
        """Give a member a coupon of the campaign (a free code, or a new one) and tell them."""
        async with self._db.transaction() as session:
            campaign = await self.campaign_in(session, slug, lock=True)
            if await session.get(Member, member_id) is None:
                raise MemberNotFound(member_id)
            return await self.issue_in(session, campaign, member_id, source=source)

    async def issue_in(
        self,
        session: AsyncSession,
        campaign: CouponCampaign,
        member_id: int,
        *,
        source: str,
        notify: bool = True,
    ) -> IssuedCoupon:
        """Issue inside the caller's transaction; the campaign row must be locked by it.

        Publishes CouponIssued; with `notify`, the notices context records a "coupon
        received" notice in the same transaction."""
        now = self._clock.now()
        if not campaign.active:
            raise CouponRefused(INACTIVE, detail=f"campaign {campaign.slug} is switched off")
        if campaign.ends_at is not None and campaign.ends_at <= now:
            raise CouponRefused(EXPIRED, detail=f"campaign {campaign.slug} has ended")
        if campaign.total_limit is not None and campaign.redemptions >= campaign.total_limit:
            raise CouponRefused(CAMPAIGN_EXHAUSTED, detail=f"campaign {campaign.slug}")
        if campaign.per_member_limit is not None:
            held = await session.scalar(
                select(func.count()).where(
                    Coupon.campaign_id == campaign.id,
                    Coupon.member_id.in_(member_ids_of(member_id)),
                )
            )
            if (held or 0) >= campaign.per_member_limit:
                raise CouponRefused(
                    MEMBER_LIMIT,
                    detail=f"{campaign.per_member_limit} per member in campaign {campaign.slug}",
                )
        coupon = await session.scalar(
            select(Coupon)
            .where(
                Coupon.campaign_id == campaign.id,
                Coupon.member_id.is_(None),
                Coupon.issued_at.is_(None),
                Coupon.voided_at.is_(None),
            )
            .order_by(Coupon.id)
            .limit(1)
            # A code another issue is taking is skipped, not waited for.
            .with_for_update(skip_locked=True)
        )
        if coupon is None:
            coupon = await self._new_coupon_in(session, campaign, source)
        else:
            coupon.source = coupon.source if source == "manual" else source
        # Recorded for transferable coupons too (it is how "My coupons" finds them); only
        # holder-only ones are refused in anyone else's hands.
        coupon.member_id = member_id
        coupon.issued_at = now
        until = campaign.ends_at
        if campaign.valid_days is not None:
            own = now + timedelta(days=campaign.valid_days)
            until = own if until is None else min(until, own)
        coupon.valid_until = until
        await session.flush()
        issued = IssuedCoupon.of(coupon, campaign)
        await self._bus.publish_in(
            session,
            events.CouponIssued(
                occurred_at=now,
                member_id=member_id,
                coupon_id=coupon.id,
                code=issued.code,
                campaign=issued.campaign,
                kind=issued.kind.value,
                value=issued.value,
                item=issued.item,
                valid_until=issued.valid_until,
                terms=issued.terms,
                source=coupon.source,
                notify=notify,
            ),
        )
        return issued

    async def _new_coupon_in(
        self, session: AsyncSession, campaign: CouponCampaign, source: str
    ) -> Coupon:
        pattern = default_pattern(campaign.slug)
        for _attempt in range(MAX_GENERATION_ROUNDS):
            inserted = await self._insert_codes(
                session, campaign.id, [random_code(pattern)], source=source
            )
            if inserted:
                coupon = await session.scalar(select(Coupon).where(Coupon.code == inserted[0]))
                assert coupon is not None
                return coupon
        raise InvalidCampaign(f"no unique code could be made for campaign {campaign.slug}")

    async def void(self, code: str) -> None:
        async with self._db.transaction() as session:
            coupon = await session.scalar(
                select(Coupon).where(Coupon.code == normalize_code(code)).with_for_update()
            )
            if coupon is None:
                raise CouponRefused(UNKNOWN, normalize_code(code))
            coupon.voided_at = coupon.voided_at or self._clock.now()

    # ------------------------------------------------------------------ members' coupons
    async def active_for(self, member_id: int) -> list[IssuedCoupon]:
        """A member's coupons that would work today, the soonest to expire first."""
        now = self._clock.now()
        async with self._db.reading() as session:
            rows = (
                await session.execute(
                    select(Coupon, CouponCampaign)
                    .join(CouponCampaign, CouponCampaign.id == Coupon.campaign_id)
                    .where(
                        Coupon.member_id.in_(member_ids_of(member_id)),
                        Coupon.voided_at.is_(None),
                        Coupon.uses < CouponCampaign.uses_per_coupon,
                        or_(Coupon.valid_until.is_(None), Coupon.valid_until > now),
                        or_(CouponCampaign.ends_at.is_(None), CouponCampaign.ends_at > now),
                        or_(
                            CouponCampaign.total_limit.is_(None),
                            CouponCampaign.redemptions < CouponCampaign.total_limit,
                        ),
                        CouponCampaign.active.is_(True),
                    )
                    .order_by(Coupon.valid_until.is_(None), Coupon.valid_until, Coupon.id)
                )
            ).all()
        return [IssuedCoupon.of(coupon, campaign) for coupon, campaign in rows]

    # ------------------------------------------------------------------ till
    async def check(
        self,
        code: str,
        *,
        order_amount: str | Decimal | None = None,
        card_code: str | None = None,
        member_id: int | None = None,
    ) -> CouponCheck:
        """What redeeming the code now would give, or the reason it would be refused.

        Reads only; a later redemption may still be refused if someone is faster."""
        code = normalize_code(code)
        amount = parse_amount(order_amount) if order_amount is not None else None
        async with self._db.reading() as session:
            holder = await self._holder(session, card_code, member_id)
            coupon = await session.scalar(select(Coupon).where(Coupon.code == code))
            campaign = await session.get(CouponCampaign, coupon.campaign_id) if coupon else None
            reason: str | None
            try:
                verdict = await self._verdict(
                    session, code, coupon, campaign, holder, amount, require_amount=False
                )
            except CouponRefused as refusal:
                reason, detail, discount = refusal.reason, refusal.detail, None
            else:
                reason, detail, discount = None, "", verdict.discount
        if coupon is None or campaign is None:
            return CouponCheck(code, reason, detail, None, None, None, None, None, 0)
        issued = IssuedCoupon.of(coupon, campaign)
        return CouponCheck(
            code=code,
            reason=reason,
            detail=detail,
            campaign=issued.campaign,
            kind=issued.kind,
            discount=discount,
            item=issued.item,
            valid_until=issued.valid_until,
            uses_left=issued.uses_left,
        )

    async def redeem(
        self,
        code: str,
        *,
        redemption_id: str,
        actor: str,
        order_amount: str | Decimal | None = None,
        card_code: str | None = None,
        member_id: int | None = None,
    ) -> CouponRedeemed:
        """Use a code at the till, atomically; idempotent on redemption_id (a replay returns
        the first result, whatever happened to the coupon since)."""
        code = normalize_code(code)
        redemption_id = redemption_id.strip()
        if not redemption_id or len(redemption_id) > MAX_REFERENCE_LENGTH:
            raise InvalidReference(
                f"a redemption id of 1 to {MAX_REFERENCE_LENGTH} characters is required"
            )
        amount = parse_amount(order_amount) if order_amount is not None else None

        async def attempt() -> CouponRedeemed:
            async with self._db.transaction() as session:
                return await self._redeem_in(
                    session, code, redemption_id, actor, amount, card_code, member_id
                )

        # The same redemption id used concurrently: the retry sees it as a replay.
        return await retry_on_conflict(attempt)

    async def _redeem_in(
        self,
        session: AsyncSession,
        code: str,
        redemption_id: str,
        actor: str,
        amount: Decimal | None,
        card_code: str | None,
        member_id: int | None,
    ) -> CouponRedeemed:
        holder = await self._holder(session, card_code, member_id)
        previous = await session.scalar(
            select(CouponRedemption).where(CouponRedemption.redemption_id == redemption_id)
        )
        if previous is not None:
            return await self._replay(session, previous, code, amount)
        coupon = await session.scalar(select(Coupon).where(Coupon.code == code).with_for_update())
        campaign = (
            await session.get(CouponCampaign, coupon.campaign_id, with_for_update=True)
            if coupon is not None
            else None
        )
        verdict = await self._verdict(
            session, code, coupon, campaign, holder, amount, require_amount=True
        )
        assert coupon is not None and campaign is not None and verdict.discount is not None
        coupon.uses += 1
        campaign.redemptions += 1
        campaign.spent = Decimal(campaign.spent or 0) + verdict.discount
        session.add(
            CouponRedemption(
                redemption_id=redemption_id,
                coupon_id=coupon.id,
                member_id=holder,
                order_amount=amount,
                discount=verdict.discount,
                actor=actor,
                created_at=self._clock.now(),
            )
        )
        await session.flush()
        await self._bus.publish_in(
            session,
            events.CouponRedeemed(
                occurred_at=self._clock.now(),
                member_id=holder,
                redemption_id=redemption_id,
                code=code,
                campaign=campaign.name,
                discount=verdict.discount,
                order_amount=amount,
            ),
        )
        return CouponRedeemed(
            redemption_id=redemption_id,
            code=code,
            campaign=campaign.name,
            kind=CouponKind(campaign.kind),
            discount=verdict.discount,
            item=campaign.item,
            order_amount=amount,
            uses_left=max(0, campaign.uses_per_coupon - coupon.uses),
            replayed=False,
        )

    async def _replay(
        self,
        session: AsyncSession,
        previous: CouponRedemption,
        code: str,
        amount: Decimal | None,
    ) -> CouponRedeemed:
        coupon = await session.get(Coupon, previous.coupon_id)
        assert coupon is not None
        if coupon.code != code or previous.order_amount != amount:
            raise IdempotencyConflict(f"coupon-redemption:{previous.redemption_id}")
        campaign = await session.get(CouponCampaign, coupon.campaign_id)
        assert campaign is not None
        return CouponRedeemed(
            redemption_id=previous.redemption_id,
            code=code,
            campaign=campaign.name,
            kind=CouponKind(campaign.kind),
            discount=previous.discount,
            item=campaign.item,
            order_amount=previous.order_amount,
            uses_left=max(0, campaign.uses_per_coupon - coupon.uses),
            replayed=True,
        )

    async def _holder(
        self, session: AsyncSession, card_code: str | None, member_id: int | None
    ) -> int | None:
        """Who presents the coupon: the member of a card (after merges, the survivor)."""
        if card_code is not None:
            code = cards.normalize(card_code)
            found = await session.scalar(owner_of_card(code))
            if found is None:
                raise MemberNotFound(code)
            return int(found)
        if member_id is not None:
            owner = await session.scalar(owner_of(member_id))
            if owner is None:
                raise MemberNotFound(member_id)
            return int(owner)
        return None

    async def _verdict(
        self,
        session: AsyncSession,
        code: str,
        coupon: Coupon | None,
        campaign: CouponCampaign | None,
        holder: int | None,
        amount: Decimal | None,
        *,
        require_amount: bool,
    ) -> _Verdict:
        """The discount the code gives now, or CouponRefused with the first reason it fails."""
        now = self._clock.now()
        if coupon is None or campaign is None:
            raise CouponRefused(UNKNOWN, code)
        if coupon.voided_at is not None:
            raise CouponRefused(VOIDED, code)
        if not campaign.active:
            raise CouponRefused(INACTIVE, code, f"campaign {campaign.slug} is switched off")
        if campaign.starts_at is not None and now < campaign.starts_at:
            raise CouponRefused(NOT_STARTED, code, f"from {campaign.starts_at.isoformat()}")
        until = _valid_until(coupon, campaign)
        if until is not None and now >= until:
            raise CouponRefused(EXPIRED, code, f"valid until {until.isoformat()}")
        if coupon.uses >= campaign.uses_per_coupon:
            raise CouponRefused(USED_UP, code, f"used {coupon.uses} of {campaign.uses_per_coupon}")
        if not campaign.transferable and coupon.member_id is not None:
            owner = await session.scalar(owner_of(coupon.member_id))
            if holder is None or owner != holder:
                raise CouponRefused(FOREIGN, code, "only its holder may use it: show their card")
        if campaign.total_limit is not None and campaign.redemptions >= campaign.total_limit:
            raise CouponRefused(
                CAMPAIGN_EXHAUSTED, code, f"all {campaign.total_limit} redemptions are used"
            )
        if campaign.per_member_limit is not None and holder is not None:
            used = await session.scalar(
                select(func.count())
                .select_from(CouponRedemption)
                .join(Coupon, Coupon.id == CouponRedemption.coupon_id)
                .where(
                    Coupon.campaign_id == campaign.id,
                    CouponRedemption.member_id.in_(member_ids_of(holder)),
                )
            )
            if (used or 0) >= campaign.per_member_limit:
                raise CouponRefused(MEMBER_LIMIT, code, f"{campaign.per_member_limit} per member")
        if campaign.min_order is not None and (amount is None or amount < campaign.min_order):
            raise CouponRefused(MIN_ORDER, code, f"for orders of at least {campaign.min_order}")
        discount = self._discount(campaign, amount)
        if discount is None:
            if require_amount:
                raise InvalidAmount("the order amount is needed to apply a percent coupon")
            return _Verdict(None)
        if campaign.budget is not None:
            left = campaign.budget - Decimal(campaign.spent or 0)
            if discount > left:
                raise CouponRefused(BUDGET_EXHAUSTED, code, f"{max(left, Decimal(0))} left")
        return _Verdict(discount)

    @staticmethod
    def _discount(campaign: CouponCampaign, amount: Decimal | None) -> Decimal | None:
        """Money off: a percent of the order, or a fixed sum, never more than the order."""
        kind = CouponKind(campaign.kind)
        if kind is CouponKind.FREE_ITEM:
            return Decimal("0.00")
        value = Decimal(campaign.value or 0)
        if kind is CouponKind.PERCENT:
            if amount is None:
                return None
            return min(amount, _cents(amount * value / 100))
        return _cents(value if amount is None else min(amount, value))
