"""Giveaways through the core, the operator's commands and the web: entries and tickets, the
close, a draw re-verified from its published transcript (over HTTP and from a file), tampered
transcripts failing, reserves stepping up, prizes granted once (also concurrently)."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from core.db.models import (
    Contest,
    ContestEntry,
    ContestTicket,
    ContestWinner,
    Coupon,
    LedgerEntry,
    Member,
    Notice,
)
from core.earning.events import PurchaseRecorded
from core.games.contests import draw as drawing
from core.games.contests.contests import pseudonym_of
from core.games.contests.errors import ContestNotFound, ContestRefused, InvalidContest
from core.games.events import QuestCompleted
from core.members.accounts import Profile
from core.offers.campaigns import CampaignSpec
from tests.clocks import TEST_DAY, StoppedClock
from tests.data import count, enrol, scalar
from tests.test_cli import cli_env

__all__ = ["cli_env"]

T0 = TEST_DAY
BEACON = "a1" * 32
OTHER_BEACON = "b2" * 32


def giveaway(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "slug": "winter",
        "title": {"en": "Winter giveaway", "ru": "Зимний розыгрыш", "fa": "قرعه‌کشی زمستانی"},
        "description": "Three gift baskets.",
        "starts_at": T0.isoformat(),
        "ends_at": (T0 + timedelta(days=1)).isoformat(),
        "draw_at": (T0 + timedelta(days=1, hours=1)).isoformat(),
        "winners": 2,
        "reserves": 2,
        "claim_hours": 48,
        "prize": {"points": 500},
        "tickets": {"join": 1, "per_purchase": 2},
    }
    spec.update(overrides)
    return spec


@pytest.fixture
async def clock() -> StoppedClock:
    return StoppedClock(T0 - timedelta(hours=1))


@pytest.fixture
async def shop(settings: Settings, clock: StoppedClock) -> AsyncIterator[Runtime]:
    built = build_runtime(settings, clock=clock)
    try:
        yield built
    finally:
        await built.close()


async def members(runtime: Runtime, n: int) -> list[Profile]:
    return [await enrol(runtime, str(5000 + i)) for i in range(n)]


async def drawn_giveaway(
    runtime: Runtime, clock: StoppedClock, n: int = 6, **overrides: Any
) -> tuple[int, list[Profile], dict[str, Any]]:
    """A giveaway with `n` members joined (some with purchase tickets), closed and drawn."""
    contests = runtime.program.contests
    created = await contests.create(giveaway(**overrides), actor="test")
    people = await members(runtime, n)
    clock.current = T0 + timedelta(hours=1)
    for person in people:
        await contests.join(created.id, person.id)
    await runtime.program.purchases.credit(
        people[0].card_code, "100", purchase_id="P-1", actor="till"
    )
    await runtime.program.bus.drain()
    clock.current = T0 + timedelta(days=1, minutes=1)
    await contests.close(created.id)
    clock.current = T0 + timedelta(days=1, hours=1, minutes=1)
    transcript = await contests.draw(created.id, BEACON)
    return created.id, people, transcript


# ---------------------------------------------------------------------------- the draw itself


def test_the_draw_is_a_deterministic_weighted_function_of_its_inputs() -> None:
    entries = [drawing.Entry(f"{i:04x}-0000-0000-0000", 1 + i % 3) for i in range(40)]
    seed = "11" * 32
    first = drawing.draw(seed, BEACON, entries, winners=3, reserves=2)
    assert first == drawing.draw(seed, BEACON, list(reversed(entries)), winners=3, reserves=2)
    assert len(set(first.winners + first.reserves)) == 5
    assert first != drawing.draw(seed, OTHER_BEACON, entries, winners=3, reserves=2)
    assert first != drawing.draw("22" * 32, BEACON, entries, winners=3, reserves=2)
    # An exclusion passes over that entry only: everyone else keeps their place in the order.
    skipped = drawing.draw(
        seed, BEACON, entries, winners=3, reserves=2, excluded=frozenset({first.winners[0]})
    )
    assert skipped.picks[: len(first.picks)] == first.picks
    assert skipped.winners == (*first.winners[1:], first.reserves[0])
    # Weighted: over many seeds, an entry with 3 tickets wins about 3 times as often.
    heavy = [drawing.Entry("a", 3), drawing.Entry("b", 1)]
    wins = sum(
        drawing.draw(f"{i:064x}", BEACON, heavy, winners=1, reserves=0).winners == ("a",)
        for i in range(400)
    )
    assert 260 < wins < 340


def test_drand_rounds_follow_the_chain_clock() -> None:
    genesis = drawing.DRAND_CHAINS["quicknet"]["genesis"]
    at = T0
    round_number = drawing.drand_round("quicknet", at)
    emitted = drawing.drand_round_time("quicknet", round_number)
    assert at.timestamp() <= emitted < at.timestamp() + 3
    assert drawing.drand_round_time("quicknet", 1) == genesis
    assert drawing.beacon_url("quicknet", 7).endswith("/public/7")


# ---------------------------------------------------------------------------- definition


async def test_a_giveaway_commits_to_its_seed_and_a_future_beacon_round(
    shop: Runtime, clock: StoppedClock
) -> None:
    created = await shop.program.contests.create(giveaway(), actor="test")
    row = await scalar(shop, select(Contest))
    assert created.seed_sha256 == drawing.commitment(row.seed) != row.seed
    assert created.beacon_round == drawing.drand_round("quicknet", T0 + timedelta(days=1, hours=1))
    assert created.state == "upcoming"
    with pytest.raises(InvalidContest, match="already exists"):
        await shop.program.contests.create(giveaway(), actor="test")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"slug": "Winter Sale"}, "slug"),
        ({"winners": 0}, "winners"),
        ({"ends_at": T0.isoformat()}, "ends_at must be after starts_at"),
        ({"draw_at": (T0 + timedelta(days=1)).isoformat()}, "draw_at"),
        ({"starts_at": "2026-11-24T10:00:00"}, "UTC offset"),
        ({"prize": {}}, "prize"),
        ({"tickets": {"join": 0}}, "no way to get a ticket"),
        ({"kind": "leaderboard"}, "a leaderboard contest needs points"),
        ({"metric": "points"}, "only a leaderboard contest"),
        (
            {"kind": "leaderboard", "metric": "points", "tickets": {"per_purchase": 1}},
            "not tickets",
        ),
        ({"colour": "red"}, "colour"),
        ({"title": {"english": "x"}}, "language code"),
    ],
)
async def test_a_bad_definition_is_refused_with_its_field(
    shop: Runtime, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidContest, match=message):
        await shop.program.contests.create(giveaway(**change), actor="test")
    assert await count(shop, Contest) == 0


async def test_a_draw_time_in_the_past_and_an_unknown_campaign_are_refused(
    shop: Runtime, clock: StoppedClock
) -> None:
    clock.current = T0 + timedelta(days=3)
    with pytest.raises(InvalidContest, match="future"):
        await shop.program.contests.create(giveaway(), actor="test")
    clock.current = T0
    from core.shared.errors import CampaignNotFound

    with pytest.raises(CampaignNotFound):
        await shop.program.contests.create(
            giveaway(prize={"coupon_campaign": "nope"}), actor="test"
        )


# ---------------------------------------------------------------------------- entries


async def test_joining_and_tickets_from_events_count_once(
    shop: Runtime, clock: StoppedClock
) -> None:
    contests = shop.program.contests
    created = await contests.create(
        giveaway(tickets={"join": 1, "per_purchase": 2, "per_friend": 3, "per_quest": 4}),
        actor="test",
    )
    ann, bob = await members(shop, 2)
    with pytest.raises(ContestRefused) as early:
        await contests.join(created.id, ann.id)
    assert early.value.code == "contest_not_open"
    clock.current = T0 + timedelta(hours=1)
    await shop.program.purchases.credit(bob.card_code, "10", purchase_id="B-1", actor="till")
    await shop.program.bus.drain()
    assert await contests.my_entry(created.id, bob.id) is None, "joining comes first"

    entry = await contests.join(created.id, ann.id)
    again = await contests.join(created.id, ann.id)
    assert (entry.tickets, again.tickets) == (1, 1)
    await shop.program.purchases.credit(ann.card_code, "10", purchase_id="A-1", actor="till")
    await shop.program.bus.drain()
    await shop.program.purchases.credit(ann.card_code, "10", purchase_id="A-1", actor="till")
    await shop.program.bus.drain()
    # The bus delivers at least once: the same event again (a replay) counts once.
    replayed = PurchaseRecorded(
        occurred_at=clock.now(),
        member_id=ann.id,
        purchase_id="A-1",
        amount=Decimal(10),
        points=1,
        store=None,
    )
    quest = QuestCompleted(occurred_at=clock.now(), member_id=ann.id, quest_id=7, period="once")
    for _ in range(2):
        async with shop.db.transaction() as session:
            await shop.program.bus.publish_in(session, replayed)
            await shop.program.bus.publish_in(session, quest)
    mine = await contests.my_entry(created.id, ann.id)
    assert mine is not None and mine.tickets == 1 + 2 + 4
    assert await count(shop, ContestTicket) == 2
    key = await contests.pseudonym_key()
    assert mine.pseudonym == pseudonym_of(key, created.id, ann.id)

    # After the end, events give nothing and joining is refused.
    clock.current = T0 + timedelta(days=1)
    await shop.program.purchases.credit(ann.card_code, "10", purchase_id="A-2", actor="till")
    await shop.program.bus.drain()
    assert (await contests.my_entry(created.id, ann.id)).tickets == 7  # type: ignore[union-attr]
    with pytest.raises(ContestRefused):
        await contests.join(created.id, bob.id)


async def test_close_freezes_pseudonyms_and_tickets_weighted_by_tier(
    shop: Runtime, clock: StoppedClock
) -> None:
    contests = shop.program.contests
    created = await contests.create(
        giveaway(tier_weights={"gold": 3}, tickets={"join": 2, "max_per_member": 5}),
        actor="test",
    )
    ann, bob = await members(shop, 2)
    clock.current = T0 + timedelta(hours=1)
    await contests.join(created.id, ann.id)
    await contests.join(created.id, bob.id)
    async with shop.db.transaction() as session:
        await session.execute(update(Member).where(Member.id == bob.id).values(tier="gold"))
    with pytest.raises(ContestRefused) as early:
        await contests.close(created.id)
    assert early.value.code == "contest_not_ended"
    clock.current = T0 + timedelta(days=1)
    closed = await contests.close(created.id)
    frozen = await contests.frozen_list(created.id)
    assert frozen is not None
    key = await contests.pseudonym_key()
    expected = sorted(
        [
            {"pseudonym": pseudonym_of(key, created.id, ann.id), "tickets": 2},
            {"pseudonym": pseudonym_of(key, created.id, bob.id), "tickets": 6},
        ],
        key=lambda line: str(line["pseudonym"]),
    )
    assert frozen == expected
    entries = [drawing.Entry(str(line["pseudonym"]), int(line["tickets"])) for line in frozen]
    assert closed.entries_sha256 == drawing.entries_sha256(entries)
    assert "Ann" not in json.dumps(frozen) and str(ann.id) not in {
        str(line["pseudonym"]) for line in frozen
    }
    with pytest.raises(ContestRefused) as twice:
        await contests.close(created.id)
    assert twice.value.code == "contest_already_closed"


async def test_closing_once_the_beacon_is_public_is_refused(
    shop: Runtime, clock: StoppedClock
) -> None:
    created = await shop.program.contests.create(giveaway(), actor="test")
    clock.current = T0 + timedelta(days=2)
    with pytest.raises(ContestRefused) as late:
        await shop.program.contests.close(created.id)
    assert late.value.code == "contest_too_late"


async def test_the_scheduled_job_closes_at_the_end(shop: Runtime, clock: StoppedClock) -> None:
    created = await shop.program.contests.create(giveaway(), actor="test")
    (ann,) = await members(shop, 1)
    clock.current = T0 + timedelta(hours=2)
    await shop.program.contests.join(created.id, ann.id)
    assert (await shop.program.contests.settle_due()).closed == 0
    clock.current = T0 + timedelta(days=1, seconds=30)
    assert (await shop.program.contests.settle_due()).closed == 1
    assert (await shop.program.contests.get(created.id)).state == "closed"


# ---------------------------------------------------------------------------- draw and verify


async def test_a_giveaway_drawn_and_verified_from_its_transcript(
    shop: Runtime, clock: StoppedClock
) -> None:
    contest_id, people, transcript = await drawn_giveaway(shop, clock)
    result = drawing.verify(transcript)
    assert result.verified, result.problems
    assert list(result.winners) == transcript["result"]["winners"]
    assert len(result.winners) == 2 and len(result.reserves) == 2
    assert transcript["reveal"]["seed"] == (await scalar(shop, select(Contest.seed)))
    assert transcript["reveal"]["beacon_source"] == "operator"
    # The published entry list names no member: pseudonyms and tickets only.
    text = json.dumps(transcript)
    for person in people:
        assert person.card_code not in text
    # Winners rows: two called with a deadline, two reserves on standby; notices written.
    statuses = await shop_statuses(shop, contest_id)
    assert statuses == ["awaiting", "awaiting", "standby", "standby"]
    assert await count(shop, Notice, Notice.kind == "contest_won") == 2
    # Drawing again with the same beacon answers the same; another beacon is refused.
    assert await shop.program.contests.draw(contest_id, BEACON) == transcript
    with pytest.raises(ContestRefused) as again:
        await shop.program.contests.draw(contest_id, OTHER_BEACON)
    assert again.value.code == "contest_already_drawn"


async def shop_statuses(runtime: Runtime, contest_id: int) -> list[str]:
    async with runtime.db.reading() as session:
        rows = await session.scalars(
            select(ContestWinner.status)
            .where(ContestWinner.contest_id == contest_id)
            .order_by(ContestWinner.position)
        )
        return list(rows)


def tampered(transcript: dict[str, Any], change: str) -> dict[str, Any]:
    changed = copy.deepcopy(transcript)
    if change == "entry":
        changed["entries"]["list"][0]["tickets"] += 1
    elif change == "seed":
        changed["reveal"]["seed"] = "00" * 32
    elif change == "winners":
        changed["result"]["winners"].reverse()
    return changed


@pytest.mark.parametrize(
    ("change", "mismatch"),
    [
        ("entry", "the entry list does not hash to the published hash"),
        ("seed", "the revealed seed does not hash to the commitment"),
        ("winners", "different winners"),
    ],
)
async def test_a_tampered_transcript_fails_verification(
    shop: Runtime, clock: StoppedClock, change: str, mismatch: str
) -> None:
    _contest_id, _people, transcript = await drawn_giveaway(shop, clock)
    result = drawing.verify(tampered(transcript, change))
    assert not result.verified
    assert any(problem.startswith(mismatch) for problem in result.problems), result.problems


async def test_the_transcript_over_http_and_verify_draw_from_the_url_and_a_file(
    shop: Runtime, clock: StoppedClock, workdir: Path
) -> None:
    contest_id, _people, transcript = await drawn_giveaway(shop, clock)
    async with TestClient(TestServer(shop.web_app, host="127.0.0.1")) as client:
        response = await client.get(f"/contests/{contest_id}/draw.json")
        assert response.status == 200
        assert response.content_type == "application/json"
        served = await response.json()
        assert served == transcript
        missing = await client.get("/contests/999/draw.json")
        assert missing.status == 404
        assert missing.content_type == "application/problem+json"
        assert (await missing.json())["code"] == "contest_not_found"
        page = await client.get(f"/contests/{contest_id}")
        assert page.status == 200 and "text/html" in page.content_type
        body = await page.text()
        assert transcript["commitment"]["seed_sha256"] in body
        assert transcript["entries"]["sha256"] in body
        unknown = await client.get("/contests/nope")
        assert unknown.status == 404
        assert (await unknown.json())["code"] == "contest_not_found"

        url = str(client.make_url(f"/contests/{contest_id}/draw.json"))
        # Drawn with a beacon given by hand (no drand signature): everything but the beacon
        # checks out, and the verdict says so.
        status, out = await verify_cli(url)
        assert status == 3, out
        assert out.strip().splitlines()[-1] == "BEACON NOT VERIFIED"
        assert f"winners: {', '.join(transcript['result']['winners'])}" in out

    path = workdir / "draw.json"
    path.write_text(json.dumps(transcript), encoding="utf-8")
    status, out = await verify_cli(str(path))
    assert status == 3 and out.strip().splitlines()[-1] == "BEACON NOT VERIFIED"

    path.write_text(json.dumps(tampered(transcript, "entry")), encoding="utf-8")
    status, out = await verify_cli(str(path))
    assert status == 1
    assert "MISMATCH: the entry list does not hash to the published hash" in out
    assert out.strip().endswith("NOT VERIFIED")

    path.write_text(json.dumps(tampered(transcript, "seed")), encoding="utf-8")
    status, out = await verify_cli(str(path))
    assert status == 1 and "does not hash to the commitment" in out


MAIN = Path(__file__).resolve().parent.parent / "main.py"


async def verify_cli(source: str) -> tuple[int, str]:
    """verify-draw as a member runs it: a process of its own, no database."""
    process = await asyncio.create_subprocess_exec(
        "python",
        str(MAIN),
        "verify-draw",
        source,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=_subprocess_env(),
    )
    out, _ = await process.communicate()
    return int(process.returncode or 0), out.decode()


def _subprocess_env() -> dict[str, str]:
    import os
    import sys

    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    # verify-draw opens no database: a URL that cannot work proves it.
    env["DATABASE_URL"] = "postgresql+asyncpg://nobody@127.0.0.1:1/none"
    return env


async def test_the_stand_alone_verifier_runs_with_python_alone(
    shop: Runtime, clock: StoppedClock, workdir: Path
) -> None:
    _contest_id, _people, transcript = await drawn_giveaway(shop, clock)
    path = workdir / "draw.json"
    path.write_text(json.dumps(transcript), encoding="utf-8")
    script = Path(drawing.__file__)
    process = await asyncio.create_subprocess_exec(
        "python3", "-I", str(script), str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    assert process.returncode == 3, out
    assert out.decode().strip().splitlines()[-1] == "BEACON NOT VERIFIED"


async def test_drawing_before_the_close_or_the_beacon_is_refused(
    shop: Runtime, clock: StoppedClock
) -> None:
    contests = shop.program.contests
    created = await contests.create(giveaway(), actor="test")
    with pytest.raises(ContestRefused) as open_:
        await contests.draw(created.id, BEACON)
    assert open_.value.code == "contest_not_closed"
    clock.current = T0 + timedelta(days=1, minutes=1)
    await contests.close(created.id)
    with pytest.raises(ContestRefused) as early:
        await contests.draw(created.id, BEACON)
    assert early.value.code == "contest_too_early"
    clock.current = T0 + timedelta(days=1, hours=2)
    with pytest.raises(ContestRefused) as bad:
        await contests.draw(created.id, "not hex")
    assert bad.value.code == "contest_bad_beacon"
    with pytest.raises(ContestNotFound):
        await contests.draw(999, BEACON)


# ---------------------------------------------------------------------------- winners


async def winner_ids(runtime: Runtime, contest_id: int) -> list[int]:
    async with runtime.db.reading() as session:
        rows = await session.scalars(
            select(ContestEntry.member_id)
            .join(ContestWinner, ContestWinner.entry_id == ContestEntry.id)
            .where(ContestWinner.contest_id == contest_id)
            .order_by(ContestWinner.position)
        )
        return [int(row) for row in rows if row is not None]


async def test_a_winner_who_became_ineligible_is_replaced_by_the_first_reserve(
    shop: Runtime, clock: StoppedClock
) -> None:
    contest_id, _people, _transcript = await drawn_giveaway(shop, clock)
    first, second, reserve, _last = await winner_ids(shop, contest_id)
    await shop.program.privacy.erase(first)
    settled = await shop.program.contests.settle_due()
    assert (settled.ineligible, settled.called) == (1, 1)
    assert await shop_statuses(shop, contest_id) == [
        "ineligible",
        "awaiting",
        "awaiting",
        "standby",
    ]
    notice = await scalar(
        shop, select(Notice).where(Notice.member_id == reserve, Notice.kind == "contest_won")
    )
    assert json.loads(notice.payload)["reserve"] is True
    claimed = await shop.program.contests.claim(contest_id, reserve)
    assert claimed.points == 500
    with pytest.raises(ContestRefused):
        await shop.program.contests.claim(contest_id, first)
    assert second in await winner_ids(shop, contest_id)


async def test_a_winner_in_debt_is_ineligible_at_the_claim(
    shop: Runtime, clock: StoppedClock
) -> None:
    contest_id, _people, _transcript = await drawn_giveaway(shop, clock)
    first, _second, reserve, _last = await winner_ids(shop, contest_id)
    async with shop.db.transaction() as session:
        await session.execute(update(Member).where(Member.id == first).values(debt=10))
    with pytest.raises(ContestRefused) as refused:
        await shop.program.contests.claim(contest_id, first)
    assert refused.value.code == "contest_ineligible"
    assert contest_id in await shop.program.contests.awaiting_for(reserve)


async def known_as_a_bot(runtime: Runtime, people: list[Profile], member_id: int) -> None:
    """The member's Telegram account writes, and Telegram says it is a bot."""
    from handlers.messages import Incoming

    index = next(i for i, person in enumerate(people) if person.id == member_id)
    await runtime.conversation.handle(Incoming("telegram", str(5000 + index), "hi", is_bot=True))


