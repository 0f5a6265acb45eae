"""Non-purchase events: paid once per (kind, event id), at most `per_member` times per member,
unknown kinds refused."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from app.runtime import Runtime
from core.db.models import LedgerEntry, MemberEvent, Notice
from core.earning.event_bonuses import EventResult
from core.shared import cards
from core.shared.errors import IdempotencyConflict, MemberNotFound, UnknownEventKind
from tests.data import count, enrol

WELCOME_BONUS = 100
BONUSES = {
    "review": {"points": 50, "per_member": 1},
    "survey": {"points": 20, "per_member": 2},
    "channel_subscription": {"points": 10, "per_member": 0},
}


@pytest.fixture
async def bonuses(runtime: Runtime) -> None:
    await runtime.program.rules.update(actor="marketer", event_bonuses=BONUSES)


async def test_an_event_is_paid_once_and_its_replay_returns_the_first_result(
    runtime: Runtime, bonuses: None
) -> None:
    member = await enrol(runtime)
    events = runtime.program.events

    first = await events.emit(
        card_code=member.card_code, kind="review", event_id="rev-1", actor="shop"
    )
    again = await events.emit(member_id=member.id, kind="review", event_id="rev-1", actor="shop")

    assert first == EventResult(
        member.id, "review", "rev-1", 50, WELCOME_BONUS + 50, replayed=False, limited=False
    )
    assert again.replayed and (again.points, again.balance) == (50, WELCOME_BONUS + 50)
    assert await runtime.program.ledger.balance(member.id) == WELCOME_BONUS + 50
    assert await count(runtime, LedgerEntry, LedgerEntry.reason == "event") == 1
    assert await count(runtime, Notice, Notice.kind == "points_earned") == 1
    async with runtime.db.reading() as session:
        row = await session.scalar(select(MemberEvent))
        entry = await session.scalar(select(LedgerEntry).where(LedgerEntry.reason == "event"))
    assert row is not None and entry is not None
    assert (row.points, row.ledger_entry_id, row.actor) == (50, entry.id, "shop")
    assert entry.reference == "review"

    other = await enrol(runtime, "2002")
    with pytest.raises(IdempotencyConflict):
        await events.emit(member_id=other.id, kind="review", event_id="rev-1", actor="shop")


async def test_the_per_member_limit_holds_and_zero_means_no_limit(
    runtime: Runtime, bonuses: None
) -> None:
    member = await enrol(runtime)
    emit = runtime.program.events.emit

    paid = await emit(member_id=member.id, kind="review", event_id="r1", actor="shop")
    limited = await emit(member_id=member.id, kind="review", event_id="r2", actor="shop")
    replay = await emit(member_id=member.id, kind="review", event_id="r2", actor="shop")
    surveys = [
        await emit(member_id=member.id, kind="survey", event_id=f"s{n}", actor="shop")
        for n in range(3)
    ]
    subscriptions = [
        await emit(member_id=member.id, kind="channel_subscription", event_id=f"c{n}", actor="q")
        for n in range(4)
    ]

    assert (paid.points, paid.limited) == (50, False)
    assert (limited.points, limited.limited, limited.replayed) == (0, True, False)
    assert (replay.points, replay.limited, replay.replayed) == (0, True, True)
    assert [survey.points for survey in surveys] == [20, 20, 0]
    assert [subscription.points for subscription in subscriptions] == [10] * 4
    assert await runtime.program.ledger.balance(member.id) == WELCOME_BONUS + 50 + 40 + 40
    assert await count(runtime, MemberEvent) == 2 + 3 + 4, "unpaid events are recorded too"

    # Another member has a limit of their own.
    other = await enrol(runtime, "2002")
    assert (await emit(member_id=other.id, kind="review", event_id="r3", actor="s")).points == 50


async def test_unknown_kinds_and_members_are_refused_and_nothing_is_recorded(
    runtime: Runtime, bonuses: None
) -> None:
    member = await enrol(runtime)
    emit = runtime.program.events.emit
    with pytest.raises(UnknownEventKind, match="revue"):
        await emit(member_id=member.id, kind="revue", event_id="x", actor="shop")
    unknown = cards.generate()
    while unknown == member.card_code:
        unknown = cards.generate()
    with pytest.raises(MemberNotFound):
        await emit(card_code=unknown, kind="review", event_id="x", actor="shop")
    with pytest.raises(MemberNotFound):
        await emit(member_id=member.id + 1000, kind="review", event_id="x", actor="shop")
    assert await count(runtime, MemberEvent) == 0
    assert await runtime.program.ledger.balance(member.id) == WELCOME_BONUS


async def test_concurrent_events_respect_the_limit(runtime: Runtime, bonuses: None) -> None:
    member = await enrol(runtime)
    emit = runtime.program.events.emit

    results = await asyncio.gather(
        *(
            emit(member_id=member.id, kind="survey", event_id=f"s{n % 4}", actor="shop")
            for n in range(8)
        )
    )

    assert sum(result.points for result in results if not result.replayed) == 40
    assert await count(runtime, MemberEvent) == 4
    assert await runtime.program.ledger.balance(member.id) == WELCOME_BONUS + 40
    assert (await runtime.program.ledger.audit(member.id)).consistent
