"""The program's rules, one pydantic section per context, composed into `ProgramRules`.

A section holds what one context reads (earning, redemption, welcome, referrals, expiry,
birthdays, tiers) and the computations over it; `ProgramRules` inherits them all, so every
rule is still one flat field (`rules.welcome_bonus`, `rules.tiers`): the name stored in
`program_rules` and given to `main.py rules set`. A section validates its own fields; the
messages come from `core.rules.values`.

Structured rules, in their JSON shapes:
  tiers:         [{"key": "silver", "name": {"en": "Silver", "ru": "Серебро"} | "Silver",
                   "threshold": "10000", "earn_multiplier": "1.5", "perks": {...} | "..."}]
  promotions:    [{"key": "double-week", "name": ..., "multiplier": "2",
                   "starts": "2026-12-01T00:00:00+03:00", "ends": "...",
                   "category": "coffee", "store": "msk-1"}]   (all but key/name/multiplier
                                                               optional)
  event_bonuses: {"review": {"points": 50, "per_member": 1}, ...}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from itertools import pairwise
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    TypeAdapter,
    model_validator,
)

from core.rules.values import (
    Checked,
    LocalizedText,
    currency_code,
    decimal,
    flag,
    key,
    label,
    localized,
    moment,
    one_of,
    refuse,
    shown,
    text,
    whole,
    zone_name,
)
from core.shared.quiet_hours import QUIET_END, QUIET_START, Night

ReferralAction = Literal["join", "first_purchase"]
StreakAction = Literal["checkin", "purchase"]
StreakPeriod = Literal["day", "week"]
STREAK_ACTIONS: tuple[str, ...] = get_args(StreakAction)
STREAK_PERIODS: tuple[str, ...] = get_args(StreakPeriod)
TierMetric = Literal["spend", "points"]
REFERRAL_ACTIONS: tuple[str, ...] = get_args(ReferralAction)
TIER_METRICS: tuple[str, ...] = get_args(TierMetric)
MAX_MULTIPLIER = Decimal(100)
MAX_EVENT_PER_MEMBER = 1000
MAX_NAME_LENGTH = 32
MAX_THRESHOLD = Decimal("1000000000000")
MAX_EARN_RATE = Decimal(1000)
MAX_POINT_VALUE = Decimal(1_000_000)
MAX_WELCOME_BONUS = 1_000_000

Key = Annotated[str, key()]
Label = Annotated[str, label()]
Bonus = Annotated[int, whole(0, MAX_WELCOME_BONUS)]
PerMember = Annotated[int, whole(0, MAX_EVENT_PER_MEMBER, zero="no limit")]
POSITIVE_MONEY = decimal(Decimal(0), MAX_POINT_VALUE, above_low=True)
Moment = Annotated[datetime, moment()]


class Section(BaseModel):
    """A part of the rules: immutable, and nothing it does not know is accepted."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Tier(Section):
    """A level a member reaches when the tier metric over the rolling window is at least
    `threshold` (currency units for "spend", points for "points")."""

    key: Key
    name: Annotated[LocalizedText, localized(MAX_NAME_LENGTH)]
    threshold: Annotated[
        Decimal, decimal(Decimal(0), MAX_THRESHOLD, below_high=True, places=2, floats=True)
    ]
    # Purchase points are multiplied by this while the member holds the tier.
    earn_multiplier: Annotated[
        Decimal, decimal(Decimal(0), MAX_MULTIPLIER, above_low=True, floats=True)
    ] = Decimal(1)
    perks: Annotated[LocalizedText, localized(500)] | None = None
    # The tier's own birthday points, instead of the base `birthday_bonus` (None: the base).
    birthday_bonus: Bonus | None = None


class Promotion(Section):
    """A points multiplier: for a period (`starts` inclusive, `ends` exclusive; either may be
    open), and/or only for one category, and/or only in one store."""

    key: Key
    name: Annotated[LocalizedText, localized(100)]
    # Promotions only ever add: "the best applicable one" must never cost a member points.
    multiplier: Annotated[Decimal, decimal(Decimal(1), MAX_MULTIPLIER, floats=True)]
    starts: Moment | None = None
    ends: Moment | None = None
    category: Label | None = None
    store: Label | None = None

    @model_validator(mode="after")
    def _starts_before_ends(self) -> Promotion:
        if self.starts is not None and self.ends is not None and self.starts >= self.ends:
            raise refuse("starts must be before ends")
        return self

    def active_at(self, moment: datetime) -> bool:
        return (self.starts is None or self.starts <= moment) and (
            self.ends is None or moment < self.ends
        )

    def applies(self, moment: datetime, *, store: str | None, category: str | None) -> bool:
        return (
            self.active_at(moment)
            and (self.store is None or self.store == store)
            and (self.category is None or self.category == category)
        )


