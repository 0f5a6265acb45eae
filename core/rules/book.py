"""The program's rules as data: defaults here, the marketer's values in `program_rules`."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from core.db.database import Database
from core.db.models import ProgramRule
from core.shared.clock import Clock
from core.shared.errors import InvalidRules


@dataclass(frozen=True)
class LocalizedText:
    """A marketer's text per language ({"en": "Silver", "ru": "Серебро"}), or one text for
    every language (stored under the language "")."""

    texts: tuple[tuple[str, str], ...]

    def get(self, language: str) -> str:
        by_language = dict(self.texts)
        for candidate in (language, "", "en"):
            if by_language.get(candidate):
                return by_language[candidate]
        return self.texts[0][1] if self.texts else ""

    def to_json(self) -> str | dict[str, str]:
        if len(self.texts) == 1 and self.texts[0][0] == "":
            return self.texts[0][1]
        return dict(self.texts)


@dataclass(frozen=True)
class Tier:
    """A level a member reaches when the tier metric over the rolling window is at least
    `threshold` (currency units for "spend", points for "points")."""

    key: str
    name: LocalizedText
    threshold: Decimal
    # Purchase points are multiplied by this while the member holds the tier.
    earn_multiplier: Decimal = Decimal(1)
    perks: LocalizedText | None = None

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "key": self.key,
            "name": self.name.to_json(),
            "threshold": str(self.threshold),
            "earn_multiplier": str(self.earn_multiplier),
        }
        if self.perks is not None:
            value["perks"] = self.perks.to_json()
        return value


@dataclass(frozen=True)
class Promotion:
    """A points multiplier: for a period (`starts` inclusive, `ends` exclusive; either may be
    open), and/or only for one category, and/or only in one store."""

    key: str
    name: LocalizedText
    multiplier: Decimal
    starts: datetime | None = None
    ends: datetime | None = None
    category: str | None = None
    store: str | None = None

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

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "key": self.key,
            "name": self.name.to_json(),
            "multiplier": str(self.multiplier),
        }
        for name in ("starts", "ends"):
            moment = getattr(self, name)
            if moment is not None:
                value[name] = moment.isoformat()
        for name in ("category", "store"):
            if getattr(self, name) is not None:
                value[name] = getattr(self, name)
        return value


@dataclass(frozen=True)
class EventBonus:
    """Points for a non-purchase event (a review, a survey, subscribing to the shop's
    channel); `per_member` is how many times one member may be paid for it (0: no limit)."""

    kind: str
    points: int
    per_member: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"points": self.points, "per_member": self.per_member}


@dataclass(frozen=True)
class PurchasePortion:
    """A part of a purchase's amount: one category's, or the uncategorized rest (None)."""

    category: str | None
    amount: Decimal


@dataclass(frozen=True)
class ProgramRules:
    program_name: str = "Loyalty Club"
    currency: str = "RUB"
    # Points earned per one currency unit spent: 0.1 is "1 point for every 10 RUB".
    earn_rate: Decimal = Decimal("0.1")
    # What one point is worth at the till, in currency units.
    point_value: Decimal = Decimal("1")
    welcome_bonus: int = 100
    # The largest share of an order that points may pay for (0.3: at most 30 %).
    max_points_share: Decimal = Decimal("0.3")
    # Referrals: both sides are rewarded once the friend does the qualifying action.
    referral_friend_bonus: int = 100
    referral_referrer_bonus: int = 200
    referral_qualifies_on: str = "first_purchase"  # or "join"
    referral_daily_cap: int = 10
    # A coupon campaign (its slug) whose coupon each side also gets; "" for none.
    referral_friend_coupon: str = ""
    referral_referrer_coupon: str = ""
    # Points expire this many days after they were earned (0: never).
    points_ttl_days: int = 0
    # A reminder goes out this many days before points expire (0: no reminder); where the
    # law treats it as marketing, only members who opted in get it.
    expiry_reminder_days: int = 7
    expiry_reminder_is_marketing: bool = False
    # Points given on the member's birthday (0: a greeting only), once a year.
    birthday_bonus: int = 0
    # The program's IANA time zone: local days for birthdays for members without their own.
    time_zone: str = "Europe/Moscow"
    # Tiers, lowest first. The metric is "spend" (purchases minus refunds, in the currency)
    # or "points" (points earned by purchases minus those refunds) over a rolling window.
    tiers: tuple[Tier, ...] = ()
    tier_metric: str = "spend"
    tier_window_days: int = 365
    # A member who no longer qualifies keeps the tier this long before the downgrade.
    tier_grace_days: int = 30
    promotions: tuple[Promotion, ...] = ()
    event_bonuses: tuple[EventBonus, ...] = ()

    def points_for(self, amount: Decimal) -> int:
        """Points for an amount at the base rate, no tier and no promotion."""
        return int((amount * self.earn_rate).to_integral_value(rounding=ROUND_FLOOR))

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

    def tier_multiplier(self, tier: str | None) -> Decimal:
        held = self.held_tier(tier)
        return held.earn_multiplier if held is not None else Decimal(1)

    def held_tier(self, stored: str | None) -> Tier | None:
        """The tier a member with `stored` (members.tier) holds: that one, or, for members
        with none (or one the marketer removed), the base tier if the lowest one is free."""
        found = self.tier(stored)
        if found is not None:
            return found
        if self.tiers and self.tiers[0].threshold == 0:
            return self.tiers[0]
        return None

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

    def tier(self, key: str | None) -> Tier | None:
        return next((tier for tier in self.tiers if tier.key == key), None)

    def event_bonus(self, kind: str) -> EventBonus | None:
        return next((bonus for bonus in self.event_bonuses if bonus.kind == kind), None)

    def max_points_for(self, order_amount: Decimal) -> int:
        payable = order_amount * self.max_points_share / self.point_value
        return int(payable.to_integral_value(rounding=ROUND_FLOOR))

    def worth(self, points: int) -> Decimal:
        return (self.point_value * points).quantize(Decimal("0.01"))

    def spend_for_one_point(self) -> Decimal:
        """The purchase amount that earns exactly one point, for the rules shown to members."""
        if self.earn_rate <= 0:
            return Decimal(0)
        return (Decimal(1) / self.earn_rate).quantize(Decimal("0.01"))


_DECIMAL_RULES = {"earn_rate", "point_value", "max_points_share"}
_WHOLE_NUMBER_RULES = {
    "welcome_bonus",
    "referral_friend_bonus",
    "referral_referrer_bonus",
    "referral_daily_cap",
    "points_ttl_days",
    "expiry_reminder_days",
    "birthday_bonus",
    "tier_window_days",
    "tier_grace_days",
}
_BOOLEAN_RULES = {"expiry_reminder_is_marketing"}
REFERRAL_ACTIONS = ("join", "first_purchase")
TIER_METRICS = ("spend", "points")
MAX_MULTIPLIER = Decimal(100)
MAX_EVENT_PER_MEMBER = 1000
# Keys end up in columns of 32 characters (members.tier, member_events.kind) and in notices.
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
MAX_NAME_LENGTH = 32
MAX_THRESHOLD = Decimal("1000000000000")
MAX_EARN_RATE = Decimal(1000)
MAX_POINT_VALUE = Decimal(1_000_000)
MAX_WELCOME_BONUS = 1_000_000


def split_portions(
    amount: Decimal, categories: Mapping[str, Decimal] | None
) -> tuple[PurchasePortion, ...]:
    """The purchase as category portions plus the uncategorized rest (if any is left)."""
    portions = [PurchasePortion(name, part) for name, part in sorted((categories or {}).items())]
    rest = amount - sum((portion.amount for portion in portions), Decimal(0))
    if rest > 0:
        portions.append(PurchasePortion(None, rest))
    return tuple(portions)


def _decode(key: str, raw: str) -> Any:
    value = json.loads(raw)
    if key in _STRUCTURED_RULES:
        return _coerce(key, value)
    return Decimal(str(value)) if key in _DECIMAL_RULES else value


def _encode(key: str, value: Any) -> str:
    if key in _STRUCTURED_RULES:
        return json.dumps(_to_json(key, value), ensure_ascii=False)
    return json.dumps(str(value) if key in _DECIMAL_RULES else value, ensure_ascii=False)


def _to_json(key: str, value: Any) -> Any:
    if key == "event_bonuses":
        return {bonus.kind: bonus.to_json() for bonus in value}
    return [item.to_json() for item in value]


# Structured rules, in their JSON shapes:
#   tiers:         [{"key": "silver", "name": {"en": "Silver", "ru": "Серебро"} | "Silver",
#                    "threshold": "10000", "earn_multiplier": "1.5", "perks": {...} | "..."}]
#   promotions:    [{"key": "double-week", "name": ..., "multiplier": "2",
#                    "starts": "2026-12-01T00:00:00+03:00", "ends": "...",
#                    "category": "coffee", "store": "msk-1"}]   (all but key/name/multiplier
#                                                                optional)
#   event_bonuses: {"review": {"points": 50, "per_member": 1}, ...}
_STRUCTURED_RULES = {"tiers", "promotions", "event_bonuses"}


def _decimal(where: str, value: Any) -> Decimal:
    if isinstance(value, float):
        # JSON has only one kind of number: 1.5 means the decimal 1.5, not its binary twin.
        value = repr(value)
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise InvalidRules(f"{where} must be a decimal number such as '1.5', not {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as error:
        raise InvalidRules(f"{where} must be a decimal number, not {value!r}") from error
    if not number.is_finite():
        raise InvalidRules(f"{where} must be a finite number, not {value!r}")
    return number


def _whole(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRules(f"{where} must be a whole number, not {value!r}")
    return value


def _key(where: str, value: Any) -> str:
    if not isinstance(value, str) or not _KEY.match(value):
        raise InvalidRules(
            f"{where} must be 1 to 32 lowercase letters, digits, '-' or '_', not {value!r}"
        )
    return value


def _label(where: str, value: Any) -> str:
    """A store or category name as the shop's systems send it."""
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 64:
        raise InvalidRules(f"{where} must be text of 1 to 64 characters, not {value!r}")
    return value.strip()