async def test_an_entrant_later_known_as_a_bot_is_passed_over_at_the_draw(
    shop: Runtime, clock: StoppedClock
) -> None:
    contests = shop.program.contests
    created = await contests.create(giveaway(winners=2, reserves=1), actor="test")
    people = await members(shop, 4)
    clock.current = T0 + timedelta(hours=1)
    for person in people:
        await contests.join(created.id, person.id)
    clock.current = T0 + timedelta(days=1, minutes=1)
    closed = await contests.close(created.id)
    # After the close, one entrant's account turns out to be a bot.
    robot = people[2]
    await known_as_a_bot(shop, people, robot.id)
    clock.current = T0 + timedelta(days=1, hours=1, minutes=1)
    transcript = await contests.draw(created.id, BEACON)
    key = await contests.pseudonym_key()
    robots = pseudonym_of(key, created.id, robot.id)
    assert transcript["excluded"] == [{"pseudonym": robots, "reason": "bot"}]
    chosen = transcript["result"]["winners"] + transcript["result"]["reserves"]
    assert robots not in chosen and len(chosen) == 3
    assert transcript["entries"]["sha256"] == closed.entries_sha256, "the list stays as frozen"
    assert drawing.verify(transcript).verified
    assert robot.id not in await winner_ids(shop, created.id)


