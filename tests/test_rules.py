"""Program rules are data: what members are shown may be briefly cached, what points are
posted by never is."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.runtime import Runtime
from core.db.models import ProgramRule
from core.rules.book import InvalidRules, ProgramRules, RuleBook, parse_rule, rules_as_json
from core.rules.sections import SECTIONS, TierRules
from core.shared.errors import ErrorKind

NOW = datetime(2026, 12, 1, tzinfo=UTC)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_shown_rules_are_cached_for_max_age_and_postings_read_fresh(
    runtime: Runtime,
) -> None:
    monotonic = FakeMonotonic()
    shown = RuleBook(runtime.db, runtime.program.clock, monotonic=monotonic)
    assert (await shown.current(max_age=10)).welcome_bonus == 100

    # Another process (the marketer's tool) changes the rule.
    await runtime.program.rules.update(actor="marketer", welcome_bonus=70)

    monotonic.now += 9.9
    assert (await shown.current(max_age=10)).welcome_bonus == 100, "still within max_age"
    assert (await shown.current()).welcome_bonus == 70, "without max_age: the database"
    monotonic.now += 0.2
    assert (await shown.current(max_age=10)).welcome_bonus == 70


async def test_updating_through_the_same_rule_book_is_seen_at_once(runtime: Runtime) -> None:
    monotonic = FakeMonotonic()
    rules = RuleBook(runtime.db, runtime.program.clock, monotonic=monotonic)
    assert (await rules.current(max_age=60)).program_name == "Loyalty Club"

    await rules.update(actor="marketer", program_name="Coffee Friends")

    assert (await rules.current(max_age=60)).program_name == "Coffee Friends"


# Every refusal: (the rule, the value given, what the marketer reads). The message names the
# rule (and the field inside a structured one) and why; `CLI_CANNOT_SAY` lists the values the
# command line cannot give (it reads 0.1 as the exact decimal, which is accepted).
TIER = {"key": "silver", "name": "Silver", "threshold": 1000}
PROMOTION = {"key": "p", "name": "P", "multiplier": "2"}
REFUSALS: list[tuple[str, Any, str]] = [
    ("cashback", 5, "unknown rules: cashback"),
    ("earn_rate", "lots", "earn_rate: must be a decimal number such as '0.1', not 'lots'"),
    ("earn_rate", 0.1, "earn_rate: must be a decimal number such as '0.1', not 0.1"),
    ("earn_rate", "Infinity", "earn_rate: must be a finite number, not 'Infinity'"),
    ("earn_rate", "-0.1", "earn_rate: must be between 0 and 1000, not -0.1"),
    ("earn_rate", "5000", "earn_rate: must be between 0 and 1000, not 5000"),
    ("point_value", "0", "point_value: must be positive and at most 1000000, not 0"),
    ("max_points_share", "1.5", "max_points_share: must be between 0 and 1, not 1.5"),
    ("welcome_bonus", "50", "welcome_bonus: must be a whole number, not '50'"),
    ("welcome_bonus", True, "welcome_bonus: must be a whole number, not True"),
    ("welcome_bonus", -1, "welcome_bonus: must be between 0 and 1000000, not -1"),
    ("referral_friend_bonus", 1.5, "referral_friend_bonus: must be a whole number, not 1.5"),
    (
        "referral_referrer_bonus",
        1_000_001,
        "referral_referrer_bonus: must be between 0 and 1000000, not 1000001",
    ),
    (
        "referral_qualifies_on",
        "dance",
        "referral_qualifies_on: must be one of join, first_purchase, not 'dance'",
    ),
    ("referral_daily_cap", 1001, "referral_daily_cap: must be between 0 and 1000, not 1001"),
    ("referral_friend_coupon", 5, "referral_friend_coupon: must be text, not 5"),
    ("birthday_coupon", 5, "birthday_coupon: must be text, not 5"),
    ("referral_referrer_coupon", [], "referral_referrer_coupon: must be text, not []"),
    ("points_ttl_days", -5, "points_ttl_days: must be between 0 (never) and 3660, not -5"),
    (
        "expiry_reminder_days",
        366,
        "expiry_reminder_days: must be between 0 (no reminder) and 365, not 366",
    ),
    (
        "expiry_reminder_is_marketing",
        "yes",
        "expiry_reminder_is_marketing: must be true or false, not 'yes'",
    ),
    (
        "coupon_reminder_days",
        -1,
        "coupon_reminder_days: must be between 0 (no reminder) and 365, not -1",
    ),
    (
        "coupon_reminder_is_marketing",
        "yes",
        "coupon_reminder_is_marketing: must be true or false, not 'yes'",
    ),
    ("birthday_bonus", -1, "birthday_bonus: must be between 0 and 1000000, not -1"),
    (
        "time_zone",
        "Mars/Olympus",
        "time_zone: must be an IANA zone name such as 'Europe/Moscow', not 'Mars/Olympus'",
    ),
    ("program_name", "  ", "program_name: must not be empty"),
    ("quiet_hours_start", 24, "quiet_hours_start: must be between 0 and 23, not 24"),
    ("quiet_hours_end", "9:00", "quiet_hours_end: must be a whole number, not '9:00'"),
    ("currency", "rubles", "currency: must be an ISO 4217 code such as 'RUB', not 'rubles'"),
    ("tier_metric", "visits", "tier_metric: must be one of spend, points, not 'visits'"),
    ("tier_window_days", 0, "tier_window_days: must be between 1 and 3660, not 0"),
    ("tier_grace_days", "30", "tier_grace_days: must be a whole number, not '30'"),
    (
        "streaks",
        [{"key": "a", "action": "dance", "period": "day"}],
        "streaks[0].action: must be one of checkin, purchase, not 'dance'",
    ),
    (
        "streaks",
        [
            {"key": "a", "action": "checkin", "period": "day"},
            {"key": "a", "action": "purchase", "period": "week"},
        ],
        "streaks: keys must be unique, repeated: a",
    ),
    (
        "streak_freeze_every",
        -1,
        "streak_freeze_every: must be between 0 (no freeze) and 366, not -1",
    ),
    ("streak_reminder_hour", 23, "streak_reminder_hour: must be between 9 and 21, not 23"),
    (
        "streak_reminder_is_marketing",
        "yes",
        "streak_reminder_is_marketing: must be true or false, not 'yes'",
    ),
    ("tiers", "gold", "tiers: must be a list, not 'gold'"),
    ("tiers", ["gold"], "tiers[0]: must be an object, not 'gold'"),
    ("tiers", [{"key": "silver", "name": "S"}], "tiers[0]: lacks threshold"),
    ("tiers", [{**TIER, "colour": "x"}], "tiers[0]: has unknown fields: colour"),
    (
        "tiers",
        [{**TIER, "key": "Silver!"}],
        "tiers[0].key: must be 1 to 32 lowercase letters, digits, '-' or '_', not 'Silver!'",
    ),
    ("tiers", [{**TIER, "name": ""}], "tiers[0].name: must be non-empty text (all languages)"),
    (
        "tiers",
        [{**TIER, "name": {"english": "S"}}],
        "tiers[0].name: 'english' is not a language code such as 'en'",
    ),
    ("tiers", [{**TIER, "name": "x" * 33}], "tiers[0].name: must be at most 32 characters"),
    ("tiers", [{**TIER, "name": 5}], "tiers[0].name: must be text or {language: text}, not 5"),
    (
        "tiers",
        [{**TIER, "threshold": -1}],
        "tiers[0].threshold: must be at least 0 and below 1000000000000, not -1",
    ),
    (
        "tiers",
        [{**TIER, "threshold": "1.001"}],
        "tiers[0].threshold: has at most 2 decimals, not 1.001",
    ),
    (
        "tiers",
        [{**TIER, "earn_multiplier": "0"}],
        "tiers[0].earn_multiplier: must be positive and at most 100, not 0",
    ),
    ("tiers", [{**TIER, "perks": "x" * 501}], "tiers[0].perks: must be at most 500 characters"),
    (
        "tiers",
        [{**TIER, "birthday_bonus": -1}],
        "tiers[0].birthday_bonus: must be between 0 and 1000000, not -1",
    ),
    ("tiers", [TIER, {**TIER, "threshold": 2000}], "tiers: keys must be unique, repeated: silver"),
    (
        "tiers",
        [{**TIER, "key": "a", "threshold": 500}, {**TIER, "key": "b", "threshold": 100}],
        "tiers: must be listed lowest first, with increasing thresholds "
        "(b at 100 is not above a at 500)",
    ),
    ("promotions", {"p": PROMOTION}, "promotions: must be a list, not {'p': {"),
    (
        "promotions",
        [{**PROMOTION, "multiplier": "0.5"}],
        "promotions[0].multiplier: must be between 1 and 100, not 0.5",
    ),
    (
        "promotions",
        [{**PROMOTION, "starts": "2026-12-01T00:00:00"}],
        "promotions[0].starts: needs a UTC offset, such as 2026-12-01T00:00:00+03:00",
    ),
    (
        "promotions",
        [{**PROMOTION, "starts": "next monday"}],
        "promotions[0].starts: must be an ISO date and time, not 'next monday'",
    ),
    (
        "promotions",
        [{**PROMOTION, "ends": 5}],
        "promotions[0].ends: must be an ISO date and time, not 5",
    ),
    (
        "promotions",
        [{**PROMOTION, "starts": "2026-12-08T00:00:00Z", "ends": "2026-12-01T00:00:00Z"}],
        "promotions[0]: starts must be before ends",
    ),
    (
        "promotions",
        [{**PROMOTION, "category": " "}],
        "promotions[0].category: must be text of 1 to 64 characters, not ' '",
    ),
    (
        "promotions",
        [{**PROMOTION, "store": 5}],
        "promotions[0].store: must be text of 1 to 64 characters, not 5",
    ),
    ("promotions", [PROMOTION, PROMOTION], "promotions: keys must be unique, repeated: p"),
    (
        "event_bonuses",
        [{"kind": "review"}],
        "event_bonuses: must be an object {kind: {points, per_member}}, not [{'kind': 'review'}]",
    ),
    (
        "event_bonuses",
        {"Review!": {"points": 1}},
        "event_bonuses.Review!: must be 1 to 32 lowercase letters, digits, '-' or '_', "
        "not 'Review!'",
    ),
    ("event_bonuses", {"review": 5}, "event_bonuses.review: must be an object, not 5"),
    ("event_bonuses", {"review": {}}, "event_bonuses.review: lacks points"),
    (
        "event_bonuses",
        {"review": {"points": 1, "bonus": 2}},
        "event_bonuses.review: has unknown fields: bonus",
    ),
    (
        "event_bonuses",
        {"review": {"points": 1.5}},
        "event_bonuses.review.points: must be a whole number, not 1.5",
    ),
    (
        "event_bonuses",
        {"review": {"points": -1}},
        "event_bonuses.review.points: must be between 0 and 1000000, not -1",
    ),
    (
        "event_bonuses",
        {"review": {"points": 5, "per_member": -1}},
        "event_bonuses.review.per_member: must be between 0 (no limit) and 1000, not -1",
    ),
]
CLI_CANNOT_SAY = [("earn_rate", 0.1)]


def test_every_refusal_is_in_the_table() -> None:
    """Each rule is refused at least once above, so a new rule comes with its message."""
    refused = {name for name, _, _ in REFUSALS}
    assert set(rules_as_json(ProgramRules())) <= refused


def test_every_rule_belongs_to_one_section() -> None:
    names = [name for section in SECTIONS for name in section.model_fields]
    assert len(names) == len(set(names)), "a name in two sections would be one rule"
    assert names == list(ProgramRules.model_fields), "shown section by section"
    owners = [section for section in SECTIONS if "tiers" in section.model_fields]
    assert owners == [TierRules] and "cashback" not in ProgramRules.model_fields


@pytest.mark.parametrize(("name", "value", "message"), REFUSALS)
def test_each_refusal_names_the_rule_and_why(name: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidRules) as refused:
        parse_rule(name, value)
    assert str(refused.value).startswith(message)
    assert refused.value.code == "invalid_rules" and refused.value.kind is ErrorKind.INVALID
    assert isinstance(refused.value, ValueError), "what a refused rule has always been"


async def test_the_rule_book_refuses_each_and_changes_nothing(runtime: Runtime) -> None:
    await runtime.program.rules.update(actor="m", welcome_bonus=70, tiers=[TIER])
    before = await runtime.program.rules.current()
    wrong = []
    for name, value, message in REFUSALS:
        try:
            await runtime.program.rules.update(actor="marketer", **{name: value})
        except InvalidRules as refused:
            if not str(refused).startswith(message):
                wrong.append((name, value, str(refused)))
        else:
            wrong.append((name, value, "accepted"))
    assert wrong == []
    assert await RuleBook(runtime.db, runtime.program.clock).current() == before


async def test_all_that_is_wrong_is_said_at_once(runtime: Runtime) -> None:
    with pytest.raises(InvalidRules) as refused:
        await runtime.program.rules.update(actor="m", welcome_bonus=-1, earn_rate="x")
    assert str(refused.value) == (
        "earn_rate: must be a decimal number such as '0.1', not 'x'; "
        "welcome_bonus: must be between 0 and 1000000, not -1"
    )


async def test_stored_rules_are_checked_when_read(runtime: Runtime) -> None:
    """A row written past the rule book (by hand, or by a newer version) is refused with the
    rule's name, not used; a rule this version does not know is left alone."""
    await write_row(runtime, "a_rule_from_a_newer_version", '"x"')
    assert await runtime.program.rules.current() == ProgramRules()

    await write_row(runtime, "welcome_bonus", '"lots"')
    with pytest.raises(InvalidRules, match=r"^stored rules: welcome_bonus: must be a whole num"):
        await runtime.program.rules.current()

    await write_row(runtime, "welcome_bonus", "{not json")
    with pytest.raises(InvalidRules, match=r"^stored rules: welcome_bonus: not JSON"):
        await runtime.program.rules.current()

    await write_row(runtime, "welcome_bonus", "70")
    assert (await runtime.program.rules.current()).welcome_bonus == 70


