"""The program's rules as data: defaults here, the marketer's values in `program_rules`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from core.clock import Clock
from core.db import Database
from core.models import ProgramRule


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

    def points_for(self, amount: Decimal) -> int:
        return int((amount * self.earn_rate).to_integral_value(rounding=ROUND_FLOOR))

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
}
_BOOLEAN_RULES = {"expiry_reminder_is_marketing"}
REFERRAL_ACTIONS = ("join", "first_purchase")
MAX_EARN_RATE = Decimal(1000)
MAX_POINT_VALUE = Decimal(1_000_000)
MAX_WELCOME_BONUS = 1_000_000


def _decode(key: str, raw: str) -> Any:
    value = json.loads(raw)
    return Decimal(str(value)) if key in _DECIMAL_RULES else value


def _encode(key: str, value: Any) -> str:
    return json.dumps(str(value) if key in _DECIMAL_RULES else value, ensure_ascii=False)


def _coerce(key: str, value: Any) -> Any:
    """The rule's value in its proper type, or ValueError: a marketer's typo must not reach
    the ledger (a float bonus would break integer points, an infinite rate every credit)."""
    if key in _DECIMAL_RULES:
        if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
            raise ValueError(f"{key} must be a decimal number such as '0.1', not {value!r}")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation as error:
            raise ValueError(f"{key} must be a decimal number, not {value!r}") from error
        if not number.is_finite():
            raise ValueError(f"{key} must be a finite number, not {value!r}")
        return number
    if key in _BOOLEAN_RULES:
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false, not {value!r}")
        return value
    if key in _WHOLE_NUMBER_RULES:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{key} must be a whole number, not {value!r}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{key} must be text, not {value!r}")
    return value.strip()


def validate(rules: ProgramRules) -> None:
    if not 0 <= rules.earn_rate <= MAX_EARN_RATE:
        raise ValueError(f"earn_rate must be between 0 and {MAX_EARN_RATE}")
    if not 0 <= rules.max_points_share <= 1:
        raise ValueError("max_points_share must be between 0 and 1")
    if not 0 < rules.point_value <= MAX_POINT_VALUE:
        raise ValueError(f"point_value must be positive and at most {MAX_POINT_VALUE}")
    for name in ("welcome_bonus", "referral_friend_bonus", "referral_referrer_bonus"):
        if not 0 <= getattr(rules, name) <= MAX_WELCOME_BONUS:
            raise ValueError(f"{name} must be between 0 and {MAX_WELCOME_BONUS}")
    if not 0 <= rules.referral_daily_cap <= 1000:
        raise ValueError("referral_daily_cap must be between 0 and 1000")
    if rules.referral_qualifies_on not in REFERRAL_ACTIONS:
        raise ValueError(f"referral_qualifies_on must be one of {', '.join(REFERRAL_ACTIONS)}")
    if not 0 <= rules.points_ttl_days <= 3660:
        raise ValueError("points_ttl_days must be between 0 (never) and 3660")
    if not 0 <= rules.expiry_reminder_days <= 365:
        raise ValueError("expiry_reminder_days must be between 0 (no reminder) and 365")
    if not 0 <= rules.birthday_bonus <= MAX_WELCOME_BONUS:
        raise ValueError(f"birthday_bonus must be between 0 and {MAX_WELCOME_BONUS}")
    try:
        ZoneInfo(rules.time_zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"time_zone must be an IANA zone name: {error}") from error
    if not rules.program_name:
        raise ValueError("program_name must not be empty")
    if len(rules.currency) != 3 or not rules.currency.isalpha() or not rules.currency.isupper():
        raise ValueError("currency must be an ISO 4217 code such as 'RUB'")


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
            raise ValueError(f"unknown rules: {', '.join(sorted(unknown))}")
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
