"""Coupon codes: patterns, bulk generation, import from a list, and one new code when a
campaign runs out of free ones. Codes are unique across campaigns; every insert ignores a
code that exists already (another campaign's, or a concurrent run's) and draws again.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import Coupon, CouponCampaign
from core.offers.campaigns import Campaigns
from core.shared import cards
from core.shared.clock import Clock
from core.shared.errors import CouponCodesRejected, InvalidCampaign
from core.shared.writes import insert_ignoring

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


class Codes:
    def __init__(self, db: Database, clock: Clock, campaigns: Campaigns) -> None:
        self._db = db
        self._clock = clock
        self._campaigns = campaigns

    async def generate(self, slug: str, count: int, *, pattern: str | None = None) -> list[str]:
        """`count` new, unissued codes for a campaign, random where the pattern has `#`.

        Inserted in batches with ON CONFLICT DO NOTHING: a code that already exists (from
        this or any other campaign, or a concurrent run) is skipped and drawn again."""
        if not 1 <= count <= MAX_CODES_PER_CALL:
            raise InvalidCampaign(f"generate 1 to {MAX_CODES_PER_CALL} codes at a time")
        campaign = await self._campaigns.campaign(slug)
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
                    await self.insert_codes(session, campaign.id, candidates, source="bulk")
                )
        if len(created) < count:
            raise InvalidCampaign(
                f"only {len(created)} of {count} codes could be made unique with {pattern!r}"
            )
        return created

    async def insert_codes(
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
            campaign = await self._campaigns.campaign_in(session, slug)
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
                    await self.insert_codes(session, campaign.id, batch, source="import")
                )
            if len(imported) != len(codes):
                # Another import took some of these codes meanwhile: all or nothing.
                taken = sorted(set(codes) - set(imported))
                raise CouponCodesRejected(invalid=[], repeated=[], existing=taken)
            return codes

    async def new_coupon_in(
        self, session: AsyncSession, campaign: CouponCampaign, source: str
    ) -> Coupon:
        """A fresh code for a campaign with no free one left, in the caller's transaction."""
        pattern = default_pattern(campaign.slug)
        for _attempt in range(MAX_GENERATION_ROUNDS):
            inserted = await self.insert_codes(
                session, campaign.id, [random_code(pattern)], source=source
            )
            if inserted:
                coupon = await session.scalar(select(Coupon).where(Coupon.code == inserted[0]))
                assert coupon is not None
                return coupon
        raise InvalidCampaign(f"no unique code could be made for campaign {campaign.slug}")