async def test_stored_values_keep_their_shape(runtime: Runtime) -> None:
    """The rows `program_rules` has always held: decimals as text, structures as JSON."""
    await runtime.program.rules.update(
        actor="m",
        earn_rate=Decimal("0.05"),
        welcome_bonus=70,
        expiry_reminder_is_marketing=True,
        tiers=[{**TIER, "threshold": 1000.5, "perks": {"en": "Coffee"}}],
        promotions=[{**PROMOTION, "starts": "2026-12-01T00:00:00+03:00", "store": " msk-1 "}],
        event_bonuses={"review": {"points": 50}},
    )
    async with runtime.db.reading() as session:
        rows = dict((await session.execute(select(ProgramRule.key, ProgramRule.value))).all())
    assert {key: json.loads(value) for key, value in rows.items()} == {
        "earn_rate": "0.05",
        "welcome_bonus": 70,
        "expiry_reminder_is_marketing": True,
        "tiers": [
            {
                "key": "silver",
                "name": "Silver",
                "threshold": "1000.5",
                "earn_multiplier": "1",
                "perks": {"en": "Coffee"},
            }
        ],
        "promotions": [
            {
                "key": "p",
                "name": "P",
                "multiplier": "2",
                "starts": "2026-12-01T00:00:00+03:00",
                "store": "msk-1",
            }
        ],
        "event_bonuses": {"review": {"points": 50, "per_member": 1}},
    }


async def write_row(runtime: Runtime, key: str, value: str) -> None:
    async with runtime.db.transaction() as session:
        row = await session.get(ProgramRule, key)
        if row is None:
            row = ProgramRule(key=key, value=value, updated_by="hand", updated_at=NOW)
            session.add(row)
        row.value = value
