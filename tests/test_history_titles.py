"""History names a quest's reward and a contest's prize by the marketer's title in the
member's own language (ru, fa; English where the marketer gave no other), on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from core.games.quests.definition import parse_definition
from core.members.accounts import IdentityKey, Profile, Registration
from handlers.messages import Incoming
from tests.clocks import TEST_DAY, StoppedClock

QUEST = {
    "slug": "coffee",
    "title": {"en": "Coffee week", "ru": "Кофейная неделя", "fa": "هفتهٔ قهوه"},
    "starts": (TEST_DAY - timedelta(days=1)).isoformat(),
    "steps": [{"kind": "purchase", "count": 1}],
    "reward": {"points": 50},
}
CONTEST = {
    "slug": "top-buyers",
    "kind": "leaderboard",
    "metric": "points",
    "title": {"en": "Top buyers", "ru": "Лучшие покупатели", "fa": "بهترین خریداران"},
    "starts_at": TEST_DAY.isoformat(),
    "ends_at": (TEST_DAY + timedelta(days=7)).isoformat(),
    "winners": 1,
    "reserves": 0,
    "claim_hours": 48,
    "prize": {"points": 300},
}


@pytest.fixture
def clock() -> StoppedClock:
    return StoppedClock(TEST_DAY + timedelta(hours=1))


@pytest.fixture
async def shop(settings: Settings, clock: StoppedClock) -> AsyncIterator[Runtime]:
    built = build_runtime(settings, clock=clock)
    try:
        yield built
    finally:
        await built.close()


async def member_speaking(runtime: Runtime, language: str) -> Profile:
    enrolment = await runtime.program.members.enrol(
        Registration(
            identity=IdentityKey("telegram", f"hist-{language}"),
            language=language,
            accepted_terms=True,
            marketing_opt_in=False,
        )
    )
    return enrolment.member


async def history_of(runtime: Runtime, language: str) -> list[str]:
    replies = await runtime.conversation.handle(
        Incoming("telegram", f"hist-{language}", action="menu:history")
    )
    (reply,) = replies
    return reply.text.splitlines()


@pytest.mark.parametrize(
    ("language", "quest_line", "prize_line"),
    [
        ("ru", "Награда за задание: Кофейная неделя", "Приз конкурса: Лучшие покупатели"),
        ("fa", "جایزهٔ مأموریت: هفتهٔ قهوه", "جایزهٔ مسابقه: بهترین خریداران"),
        ("en", "Quest reward: Coffee week", "Contest prize: Top buyers"),
    ],
)
async def test_history_names_quest_rewards_and_prizes_in_the_members_language(
    shop: Runtime, clock: StoppedClock, language: str, quest_line: str, prize_line: str
) -> None:
    program = shop.program
    quest = await program.quests.create(parse_definition(QUEST), actor="marketer")
    contest = await program.contests.create(CONTEST, actor="marketer")
    member = await member_speaking(shop, language)
    await program.quests.join(member.id, quest.id)
    await program.contests.join(contest.id, member.id)
    await program.purchases.credit(member.card_code, "500", purchase_id="P1", actor="till")
    await program.bus.drain()
    clock.current = TEST_DAY + timedelta(days=7, minutes=1)
    await program.contests.settle_due()
    await program.contests.claim(contest.id, member.id)

    lines = await history_of(shop, language)
    assert any(line.endswith(quest_line) for line in lines), lines
    assert any(line.endswith(prize_line) for line in lines), lines
    # Stored as it was: the English title and the slug stay the entries' references.
    page = await program.ledger.history(member.id)
    assert {entry.reference for entry in page.entries} >= {"Coffee week", "top-buyers"}