class EventBonus(Section):
    """Points for a non-purchase event (a review, a survey, subscribing to the shop's
    channel); `per_member` is how many times one member may be paid for it (0: no limit)."""

    kind: Key
    points: Bonus
    per_member: PerMember = 1


class _EventTerms(Section):
    """An event bonus as stored, under its kind."""

    points: Bonus
    per_member: PerMember = 1


_EVENT_TERMS = TypeAdapter(dict[Key, _EventTerms])


def _event_bonuses(value: object) -> tuple[EventBonus, ...]:
    if isinstance(value, list | tuple) and all(isinstance(item, EventBonus) for item in value):
        return tuple(value)
    if not isinstance(value, dict):
        raise refuse(f"must be an object {{kind: {{points, per_member}}}}, not {shown(value)}")
    return tuple(
        EventBonus(kind=kind, points=terms.points, per_member=terms.per_member)
        for kind, terms in _EVENT_TERMS.validate_python(value).items()
    )


def _event_bonuses_json(value: tuple[EventBonus, ...]) -> dict[str, dict[str, int]]:
    return {bonus.kind: {"points": bonus.points, "per_member": bonus.per_member} for bonus in value}


def _unique_keys(items: tuple[Tier, ...] | tuple[Promotion, ...]) -> None:
    keys = [item.key for item in items]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise refuse(f"keys must be unique, repeated: {', '.join(repeated)}")


def _tiers_in_order(tiers: tuple[Tier, ...]) -> tuple[Tier, ...]:
    _unique_keys(tiers)
    for lower, higher in pairwise(tiers):
        if higher.threshold <= lower.threshold:
            # Ordered lowest first, so "the next tier" and "N to next tier" are unambiguous.
            raise refuse(
                "must be listed lowest first, with increasing thresholds "
                f"({higher.key} at {higher.threshold} is not above {lower.key} at "
                f"{lower.threshold})"
            )
    return tiers


def _promotions_unique(promotions: tuple[Promotion, ...]) -> tuple[Promotion, ...]:
    _unique_keys(promotions)
    return promotions


@dataclass(frozen=True)
class PurchasePortion:
    """A part of a purchase's amount: one category's, or the uncategorized rest (None)."""

    category: str | None
    amount: Decimal


def split_portions(
    amount: Decimal, categories: Mapping[str, Decimal] | None
) -> tuple[PurchasePortion, ...]:
    """The purchase as category portions plus the uncategorized rest (if any is left)."""
    portions = [PurchasePortion(name, part) for name, part in sorted((categories or {}).items())]
    rest = amount - sum((portion.amount for portion in portions), Decimal(0))
    if rest > 0:
        portions.append(PurchasePortion(None, rest))
    return tuple(portions)


class ProgramIdentity(Section):
    program_name: Annotated[str, text(required=True)] = "Loyalty Club"
    currency: Annotated[str, currency_code()] = "RUB"
    # The program's IANA time zone: local days for birthdays for members without their own.
    time_zone: Annotated[str, zone_name()] = "Europe/Moscow"
    # The members' night, local hours in each one's own time zone (start to end; equal: none):
    # a reminder or greeting nobody asked for just then (points or a coupon about to expire,
    # a birthday, a streak at risk) is held until it ends. What a member's own action causes
    # (points at the till, a coupon received, a redemption) goes at once.
    quiet_hours_start: Annotated[int, whole(0, 23)] = QUIET_START
    quiet_hours_end: Annotated[int, whole(0, 23)] = QUIET_END

    @property
    def quiet_hours(self) -> Night:
        return Night(self.quiet_hours_start, self.quiet_hours_end)