async def test_a_winner_later_known_as_a_bot_is_replaced_by_the_first_reserve(
    shop: Runtime, clock: StoppedClock
) -> None:
    contest_id, people, _transcript = await drawn_giveaway(shop, clock)
    first, second, reserve, last = await winner_ids(shop, contest_id)
    await known_as_a_bot(shop, people, first)
    settled = await shop.program.contests.settle_due()
    assert (settled.ineligible, settled.called) == (1, 1)
    assert await shop_statuses(shop, contest_id) == [
        "ineligible",
        "awaiting",
        "awaiting",
        "standby",
    ]
    with pytest.raises(ContestRefused) as refused:
        await shop.program.contests.claim(contest_id, first)
    assert refused.value.code == "contest_not_a_winner"
    assert (await shop.program.contests.claim(contest_id, reserve)).points == 500
    # A reserve known as a bot by the time its turn comes is passed over as well.
    await known_as_a_bot(shop, people, last)
    clock.advance(hours=49)
    settled = await shop.program.contests.settle_due()
    assert (settled.expired, settled.called) == (1, 0)
    assert await shop_statuses(shop, contest_id) == [
        "ineligible",
        "expired",
        "claimed",
        "ineligible",
    ]
    assert second in await winner_ids(shop, contest_id)


async def test_a_winner_who_does_not_claim_in_time_is_replaced(
    shop: Runtime, clock: StoppedClock
) -> None:
    contest_id, _people, _transcript = await drawn_giveaway(shop, clock)
    first, second, reserve, _last = await winner_ids(shop, contest_id)
    await shop.program.contests.claim(contest_id, second)
    clock.advance(hours=47)
    assert (await shop.program.contests.settle_due()).expired == 0
    clock.advance(hours=2)
    settled = await shop.program.contests.settle_due()
    assert (settled.expired, settled.called) == (1, 1)
    assert await shop_statuses(shop, contest_id) == ["expired", "claimed", "awaiting", "standby"]
    with pytest.raises(ContestRefused) as late:
        await shop.program.contests.claim(contest_id, first)
    assert late.value.code == "contest_not_a_winner"
    await shop.program.contests.claim(contest_id, reserve)
    assert await count(shop, LedgerEntry, LedgerEntry.reason == "contest_prize") == 2


