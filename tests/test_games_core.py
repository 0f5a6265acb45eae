"""Badges, streaks and leaderboards in the core, on both backends: a streak freeze, two time
zones, a week streak, badges awarded once with progress, a tie broken by who reached the
score first, refunds, erasure, and the counted tree checked against a plain count."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from core.db.models import BadgeAward, Board, BoardNode, BoardScore, GameFact, Notice
from core.games.errors import BadgeExists, InvalidBadge, InvalidNickname
from core.games.events import QuestCompleted
from core.games.leaderboards import ranking
from core.games.leaderboards.boards import clean_nickname
from core.members.accounts import Profile
from tests.clocks import StoppedClock
from tests.data import count, enrol, registration

MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # 12:00 in Moscow, a Monday


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


async def buy(runtime: Runtime, member: Profile, amount: str, purchase_id: str) -> None:
    await runtime.program.purchases.credit(
        member.card_code, amount, purchase_id=purchase_id, actor="till"
    )
    await runtime.program.bus.drain()


BADGE_VISITS: dict[str, Any] = {
    "name": "regular",
    "title": {"en": "Regular", "ru": "Завсегдатай", "fa": "مشتری همیشگی"},
    "description": {"en": "Three visits", "ru": "Три визита", "fa": "سه بار خرید"},
    "emoji": "☕",
    "condition": {"kind": "visits", "count": 3},
}


# ---------------------------------------------------------------------------- streaks


async def test_check_in_once_a_day_and_a_freeze_forgives_one_missed_day(
    games: Runtime, clock: StoppedClock
) -> None:
    program = games.program
    await program.rules.update(actor="t", streak_freeze_every=7)
    ann = await enrol(games)
    first = await program.streaks.check_in(ann.id)
    again = await program.streaks.check_in(ann.id)
    assert first.new and not again.new
    assert await count(games, GameFact, GameFact.kind == "checkin") == 1
    for _ in range(3):
        clock.advance(days=1)
        await program.streaks.check_in(ann.id)
    (checkin, _visits) = await program.streaks.view(ann.id)
    assert (checkin.current, checkin.best) == (4, 4)
    clock.advance(days=2)  # a day missed: forgiven by the freeze
    assert (await program.streaks.view(ann.id))[0].current == 4
    await program.streaks.check_in(ann.id)
    assert (await program.streaks.view(ann.id))[0].current == 5
    clock.advance(days=2)  # another one within seven days: no second freeze
    assert (await program.streaks.view(ann.id))[0].current == 0
    await program.streaks.check_in(ann.id)
    view = (await program.streaks.view(ann.id))[0]
    assert (view.current, view.best) == (1, 5)


async def test_without_freezes_a_missed_day_breaks_the_streak(
    games: Runtime, clock: StoppedClock
) -> None:
    program = games.program
    await program.rules.update(actor="t", streak_freeze_every=0)
    ann = await enrol(games)
    await program.streaks.check_in(ann.id)
    clock.advance(days=1)
    await program.streaks.check_in(ann.id)
    clock.advance(days=2)
    await program.streaks.check_in(ann.id)
    view = (await program.streaks.view(ann.id))[0]
    assert (view.current, view.best) == (1, 2)


async def test_the_day_is_the_members_own_in_two_time_zones(
    games: Runtime, clock: StoppedClock
) -> None:
    program = games.program
    tehran = await enrol(games, "2001")
    await program.members.set_time_zone(tehran.id, "Asia/Tehran")  # UTC+3:30
    berlin = await enrol(games, "2002")
    await program.members.set_time_zone(berlin.id, "Europe/Berlin")  # UTC+1
    clock.set(2026, 11, 30, 20, 0)  # 23:30 in Tehran, 21:00 in Berlin
    assert (await program.streaks.check_in(tehran.id)).new
    assert (await program.streaks.check_in(berlin.id)).new
    clock.set(2026, 11, 30, 21, 0)  # 00:30 on 1 December in Tehran, 22:00 in Berlin
    tehran_again = await program.streaks.check_in(tehran.id)
    berlin_again = await program.streaks.check_in(berlin.id)
    assert tehran_again.new and str(tehran_again.day) == "2026-12-01"
    assert not berlin_again.new and str(berlin_again.day) == "2026-11-30"
    assert tehran_again.streaks[0].current == 2
    assert berlin_again.streaks[0].current == 1


async def test_a_week_streak_of_purchases(games: Runtime, clock: StoppedClock) -> None:
    program = games.program
    await program.rules.update(actor="t", streak_freeze_every=0)
    ann = await enrol(games)
    await buy(games, ann, "100", "W1")
    clock.advance(days=3)
    await buy(games, ann, "100", "W1b")  # the same week: no change
    clock.advance(days=5)  # next week's Tuesday
    await buy(games, ann, "100", "W2")
    clock.advance(days=13)  # the week after next: two weeks later, a week missed
    visits = next(v for v in await program.streaks.view(ann.id) if v.key == "visits")
    assert (visits.current, visits.best, visits.period) == (0, 2, "week")
    await buy(games, ann, "100", "W4")
    visits = next(v for v in await program.streaks.view(ann.id) if v.key == "visits")
    assert (visits.current, visits.best, visits.done_now) == (1, 2, True)


async def test_a_reminder_before_a_streak_breaks_respects_consent_and_quiet_hours(
    games: Runtime, clock: StoppedClock
) -> None:
    program = games.program
    await program.rules.update(actor="t", streak_reminder_hour=18)
    ann = await enrol(games)  # no offers: a marketing reminder is not for her
    bob = (await program.members.enrol(_opted_in("2002"))).member
    for member in (ann, bob):
        await program.streaks.check_in(member.id)
    clock.set(2026, 12, 1, 12, 0)  # 15:00 in Moscow the next day: not yet
    assert await program.streaks.remind_due() == 0
    clock.set(2026, 12, 1, 16, 0)  # 19:00 in Moscow
    assert await program.streaks.remind_due() == 2
    assert await program.streaks.remind_due() == 0, "once per period"
    clock.set(2026, 12, 1, 19, 30)  # 22:30 in Moscow
    await program.streaks.check_in(ann.id)
    await program.streaks.check_in(bob.id)
    clock.set(2026, 12, 2, 19, 30)  # the next evening, 22:30: quiet hours, no reminder
    assert await program.streaks.remind_due() == 0
    clock.set(2026, 12, 2, 20, 30)  # 23:30 in Moscow, but 00:00 tomorrow in Tehran
    await program.members.set_time_zone(bob.id, "Asia/Tehran")
    assert await program.streaks.remind_due() == 0
    async with games.db.sessions() as session:
        notices = list(
            await session.scalars(select(Notice).where(Notice.kind == "streak_reminder"))
        )
    assert {notice.member_id for notice in notices} == {ann.id, bob.id}
    assert all(notice.marketing for notice in notices)
    report = await games.dispatch_notices()
    async with games.db.sessions() as session:
        outcome = {
            row.member_id: (row.status, row.error)
            for row in await session.scalars(select(Notice).where(Notice.kind == "streak_reminder"))
        }
    assert outcome[ann.id] == ("skipped", "no_consent")
    assert report is not None


def _opted_in(external_id: str):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(registration(external_id), marketing_opt_in=True)


# ---------------------------------------------------------------------------- badges


async def test_badges_are_data_refused_when_wrong(games: Runtime) -> None:
    badges = games.program.badges
    await badges.create(BADGE_VISITS, actor="marketer")
    with pytest.raises(BadgeExists):
        await badges.create(BADGE_VISITS, actor="marketer")
    wrong: list[dict[str, Any]] = [
        {**BADGE_VISITS, "name": "x1", "condition": {"kind": "tier"}},
        {**BADGE_VISITS, "name": "x2", "condition": {"kind": "visits", "count": 0}},
        {**BADGE_VISITS, "name": "x3", "emoji": None},
        {**BADGE_VISITS, "name": "x4", "title": ""},
        {**BADGE_VISITS, "name": "x5", "condition": {"kind": "dance"}},
        {**BADGE_VISITS, "name": "x6", "emoji": "abc"},
        {**BADGE_VISITS, "name": "x7", "condition": {"kind": "first_purchase", "count": 3}},
    ]
    for definition in wrong:
        with pytest.raises(InvalidBadge):
            await badges.create(definition, actor="marketer")
    assert [badge.name for badge in await badges.all()] == ["regular"]


async def test_badges_are_awarded_once_with_progress_on_the_shelf(games: Runtime) -> None:
    program = games.program
    await program.badges.create(BADGE_VISITS, actor="m")
    await program.badges.create(
        {**BADGE_VISITS, "name": "first", "condition": {"kind": "first_purchase"}}, actor="m"
    )
    await program.badges.create(
        {**BADGE_VISITS, "name": "quester", "condition": {"kind": "quest", "quest_id": 7}},
        actor="m",
    )
    await program.badges.create(
        {**BADGE_VISITS, "name": "gift", "condition": {"kind": "award"}}, actor="m"
    )
    ann = await enrol(games)
    await buy(games, ann, "100", "P1")
    await buy(games, ann, "100", "P2")
    shelf = {item.badge.name: item for item in await program.badges.shelf(ann.id)}
    assert shelf["first"].earned_at is not None
    assert shelf["regular"].earned_at is None
    assert (shelf["regular"].progress.have, shelf["regular"].progress.need) == (2, 3)
    await buy(games, ann, "100", "P3")
    await buy(games, ann, "100", "P4")
    assert await program.badges.earned(ann.id) == ["first", "regular"]
    # A quest done (twice: a replayed event) gives its badge once; by name, once.
    for _ in range(2):
        async with games.db.transaction() as session:
            await program.bus.publish_in(
                session,
                QuestCompleted(
                    occurred_at=games.program.clock.now(), member_id=ann.id, quest_id=7,
                    period="once",
                ),
            )  # fmt: skip
            assert await program.badges.award(session, ann.id, "gift", "quest:7:once") in (
                True,
                False,
            )
    assert await program.badges.earned(ann.id) == ["first", "regular", "quester", "gift"]
    assert await count(games, BadgeAward) == 4
    assert await count(games, Notice, Notice.kind == "badge_earned") == 4


# ---------------------------------------------------------------------------- leaderboards


async def test_a_tie_goes_to_who_reached_the_score_first(
    games: Runtime, clock: StoppedClock
) -> None:
    program = games.program
    ann, bob, cat = [await enrol(games, str(n)) for n in (3001, 3002, 3003)]
    await buy(games, bob, "500", "B1")  # 50 points, first
    clock.advance(minutes=1)
    await buy(games, ann, "500", "A1")  # 50 points, later
    clock.advance(minutes=1)
    await buy(games, cat, "300", "C1")  # 30 points
    standing = await program.boards.standing(ann.id, "points", "week")
    assert [(p.member_id, p.score, p.rank) for p in standing.top] == [
        (bob.id, 50, 1),
        (ann.id, 50, 2),
        (cat.id, 30, 3),
    ]
    assert standing.mine is not None and standing.mine.rank == 2
    assert standing.participants == 3
    # A refund takes the purchase's points off its own period's board, at once.
    await program.purchases.refund("B1", refund_id="RF1", actor="till")
    await program.bus.drain()
    standing = await program.boards.standing(bob.id, "points", "week")
    assert [p.member_id for p in standing.top] == [ann.id, cat.id]
    assert standing.mine is None


async def test_game_payouts_never_count_and_erased_members_leave(games: Runtime) -> None:
    program = games.program
    ann = await enrol(games, "4001")
    bob = await enrol(games, "4002")
    await program.ledger.post(ann.id, 5000, reason="quest", actor="system", idempotency_key="q1")
    await buy(games, bob, "100", "B1")
    standing = await program.boards.standing(ann.id, "points", "month")
    assert [p.member_id for p in standing.top] == [bob.id]
    assert standing.mine is None
    await program.privacy.erase(bob.id)
    standing = await program.boards.standing(ann.id, "points", "month")
    assert standing.top == () and standing.participants == 0
    async with games.db.sessions() as session:
        assert list(await session.scalars(select(BoardNode).where(BoardNode.count != 0))) == []


async def test_the_counted_tree_ranks_as_a_plain_count_would(
    games: Runtime, clock: StoppedClock
) -> None:
    program = games.program
    rng = random.Random(5)
    members = [await enrol(games, str(5000 + n)) for n in range(25)]
    for number in range(60):
        member = rng.choice(members)
        clock.advance(seconds=rng.choice([0, 0, 1, 30]))
        await buy(games, member, str(rng.choice([100, 200, 500])), f"R{number}")
        if number % 9 == 8:
            await program.purchases.refund(f"R{number}", refund_id=f"F{number}", actor="till")
            await program.bus.drain()
    async with games.db.sessions() as session:
        board = await session.scalar(select(Board).where(Board.period == "week"))
        assert board is not None
        rows = (
            await session.execute(
                select(BoardScore.member_id, BoardScore.rank_key)
                .where(BoardScore.board_id == board.id)
                .order_by(BoardScore.rank_key, BoardScore.member_id)
            )
        ).all()
        for place, row in enumerate(rows, start=1):
            assert await program.boards.rank_in(session, board.id, row.member_id) == place
        assert await program.boards.participants_in(session, board.id) == len(rows)
        before = {
            (n.level, n.bucket): n.count
            for n in await session.scalars(
                select(BoardNode).where(BoardNode.board_id == board.id, BoardNode.count != 0)
            )
        }
    expected: dict[tuple[int, int], int] = {}
    for row in rows:
        for node in ranking.path(row.rank_key):
            expected[node] = expected.get(node, 0) + 1
    assert before == expected
    assert await program.boards.rebuild(board.key) == len(rows)
    async with games.db.sessions() as session:
        after = {
            (n.level, n.bucket): n.count
            for n in await session.scalars(select(BoardNode).where(BoardNode.board_id == board.id))
        }
    assert after == before


def test_rank_keys_order_by_score_then_time() -> None:
    start = datetime(2026, 11, 30, tzinfo=UTC)
    end = start + timedelta(days=7)
    high = ranking.rank_key(100, start + timedelta(hours=5), start, end)
    low_early = ranking.rank_key(99, start, start, end)
    same_later = ranking.rank_key(100, start + timedelta(hours=6), start, end)
    assert high < same_later < low_early
    rng = random.Random(1)
    # Keys that share long prefixes (as a board's do: close scores, close times) and not.
    base = ranking.rank_key(50, start, start, end)
    keys = sorted(
        {base + rng.randrange(1 << rng.choice([4, 12, 20, 40])) for _ in range(200)}
        | {rng.randrange(2**63) for _ in range(50)}
    )
    nodes: dict[tuple[int, int], int] = {}
    for key in keys:
        for node, change in ranking.moves(None, key).items():
            nodes[node] = nodes.get(node, 0) + change
    for index, key in enumerate(keys):
        counted = sum(
            nodes.get((level, bucket), 0)
            for level, first, last in ranking.siblings_ahead(key)
            for bucket in range(first, last + 1)
        )
        low, high = ranking.low_block(key)
        counted += sum(1 for other in keys if low <= other <= high)
        assert counted == index


@pytest.mark.parametrize(
    ("raw", "shown"),
    [("  Ann   Lee ", "Ann Lee"), ("Лиса_7", "Лиса_7"), ("مریم", "مریم"), ("Ａｎｎ", "Ann")],
)
def test_nicknames_are_cleaned(raw: str, shown: str) -> None:
    assert clean_nickname(raw) == shown


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("A", "empty"),
        ("x" * 21, "too_long"),
        ("visit t.me/spam", "link"),
        ("@admin", "link"),
        ("Ann\u202eeL", "characters"),
        ("<b>Ann</b>", "characters"),
    ],
)
def test_bad_nicknames_are_refused(raw: str, reason: str) -> None:
    with pytest.raises(InvalidNickname) as refused:
        clean_nickname(raw)
    assert refused.value.code == f"nickname_invalid_{reason}"


async def test_a_week_streak_is_reminded_on_its_sunday_only(
    games: Runtime, clock: StoppedClock
) -> None:
    program = games.program
    bob = (await program.members.enrol(_opted_in("2003"))).member
    await buy(games, bob, "100", "W1")  # Monday 30 November
    clock.set(2026, 12, 12, 16, 0)  # Saturday of the next week, 19:00 in Moscow
    assert await program.streaks.remind_due() == 0
    clock.set(2026, 12, 13, 16, 0)  # its Sunday: the week ends tonight
    assert await program.streaks.remind_due() == 1
    async with games.db.sessions() as session:
        notice = await session.scalar(select(Notice).where(Notice.kind == "streak_reminder"))
    assert notice is not None and '"period": "week"' in notice.payload
    assert '"action": "purchase"' in notice.payload and '"current": 1' in notice.payload


@pytest.mark.parametrize(
    ("language", "payload", "expected"),
    [
        (
            "en",
            {"action": "checkin", "period": "day", "current": 1},
            "🔥 Your check-in streak of 1 day ends at midnight. Check in today to keep it!",
        ),
        ("ru", {"action": "checkin", "period": "day", "current": 3}, "серия отметок (3 дня)"),
        ("ru", {"action": "purchase", "period": "week", "current": 5}, "серия покупок (5 недель)"),
        ("fa", {"action": "purchase", "period": "week", "current": 2}, "زنجیرهٔ خرید"),
    ],
)
def test_streak_reminders_read_well_in_every_language(
    language: str, payload: dict[str, Any], expected: str
) -> None:
    from handlers.render.i18n import Translator
    from handlers.render.notices import NoticeTexts

    (reply,) = NoticeTexts(Translator.load("en")).render("streak_reminder", payload, language)
    assert expected in reply.text


async def test_prune_boards_drops_empty_nodes_and_finished_trees_ranks_unchanged(
    games: Runtime, clock: StoppedClock
) -> None:
    program = games.program
    ann, bob = await enrol(games, "6001"), await enrol(games, "6002")
    for number in range(3):
        clock.advance(minutes=1)
        await buy(games, ann, "100", f"A{number}")
    await buy(games, bob, "150", "B1")
    zero = BoardNode.count == 0
    assert await count(games, BoardNode, zero) > 0, "moved scores leave empty nodes"
    report = await program.boards.prune()
    assert report.emptied_nodes > 0 and report.ended_board_nodes == 0
    assert await count(games, BoardNode, zero) == 0
    standing = await program.boards.standing(bob.id, "points", "week")
    assert [(p.member_id, p.rank) for p in standing.top] == [(ann.id, 1), (bob.id, 2)]
    clock.advance(days=50)  # both boards are over, plus a week
    report = await program.boards.prune()
    assert report.ended_board_nodes > 0
    assert await count(games, BoardNode) == 0
    assert await count(games, BoardScore) == 4, "the scores stay"