class EarningRules(Section):
    # Points earned per one currency unit spent: 0.1 is "1 point for every 10 RUB".
    earn_rate: Annotated[Decimal, decimal(Decimal(0), MAX_EARN_RATE)] = Decimal("0.1")
    promotions: Annotated[tuple[Promotion, ...], AfterValidator(_promotions_unique)] = ()
    event_bonuses: Annotated[
        tuple[EventBonus, ...],
        Checked(_event_bonuses, to_json=_event_bonuses_json),
    ] = ()

    def promotion_multiplier(
        self, at: datetime, *, store: str | None, category: str | None
    ) -> Decimal:
        best = Decimal(1)
        for promotion in self.promotions:
            if promotion.applies(at, store=store, category=category):
                best = max(best, promotion.multiplier)
        return best

    def active_promotions(self, at: datetime) -> tuple[Promotion, ...]:
        return tuple(promotion for promotion in self.promotions if promotion.active_at(at))

    def event_bonus(self, kind: str) -> EventBonus | None:
        return next((bonus for bonus in self.event_bonuses if bonus.kind == kind), None)

    def spend_for_one_point(self) -> Decimal:
        """The purchase amount that earns exactly one point, for the rules shown to members."""
        if self.earn_rate <= 0:
            return Decimal(0)
        return (Decimal(1) / self.earn_rate).quantize(Decimal("0.01"))


class RedemptionRules(Section):
    # What one point is worth at the till, in currency units.
    point_value: Annotated[Decimal, POSITIVE_MONEY] = Decimal("1")
    # The largest share of an order that points may pay for (0.3: at most 30 %).
    max_points_share: Annotated[Decimal, decimal(Decimal(0), Decimal(1))] = Decimal("0.3")

    def max_points_for(self, order_amount: Decimal) -> int:
        payable = order_amount * self.max_points_share / self.point_value
        return int(payable.to_integral_value(rounding=ROUND_FLOOR))

    def worth(self, points: int) -> Decimal:
        return (self.point_value * points).quantize(Decimal("0.01"))


class WelcomeRules(Section):
    welcome_bonus: Bonus = 100


class ReferralRules(Section):
    # Both sides are rewarded once the friend does the qualifying action.
    referral_friend_bonus: Bonus = 100
    referral_referrer_bonus: Bonus = 200
    referral_qualifies_on: Annotated[ReferralAction, one_of(REFERRAL_ACTIONS)] = "first_purchase"
    referral_daily_cap: Annotated[int, whole(0, 1000)] = 10
    # A coupon campaign (its slug) whose coupon each side also gets; "" for none.
    referral_friend_coupon: Annotated[str, text()] = ""
    referral_referrer_coupon: Annotated[str, text()] = ""


class ExpiryRules(Section):
    # Points expire this many days after they were earned (0: never).
    points_ttl_days: Annotated[int, whole(0, 3660, zero="never")] = 0
    # A reminder goes out this many days before points expire (0: no reminder); where the
    # law treats it as marketing, only members who opted in get it.
    expiry_reminder_days: Annotated[int, whole(0, 365, zero="no reminder")] = 7
    expiry_reminder_is_marketing: Annotated[bool, flag()] = False
    # A reminder goes out this many days before a member's unused coupon expires (0: none),
    # once per coupon; as for points, only to members who opted in if it is marketing.
    coupon_reminder_days: Annotated[int, whole(0, 365, zero="no reminder")] = 3
    coupon_reminder_is_marketing: Annotated[bool, flag()] = False


class BirthdayRules(Section):
    # Points given on the member's birthday (0: a greeting only), once a year; a tier's own
    # `birthday_bonus` replaces it for the members holding that tier.
    birthday_bonus: Bonus = 0
    # A coupon campaign (its slug) whose coupon comes with the greeting, once a year; "" for
    # none.
    birthday_coupon: Annotated[str, text()] = ""


class TierRules(Section):
    # Tiers, lowest first. The metric is "spend" (purchases minus refunds, in the currency)
    # or "points" (points earned by purchases minus those refunds) over a rolling window.
    tiers: Annotated[tuple[Tier, ...], AfterValidator(_tiers_in_order)] = ()
    tier_metric: Annotated[TierMetric, one_of(TIER_METRICS)] = "spend"
    tier_window_days: Annotated[int, whole(1, 3660)] = 365
    # A member who no longer qualifies keeps the tier this long before the downgrade.
    tier_grace_days: Annotated[int, whole(0, 365, zero="none")] = 30

    def tier(self, key: str | None) -> Tier | None:
        return next((tier for tier in self.tiers if tier.key == key), None)

    def held_tier(self, stored: str | None) -> Tier | None:
        """The tier a member with `stored` (members.tier) holds: that one, or, for members
        with none (or one the marketer removed), the base tier if the lowest one is free."""
        found = self.tier(stored)
        if found is not None:
            return found
        if self.tiers and self.tiers[0].threshold == 0:
            return self.tiers[0]
        return None

    def tier_multiplier(self, tier: str | None) -> Decimal:
        held = self.held_tier(tier)
        return held.earn_multiplier if held is not None else Decimal(1)

    def tier_birthday_bonus(self, tier: str | None) -> int | None:
        """The birthday points of the tier a member with `tier` holds, None when it has no
        number of its own."""
        held = self.held_tier(tier)
        return held.birthday_bonus if held is not None else None