def _localized(where: str, value: Any, *, max_length: int) -> LocalizedText:
    if isinstance(value, LocalizedText):
        value = value.to_json()
    if isinstance(value, str):
        texts: dict[str, Any] = {"": value}
    elif isinstance(value, dict) and value:
        texts = value
    else:
        raise InvalidRules(f"{where} must be text or {{language: text}}, not {value!r}")
    checked = []
    for language, text in texts.items():
        if language and not (isinstance(language, str) and _LANGUAGE.match(language)):
            raise InvalidRules(f"{where}: {language!r} is not a language code such as 'en'")
        if not isinstance(text, str) or not text.strip():
            raise InvalidRules(f"{where} ({language or 'all languages'}) must be non-empty text")
        if len(text.strip()) > max_length:
            raise InvalidRules(f"{where} must be at most {max_length} characters")
        checked.append((language, text.strip()))
    return LocalizedText(tuple(checked))


def _fields(where: str, value: Any, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRules(f"{where} must be an object, not {value!r}")
    missing = required - set(value)
    unknown = set(value) - required - optional
    if missing:
        raise InvalidRules(f"{where} lacks {', '.join(sorted(missing))}")
    if unknown:
        raise InvalidRules(f"{where} has unknown fields: {', '.join(sorted(unknown))}")
    return value


def _moment(where: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError as error:
            raise InvalidRules(f"{where} must be an ISO date and time, not {value!r}") from error
    else:
        raise InvalidRules(f"{where} must be an ISO date and time, not {value!r}")
    if moment.tzinfo is None:
        # A promotion that starts "at midnight" must say whose midnight.
        raise InvalidRules(f"{where} needs a UTC offset, such as 2026-12-01T00:00:00+03:00")
    return moment


def _tiers(value: Any) -> tuple[Tier, ...]:
    if not isinstance(value, list | tuple):
        raise InvalidRules(f"tiers must be a list, not {value!r}")
    tiers = []
    for index, item in enumerate(value):
        if isinstance(item, Tier):
            item = item.to_json()
        where = f"tiers[{index}]"
        data = _fields(where, item, {"key", "name", "threshold"}, {"earn_multiplier", "perks"})
        perks = data.get("perks")
        tiers.append(
            Tier(
                key=_key(f"{where}.key", data["key"]),
                name=_localized(f"{where}.name", data["name"], max_length=MAX_NAME_LENGTH),
                threshold=_decimal(f"{where}.threshold", data["threshold"]),
                earn_multiplier=_decimal(
                    f"{where}.earn_multiplier", data.get("earn_multiplier", "1")
                ),
                perks=None
                if perks is None
                else _localized(f"{where}.perks", perks, max_length=500),
            )
        )
    return tuple(tiers)


def _promotions(value: Any) -> tuple[Promotion, ...]:
    if not isinstance(value, list | tuple):
        raise InvalidRules(f"promotions must be a list, not {value!r}")
    promotions = []
    for index, item in enumerate(value):
        if isinstance(item, Promotion):
            item = item.to_json()
        where = f"promotions[{index}]"
        data = _fields(
            where,
            item,
            {"key", "name", "multiplier"},
            {"starts", "ends", "category", "store"},
        )
        category, store = data.get("category"), data.get("store")
        promotions.append(
            Promotion(
                key=_key(f"{where}.key", data["key"]),
                name=_localized(f"{where}.name", data["name"], max_length=100),
                multiplier=_decimal(f"{where}.multiplier", data["multiplier"]),
                starts=_moment(f"{where}.starts", data.get("starts")),
                ends=_moment(f"{where}.ends", data.get("ends")),
                category=None if category is None else _label(f"{where}.category", category),
                store=None if store is None else _label(f"{where}.store", store),
            )
        )
    return tuple(promotions)


def _event_bonuses(value: Any) -> tuple[EventBonus, ...]:
    if isinstance(value, list | tuple) and all(isinstance(item, EventBonus) for item in value):
        value = {bonus.kind: bonus.to_json() for bonus in value}
    if not isinstance(value, dict):
        raise InvalidRules("event_bonuses must be an object {kind: {points, per_member}}")
    bonuses = []
    for kind, item in value.items():
        where = f"event_bonuses.{kind}"
        data = _fields(where, item, {"points"}, {"per_member"})
        bonuses.append(
            EventBonus(
                kind=_key(f"event kind {kind!r}", kind),
                points=_whole(f"{where}.points", data["points"]),
                per_member=_whole(f"{where}.per_member", data.get("per_member", 1)),
            )
        )
    return tuple(bonuses)


def _coerce(key: str, value: Any) -> Any:
    """The rule's value in its proper type, or ValueError: a marketer's typo must not reach
    the ledger (a float bonus would break integer points, an infinite rate every credit)."""
    if key == "tiers":
        return _tiers(value)
    if key == "promotions":
        return _promotions(value)
    if key == "event_bonuses":
        return _event_bonuses(value)
    if key in _DECIMAL_RULES:
        if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
            raise InvalidRules(f"{key} must be a decimal number such as '0.1', not {value!r}")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation as error:
            raise InvalidRules(f"{key} must be a decimal number, not {value!r}") from error
        if not number.is_finite():
            raise InvalidRules(f"{key} must be a finite number, not {value!r}")
        return number
    if key in _BOOLEAN_RULES:
        if not isinstance(value, bool):
            raise InvalidRules(f"{key} must be true or false, not {value!r}")
        return value
    if key in _WHOLE_NUMBER_RULES:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidRules(f"{key} must be a whole number, not {value!r}")
        return value
    if not isinstance(value, str):
        raise InvalidRules(f"{key} must be text, not {value!r}")
    return value.strip()


def rules_as_json(rules: ProgramRules) -> dict[str, Any]:
    """Every rule in the JSON shape `RuleBook.update` and `program_rules` take."""
    return {
        field.name: json.loads(_encode(field.name, getattr(rules, field.name)))
        for field in fields(ProgramRules)
    }


def parse_rule(key: str, value: Any) -> Any:
    """A rule's value from its JSON shape (or its own type), checked field by field."""
    return _coerce(key, value)


def validate(rules: ProgramRules) -> None:
    if not 0 <= rules.earn_rate <= MAX_EARN_RATE:
        raise InvalidRules(f"earn_rate must be between 0 and {MAX_EARN_RATE}")
    if not 0 <= rules.max_points_share <= 1:
        raise InvalidRules("max_points_share must be between 0 and 1")
    if not 0 < rules.point_value <= MAX_POINT_VALUE:
        raise InvalidRules(f"point_value must be positive and at most {MAX_POINT_VALUE}")
    for name in ("welcome_bonus", "referral_friend_bonus", "referral_referrer_bonus"):
        if not 0 <= getattr(rules, name) <= MAX_WELCOME_BONUS:
            raise InvalidRules(f"{name} must be between 0 and {MAX_WELCOME_BONUS}")
    if not 0 <= rules.referral_daily_cap <= 1000:
        raise InvalidRules("referral_daily_cap must be between 0 and 1000")
    if rules.referral_qualifies_on not in REFERRAL_ACTIONS:
        raise InvalidRules(f"referral_qualifies_on must be one of {', '.join(REFERRAL_ACTIONS)}")
    if not 0 <= rules.points_ttl_days <= 3660:
        raise InvalidRules("points_ttl_days must be between 0 (never) and 3660")
    if not 0 <= rules.expiry_reminder_days <= 365:
        raise InvalidRules("expiry_reminder_days must be between 0 (no reminder) and 365")
    if not 0 <= rules.birthday_bonus <= MAX_WELCOME_BONUS:
        raise InvalidRules(f"birthday_bonus must be between 0 and {MAX_WELCOME_BONUS}")
    try:
        ZoneInfo(rules.time_zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidRules(f"time_zone must be an IANA zone name: {error}") from error
    _validate_tiers(rules)
    _validate_promotions(rules)
    for bonus in rules.event_bonuses:
        if not 0 <= bonus.points <= MAX_WELCOME_BONUS:
            raise InvalidRules(
                f"event_bonuses.{bonus.kind}.points must be between 0 and {MAX_WELCOME_BONUS}"
            )
        if not 0 <= bonus.per_member <= MAX_EVENT_PER_MEMBER:
            raise InvalidRules(
                f"event_bonuses.{bonus.kind}.per_member must be between 0 (no limit) "
                f"and {MAX_EVENT_PER_MEMBER}"
            )
    if not rules.program_name:
        raise InvalidRules("program_name must not be empty")
    if len(rules.currency) != 3 or not rules.currency.isalpha() or not rules.currency.isupper():
        raise InvalidRules("currency must be an ISO 4217 code such as 'RUB'")


def _validate_tiers(rules: ProgramRules) -> None:
    if rules.tier_metric not in TIER_METRICS:
        raise InvalidRules(f"tier_metric must be one of {', '.join(TIER_METRICS)}")
    if not 1 <= rules.tier_window_days <= 3660:
        raise InvalidRules("tier_window_days must be between 1 and 3660")
    if not 0 <= rules.tier_grace_days <= 365:
        raise InvalidRules("tier_grace_days must be between 0 (none) and 365")
    keys = [tier.key for tier in rules.tiers]
    if len(set(keys)) != len(keys):
        raise InvalidRules("tier keys must be unique")
    previous: Decimal | None = None
    for tier in rules.tiers:
        if tier.threshold < 0 or tier.threshold >= MAX_THRESHOLD:
            raise InvalidRules(f"tier {tier.key}: threshold must be between 0 and {MAX_THRESHOLD}")
        if tier.threshold != tier.threshold.quantize(Decimal("0.01")):
            raise InvalidRules(f"tier {tier.key}: threshold has at most two decimals")
        if previous is not None and tier.threshold <= previous:
            # Ordered lowest first, so "the next tier" and "N to next tier" are unambiguous.
            raise InvalidRules("tiers must be listed lowest first, with increasing thresholds")
        if not 0 < tier.earn_multiplier <= MAX_MULTIPLIER:
            raise InvalidRules(
                f"tier {tier.key}: earn_multiplier must be above 0 and at most {MAX_MULTIPLIER}"
            )
        previous = tier.threshold


def _validate_promotions(rules: ProgramRules) -> None:
    keys = [promotion.key for promotion in rules.promotions]
    if len(set(keys)) != len(keys):
        raise InvalidRules("promotion keys must be unique")
    for promotion in rules.promotions:
        # Promotions only ever add: "the best applicable one" must never cost a member points.
        if not 1 <= promotion.multiplier <= MAX_MULTIPLIER:
            raise InvalidRules(
                f"promotion {promotion.key}: multiplier must be between 1 and {MAX_MULTIPLIER}"
            )
        if (
            promotion.starts is not None
            and promotion.ends is not None
            and promotion.starts >= promotion.ends
        ):
            raise InvalidRules(f"promotion {promotion.key}: starts must be before ends")


class RuleBook:
    def __init__(
        self, db: Database, clock: Clock, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._db = db
        self._clock = clock
        self._monotonic = monotonic
        self._cached: tuple[float, ProgramRules] | None = None

    async def current(self, *, max_age: float = 0.0) -> ProgramRules:
        """The rules in force. Only what is shown to members may be up to `max_age` seconds
        old (a marketer's change reaches every process within that time); postings pass no
        max_age and always read the database."""
        if max_age > 0 and self._cached is not None:
            read_at, rules = self._cached
            if self._monotonic() - read_at < max_age:
                return rules
        read_at = self._monotonic()
        rules = await self._read()
        self._cached = (read_at, rules)
        return rules

    async def _read(self) -> ProgramRules:
        async with self._db.reading() as session:
            rows = (await session.scalars(select(ProgramRule))).all()
        known = {field.name for field in fields(ProgramRules)}
        overrides = {row.key: _decode(row.key, row.value) for row in rows if row.key in known}
        return replace(ProgramRules(), **overrides)

    async def update(self, *, actor: str, **changes: Any) -> ProgramRules:
        known = {field.name: field.type for field in fields(ProgramRules)}
        unknown = set(changes) - set(known)
        if unknown:
            raise InvalidRules(f"unknown rules: {', '.join(sorted(unknown))}")
        current = await self.current()
        coerced = {key: _coerce(key, value) for key, value in changes.items()}
        updated = replace(current, **coerced)
        validate(updated)
        now = self._clock.now()
        async with self._db.transaction() as session:
            for key, value in coerced.items():
                row = await session.get(ProgramRule, key)
                if row is None:
                    row = ProgramRule(key=key, value="", updated_by=actor, updated_at=now)
                    session.add(row)
                row.value = _encode(key, value)
                row.updated_by = actor
                row.updated_at = now
        self._cached = None
        return updated
