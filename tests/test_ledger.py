"""The points ledger on both backends: idempotency, no negative balance, serialized postings.

The concurrency tests are the point of this file: on PostgreSQL they prove the member row lock
(SELECT ... FOR UPDATE), on SQLite the BEGIN IMMEDIATE serialization of writers.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest
from sqlalchemy import select

from app.runtime import Runtime
from core.db.models import Consent, Identity, LedgerEntry, Member
from core.ledger.entries import Posting
from core.members.accounts import WELCOME_REASON, IdentityKey
from core.shared.errors import IdempotencyConflict, InsufficientPoints, MemberNotFound
from tests.data import count, enrol, registration

WELCOME_BONUS = 100  # the default rule


async def entries_of(runtime: Runtime, member_id: int) -> list[LedgerEntry]:
    async with runtime.db.sessions() as session:
        rows = await session.scalars(
            select(LedgerEntry).where(LedgerEntry.member_id == member_id).order_by(LedgerEntry.id)
        )
        return list(rows)


async def test_enrolment_posts_the_welcome_bonus(runtime: Runtime) -> None:
    member = await enrol(runtime)

    assert member.balance == WELCOME_BONUS
    assert await runtime.program.ledger.balance(member.id) == WELCOME_BONUS
    [entry] = await entries_of(runtime, member.id)
    assert (entry.points, entry.reason, entry.balance_after) == (
        WELCOME_BONUS,
        WELCOME_REASON,
        WELCOME_BONUS,
    )


async def test_replaying_a_key_returns_the_first_result_and_posts_nothing(
    runtime: Runtime,
) -> None:
    ledger = runtime.program.ledger
    member = await enrol(runtime)

    first = await ledger.post(
        member.id, 40, reason="bonus", actor="marketer", idempotency_key="gift-1"
    )
    rows_after_first = await count(runtime, LedgerEntry)
    again = await ledger.post(
        member.id, 40, reason="bonus", actor="marketer", idempotency_key="gift-1"
    )

    assert first.replayed is False
    assert first.balance == WELCOME_BONUS + 40
    assert again.replayed is True
    assert again.entry == first.entry
    assert again.balance == first.balance
    assert await count(runtime, LedgerEntry) == rows_after_first == 2
    assert await ledger.balance(member.id) == WELCOME_BONUS + 40


@pytest.mark.parametrize(
    ("points", "reason"),
    [(41, "bonus"), (-40, "bonus"), (40, "correction")],
    ids=["other-points", "other-sign", "other-reason"],
)
async def test_reusing_a_key_for_a_different_operation_is_a_conflict(
    runtime: Runtime, points: int, reason: str
) -> None:
    ledger = runtime.program.ledger
    member = await enrol(runtime)
    await ledger.post(member.id, 40, reason="bonus", actor="marketer", idempotency_key="gift-1")

    with pytest.raises(IdempotencyConflict) as raised:
        await ledger.post(
            member.id, points, reason=reason, actor="marketer", idempotency_key="gift-1"
        )

    assert raised.value.key == "gift-1"
    assert await count(runtime, LedgerEntry) == 2
    assert await ledger.balance(member.id) == WELCOME_BONUS + 40


async def test_reusing_a_key_with_another_reference_is_a_conflict(runtime: Runtime) -> None:
    ledger = runtime.program.ledger
    member = await enrol(runtime)
    first = await ledger.post(
        member.id, 40, reason="bonus", actor="m", idempotency_key="gift-1", reference="order-1"
    )

    with pytest.raises(IdempotencyConflict) as raised:
        await ledger.post(
            member.id, 40, reason="bonus", actor="m", idempotency_key="gift-1", reference="order-2"
        )

    assert raised.value.code == "idempotency_conflict"
    # The same reference, or none given (the caller does not judge by it): the first result.
    for reference in ("order-1", None):
        again = await ledger.post(
            member.id, 40, reason="bonus", actor="m", idempotency_key="gift-1", reference=reference
        )
        assert again.replayed and again.entry == first.entry
    assert await count(runtime, LedgerEntry) == 2
    assert await ledger.balance(member.id) == WELCOME_BONUS + 40


async def test_reusing_a_key_for_another_member_is_a_conflict(runtime: Runtime) -> None:
    ledger = runtime.program.ledger
    alice = await enrol(runtime, "alice")
    bob = await enrol(runtime, "bob")
    await ledger.post(alice.id, 40, reason="bonus", actor="marketer", idempotency_key="gift-1")

    with pytest.raises(IdempotencyConflict):
        await ledger.post(bob.id, 40, reason="bonus", actor="marketer", idempotency_key="gift-1")

    assert await ledger.balance(bob.id) == WELCOME_BONUS
    assert await count(runtime, LedgerEntry, LedgerEntry.member_id == bob.id) == 1


async def test_spending_more_than_the_balance_is_refused_and_changes_nothing(
    runtime: Runtime,
) -> None:
    ledger = runtime.program.ledger
    member = await enrol(runtime)

    with pytest.raises(InsufficientPoints) as raised:
        await ledger.post(
            member.id, -(WELCOME_BONUS + 1), reason="redemption", actor="op", idempotency_key="r1"
        )
    assert (raised.value.balance, raised.value.requested) == (WELCOME_BONUS, WELCOME_BONUS + 1)
    assert await ledger.balance(member.id) == WELCOME_BONUS
    assert await count(runtime, LedgerEntry) == 1

    spent = await ledger.post(
        member.id, -WELCOME_BONUS, reason="redemption", actor="op", idempotency_key="r2"
    )
    assert spent.balance == 0
    assert spent.entry.balance_after == 0

    with pytest.raises(InsufficientPoints):
        await ledger.post(member.id, -1, reason="redemption", actor="op", idempotency_key="r3")

    assert await ledger.balance(member.id) == 0
    audit = await ledger.audit(member.id)
    assert audit.consistent
    assert audit.sum_of_entries == 0
    assert all(entry.balance_after >= 0 for entry in await entries_of(runtime, member.id))


async def test_a_zero_posting_and_an_unknown_member_are_refused(runtime: Runtime) -> None:
    ledger = runtime.program.ledger
    member = await enrol(runtime)

    with pytest.raises(ValueError):
        await ledger.post(member.id, 0, reason="bonus", actor="op", idempotency_key="zero")
    with pytest.raises(MemberNotFound):
        await ledger.post(member.id + 999, 5, reason="bonus", actor="op", idempotency_key="x")
    with pytest.raises(MemberNotFound):
        await ledger.balance(member.id + 999)

    assert await count(runtime, LedgerEntry) == 1


async def test_concurrent_postings_replays_and_redemptions_keep_the_ledger_exact(
    runtime: Runtime,
) -> None:
    """50 credits (10 of them replays of a key used in the same batch) race 10 redemptions.

    The redemptions ask for far more than the member can ever have: only some may succeed,
    and whichever succeed, the cached balance, the entries and the results must agree.
    """
    ledger = runtime.program.ledger
    member = await enrol(runtime)
    await ledger.post(member.id, 200, reason="bonus", actor="test", idempotency_key="seed")
    start = WELCOME_BONUS + 200  # 300: at least two 150-point redemptions must succeed

    distinct_keys = 40
    credit_points = {f"credit-{i}": i % 7 + 1 for i in range(distinct_keys)}
    rng = random.Random(20261123)
    replayed_keys = rng.sample(sorted(credit_points), 10)
    credits = [*credit_points, *replayed_keys]  # 50 postings, 20 % reuse a key of the batch
    redemption_points = 150
    redemption_keys = [f"redeem-{i}" for i in range(10)]
    operations: list[tuple[str, str]] = [("credit", key) for key in credits] + [
        ("redeem", key) for key in redemption_keys
    ]
    rng.shuffle(operations)
    max_possible = start + sum(credit_points.values())
    assert redemption_points * len(redemption_keys) > max_possible

    async def run(kind: str, key: str) -> Posting:
        if kind == "credit":
            return await ledger.post(
                member.id, credit_points[key], reason="bonus", actor="test", idempotency_key=key
            )
        return await ledger.post(
            member.id, -redemption_points, reason="redemption", actor="till", idempotency_key=key
        )

    results = await asyncio.wait_for(
        asyncio.gather(*(run(kind, key) for kind, key in operations), return_exceptions=True),
        timeout=60,
    )

    unexpected = [
        result
        for result in results
        if isinstance(result, BaseException) and not isinstance(result, InsufficientPoints)
    ]
    assert not unexpected, f"postings failed unexpectedly: {unexpected!r}"

    fresh_credits: Counter[str] = Counter()
    entry_by_key: dict[str, set[int]] = {}
    accepted_redemptions: list[str] = []
    refused_redemptions: list[str] = []
    for (kind, key), result in zip(operations, results, strict=True):
        if kind == "credit":
            assert isinstance(result, Posting), (key, result)
            assert result.entry.points == credit_points[key]
            entry_by_key.setdefault(key, set()).add(result.entry.id)
            if not result.replayed:
                fresh_credits[key] += 1
        elif isinstance(result, Posting):
            assert result.replayed is False
            assert result.entry.points == -redemption_points
            assert result.balance >= 0
            accepted_redemptions.append(key)
        else:
            assert isinstance(result, InsufficientPoints)
            assert result.balance < redemption_points
            refused_redemptions.append(key)

    # Every key was posted exactly once; its replays returned that very entry.
    assert fresh_credits == Counter(dict.fromkeys(credit_points, 1))
    assert all(len(ids) == 1 for ids in entry_by_key.values()), entry_by_key
    assert len(accepted_redemptions) + len(refused_redemptions) == len(redemption_keys)
    assert 2 <= len(accepted_redemptions) <= max_possible // redemption_points
    assert len(refused_redemptions) >= len(redemption_keys) - max_possible // redemption_points

    expected_balance = (
        start + sum(credit_points.values()) - redemption_points * len(accepted_redemptions)
    )
    balance = await ledger.balance(member.id)
    audit = await ledger.audit(member.id)
    assert balance == expected_balance
    assert audit.consistent, audit
    assert audit.cached_balance == audit.sum_of_entries == expected_balance

    rows = await entries_of(runtime, member.id)
    keys = Counter(row.idempotency_key for row in rows)
    assert [key for key, seen in keys.items() if seen > 1] == []
    expected_keys = {f"welcome:{member.id}", "seed", *credit_points, *accepted_redemptions}
    assert set(keys) == expected_keys
    assert len(rows) == len(expected_keys) == 2 + distinct_keys + len(accepted_redemptions)

    # The entries form one serial history: each balance_after follows from the one before.
    running = 0
    for row in rows:
        running += row.points
        assert row.balance_after == running, f"entry {row.id} breaks the chain"
        assert row.balance_after >= 0
    assert running == expected_balance


async def test_concurrent_enrolment_of_one_identity_creates_one_member(runtime: Runtime) -> None:
    members = runtime.program.members

    enrolments = await asyncio.wait_for(
        asyncio.gather(*(members.enrol(registration("same-person")) for _ in range(10))),
        timeout=60,
    )

    assert sum(enrolment.created for enrolment in enrolments) == 1
    assert len({enrolment.member.id for enrolment in enrolments}) == 1
    member_id = enrolments[0].member.id
    assert await count(runtime, Member) == 1
    assert await count(runtime, Identity) == 1
    assert await count(runtime, Consent) == 2  # terms and marketing, recorded once
    assert await count(runtime, LedgerEntry, LedgerEntry.reason == WELCOME_REASON) == 1
    assert await count(runtime, LedgerEntry) == 1
    assert await runtime.program.ledger.balance(member_id) == WELCOME_BONUS
    assert (await runtime.program.ledger.audit(member_id)).consistent
    found = await members.find(IdentityKey("telegram", "same-person"))
    assert found is not None and found.id == member_id


async def test_history_is_newest_first_with_clamped_pages(runtime: Runtime) -> None:
    ledger = runtime.program.ledger
    member = await enrol(runtime)
    for points in range(1, 12):  # 11 postings after the welcome bonus: 12 entries
        await ledger.post(
            member.id, points, reason="bonus", actor="test", idempotency_key=f"h-{points}"
        )

    first = await ledger.history(member.id, page=1, page_size=5)
    second = await ledger.history(member.id, page=2, page_size=5)
    last = await ledger.history(member.id, page=3, page_size=5)

    assert (first.total, first.pages, first.page) == (12, 3, 1)
    assert [entry.points for entry in first.entries] == [11, 10, 9, 8, 7]
    assert [entry.points for entry in second.entries] == [6, 5, 4, 3, 2]
    assert [entry.points for entry in last.entries] == [1, WELCOME_BONUS]
    assert last.page == 3
    ids = [entry.id for page in (first, second, last) for entry in page.entries]
    assert ids == sorted(ids, reverse=True)
    assert first.entries[0].balance_after == WELCOME_BONUS + sum(range(1, 12))

    assert await ledger.history(member.id, page=0, page_size=5) == first
    assert await ledger.history(member.id, page=-3, page_size=5) == first
    assert await ledger.history(member.id, page=99, page_size=5) == last

    exact = await ledger.history(member.id, page=2, page_size=6)
    assert (exact.pages, len(exact.entries)) == (2, 6)


async def test_history_of_a_member_without_entries_has_one_empty_page(
    runtime: Runtime,
) -> None:
    await runtime.program.rules.update(actor="marketer", welcome_bonus=0)
    member = await enrol(runtime)

    page = await runtime.program.ledger.history(member.id, page=5)

    assert (page.entries, page.page, page.pages, page.total) == ((), 1, 1, 0)
    assert await runtime.program.ledger.balance(member.id) == 0