class StreakRule(Section):
    """A streak members keep: consecutive `period`s (days or weeks, in the member's time
    zone) with the `action` (a daily check-in, a purchase)."""

    key: Key
    action: Annotated[StreakAction, one_of(STREAK_ACTIONS)]
    period: Annotated[StreakPeriod, one_of(STREAK_PERIODS)]


def _streaks_unique(streaks: tuple[StreakRule, ...]) -> tuple[StreakRule, ...]:
    keys = [streak.key for streak in streaks]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise refuse(f"keys must be unique, repeated: {', '.join(repeated)}")
    return streaks


DEFAULT_STREAKS = (
    StreakRule(key="checkin", action="checkin", period="day"),
    StreakRule(key="visits", action="purchase", period="week"),
)
# A streak reminder's hour is before the default quiet hours (the rules' may be earlier).
QUIET_HOURS_START = QUIET_START


class GameRules(Section):
    # The streaks members keep; a badge may ask for a streak of N of one of them.
    streaks: Annotated[tuple[StreakRule, ...], AfterValidator(_streaks_unique)] = DEFAULT_STREAKS
    # One missed period in this many is forgiven (a freeze): 7 forgives a missed day a week
    # (or a missed week in seven); 0 forgives nothing.
    streak_freeze_every: Annotated[int, whole(0, 366, zero="no freeze")] = 7
    # The member's local hour from which the reminder that a streak is about to break goes
    # out (the last day of the period), never during the quiet hours (`quiet_hours_start`).
    streak_reminder_hour: Annotated[int, whole(9, QUIET_HOURS_START - 1)] = 18
    # A reminder to keep a streak is an invitation: by default only for members who opted in.
    streak_reminder_is_marketing: Annotated[bool, flag()] = True

    def streak(self, key: str) -> StreakRule | None:
        return next((streak for streak in self.streaks if streak.key == key), None)


# In the order `main.py rules` shows them (pydantic lists inherited fields from the last base).
SECTIONS: tuple[type[Section], ...] = (
    ProgramIdentity,
    EarningRules,
    RedemptionRules,
    WelcomeRules,
    ReferralRules,
    ExpiryRules,
    BirthdayRules,
    TierRules,
    GameRules,
)


class ProgramRules(
    GameRules,
    TierRules,
    BirthdayRules,
    ExpiryRules,
    ReferralRules,
    WelcomeRules,
    RedemptionRules,
    EarningRules,
    ProgramIdentity,
):
    """Every rule in force: the sections composed, each rule a flat field."""

    def purchase_points(
        self,
        amount: Decimal,
        *,
        at: datetime,
        tier: str | None = None,
        store: str | None = None,
        categories: Mapping[str, Decimal] | None = None,
    ) -> int:
        """Points for a purchase: the combination policy in one place.

        points = floor(sum over the portions (each category's amount, and the uncategorized
        rest) of amount x earn_rate x tier multiplier x the best promotion for that portion).
        Promotions never stack with each other: of those active at `at` whose store (if any)
        is the purchase's and whose category (if any) is the portion's, only the largest
        multiplier counts (none: 1). The tier multiplier does stack with it. Rounding happens
        once, on the sum, so splitting a receipt into categories costs the member nothing.
        """
        tier_multiplier = self.tier_multiplier(tier)
        total = Decimal(0)
        for portion in split_portions(amount, categories):
            multiplier = self.promotion_multiplier(at, store=store, category=portion.category)
            total += portion.amount * self.earn_rate * tier_multiplier * multiplier
        return int(total.to_integral_value(rounding=ROUND_FLOOR))

    def birthday_points(self, tier: str | None) -> int:
        """The birthday points of a member holding `tier`: the tier's own, else the base."""
        own = self.tier_birthday_bonus(tier)
        return self.birthday_bonus if own is None else own
