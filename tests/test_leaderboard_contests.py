"""Leaderboard contests ("the top N of a period win") through the core, the operator's
commands and the web: members join, purchases move the live standings at once, a tie goes to
who reached the score first, the close freezes and hashes the standings and takes the winners
from their top, an ineligible winner is passed over for the first reserve, the transcript
verifies (and fails with one score changed), and game payouts never feed the ranking."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from core.db.models import Board, BoardScore, ContestEntry, ContestWinner, LedgerEntry, Notice
from core.games.contests import draw as drawing
from core.games.contests.errors import ContestRefused, InvalidContest
from core.games.events import QuestCompleted
from core.members.accounts import Profile
from tests.clocks import TEST_DAY, StoppedClock
from tests.data import count, enrol, scalar
from tests.test_cli import cli_env
from tests.test_contests import clock, shop

__all__ = ["cli_env", "clock", "shop"]

T0 = TEST_DAY


def leaderboard(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "slug": "top-buyers",
        "kind": "leaderboard",
        "metric": "points",
        "title": {"en": "Top buyers", "ru": "Лучшие покупатели", "fa": "بهترین خریداران"},
        "starts_at": T0.isoformat(),
        "ends_at": (T0 + timedelta(days=7)).isoformat(),
        "winners": 2,
        "reserves": 1,
        "claim_hours": 48,
        "prize": {"points": 300},
    }
    spec.update(overrides)
    return spec


async def members(runtime: Runtime, n: int) -> list[Profile]:
    return [await enrol(runtime, str(7000 + i)) for i in range(n)]


async def buy(runtime: Runtime, person: Profile, amount: str, purchase_id: str) -> int:
    credit = await runtime.program.purchases.credit(
        person.card_code, amount, purchase_id=purchase_id, actor="till"
    )
    await runtime.program.bus.drain()
    return credit.points


async def ranked(runtime: Runtime, contest_id: int, person: Profile) -> tuple[int, int] | None:
    standing = await runtime.program.contests.standings(contest_id, person.id)
    return None if standing.mine is None else (standing.mine.rank, standing.mine.score)


async def closed_contest(
    runtime: Runtime, clock: StoppedClock, **overrides: Any
) -> tuple[int, list[Profile], dict[str, Any]]:
    """Four members joined with 300, 200 (twice 100), 200 and 100 worth of purchases; the
    second reached 200 before the third. Closed by the scheduled job."""
    contests = runtime.program.contests
    created = await contests.create(leaderboard(**overrides), actor="test")
    people = await members(runtime, 5)
    clock.current = T0 + timedelta(hours=1)
    for person in people[:4]:
        await contests.join(created.id, person.id)
    await buy(runtime, people[0], "300", "A-1")
    clock.advance(minutes=1)
    await buy(runtime, people[1], "100", "B-1")
    clock.advance(minutes=1)
    await buy(runtime, people[1], "100", "B-2")
    clock.advance(minutes=1)
    await buy(runtime, people[2], "200", "C-1")
    clock.advance(minutes=1)
    await buy(runtime, people[3], "100", "D-1")
    # people[4] never joined: their purchases rank them nowhere.
    await buy(runtime, people[4], "900", "E-1")
    clock.current = T0 + timedelta(days=7, minutes=1)
    settled = await contests.settle_due()
    assert settled.closed == 1
    return created.id, people, await contests.transcript(created.id)


async def winner_ids(runtime: Runtime, contest_id: int) -> list[int]:
    async with runtime.db.sessions() as session:
        found = await session.execute(
            select(ContestEntry.member_id)
            .join(ContestWinner, ContestWinner.entry_id == ContestEntry.id)
            .where(ContestWinner.contest_id == contest_id)
            .order_by(ContestWinner.position)
        )
        return [int(row[0] or 0) for row in found.all()]


# ---------------------------------------------------------------------------- definition


async def test_a_leaderboard_contest_has_no_seed_and_no_beacon(
    shop: Runtime, clock: StoppedClock
) -> None:
    created = await shop.program.contests.create(leaderboard(), actor="test")
    assert (created.kind, created.metric, created.seed_sha256, created.beacon_round) == (
        "leaderboard",
        "points",
        "",
        0,
    )
    assert created.draw_at == created.ends_at
    with pytest.raises(InvalidContest) as late:
        await shop.program.contests.create(
            leaderboard(slug="late", draw_at=(T0 + timedelta(days=8)).isoformat()), actor="t"
        )
    assert "ranked at its close" in str(late.value)
    with pytest.raises(InvalidContest):
        await shop.program.contests.create(
            leaderboard(slug="w", tier_weights={"gold": 2}), actor="t"
        )


# ---------------------------------------------------------------------------- live ranking


async def test_joined_members_are_ranked_live_and_a_tie_goes_to_who_reached_it_first(
    shop: Runtime, clock: StoppedClock
) -> None:
    contests = shop.program.contests
    created = await contests.create(leaderboard(), actor="test")
    ann, bob, cid, dan = await members(shop, 4)
    clock.current = T0 + timedelta(hours=1)
    # Before joining, a purchase counts for nothing on the contest's board.
    await buy(shop, ann, "500", "EARLY")
    await contests.join(created.id, ann.id)
    await contests.join(created.id, ann.id)  # a second tap changes nothing
    await contests.join(created.id, bob.id)
    await contests.join(created.id, cid.id)
    assert await ranked(shop, created.id, ann) is None
    ann_points = await buy(shop, ann, "100", "ANN-1")
    assert ann_points > 0
    assert await ranked(shop, created.id, ann) == (1, ann_points)
    clock.advance(seconds=30)
    # Bob reaches the same score later: behind Ann.
    await buy(shop, bob, "100", "BOB-1")
    assert await ranked(shop, created.id, bob) == (2, ann_points)
    # A purchase moves Cid to the top at once.
    cid_points = await buy(shop, cid, "300", "CID-1")
    assert await ranked(shop, created.id, cid) == (1, cid_points)
    assert await ranked(shop, created.id, ann) == (2, ann_points)
    # Dan did not join: ranked nowhere, whatever he buys.
    await buy(shop, dan, "1000", "DAN-1")
    standing = await contests.standings(created.id, dan.id)
    assert standing.mine is None
    assert [place.member_id for place in standing.top] == [cid.id, ann.id, bob.id]
    assert standing.participants == 3
    # A refund of a purchase made in the window takes its points back from the board.
    await shop.program.purchases.refund("CID-1", refund_id="R-1", actor="till")
    await shop.program.bus.drain()
    assert await ranked(shop, created.id, cid) is None
    assert await ranked(shop, created.id, ann) == (1, ann_points)
    # Joining is refused once the contest is over.
    clock.current = T0 + timedelta(days=7)
    with pytest.raises(ContestRefused):
        await contests.join(created.id, dan.id)


async def test_game_payouts_never_feed_the_ranking(shop: Runtime, clock: StoppedClock) -> None:
    contests = shop.program.contests
    created = await contests.create(leaderboard(), actor="test")
    (ann,) = await members(shop, 1)
    clock.current = T0 + timedelta(hours=1)
    await contests.join(created.id, ann.id)
    bought = await buy(shop, ann, "100", "ANN-1")
    # A prize won in another contest: points posted by the contest, not a purchase.
    giveaway = await contests.create(
        {
            "slug": "gift",
            "title": "Gift",
            "starts_at": (T0 + timedelta(minutes=30)).isoformat(),
            "ends_at": (T0 + timedelta(hours=2)).isoformat(),
            "draw_at": (T0 + timedelta(hours=3)).isoformat(),
            "winners": 1,
            "prize": {"points": 5000},
        },
        actor="test",
    )
    await contests.join(giveaway.id, ann.id)
    clock.current = T0 + timedelta(hours=2, minutes=1)
    await contests.settle_due()
    clock.current = T0 + timedelta(hours=3, minutes=1)
    await contests.draw(giveaway.id, "d4" * 32)
    claimed = await contests.claim(giveaway.id, ann.id)
    assert claimed.points == 5000
    # A quest's reward: points the quest pays and its QuestCompleted (the "quests" metric).
    await shop.program.ledger.post(
        ann.id, 700, reason="quest_reward", actor="quest", idempotency_key="quest:1:once:ann"
    )
    async with shop.db.transaction() as session:
        await shop.program.bus.publish_in(
            session,
            QuestCompleted(occurred_at=clock.now(), member_id=ann.id, quest_id=1, period="once"),
        )
    assert await ranked(shop, created.id, ann) == (1, bought)
    assert (
        await scalar(shop, select(LedgerEntry.points).where(LedgerEntry.reason == "quest_reward"))
        == 700
    )


async def test_everyone_is_ranked_when_no_joining_is_needed(
    shop: Runtime, clock: StoppedClock
) -> None:
    contests = shop.program.contests
    created = await contests.create(
        leaderboard(metric="points", tickets={"requires_join": False}), actor="test"
    )
    assert not created.joinable
    ann, bob = await members(shop, 2)
    clock.current = T0 + timedelta(hours=1)
    with pytest.raises(ContestRefused) as refused:
        await contests.join(created.id, ann.id)
    assert refused.value.reason == "no_joining"
    await buy(shop, ann, "100", "ANN-1")
    await buy(shop, bob, "200", "BOB-1")
    standing = await contests.standings(created.id, ann.id)
    assert [place.member_id for place in standing.top] == [bob.id, ann.id]
    # The contest's board is a board of its own window, beside the week's and month's.
    board = await scalar(shop, select(Board).where(Board.key == f"contest:{created.id}"))
    assert (board.period, board.metric) == ("contest", "points")


async def test_the_quests_metric_counts_quests_completed_in_the_window(
    shop: Runtime, clock: StoppedClock
) -> None:
    contests = shop.program.contests
    created = await contests.create(leaderboard(metric="quests"), actor="test")
    (ann,) = await members(shop, 1)
    clock.current = T0 + timedelta(hours=1)
    await contests.join(created.id, ann.id)
    await buy(shop, ann, "100", "ANN-1")
    for quest in (1, 2, 2):  # a replayed event counts once
        async with shop.db.transaction() as session:
            await shop.program.bus.publish_in(
                session,
                QuestCompleted(
                    occurred_at=clock.now(), member_id=ann.id, quest_id=quest, period="once"
                ),
            )
    assert await ranked(shop, created.id, ann) == (1, 2)


# ---------------------------------------------------------------------------- the close


async def test_the_close_freezes_the_standings_and_the_top_win(
    shop: Runtime, clock: StoppedClock
) -> None:
    contest_id, people, transcript = await closed_contest(shop, clock)
    contest = await shop.program.contests.get(contest_id)
    assert contest.state == "drawn"
    assert transcript["format"] == drawing.STANDINGS_FORMAT
    assert "commitment" not in transcript and "reveal" not in transcript
    standings = transcript["standings"]
    assert standings["sha256"] == contest.entries_sha256
    scores = [line["score"] for line in standings["list"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 4
    # people[1] and people[2] tie on score: people[1] reached it first.
    frozen = await shop.program.contests.frozen_standings(contest_id)
    assert frozen[1].score == frozen[2].score and frozen[1].reached_at < frozen[2].reached_at
    assert await winner_ids(shop, contest_id) == [people[0].id, people[1].id, people[2].id]
    assert transcript["result"]["winners"] == [frozen[0].pseudonym, frozen[1].pseudonym]
    assert transcript["result"]["reserves"] == [frozen[2].pseudonym]
    # Winners are told, with the claim; the prize is granted once.
    assert await count(shop, Notice, Notice.kind == "contest_won") == 2
    assert await shop.program.contests.awaiting_for(people[0].id) == [contest_id]
    first = await shop.program.contests.claim(contest_id, people[0].id)
    again = await shop.program.contests.claim(contest_id, people[0].id)
    assert (first.points, first.replayed, again.replayed) == (300, False, True)
    assert await count(shop, LedgerEntry, LedgerEntry.reason == "contest_prize") == 1
    # Nothing moves the frozen board after the close.
    await buy(shop, people[3], "5000", "LATE")
    assert (await shop.program.contests.standings(contest_id, people[3].id)).mine is not None
    after = await shop.program.contests.standings(contest_id, people[3].id)
    assert after.mine is not None and after.mine.rank == 4
    # A week after the end the board's counted tree is pruned: the places are the frozen ones.
    clock.advance(days=8)
    assert (await shop.program.boards.prune()).ended_board_nodes > 0
    assert await ranked(shop, contest_id, people[1]) == (2, frozen[1].score)
    assert (await shop.program.contests.standings(contest_id, people[1].id)).participants == 4
    # contest-draw answers the same transcript (no beacon needed).
    assert await shop.program.contests.draw(contest_id, "") == transcript


async def test_an_ineligible_winner_is_passed_over_and_the_first_reserve_steps_up(
    shop: Runtime, clock: StoppedClock
) -> None:
    contests = shop.program.contests
    created = await contests.create(leaderboard(slug="two", reserves=2), actor="test")
    people = await members(shop, 4)
    clock.current = T0 + timedelta(hours=1)
    for index, person in enumerate(people):
        await contests.join(created.id, person.id)
        await buy(shop, person, str(400 - 100 * index), f"P-{index}")
    # The top member is erased before the close: passed over, listed as excluded.
    await shop.program.privacy.erase(people[0].id)
    clock.current = T0 + timedelta(days=7, minutes=1)
    await contests.settle_due()
    transcript = await contests.transcript(created.id)
    assert [line["reason"] for line in transcript["excluded"]] in ([], ["erased"])
    assert await winner_ids(shop, created.id) == [people[1].id, people[2].id, people[3].id]
    # A winner who becomes ineligible after the close: the first reserve steps up.
    await shop.program.privacy.erase(people[1].id)
    settled = await contests.settle_due()
    assert (settled.ineligible, settled.called) == (1, 1)
    assert await contests.awaiting_for(people[3].id) == [created.id]
    notice = await scalar(
        shop, select(Notice).where(Notice.member_id == people[3].id, Notice.kind == "contest_won")
    )
    assert json.loads(notice.payload)["reserve"] is True
    assert drawing.verify(transcript).verified


async def test_an_excluded_card_at_the_top_is_listed_and_passed_over(
    shop: Runtime, clock: StoppedClock
) -> None:
    contests = shop.program.contests
    people = await members(shop, 3)
    created = await contests.create(
        leaderboard(
            slug="staff", excluded_cards=[people[0].card_code], tickets={"requires_join": False}
        ),
        actor="test",
    )
    clock.current = T0 + timedelta(hours=1)
    # Everyone is ranked, the shop's own card too (it cannot join): it is passed over.
    for index, person in enumerate(people):
        await buy(shop, person, str(300 - 100 * index), f"S-{index}")
    clock.current = T0 + timedelta(days=7, minutes=1)
    await contests.settle_due()
    transcript = await contests.transcript(created.id)
    top = transcript["standings"]["list"][0]["pseudonym"]
    assert transcript["excluded"] == [{"pseudonym": top, "reason": "excluded_by_shop"}]
    assert await winner_ids(shop, created.id) == [people[1].id, people[2].id]
    assert drawing.verify(transcript).verified


# ---------------------------------------------------------------------------- verification


def changed(transcript: dict[str, Any], change: str) -> dict[str, Any]:
    copied = copy.deepcopy(transcript)
    lines = copied["standings"]["list"]
    if change == "score":
        lines[-1]["score"] += 1000
    elif change == "reached_at":
        lines[1]["reached_at"], lines[2]["reached_at"] = (
            lines[2]["reached_at"],
            lines[1]["reached_at"],
        )
    elif change == "winners":
        result = copied["result"]
        result["winners"][1], result["reserves"][0] = result["reserves"][0], result["winners"][1]
    elif change == "rehashed score":
        lines[-1]["score"] += 1000
        standings = [
            drawing.Standing(line["pseudonym"], line["score"], line["reached_at"]) for line in lines
        ]
        copied["standings"]["sha256"] = drawing.standings_sha256(standings)
    elif change == "exclusion":
        copied["excluded"] = [{"pseudonym": lines[0]["pseudonym"], "reason": "erased"}]
    return copied


async def test_the_transcript_verifies_and_a_changed_score_fails(
    shop: Runtime, clock: StoppedClock
) -> None:
    _contest_id, _people, transcript = await closed_contest(shop, clock)
    result = drawing.verify(transcript)
    assert result.verified, result.problems
    assert list(result.winners) == transcript["result"]["winners"]
    for change, problem in (
        ("score", "do not hash"),
        ("reached_at", "do not hash"),
        ("winners", "different winners"),
        ("rehashed score", "different winners"),
        ("exclusion", "different winners"),
    ):
        failed = drawing.verify(changed(transcript, change))
        assert not failed.verified, change
        assert any(problem in line for line in failed.problems), (change, failed.problems)


async def test_the_transcript_over_http_and_the_operator_commands(
    shop: Runtime, clock: StoppedClock, tmp_path: Any
) -> None:
    contest_id, _people, transcript = await closed_contest(shop, clock)
    async with TestClient(TestServer(shop.web_app, host="127.0.0.1")) as client:
        served = await client.get(f"/contests/{contest_id}/draw.json")
        assert served.status == 200
        assert await served.json() == transcript
        page = await client.get(f"/contests/{contest_id}")
        html = await page.text()
        assert page.status == 200
        assert 'id="standings"' in html and transcript["standings"]["sha256"] in html
        assert "sha256(seed)" not in html
    path = tmp_path / "draw.json"
    path.write_text(json.dumps(transcript), encoding="utf-8")
    from tests.test_contests import verify_cli

    code, out = await verify_cli(str(path))
    assert code == 0 and out.strip().endswith("VERIFIED"), out
    path.write_text(json.dumps(changed(transcript, "score")), encoding="utf-8")
    code, out = await verify_cli(str(path))
    assert code == 1 and "NOT VERIFIED" in out, out


async def test_the_operator_commands_for_a_leaderboard_contest(
    cli_env: Settings, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime

    from tests.test_cli import run_cli

    now = datetime.now(UTC).replace(microsecond=0)
    spec = workdir / "contest.json"
    spec.write_text(json.dumps(leaderboard(slug="bad", metric="likes")), encoding="utf-8")
    assert await run_cli("contest-create", "--file", str(spec)) == 1
    assert capsys.readouterr().err.startswith("Refused: metric: ")
    spec.write_text(
        json.dumps(
            leaderboard(
                starts_at=(now - timedelta(hours=2)).isoformat(),
                ends_at=(now + timedelta(hours=1)).isoformat(),
            )
        ),
        encoding="utf-8",
    )
    assert await run_cli("contest-create", "--file", str(spec)) == 0
    out = capsys.readouterr().out
    assert "top-buyers  [open]" in out and "leaderboard by points" in out
    assert "seed" not in out
    assert await run_cli("contest-draw", "top-buyers") == 1
    assert "Refused: contest: not_closed" in capsys.readouterr().err

    # The members' purchases on a clock of an hour ago; the close two hours later.
    clock = StoppedClock(now - timedelta(hours=1))
    runtime = build_runtime(cli_env, clock=clock)
    try:
        people = await members(runtime, 3)
        for index, person in enumerate(people):
            await runtime.program.contests.join(1, person.id)
            await buy(runtime, person, str(100 * (index + 1)), f"CLI-{index}")
        clock.current = now + timedelta(hours=1, minutes=1)
        assert (await runtime.program.contests.settle_due()).closed == 1
    finally:
        await runtime.close()

    assert await run_cli("contest-list") == 0
    assert "standings frozen: 3 lines, sha256 " in capsys.readouterr().out
    output = workdir / "standings.json"
    assert await run_cli("contest-draw", "top-buyers", "--output", str(output)) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(output.read_text(encoding="utf-8"))
    assert printed["format"] == "loyalty-standings/1" and len(printed["result"]["winners"]) == 2
    assert await run_cli("verify-draw", str(output)) == 0
    assert capsys.readouterr().out.strip().endswith("VERIFIED")


async def merge_second_card_into(shop: Runtime, ann: Profile, second_account: str) -> None:
    """The second card's account redeems a link code Ann asked for: the older card, Ann's,
    survives."""
    from core.members.accounts import IdentityKey

    code = await shop.program.linking.issue(ann.id)
    linked = await shop.program.linking.redeem(IdentityKey("telegram", second_account), code.code)
    assert linked.outcome == "merged" and linked.member.id == ann.id


@pytest.mark.parametrize("merged_at", ["while open", "after the end, before the close"])
async def test_merged_cards_stand_as_one_with_their_scores_added_up(
    shop: Runtime, clock: StoppedClock, merged_at: str
) -> None:
    contests = shop.program.contests
    created = await contests.create(leaderboard(slug="merged"), actor="test")
    ann, second, cara = await members(shop, 3)
    clock.current = T0 + timedelta(hours=1)
    for person in (ann, second, cara):
        await contests.join(created.id, person.id)
    await buy(shop, ann, "100", "M-1")  # 10 points on Ann's card
    clock.advance(minutes=1)
    await buy(shop, second, "300", "M-2")  # 30 on her second card
    clock.advance(minutes=1)
    await buy(shop, cara, "350", "M-3")  # 35: ahead of either card alone
    assert await ranked(shop, created.id, cara) == (1, 35)
    if merged_at == "while open":
        await merge_second_card_into(shop, ann, "7001")
        # Live at once: Ann's standing is the two cards' sum, reached with the later one.
        assert await ranked(shop, created.id, ann) == (1, 40)
        assert await ranked(shop, created.id, cara) == (2, 35)
        standing = await contests.standings(created.id, ann.id)
        assert [place.member_id for place in standing.top] == [ann.id, cara.id]
        assert standing.participants == 2
    clock.current = T0 + timedelta(days=7, minutes=1)
    if merged_at != "while open":
        await merge_second_card_into(shop, ann, "7001")
    await contests.settle_due()
    transcript = await contests.transcript(created.id)
    lines = transcript["standings"]["list"]
    assert [line["score"] for line in lines] == [40, 35], "one line for Ann's two cards"
    assert transcript["excluded"] == []
    assert transcript["result"]["winners"] == [lines[0]["pseudonym"], lines[1]["pseudonym"]]
    assert drawing.verify(transcript).verified
    assert await contests.awaiting_for(ann.id) == [created.id]
    claimed = await contests.claim(created.id, ann.id)
    assert claimed.points == 300


async def test_cards_merged_after_the_close_keep_the_frozen_standings(
    shop: Runtime, clock: StoppedClock
) -> None:
    """The standings were frozen and published: a later merge cannot add them up; the best
    of the member's two lines stands and the other is passed over."""
    contests = shop.program.contests
    created = await contests.create(leaderboard(slug="merged"), actor="test")
    ann, second, cara = await members(shop, 3)
    clock.current = T0 + timedelta(hours=1)
    for person in (ann, second, cara):
        await contests.join(created.id, person.id)
    await buy(shop, second, "300", "M-1")
    await buy(shop, cara, "200", "M-2")
    await buy(shop, ann, "100", "M-3")
    clock.current = T0 + timedelta(days=7, minutes=1)
    await contests.settle_due()
    await merge_second_card_into(shop, ann, "7001")
    lines = (await contests.transcript(created.id))["standings"]["list"]
    assert [line["score"] for line in lines] == [30, 20, 10]
    # Ann's own line stays where it was frozen (third, 10); the board was not added up.
    assert await ranked(shop, created.id, ann) == (3, 10)
    contest_board = await scalar(shop, select(Board.id).where(Board.key == f"contest:{created.id}"))
    assert await count(shop, BoardScore, BoardScore.board_id == contest_board) == 3
    # The second card's first place is hers to claim.
    assert await contests.awaiting_for(ann.id) == [created.id]
    assert (await contests.claim(created.id, ann.id)).points == 300


