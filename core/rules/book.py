"""The program's rules as data: the defaults and their validation in `core.rules.sections`,
the marketer's values in `program_rules`, one row per rule (its flat name, its value as JSON).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import ProgramRule
from core.rules.sections import (
    MAX_EARN_RATE,
    MAX_EVENT_PER_MEMBER,
    MAX_MULTIPLIER,
    MAX_NAME_LENGTH,
    MAX_POINT_VALUE,
    MAX_THRESHOLD,
    MAX_WELCOME_BONUS,
    REFERRAL_ACTIONS,
    TIER_METRICS,
    EventBonus,
    ProgramRules,
    Promotion,
    PurchasePortion,
    Tier,
    split_portions,
)
from core.rules.values import LocalizedText, validated
from core.shared.clock import Clock
from core.shared.errors import InvalidRules
from core.shared.parsing import parse_actor
from core.shared.quiet_hours import is_quiet

__all__ = [
    "MAX_EARN_RATE",
    "MAX_EVENT_PER_MEMBER",
    "MAX_MULTIPLIER",
    "MAX_NAME_LENGTH",
    "MAX_POINT_VALUE",
    "MAX_THRESHOLD",
    "MAX_WELCOME_BONUS",
    "REFERRAL_ACTIONS",
    "RULE_NAMES",
    "TIER_METRICS",
    "EventBonus",
    "InvalidRules",
    "LocalizedText",
    "ProgramRules",
    "Promotion",
    "PurchasePortion",
    "RuleBook",
    "Tier",
    "parse_rule",
    "rules_as_json",
    "split_portions",
    "validate",
]

RULE_NAMES = frozenset(ProgramRules.model_fields)


def rules_as_json(rules: ProgramRules) -> dict[str, Any]:
    """Every rule in the JSON shape `RuleBook.update` and `program_rules` take."""
    return rules.model_dump(mode="json", exclude_none=True)


def parse_rule(key: str, value: Any) -> Any:
    """A rule's value from its JSON shape (or its own type), checked field by field."""
    _refuse_unknown([key])
    return getattr(_validate({key: value}), key)


def validate(rules: ProgramRules) -> None:
    """Raises InvalidRules unless every rule of `rules` is one the program can use (rules
    built with `model_construct` or `model_copy(update=...)` skip validation)."""
    _validate(dict(rules))


def _validate(values: Mapping[str, Any], *, prefix: str = "") -> ProgramRules:
    return validated(lambda: ProgramRules.model_validate(values), prefix=prefix)


# No rule's value is nested deeper than a few levels (tiers, promotions, event bonuses).
MAX_VALUE_DEPTH = 16


def _refuse_too_deep(changes: Mapping[str, Any]) -> None:
    """Refuse a value nested deeper than any rule is, before validating it (which recurses)."""
    for key, value in changes.items():
        pending = [(value, 1)]
        while pending:
            item, depth = pending.pop()
            if isinstance(item, (dict, list, tuple)):
                if depth > MAX_VALUE_DEPTH:
                    raise InvalidRules(f"{key}: nested deeper than {MAX_VALUE_DEPTH} levels")
                children = item.values() if isinstance(item, dict) else item
                pending.extend((child, depth + 1) for child in children)


def _refuse_unknown(names: Any) -> None:
    unknown = set(names) - RULE_NAMES
    if unknown:
        raise InvalidRules(f"unknown rules: {', '.join(sorted(unknown))}")


# The rules that together decide whether a streak reminder can ever go out.
_NIGHT_RULES = frozenset(
    {"quiet_hours_start", "quiet_hours_end", "streak_reminder_hour", "streaks"}
)


def _refuse_streak_reminders_at_night(rules: ProgramRules) -> None:
    """A streak reminder goes from `streak_reminder_hour` to midnight, never in the quiet
    hours: quiet hours covering all of that would silently end every streak reminder.

    Checked on a change of one of `_NIGHT_RULES` only, not on reading: rules stored before
    this check still load (their streak reminders just never go out), and a change of some
    other rule is not refused for them."""
    hour = rules.streak_reminder_hour
    if not rules.streaks or not all(is_quiet(rules.quiet_hours, h) for h in range(hour, 24)):
        return
    night = rules.quiet_hours
    raise InvalidRules(
        f"streak_reminder_hour: the quiet hours ({night.start:02}:00 to {night.end:02}:00)"
        f" cover {hour:02}:00 to midnight, so no streak reminder would ever go out;"
        " choose an earlier hour or shorter quiet hours"
    )


def _from_stored(stored: Mapping[str, str]) -> ProgramRules:
    values = {}
    for key, raw in stored.items():
        try:
            # Decimals are stored as text; a bare JSON number still means the decimal written.
            values[key] = json.loads(raw, parse_float=Decimal)
        except json.JSONDecodeError as error:
            raise InvalidRules(f"stored rules: {key}: not JSON ({error})") from None
    return _validate(values, prefix="stored rules: ")


# Where a transaction's session keeps the rules its operation decided under (see pin).
_IN_FORCE = "loyalty.rules_in_force"


class RuleBook:
    def __init__(
        self, db: Database, clock: Clock, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._db = db
        self._clock = clock
        self._monotonic = monotonic
        self._cached: tuple[float, ProgramRules] | None = None
        # The rows last read and the rules made of them: an unchanged table (nearly every
        # read) is not validated again.
        self._parsed: tuple[dict[str, str], ProgramRules] | None = None

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

    def pin(self, session: AsyncSession, rules: ProgramRules) -> None:
        """Decide everything in `session`'s transaction under `rules`: the subscribers of the
        events it publishes (referrals, tiers) read them back with `in_force`."""
        session.info[_IN_FORCE] = rules

    async def in_force(self, session: AsyncSession) -> ProgramRules:
        """The rules the operation running in `session` decides under: those it pinned, else
        read once through `session` itself. Never a second connection: a subscriber asking
        for the rules while its publisher holds row locks must not wait for the pool."""
        pinned = session.info.get(_IN_FORCE)
        if isinstance(pinned, ProgramRules):
            return pinned
        rules = await self._read_in(session)
        self.pin(session, rules)
        return rules

    async def _read(self) -> ProgramRules:
        async with self._db.reading() as session:
            return await self._read_in(session)

    async def _read_in(self, session: AsyncSession) -> ProgramRules:
        rows = (await session.execute(select(ProgramRule.key, ProgramRule.value))).all()
        # A rule a newer version stored and this one does not know is left alone.
        stored = {key: value for key, value in rows if key in RULE_NAMES}
        if self._parsed is not None and self._parsed[0] == stored:
            return self._parsed[1]
        rules = _from_stored(stored)
        self._parsed = (stored, rules)
        return rules

    async def update(self, *, actor: str, **changes: Any) -> ProgramRules:
        """Sets the rules in `changes` (by their flat names, values in their JSON shape or
        their own type), all or none; raises InvalidRules naming each rule refused and why."""
        actor = parse_actor(actor)
        _refuse_unknown(changes)
        _refuse_too_deep(changes)
        current = await self.current()
        updated = _validate({**dict(current), **changes})
        if _NIGHT_RULES.intersection(changes):
            _refuse_streak_reminders_at_night(updated)
        shapes = rules_as_json(updated)
        now = self._clock.now()
        async with self._db.transaction() as session:
            for key in changes:
                row = await session.get(ProgramRule, key)
                if row is None:
                    row = ProgramRule(key=key, value="", updated_by=actor, updated_at=now)
                    session.add(row)
                row.value = json.dumps(shapes[key], ensure_ascii=False)
                row.updated_by = actor
                row.updated_at = now
        self._cached = None
        return updated