async def test_a_prize_is_granted_once_under_duplicate_claims(
    settings: Settings, shop: Runtime, clock: StoppedClock
) -> None:
    await shop.program.coupons.create_campaign(
        CampaignSpec(slug="basket", name="Gift basket", kind="free_item", item="Basket"),
        actor="test",
    )
    contest_id, _people, _transcript = await drawn_giveaway(
        shop, clock, prize={"points": 500, "coupon_campaign": "basket"}
    )
    first, *_ = await winner_ids(shop, contest_id)
    balance = (await shop.program.members.get(first)).balance
    # Several processes (runtimes with their own pools) press "Claim" at once.
    others = [build_runtime(settings, clock=clock) for _ in range(3)]
    try:
        results = await asyncio.gather(
            *(
                runtime.program.contests.claim(contest_id, first)
                for runtime in [shop, *others, shop]
            )
        )
    finally:
        for runtime in others:
            await runtime.close()
    assert sorted(result.replayed for result in results) == [False, True, True, True, True]
    assert len({result.coupon_code for result in results}) == 1
    assert (await shop.program.members.get(first)).balance == balance + 500
    assert (
        await count(
            shop,
            LedgerEntry,
            LedgerEntry.reason == "contest_prize",
            LedgerEntry.member_id == first,
        )
        == 1
    )
    assert await count(shop, Coupon, Coupon.member_id == first) == 1
    audit = await shop.program.ledger.audit(first)
    assert audit.consistent


