"""Two members' cards merged through the chat's link code, on both backends: the games count
what either card did, once. Quest steps done on either card add up (and complete the quest
for the survivor, paid once), a reward paid on either card is not paid again, a pending proof
moves over; badges earned on either card are kept once; a streak keeps the better card's run;
the running leaderboards add the two cards' scores up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from core.db.models import BadgeAward, BoardScore, LedgerEntry, Notice, QuestCompletion
from core.games.quests.definition import parse_definition
from core.members.accounts import Profile
from tests.clocks import StoppedClock
from tests.data import count, enrol, registration
from tests.test_linking import ask_for_code, say

MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
START = "2026-01-01T00:00:00+00:00"


@pytest.fixture
def clock() -> StoppedClock:
    return StoppedClock(MONDAY)


@pytest.fixture
async def games(settings: Settings, clock: StoppedClock) -> AsyncIterator[Runtime]:
    built = build_runtime(settings, clock=clock)
    try:
        yield built
    finally:
        await built.close()


async def two_cards(runtime: Runtime) -> tuple[Profile, Profile]:
    """Ann's card from Telegram (the older one, which survives) and her second card, made
    from VK."""
    ann = await enrol(runtime, "ann")
    second = (await runtime.program.members.enrol(registration("ann-vk", channel="vk"))).member
    return ann, second


async def merge(runtime: Runtime) -> None:
    """The second card asks for a link code in VK; Ann types it in Telegram."""
    code = await ask_for_code(runtime, "vk", "ann-vk")
    reply = await say(runtime, "telegram", "ann", code)
    assert "Your two accounts are now one card" in reply


async def buy(runtime: Runtime, member: Profile, amount: str, purchase_id: str) -> None:
    await runtime.program.purchases.credit(
        member.card_code, amount, purchase_id=purchase_id, actor="till"
    )
    await runtime.program.bus.drain()


async def create_quest(runtime: Runtime, slug: str, **overrides: Any) -> int:
    quest: dict[str, Any] = {
        "slug": slug,
        "title": {"en": f"Quest {slug}"},
        "starts": START,
        "steps": [{"kind": "purchase", "count": 2}],
        "reward": {"points": 50},
    }
    quest.update(overrides)
    info = await runtime.program.quests.create(parse_definition(quest), actor="marketer")
    return info.id


async def quest_rewards(runtime: Runtime) -> list[tuple[int, str]]:
    async with runtime.db.sessions() as session:
        rows = await session.scalars(
            select(LedgerEntry).where(LedgerEntry.reason == "quest").order_by(LedgerEntry.id)
        )
        return [(row.member_id, row.idempotency_key or "") for row in rows]


async def test_quest_steps_on_either_card_count_once_and_rewards_are_paid_once(
    games: Runtime,
) -> None:
    quests = games.program.quests
    ann, second = await two_cards(games)
    # "pair": one purchase on each card; together they complete it.
    pair = await create_quest(games, "pair")
    # "once": completed and paid on the second card only.
    single = await create_quest(games, "single", steps=[{"kind": "purchase", "count": 1}])
    # "proof": the second card's photo waits for staff when the cards merge.
    proof = await create_quest(games, "proof", steps=[{"kind": "proof", "prompt": "A photo"}])
    for member in (ann, second):
        await quests.join(member.id, pair)
    await quests.join(second.id, single)
    await quests.join(second.id, proof)
    await buy(games, ann, "100", "A1")
    await buy(games, second, "100", "B1")
    proof_id = await quests.submit_proof(second.id, proof, 0, text="my receipt")
    assert (await quests.view(ann.id, pair)).steps[0].done == 1
    paid_before = await quest_rewards(games)
    assert paid_before == [(second.id, f"quest:{single}:{second.id}:once")]

    await merge(games)

    # Steps done on either card count for the survivor: "pair" is complete and paid once.
    view = await quests.view(ann.id, pair)
    assert view.completed and view.steps[0].done == 2
    paid = await quest_rewards(games)
    assert paid == [*paid_before, (ann.id, f"quest:{pair}:{ann.id}:once")]
    completed = await count(games, Notice, Notice.kind == "quest_completed")
    assert completed == 2, "told of the quest the merge completed"
    # The reward the second card earned is the survivor's: another purchase pays nothing.
    single_view = await quests.view(ann.id, single)
    assert single_view.joined and single_view.completed
    await buy(games, ann, "100", "A2")
    await buy(games, ann, "100", "A3")
    assert await quest_rewards(games) == paid
    # The pending proof moved over: staff see the survivor's card, approval completes it.
    (pending,) = await quests.pending_proofs()
    assert (pending.id, pending.member_id, pending.card_code) == (proof_id, ann.id, ann.card_code)
    outcome = await quests.review(proof_id, approve=True, actor="staff:eve")
    assert outcome.quest_done
    assert len(await quest_rewards(games)) == 3
    for member_id in (ann.id, second.id):
        assert (await games.program.ledger.audit(member_id)).consistent


async def test_a_quest_completed_on_both_cards_is_not_paid_a_third_time(games: Runtime) -> None:
    quests = games.program.quests
    ann, second = await two_cards(games)
    single = await create_quest(games, "single", steps=[{"kind": "purchase", "count": 1}])
    for member in (ann, second):
        await quests.join(member.id, single)
    await buy(games, ann, "100", "A1")
    await buy(games, second, "100", "B1")
    assert len(await quest_rewards(games)) == 2

    await merge(games)
    await buy(games, ann, "100", "A2")

    assert len(await quest_rewards(games)) == 2, "each card was paid before; nobody again"
    assert await count(games, QuestCompletion, QuestCompletion.member_id == ann.id) == 1
    assert (await quests.view(ann.id, single)).completed


BADGE: dict[str, Any] = {
    "name": "regular",
    "title": {"en": "Regular"},
    "description": {"en": "Two visits"},
    "emoji": "☕",
    "condition": {"kind": "visits", "count": 2},
}


async def test_badges_streaks_and_boards_carry_over(games: Runtime, clock: StoppedClock) -> None:
    program = games.program
    await program.badges.create(BADGE, actor="m")
    await program.badges.create(
        {**BADGE, "name": "first", "condition": {"kind": "first_purchase"}}, actor="m"
    )
    await program.badges.create(
        {**BADGE, "name": "trio", "condition": {"kind": "visits", "count": 3}}, actor="m"
    )
    ann, second = await two_cards(games)
    cara = await enrol(games, "cara")
    # The second card checks in three days running; Ann only on the third.
    for day in range(3):
        await program.streaks.check_in(second.id)
        if day < 2:
            clock.advance(days=1)
    await program.streaks.check_in(ann.id)
    await buy(games, second, "300", "B1")  # 30 points; the second card's "first"
    await buy(games, second, "200", "B2")  # 20 more; and its "regular"
    await buy(games, ann, "400", "A1")  # 40 points; Ann's "first"
    await buy(games, cara, "600", "C1")  # 60 points: ahead of either card alone
    assert await program.badges.earned(second.id) == ["first", "regular"]
    assert await program.badges.earned(ann.id) == ["first"]
    week = await program.boards.standing(ann.id, "points", "week")
    assert [(place.member_id, place.score) for place in week.top] == [
        (cara.id, 60),
        (second.id, 50),
        (ann.id, 40),
    ]

    await merge(games)

    # Badges earned on either card, once; three visits together earn "trio" at once.
    assert sorted(await program.badges.earned(ann.id)) == ["first", "regular", "trio"]
    assert await count(games, BadgeAward, BadgeAward.member_id == ann.id) == 3
    told = await count(games, Notice, Notice.kind == "badge_earned", Notice.member_id == ann.id)
    assert told == 2, "Ann's own first, then trio; none for what the second card had"
    # The streak keeps the better run: the second card's three days.
    (checkin, *_rest) = await program.streaks.view(ann.id)
    assert (checkin.current, checkin.best, checkin.done_now) == (3, 3, True)
    # The running boards add the two cards up: 90 points, ahead of Cara's 60.
    for period in ("week", "month"):
        standing = await program.boards.standing(ann.id, "points", period)
        assert [(place.member_id, place.score) for place in standing.top] == [
            (ann.id, 90),
            (cara.id, 60),
        ]
        assert standing.mine is not None and standing.mine.rank == 1
        assert standing.participants == 2
    assert await count(games, BoardScore, BoardScore.member_id == second.id) == 0
    # Ranks read from the counted tree agree: Cara is second now.
    caras = await program.boards.standing(cara.id, "points", "week")
    assert caras.mine is not None and caras.mine.rank == 2
    # The next check-in and purchase carry on from there.
    clock.advance(days=1)
    await program.streaks.check_in(ann.id)
    (checkin, *_rest) = await program.streaks.view(ann.id)
    assert (checkin.current, checkin.best) == (4, 4)
    await buy(games, ann, "100", "A2")
    week = await program.boards.standing(ann.id, "points", "week")
    assert week.mine is not None and week.mine.score == 100


async def test_a_refund_after_the_merge_comes_off_the_summed_score(
    games: Runtime, clock: StoppedClock
) -> None:
    program = games.program
    ann, second = await two_cards(games)
    await buy(games, ann, "400", "A1")
    await buy(games, second, "300", "B1")
    await merge(games)
    clock.advance(minutes=5)
    await program.purchases.refund("B1", refund_id="R1", actor="till")
    await program.bus.drain()
    week = await program.boards.standing(ann.id, "points", "week")
    assert [(place.member_id, place.score) for place in week.top] == [(ann.id, 40)]
    assert week.participants == 1
