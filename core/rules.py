"""The program's rules as data: defaults here, the marketer's values in `program_rules`."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from decimal import ROUND_FLOOR, Decimal
from typing import Any

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

    def points_for(self, amount: Decimal) -> int:
        return int((amount * self.earn_rate).to_integral_value(rounding=ROUND_FLOOR))

    def worth(self, points: int) -> Decimal:
        return (self.point_value * points).quantize(Decimal("0.01"))

    def spend_for_one_point(self) -> Decimal:
        """The purchase amount that earns exactly one point, for the rules shown to members."""
        if self.earn_rate <= 0:
            return Decimal(0)
        return (Decimal(1) / self.earn_rate).quantize(Decimal("0.01"))


_DECIMAL_RULES = {"earn_rate", "point_value"}


def _decode(key: str, raw: str) -> Any:
    value = json.loads(raw)
    return Decimal(str(value)) if key in _DECIMAL_RULES else value


def _encode(key: str, value: Any) -> str:
    return json.dumps(str(value) if key in _DECIMAL_RULES else value, ensure_ascii=False)


def validate(rules: ProgramRules) -> None:
    if rules.earn_rate < 0:
        raise ValueError("earn_rate must not be negative")
    if rules.point_value <= 0:
        raise ValueError("point_value must be positive")
    if rules.welcome_bonus < 0:
        raise ValueError("welcome_bonus must not be negative")
    if not rules.program_name.strip():
        raise ValueError("program_name must not be empty")


class RuleBook:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def current(self) -> ProgramRules:
        async with self._db.sessions() as session:
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
        coerced = {
            key: Decimal(str(value)) if key in _DECIMAL_RULES else value
            for key, value in changes.items()
        }
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
        return updated