async def test_merged_cards_count_once(shop: Runtime, clock: StoppedClock) -> None:
    contests = shop.program.contests
    created = await contests.create(giveaway(), actor="test")
    ann, bob, cara = await members(shop, 3)
    clock.current = T0 + timedelta(hours=1)
    for person in (ann, bob, cara):
        await contests.join(created.id, person.id)
    # Ann's second card (bob) is merged into hers before the close: one entry, 2 tickets.
    from core.members.accounts import IdentityKey

    code = await shop.program.linking.issue(ann.id)
    linked = await shop.program.linking.redeem(IdentityKey("telegram", "5001"), code.code)
    assert linked is not None
    survivor = ann.id
    entries = await count(shop, ContestEntry, ContestEntry.contest_id == created.id)
    assert entries == 2
    mine = await contests.my_entry(created.id, survivor)
    assert mine is not None and mine.tickets == 2
    clock.current = T0 + timedelta(days=1, minutes=1)
    closed = await contests.close(created.id)
    assert closed.entry_count == 2


# ---------------------------------------------------------------------------- the commands


async def test_the_operator_commands(
    cli_env: Settings, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime

    from tests.test_cli import run_cli

    now = datetime.now(UTC).replace(microsecond=0)
    spec = workdir / "contest.json"
    spec.write_text("{not json", encoding="utf-8")
    assert await run_cli("contest-create", "--file", str(spec)) == 1
    assert "Refused: " in capsys.readouterr().err
    spec.write_text(json.dumps(giveaway(winners=0)), encoding="utf-8")
    assert await run_cli("contest-create", "--file", str(spec)) == 1
    err = capsys.readouterr().err
    assert err.startswith("Refused: winners: ") and "Traceback" not in err
    assert await run_cli("contest-create", "--file", str(workdir / "missing.json")) == 1
    assert "Refused: cannot read" in capsys.readouterr().err

    # Created with a clock of two hours ago, so that its draw time has passed in real time.
    clock = StoppedClock(now - timedelta(hours=2))
    runtime = build_runtime(cli_env, clock=clock)
    try:
        created = await runtime.program.contests.create(
            giveaway(
                starts_at=(now - timedelta(hours=2)).isoformat(),
                ends_at=(now - timedelta(hours=1)).isoformat(),
                draw_at=(now - timedelta(minutes=30)).isoformat(),
                winners=1,
                reserves=1,
            ),
            actor="test",
        )
        people = [await enrol(runtime, str(7000 + i)) for i in range(3)]
        for person in people:
            await runtime.program.contests.join(created.id, person.id)
        clock.current = now - timedelta(minutes=50)
        await runtime.program.contests.close(created.id)
    finally:
        await runtime.close()

    spec.write_text(
        json.dumps(
            giveaway(
                slug="spring",
                starts_at=(now - timedelta(hours=1)).isoformat(),
                ends_at=(now + timedelta(hours=1)).isoformat(),
                draw_at=(now + timedelta(hours=2)).isoformat(),
            )
        ),
        encoding="utf-8",
    )
    assert await run_cli("contest-create", "--file", str(spec)) == 0
    out = capsys.readouterr().out
    assert "spring  [open]" in out and "commitment sha256(seed) " in out

    assert await run_cli("contest-close", "spring") == 1
    assert "Refused: contest: not_ended" in capsys.readouterr().err

    assert await run_cli("contest-list") == 0
    listed = capsys.readouterr().out
    assert "winter  [closed]" in listed and "entry list sha256 " in listed

    output = workdir / "draw.json"
    code = await run_cli("contest-draw", "winter", "--beacon", BEACON, "--output", str(output))
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(output.read_text(encoding="utf-8"))
    assert printed["reveal"]["beacon"] == BEACON and len(printed["result"]["winners"]) == 1
    # A beacon typed in is the operator's word: published without drand's signature.
    assert printed["reveal"]["beacon_signature"] is None
    assert printed["reveal"]["beacon_source"] == "operator"

    # The operator's word is not drand's: the beacon is left to the member to compare.
    assert await run_cli("verify-draw", str(output)) == 3
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == "BEACON NOT VERIFIED"
    url = drawing.beacon_url("quicknet", printed["commitment"]["beacon_round"])
    assert (
        "CHECK BY HAND: no drand signature of the beacon in the transcript: check it yourself: "
        f"{url} must show randomness {BEACON}"
    ) in out
    assert await run_cli("contest-draw", "nope", "--beacon", BEACON) == 1
    assert "Refused: no contest 'nope'" in capsys.readouterr().err

    assert await run_cli("jobs", "list") == 0
    assert "settle_contests" in capsys.readouterr().out
    assert await run_cli("jobs", "run", "settle_contests") == 0
    assert "closed 0" in capsys.readouterr().out


async def test_erased_and_merged_after_the_close_are_passed_over_and_the_list_verifies(
    shop: Runtime, clock: StoppedClock
) -> None:
    from core.members.accounts import IdentityKey

    contests = shop.program.contests
    created = await contests.create(giveaway(winners=3, reserves=0), actor="test")
    ann, bob, cara, dan = await members(shop, 4)
    clock.current = T0 + timedelta(hours=1)
    for person in (ann, bob, cara, dan):
        await contests.join(created.id, person.id)
    clock.current = T0 + timedelta(days=1, minutes=1)
    closed = await contests.close(created.id)
    key = await contests.pseudonym_key()
    # After the close: Cara erases her account, Bob's card is merged into Ann's.
    await shop.program.privacy.erase(cara.id)
    code = await shop.program.linking.issue(ann.id)
    await shop.program.linking.redeem(IdentityKey("telegram", "5001"), code.code)
    export = await shop.program.privacy.export(ann.id)
    assert export["contests"][0]["pseudonym"] == pseudonym_of(key, created.id, ann.id)

    clock.current = T0 + timedelta(days=1, hours=1, minutes=1)
    transcript = await contests.draw(created.id, BEACON)
    assert transcript["entries"]["sha256"] == closed.entries_sha256
    reasons = {line["pseudonym"]: line["reason"] for line in transcript["excluded"]}
    assert reasons[pseudonym_of(key, created.id, cara.id)] == "erased"
    merged = {pseudonym_of(key, created.id, ann.id), pseudonym_of(key, created.id, bob.id)}
    assert len(merged & set(reasons)) == 1 and "merged" in reasons.values()
    assert len(transcript["result"]["winners"]) == 2, "ann-or-bob and dan: two people left"
    assert drawing.verify(transcript).verified
    # Nothing in the database links the erased member to the frozen line any more.
    assert await count(shop, ContestEntry, ContestEntry.member_id == cara.id) == 0


async def test_a_claim_after_the_deadline_is_refused_and_calls_the_reserve(
    shop: Runtime, clock: StoppedClock
) -> None:
    contest_id, _people, _transcript = await drawn_giveaway(shop, clock)
    first, _second, reserve, _last = await winner_ids(shop, contest_id)
    clock.advance(hours=48)
    with pytest.raises(ContestRefused) as late:
        await shop.program.contests.claim(contest_id, first)
    assert late.value.code == "contest_claim_expired"
    assert await shop_statuses(shop, contest_id) == ["expired", "awaiting", "awaiting", "standby"]
    assert contest_id in await shop.program.contests.awaiting_for(reserve)
    assert await count(shop, LedgerEntry, LedgerEntry.reason == "contest_prize") == 0
