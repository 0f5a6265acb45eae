"""A segment as data: the JSON a marketer writes (`python main.py segment-count --file F`, a
broadcast's audience, later a quest's), validated with pydantic into the typed `Segment` that
core.segments.query turns into SQL. Every condition is optional and all of them must hold;
`{}` is every member who opted in to offers. Consent is not a condition: nobody without it is
ever in a segment (core.segments.query.members_in).

Every refusal names the field and why, as one `InvalidSegment`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.rules.values import explained
from core.segments.errors import InvalidSegment, InvalidTag
from core.shared.parsing import parse_model, time_text

# Members.last_channel and identities.channel hold these names.
Channel = Literal["telegram", "vk", "whatsapp", "console"]
KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
MAX_DAYS = 3660
MAX_TAGS = 50
Key = Annotated[str, Field(pattern=KEY.pattern)]
Days = Annotated[int, Field(ge=1, le=MAX_DAYS)]
Count = Annotated[int, Field(ge=0, le=10**12)]
# Money as purchases hold it: at most two decimals (what `credit` accepts).
Money = Annotated[Decimal, Field(ge=0, le=Decimal(10**12), decimal_places=2)]
# A store or a category as a purchase names it (`credit --store S --category C=300`).
Label = Annotated[str, Field(min_length=1, max_length=64)]


def parse_tag(raw: str) -> str:
    """A tag as stored: lowercase letters, digits, - and _, 1 to 32, starting with a letter
    or digit; InvalidTag otherwise (surrounding spaces are ignored, case is not folded: a
    tag typed in capitals is refused, not silently merged with another)."""
    tag = raw.strip()
    if not TAG.match(tag):
        raise InvalidTag(
            f"{raw!r} is not a tag: 1 to 32 lowercase letters, digits, - and _ "
            "(starting with a letter or a digit)"
        )
    return tag


def _tag(value: str) -> str:
    try:
        return parse_tag(value)
    except InvalidTag as error:
        raise ValueError(str(error)) from None


Tag = Annotated[str, Field(min_length=1, max_length=40)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(Strict):
    """Between `min` and `max`, both included; either may be left out (not both)."""

    min: Count | None = None
    max: Count | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is more than max")
        return self


class Period(Strict):
    """The last `days` days up to now, or from `since` to `until` (either may be left out):
    dates are whole days in UTC, times need their offset."""

    days: Days | None = None
    since: datetime | date | None = None
    until: datetime | date | None = None

    @field_validator("since", "until", mode="before")
    @classmethod
    def _date_or_aware_time(cls, value: object) -> object:
        value = time_text(value)
        # A date ("2026-12-01") stays a whole day; pydantic alone would make it a naive time.
        if isinstance(value, str):
            try:
                return date.fromisoformat(value) if len(value) == len("2026-12-01") else value
            except ValueError:
                return value
        return value

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, value: datetime | date | None) -> datetime | date | None:
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError("needs a time zone offset (2026-12-01T00:00:00+03:00) or a date")
        return value

    @model_validator(mode="after")
    def _one_way(self) -> Period:
        if self.days is not None and (self.since is not None or self.until is not None):
            raise ValueError("give days, or since/until: not both")
        since, until = _instant(self.since, end=False), _instant(self.until, end=True)
        if since is not None and until is not None and since >= until:
            raise ValueError("since must be before until")
        return self

    def bounds(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """[since, until) as instants; None: open on that side."""
        if self.days is not None:
            return now - timedelta(days=self.days), None
        return _instant(self.since, end=False), _instant(self.until, end=True)


def _instant(value: datetime | date | None, *, end: bool) -> datetime | None:
    """A datetime as given; a date as the start of that UTC day (of the next one for an end:
    `until` a date includes that day)."""
    if value is None or isinstance(value, datetime):
        return value
    start = datetime.combine(value, datetime.min.time(), tzinfo=UTC)
    return start + timedelta(days=1) if end else start


class CountInPeriod(Range, Period):
    """A number (purchases, points) within a period: `{"min": 2, "days": 30}`. A period is
    needed; a missing `min` counts members with none in it too (`{"max": 0, "days": 90}`)."""

    @model_validator(mode="after")
    def _has_period(self) -> CountInPeriod:
        if self.days is None and self.since is None and self.until is None:
            raise ValueError("needs a period: days, or since and/or until")
        return self


class MoneyInPeriod(Period):
    """An amount of money within a period: `{"min": 5000, "days": 90}` (`min`, `max` or both,
    two decimals at most). A period is needed."""

    min: Money | None = None
    max: Money | None = None

    @model_validator(mode="after")
    def _bounds_and_period(self) -> MoneyInPeriod:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is more than max")
        if self.days is None and self.since is None and self.until is None:
            raise ValueError("needs a period: days, or since and/or until")
        return self


class Bought(CountInPeriod):
    """Purchases in a category and/or at a store within a period: `{"category": "coffee",
    "min": 3, "days": 30}` (a purchase counts in a category when part of its amount is in it)."""

    category: Label | None = None
    store: Label | None = None

    @model_validator(mode="after")
    def _what(self) -> Bought:
        if self.category is None and self.store is None:
            raise ValueError("give a category, a store or both (or count all with purchases)")
        return self


class Joined(Period):
    """When the member joined: the last `days` days, or since/until."""

    @model_validator(mode="after")
    def _some(self) -> Joined:
        if self.days is None and self.since is None and self.until is None:
            raise ValueError("give days, or since and/or until")
        return self


class QuestCondition(Strict):
    """A quest by its slug: members who completed it (in any period), or who joined it."""

    slug: Key
    state: Literal["completed", "joined"] = "completed"


class CouponCondition(Strict):
    """A coupon campaign by its slug: members who redeemed one of its coupons (true), or who
    never did (false)."""

    campaign: Key
    redeemed: bool = True


class Tags(Strict):
    """Tags put on members (`python main.py tag CARD TAG`): any one of `any`, every one of
    `all`, none of `none`."""

    any: Annotated[list[Tag], Field(min_length=1, max_length=MAX_TAGS)] | None = None
    all: Annotated[list[Tag], Field(min_length=1, max_length=MAX_TAGS)] | None = None
    none: Annotated[list[Tag], Field(min_length=1, max_length=MAX_TAGS)] | None = None

    @field_validator("any", "all", "none")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else sorted({_tag(tag) for tag in value})

    @model_validator(mode="after")
    def _some(self) -> Tags:
        if self.any is None and self.all is None and self.none is None:
            raise ValueError("give any, all or none")
        return self


class Segment(Strict):
    """Who a broadcast is for: every condition given must hold."""

    # The channel of the messenger account the member wrote from last.
    channel: Channel | None = None
    language: Annotated[str, Field(pattern=LANGUAGE.pattern)] | None = None
    # A tier's key from the rules; "base" is the level below every tier.
    tier: Key | None = None
    balance: Range | None = None
    points_earned: CountInPeriod | None = None
    # Purchases in the period; one refunded in full is none (one refunded in part counts).
    purchases: CountInPeriod | None = None
    # Money spent and the average receipt in a period, less what was refunded of them.
    spent: MoneyInPeriod | None = None
    average_receipt: MoneyInPeriod | None = None
    bought: Bought | None = None
    # Wrote to the bot or bought within the last N days / not for N days.
    active_within_days: Days | None = None
    inactive_days: Days | None = None
    joined: Joined | None = None
    birthday_month: Annotated[int, Field(ge=1, le=12)] | None = None
    # Friends who joined through the member's invitation (not rejected ones).
    friends_referred: Range | None = None
    quest: QuestCondition | None = None
    badge: Key | None = None
    coupon: CouponCondition | None = None
    tags: Tags | None = None

    @model_validator(mode="after")
    def _activity(self) -> Segment:
        if (
            self.active_within_days is not None
            and self.inactive_days is not None
            and self.active_within_days <= self.inactive_days
        ):
            raise ValueError(
                "active_within_days and inactive_days together leave nobody: "
                "active within must be more days than inactive"
            )
        return self

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)


BASE_TIER = "base"


def parse_segment(data: object) -> Segment:
    """The segment in a JSON text (or its parsed object), or InvalidSegment saying why not."""
    return parse_model(
        data,
        Segment,
        InvalidSegment,
        not_object='a segment is a JSON object, e.g. {"tier": "gold"} ({} for everyone)',
        explained=explained,
    )
