"""Program rules are data: what members are shown may be briefly cached, what points are
posted by never is."""

from __future__ import annotations

from app.runtime import Runtime
from core.rules.book import RuleBook


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