async def test_the_stand_alone_verifier_checks_standings_with_python_alone(
    shop: Runtime, clock: StoppedClock, tmp_path: Path
) -> None:
    import asyncio

    _contest_id, _people, transcript = await closed_contest(shop, clock)
    script = Path(drawing.__file__)
    for content, code, last in (
        (transcript, 0, "VERIFIED"),
        (changed(transcript, "score"), 1, "NOT VERIFIED"),
    ):
        path = tmp_path / "draw.json"
        path.write_text(json.dumps(content), encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            "python3", "-I", str(script), str(path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await process.communicate()
        assert process.returncode == code, out
        assert out.decode().strip().endswith(last)
        if code == 0:
            assert "winners: " + ", ".join(transcript["result"]["winners"]) in out.decode()
        else:
            # The changed score moves its line to the top: the recomputed winners differ.
            assert "MISMATCH: the standings do not hash to the published hash" in out.decode()
            assert "MISMATCH: different winners" in out.decode()


async def test_standings_of_a_giveaway_are_refused_and_texts_use_plurals(
    shop: Runtime, clock: StoppedClock
) -> None:
    created = await shop.program.contests.create(
        {
            "slug": "gift",
            "title": "Gift",
            "starts_at": T0.isoformat(),
            "ends_at": (T0 + timedelta(days=1)).isoformat(),
            "draw_at": (T0 + timedelta(days=1, hours=1)).isoformat(),
            "winners": 1,
            "prize": {"points": 10},
        },
        actor="test",
    )
    with pytest.raises(ContestRefused) as refused:
        await shop.program.contests.standings(created.id, None)
    assert refused.value.code == "contest_not_a_leaderboard"
    texts = shop.conversation.texts
    for count_, shown in ((1, "1 участник,"), (3, "3 участника,"), (5, "5 участников,")):
        frozen = texts.text("ru", "contest-standings-frozen", count=count_, hash="ab")
        assert shown in frozen
    assert "2 members," in texts.text("en", "contest-standings-frozen", count=2, hash="ab")
