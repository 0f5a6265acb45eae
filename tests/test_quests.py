"""Quests in the core, on both backends: progress from domain events (duplicates and late
ones counted once), refunds, ordered steps, audiences, the reward paid exactly once per
(member, quest, period) even under concurrency, daily periods in each member's time zone,
the member's data; and the operator commands as an operator runs them."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from core.db.models import LedgerEntry, Member, Notice, QuestCompletion, QuestProgress, QuestProof
from core.earning.events import PurchaseRecorded
from core.games.events import CheckedIn, QuestCompleted
from core.games.quests.definition import parse_definition
from core.games.quests.errors import InvalidQuest, QuestRefused
from core.members.events import ProfileChanged
from core.segments.errors import InvalidSegment
from core.shared.bus import DomainEvent
from tests.clocks import StoppedClock
from tests.data import count, enrol, scalar
from tests.test_cli import cli_env, run_cli

__all__ = ["cli_env"]

START = "2026-01-01T00:00:00+00:00"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "quest-coffee-week.json"


def quest_json(**overrides: Any) -> dict[str, Any]:
    quest: dict[str, Any] = {
        "slug": "coffee",
        "title": {"en": "Coffee week", "ru": "Кофейная неделя"},
        "starts": START,
        "steps": [{"kind": "purchase", "count": 2, "category": "coffee"}],
        "reward": {"points": 50},
    }
    quest.update(overrides)
    return quest


async def create(runtime: Runtime, **overrides: Any) -> int:
    info = await runtime.program.quests.create(
        parse_definition(quest_json(**overrides)), actor="marketer"
    )
    return info.id


async def publish(runtime: Runtime, event: DomainEvent) -> None:
    async with runtime.db.transaction() as session:
        await runtime.program.bus.publish_in(session, event)


async def quest_entries(runtime: Runtime) -> list[LedgerEntry]:
    async with runtime.db.sessions() as session:
        rows = await session.scalars(select(LedgerEntry).where(LedgerEntry.reason == "quest"))
        return list(rows)


async def test_purchases_count_once_whatever_comes_twice_or_late_and_a_refund_takes_back(
    runtime: Runtime,
) -> None:
    program = runtime.program
    quest = await create(runtime)
    ann = await enrol(runtime)
    await program.quests.join(ann.id, quest)
    # A purchase made now whose event will only arrive later.
    made_at = program.clock.now()

    async def credit(card: str, amount: str, **purchase: Any) -> None:
        """A purchase at the till, and the games having heard it."""
        await program.purchases.credit(card, amount, **purchase)
        await program.bus.drain()

    await credit(ann.card_code, "500", purchase_id="P1", actor="t", categories={"coffee": "300"})
    await credit(ann.card_code, "500", purchase_id="P1", actor="t", categories={"coffee": "300"})
    await credit(ann.card_code, "200", purchase_id="TEA", actor="t", categories={"tea": "200"})
    view = await program.quests.view(ann.id, quest)
    assert view.steps[0].done == 1, "a replayed purchase and one of another category count not"

    # The bus delivers at least once: the same event again counts nothing.
    again = PurchaseRecorded(
        occurred_at=program.clock.now(),
        member_id=ann.id,
        purchase_id="P1",
        amount=Decimal(500),
        points=5,
        store=None,
        categories={"coffee": Decimal(300)},
    )
    await publish(runtime, again)
    assert (await program.quests.view(ann.id, quest)).steps[0].done == 1

    # A refunded purchase no longer counts: it cannot complete the quest later.
    await program.purchases.refund("P1", refund_id="R1", actor="t")
    await program.bus.drain()
    assert (await program.quests.view(ann.id, quest)).steps[0].done == 0

    # A purchase whose event arrives late counts, once, in the period it was made in.
    late = PurchaseRecorded(
        occurred_at=made_at,
        member_id=ann.id,
        purchase_id="LATE",
        amount=Decimal(100),
        points=1,
        store=None,
        categories={"coffee": Decimal(100)},
    )
    await publish(runtime, late)
    await publish(runtime, late)
    assert (await program.quests.view(ann.id, quest)).steps[0].done == 1
    assert await count(runtime, QuestCompletion) == 0

    await credit(ann.card_code, "90", purchase_id="P2", actor="t", categories={"coffee": "90"})
    view = await program.quests.view(ann.id, quest)
    assert view.completed and view.steps[0].done == 2
    (entry,) = await quest_entries(runtime)
    assert (entry.points, entry.idempotency_key) == (50, f"quest:{quest}:{ann.id}:once")
    assert entry.reference == "Coffee week"

    await credit(ann.card_code, "90", purchase_id="P3", actor="t", categories={"coffee": "90"})
    await program.purchases.refund("P2", refund_id="R2", actor="t")
    await program.bus.drain()
    assert len(await quest_entries(runtime)) == 1, "paid once; a later refund keeps it paid"
    assert await count(runtime, Notice, Notice.kind == "quest_completed") == 1
    audit = await program.ledger.audit(ann.id)
    assert audit.consistent


async def test_a_spend_step_at_one_store_sums_amounts(runtime: Runtime) -> None:
    program = runtime.program
    quest = await create(
        runtime,
        steps=[{"kind": "purchase", "spend": "1000", "store": "Mall"}],
        reward={"points": 7},
    )
    ann = await enrol(runtime)
    await program.quests.join(ann.id, quest)
    await program.purchases.credit(ann.card_code, "600", purchase_id="A", actor="t", store="Mall")
    await program.bus.drain()
    await program.purchases.credit(ann.card_code, "900", purchase_id="B", actor="t", store="Park")
    await program.bus.drain()
    assert (await program.quests.view(ann.id, quest)).steps[0].done == Decimal(600)
    await program.purchases.credit(ann.card_code, "400", purchase_id="C", actor="t", store="Mall")
    await program.bus.drain()
    assert (await program.quests.view(ann.id, quest)).completed


async def test_only_what_happens_after_joining_counts(runtime: Runtime) -> None:
    program = runtime.program
    quest = await create(runtime, steps=[{"kind": "purchase", "count": 1}])
    ann = await enrol(runtime)
    await program.purchases.credit(ann.card_code, "100", purchase_id="BEFORE", actor="t")
    await program.bus.drain()
    view = await program.quests.view(ann.id, quest)
    assert not view.joined and view.steps[0].done == 0
    await program.quests.join(ann.id, quest)
    await program.purchases.credit(ann.card_code, "100", purchase_id="AFTER", actor="t")
    await program.bus.drain()
    assert (await program.quests.view(ann.id, quest)).completed


async def test_an_ordered_quest_counts_a_step_only_after_the_ones_before(runtime: Runtime) -> None:
    program = runtime.program
    await program.rules.update(actor="t", event_bonuses={"review": {"points": 0, "per_member": 0}})
    quest = await create(
        runtime,
        ordered=True,
        steps=[
            {"kind": "purchase", "count": 1},
            {"kind": "event", "event": "review"},
        ],
    )
    ann = await enrol(runtime)
    await program.quests.join(ann.id, quest)
    await program.events.emit(card_code=ann.card_code, kind="review", event_id="E1", actor="shop")
    view = await program.quests.view(ann.id, quest)
    assert [step.done for step in view.steps] == [0, 0] and view.steps[1].locked
    await program.purchases.credit(ann.card_code, "100", purchase_id="P", actor="t")
    await program.bus.drain()
    await program.events.emit(card_code=ann.card_code, kind="review", event_id="E2", actor="shop")
    assert (await program.quests.view(ann.id, quest)).completed


async def test_a_tier_quest_is_only_for_that_tier(runtime: Runtime) -> None:
    program = runtime.program
    await program.rules.update(
        actor="t", tiers=[{"key": "gold", "name": "Gold", "threshold": 1000}]
    )
    quest = await create(runtime, audience={"kind": "tier", "tiers": ["gold"]})
    ann = await enrol(runtime)
    assert await program.quests.available(ann.id) == []
    with pytest.raises(QuestRefused) as refused:
        await program.quests.join(ann.id, quest)
    assert refused.value.code == "quest_not_available"
    await program.purchases.credit(ann.card_code, "1500", purchase_id="BIG", actor="t")
    await program.bus.drain()
    assert [view.quest.id for view in await program.quests.available(ann.id)] == [quest]


async def test_a_member_keeps_a_tier_quest_they_took_part_in_after_losing_the_tier(
    runtime: Runtime,
) -> None:
    """Joined (or, in an automatic quest, counted once), a member keeps a tier's quest when
    the tier is lost: they see it and finish it. Nobody outside the tier takes part."""
    program = runtime.program
    await program.rules.update(
        actor="t", tiers=[{"key": "gold", "name": "Gold", "threshold": 1000}]
    )
    joined = await create(runtime, audience={"kind": "tier", "tiers": ["gold"]})
    automatic = await create(
        runtime,
        slug="gold-checkins",
        automatic=True,
        audience={"kind": "tier", "tiers": ["gold"]},
        steps=[{"kind": "checkin", "count": 2}],
    )
    ann, bob = await enrol(runtime, "1001"), await enrol(runtime, "1002")
    await program.purchases.credit(ann.card_code, "1500", purchase_id="BIG", actor="t")
    await program.bus.drain()
    await program.quests.join(ann.id, joined)
    now = program.clock.now()
    for member in (ann, bob):
        await publish(runtime, CheckedIn(occurred_at=now, member_id=member.id, day=now.date()))
    # The purchase that made Ann gold is returned: she drops to the base level at once.
    await program.purchases.refund("BIG", refund_id="R-BIG", actor="t")
    await program.bus.drain()
    assert await scalar(runtime, select(Member.tier).where(Member.id == ann.id)) is None
    assert [view.quest.id for view in await program.quests.available(ann.id)] == [
        joined,
        automatic,
    ]
    coffee = {"coffee": "100"}
    for number in range(2):
        await program.purchases.credit(
            ann.card_code, "100", purchase_id=f"C{number}", actor="t", categories=coffee
        )
        await program.bus.drain()
    tomorrow = now.date() + timedelta(days=1)
    await publish(runtime, CheckedIn(occurred_at=now, member_id=ann.id, day=tomorrow))
    assert {view.quest.id for view in await program.quests.available(ann.id)} == {
        joined,
        automatic,
    }
    assert all(view.completed for view in await program.quests.available(ann.id))
    assert await count(runtime, QuestCompletion, QuestCompletion.member_id == ann.id) == 2
    # Bob was never gold: his check-in counted nothing, and he cannot join.
    assert await count(runtime, QuestProgress, QuestProgress.member_id == bob.id) == 0
    assert await program.quests.available(bob.id) == []
    with pytest.raises(QuestRefused):
        await program.quests.join(bob.id, joined)


async def test_an_automatic_segments_quest_counts_only_its_members(runtime: Runtime) -> None:
    """An automatic quest has no join: the segment is asked when a happening would count,
    and a member counted once stays in."""
    program = runtime.program
    quest = await create(
        runtime,
        automatic=True,
        audience={"kind": "segment", "segment": {"tags": {"any": ["vip"]}}},
        steps=[{"kind": "checkin", "count": 2}],
        recurrence="once",
    )
    ann, bob = await enrol(runtime, "1001"), await enrol(runtime, "1002")
    await program.segments.tag(ann.id, "vip", actor="t")
    now = program.clock.now()
    for member in (ann, bob):
        await publish(runtime, CheckedIn(occurred_at=now, member_id=member.id, day=now.date()))
    assert await count(runtime, QuestProgress, QuestProgress.member_id == bob.id) == 0
    assert [view.quest.id for view in await program.quests.available(bob.id)] == []
    assert (await program.quests.view(ann.id, quest)).steps[0].done == 1
    await program.segments.untag(ann.id, "vip")
    tomorrow = now.date() + timedelta(days=1)
    await publish(runtime, CheckedIn(occurred_at=now, member_id=ann.id, day=tomorrow))
    assert await count(runtime, QuestCompletion, QuestCompletion.member_id == ann.id) == 1


async def test_a_joined_members_purchases_do_not_ask_the_segment(runtime: Runtime) -> None:
    """The segment is a query: asked when the member joins, never again for their purchases
    (they stay in), so a purchase costs a segment's quest nothing more than another quest."""
    from sqlalchemy import event

    program = runtime.program
    segment = {"bought": {"category": "coffee", "min": 1, "days": 30}}
    quest = await create(
        runtime,
        audience={"kind": "segment", "segment": segment},
        steps=[{"kind": "purchase", "count": 3}],
    )
    ann = await enrol(runtime)
    asked: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # The category condition, as either backend writes it.
        if "json_each(" in statement or "jsonb_exists(" in statement:
            asked.append(statement)

    event.listen(runtime.db.engine.sync_engine, "before_cursor_execute", record)
    try:
        with pytest.raises(QuestRefused):
            await program.quests.join(ann.id, quest)
        assert len(asked) == 1
        await program.purchases.credit(
            ann.card_code, "100", purchase_id="C1", actor="t", categories={"coffee": "100"}
        )
        await program.bus.drain()
        await program.quests.join(ann.id, quest)
        asked.clear()
        for number in range(3):
            await program.purchases.credit(
                ann.card_code, "100", purchase_id=f"P{number}", actor="t"
            )
            await program.bus.drain()
        assert asked == []
    finally:
        event.remove(runtime.db.engine.sync_engine, "before_cursor_execute", record)
    assert (await program.quests.view(ann.id, quest)).completed


async def test_an_ended_or_future_quest_is_not_offered(runtime: Runtime) -> None:
    program = runtime.program
    ended = await create(runtime, slug="ended")
    await create(runtime, slug="future", starts="2099-01-01T00:00:00+00:00")
    ann = await enrol(runtime)
    await program.quests.join(ann.id, ended)
    made_at = program.clock.now()
    await program.quests.end("ended", actor="marketer")
    assert await program.quests.available(ann.id) == []
    await program.purchases.credit(ann.card_code, "10", purchase_id="X", actor="t")
    await program.bus.drain()
    assert await count(runtime, QuestProgress) == 0
    # A purchase made before the end, whose event arrives after it, still counts.
    late = PurchaseRecorded(
        occurred_at=made_at,
        member_id=ann.id,
        purchase_id="BEFORE-END",
        amount=Decimal(10),
        points=0,
        store=None,
        categories={"coffee": Decimal(10)},
    )
    await publish(runtime, late)
    assert await count(runtime, QuestProgress) == 1


async def test_the_reward_is_paid_once_under_concurrent_purchases(runtime: Runtime) -> None:
    program = runtime.program
    quest = await create(runtime, steps=[{"kind": "purchase", "count": 1}])
    ann = await enrol(runtime)
    await program.quests.join(ann.id, quest)
    completed: list[QuestCompleted] = []

    async def heard(_session: Any, event: QuestCompleted) -> None:
        completed.append(event)

    program.bus.subscribe_in_transaction(QuestCompleted, heard)
    ids = [f"C{number}" for number in range(8)] + ["C0", "C1"]
    await asyncio.gather(
        *(program.purchases.credit(ann.card_code, "100", purchase_id=pid, actor="t") for pid in ids)
    )
    await program.bus.drain()
    assert len(await quest_entries(runtime)) == 1
    assert await count(runtime, QuestCompletion) == 1
    assert len(completed) == 1 and completed[0].period == "once"
    assert completed[0].badge is None
    assert (await program.ledger.audit(ann.id)).consistent


async def test_a_daily_quest_runs_on_each_members_own_day(settings: Settings) -> None:
    clock = StoppedClock(datetime(2026, 12, 1, 15, 0, tzinfo=UTC))
    runtime = build_runtime(settings, clock=clock)
    try:
        program = runtime.program
        quest = await create(
            runtime,
            slug="daily",
            recurrence="daily",
            steps=[{"kind": "checkin"}],
            reward={"points": 5, "badge": "early-bird"},
        )
        heard: list[QuestCompleted] = []

        async def hear(_session: Any, event: QuestCompleted) -> None:
            heard.append(event)

        program.bus.subscribe_in_transaction(QuestCompleted, hear)
        east = await enrol(runtime, "501")  # Vladivostok, UTC+10
        west = await enrol(runtime, "502")  # Kaliningrad, UTC+2
        await program.members.set_time_zone(east.id, "Asia/Vladivostok")
        await program.members.set_time_zone(west.id, "Europe/Kaliningrad")
        for member in (east, west):
            await program.quests.join(member.id, quest)

        async def check_in(member_id: int, zone: str) -> None:
            from zoneinfo import ZoneInfo

            day = clock.now().astimezone(ZoneInfo(zone)).date()
            await publish(runtime, CheckedIn(occurred_at=clock.now(), member_id=member_id, day=day))

        async def periods(member_id: int) -> list[str]:
            async with runtime.db.sessions() as session:
                rows = await session.scalars(
                    select(QuestCompletion.period)
                    .where(QuestCompletion.member_id == member_id)
                    .order_by(QuestCompletion.id)
                )
                return list(rows)

        # 15:00 UTC: already 2 December in Vladivostok, still 1 December in Kaliningrad.
        await check_in(east.id, "Asia/Vladivostok")
        await check_in(west.id, "Europe/Kaliningrad")
        assert await periods(east.id) == ["2026-12-02"]
        assert await periods(west.id) == ["2026-12-01"]
        # 22:30 UTC: Kaliningrad's new day has begun, Vladivostok's day goes on.
        clock.advance(hours=7, minutes=30)
        await check_in(east.id, "Asia/Vladivostok")
        await check_in(west.id, "Europe/Kaliningrad")
        assert await periods(east.id) == ["2026-12-02"]
        assert await periods(west.id) == ["2026-12-01", "2026-12-02"]
        assert len(await quest_entries(runtime)) == 3
        badges = await scalar(
            runtime, select(QuestCompletion.badge).where(QuestCompletion.member_id == east.id)
        )
        assert badges == "early-bird"
        # The badges context hears which badge to award.
        assert [(event.period, event.badge) for event in heard] == [
            ("2026-12-02", "early-bird"),
            ("2026-12-01", "early-bird"),
            ("2026-12-02", "early-bird"),
        ]
        view = await program.quests.view(west.id, quest)
        assert view.period == "2026-12-02" and view.completed
    finally:
        await runtime.close()


async def test_the_profile_step_from_profile_changes_and_from_joining(runtime: Runtime) -> None:
    program = runtime.program
    quest = await create(
        runtime,
        slug="profile",
        automatic=True,
        steps=[{"kind": "profile", "fields": ["phone", "marketing"]}],
        reward={"points": 30},
    )
    ann = await enrol(runtime)
    now = program.clock.now()
    await publish(
        runtime,
        ProfileChanged(
            occurred_at=now, member_id=ann.id, has_phone=True, has_birthday=False, marketing=False
        ),
    )
    assert await count(runtime, QuestCompletion) == 0
    await publish(
        runtime,
        ProfileChanged(
            occurred_at=now, member_id=ann.id, has_phone=True, has_birthday=False, marketing=True
        ),
    )
    view = await program.quests.view(ann.id, quest)
    assert view.completed and view.joined, "an automatic quest needs no joining"

    # Consent and a phone given while joining complete it at once.
    from core.members.accounts import IdentityKey, Registration

    bob = await program.members.enrol(
        Registration(
            identity=IdentityKey("whatsapp", "+15550001111"),
            language="en",
            accepted_terms=True,
            marketing_opt_in=True,
            phone="+15550001111",
            phone_verified=True,
        )
    )
    assert (await program.quests.view(bob.member.id, quest)).completed
    assert len(await quest_entries(runtime)) == 2


async def test_quiz_answers_ignore_case_and_spaces(runtime: Runtime) -> None:
    program = runtime.program
    quest = await create(
        runtime,
        steps=[
            {"kind": "quiz", "question": "Capital of France?", "answers": ["Paris"]},
            {"kind": "quiz", "question": "2+2?", "choices": ["3", "4"], "correct": 2},
        ],
    )
    ann = await enrol(runtime)
    with pytest.raises(QuestRefused):
        await program.quests.answer(ann.id, quest, 0, "paris")
    await program.quests.join(ann.id, quest)
    assert not (await program.quests.answer(ann.id, quest, 0, "London")).correct
    assert (await program.quests.answer(ann.id, quest, 0, "  p A r I s ")).step_done
    assert not (await program.quests.answer(ann.id, quest, 1, "1")).correct
    assert (await program.quests.answer(ann.id, quest, 1, "2")).quest_done
    with pytest.raises(QuestRefused) as done:
        await program.quests.answer(ann.id, quest, 1, "2")
    assert done.value.code == "quest_step_done"


async def test_proofs_are_in_the_export_and_their_text_goes_with_erasure(runtime: Runtime) -> None:
    program = runtime.program
    quest = await create(runtime, steps=[{"kind": "proof", "prompt": "Tell us a story"}])
    ann = await enrol(runtime)
    await program.quests.join(ann.id, quest)
    proof = await program.quests.submit_proof(ann.id, quest, 0, text="My secret story")
    with pytest.raises(QuestRefused):
        await program.quests.submit_proof(ann.id, quest, 0, text="again")
    exported = await program.privacy.export(ann.id)
    assert exported["quests"]["proofs"][0]["text"] == "My secret story"
    assert exported["quests"]["joined"][0]["quest"] == "coffee"
    await program.privacy.erase(ann.id)
    text = await scalar(runtime, select(QuestProof.text).where(QuestProof.id == proof))
    assert text is None
    assert await count(runtime, QuestProgress) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"starts": "2026-01-01T00:00:00"}, "starts: needs a time zone offset"),
        ({"steps": []}, "steps"),
        ({"steps": [{"kind": "purchase"}]}, "count) or money (spend): one"),
        ({"steps": [{"kind": "teleport"}]}, "steps[0]"),
        ({"steps": [{"kind": "quiz", "question": "?", "choices": ["a", "b"]}]}, "`correct`"),
        ({"steps": [{"kind": "channel", "chat": "shop"}]}, "not a Telegram channel"),
        ({"reward": {}}, "a reward gives points, a coupon or a badge"),
        (
            {"audience": {"kind": "segment", "segment": "vip"}},
            'audience.segment.segment: a segment is a JSON object, e.g. {"tier": "gold"}',
        ),
        (
            {"audience": {"kind": "segment", "segment": {"balance": {"min": 5, "max": 1}}}},
            "audience.segment.segment: balance: min is more than max",
        ),
        ({"recurrence": "hourly"}, "recurrence"),
        ({"slug": "Bad Slug"}, "slug"),
        ({"ends": "2025-01-01T00:00:00+00:00"}, "ends must be after starts"),
    ],
)
def test_a_bad_definition_is_refused_with_the_field_named(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidQuest) as refused:
        parse_definition(quest_json(**change))
    assert message in str(refused.value)


async def test_quest_commands_as_an_operator_runs_them(
    cli_env: Settings, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = EXAMPLE
    assert await run_cli("quest-create", "--file", str(example)) == 0
    out = capsys.readouterr().out
    assert "Quest 1 (coffee-week) created: 3 step(s), weekly" in out
    assert await run_cli("quest-create", "--file", str(example)) == 1
    assert "Refused: a quest 'coffee-week' exists already" in capsys.readouterr().err

    broken = workdir / "broken.json"
    broken.write_text('{"slug": "x", "title": "X"', encoding="utf-8")
    assert await run_cli("quest-create", "--file", str(broken)) == 1
    assert "Refused: not JSON" in capsys.readouterr().err
    bad = workdir / "bad.json"
    bad.write_text(json.dumps(quest_json(reward={})), encoding="utf-8")
    assert await run_cli("quest-create", "--file", str(bad)) == 1
    err = capsys.readouterr().err
    assert "Refused: reward: a reward gives points, a coupon or a badge" in err
    assert "Traceback" not in err
    assert await run_cli("quest-create", "--file", str(workdir / "missing.json")) == 1
    assert "Refused: cannot read" in capsys.readouterr().err

    assert await run_cli("quest-list") == 0
    listed = capsys.readouterr().out
    assert "1  coffee-week  [" in listed and "joined 0, completed 0" in listed
    assert await run_cli("quest-end", "coffee-week") == 0
    assert "Quest 1 (coffee-week) ended at" in capsys.readouterr().out
    assert await run_cli("quest-list") == 0
    assert "[ended]" in capsys.readouterr().out
    assert await run_cli("quest-end", "nope") == 1
    assert "Refused: no quest nope" in capsys.readouterr().err
    assert await run_cli("quest-review") == 0
    assert "No proofs are waiting for a review." in capsys.readouterr().out
    assert await run_cli("quest-review", "--approve", "7") == 1
    assert "Refused: no proof 7 waits for a review" in capsys.readouterr().err
    assert await run_cli("quest-review", "--reject", "7") == 2


async def test_a_coupon_reward_is_issued_once_and_announced(runtime: Runtime) -> None:
    from core.db.models import Coupon
    from core.offers.campaigns import CampaignSpec

    program = runtime.program
    await program.coupons.create_campaign(
        CampaignSpec(slug="free-cake", name="Free cake", kind="free_item", item="Cake"),
        actor="t",
    )
    quest = await create(
        runtime, steps=[{"kind": "purchase", "count": 1}], reward={"coupon": "free-cake"}
    )
    ann = await enrol(runtime)
    await program.quests.join(ann.id, quest)
    await program.purchases.credit(ann.card_code, "100", purchase_id="P", actor="t")
    await program.bus.drain()
    await program.purchases.credit(ann.card_code, "100", purchase_id="Q", actor="t")
    await program.bus.drain()
    assert await count(runtime, Coupon, Coupon.member_id == ann.id) == 1
    assert await count(runtime, Notice, Notice.kind == "coupon_received") == 1
    assert await quest_entries(runtime) == [], "no points in this reward"
    coupon = await scalar(runtime, select(QuestCompletion.coupon_id))
    assert coupon is not None


async def test_a_badge_reward_is_awarded_once_and_shown_on_the_shelf(settings: Settings) -> None:
    clock = StoppedClock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    runtime = build_runtime(settings, clock=clock)
    try:
        await _a_badge_reward_once(runtime, clock)
    finally:
        await runtime.close()


async def _a_badge_reward_once(runtime: Runtime, clock: StoppedClock) -> None:
    from core.db.models import BadgeAward

    program = runtime.program
    await program.badges.create(
        {
            "name": "coffee-lover",
            "title": {"en": "Coffee lover"},
            "description": {"en": "Finished the coffee week"},
            "emoji": "☕",
            "condition": {"kind": "award"},
        },
        actor="t",
    )
    quest = await create(
        runtime,
        recurrence="daily",
        steps=[{"kind": "purchase", "count": 1}],
        reward={"points": 10, "badge": "coffee-lover"},
    )
    ann = await enrol(runtime)
    await program.quests.join(ann.id, quest)
    await program.purchases.credit(ann.card_code, "100", purchase_id="P", actor="t")
    await program.bus.drain()
    await program.purchases.credit(ann.card_code, "100", purchase_id="P", actor="t")
    await program.bus.drain()
    assert await program.badges.earned(ann.id) == ["coffee-lover"]
    shelf = {item.badge.name: item for item in await program.badges.shelf(ann.id)}
    assert shelf["coffee-lover"].earned_at is not None
    # The next day's period pays its points again; a badge is had once.
    clock.advance(days=1)
    await program.purchases.credit(ann.card_code, "100", purchase_id="Q", actor="t")
    await program.bus.drain()
    assert len(await quest_entries(runtime)) == 2
    assert await count(runtime, BadgeAward, BadgeAward.member_id == ann.id) == 1
    assert await count(runtime, Notice, Notice.kind == "badge_earned") == 1


async def test_a_coupon_campaign_that_ran_out_does_not_undo_the_purchase(runtime: Runtime) -> None:
    program = runtime.program
    quest = await create(
        runtime,
        steps=[{"kind": "purchase", "count": 1}],
        reward={"points": 10, "coupon": "no-such-campaign"},
    )
    ann = await enrol(runtime)
    await program.quests.join(ann.id, quest)
    credit = await program.purchases.credit(ann.card_code, "100", purchase_id="P", actor="t")
    # The till is answered with the purchase's points; the quest pays right after.
    assert credit.balance == 100 + 10
    await program.bus.drain()
    assert (await program.members.get(ann.id)).balance == 100 + 10 + 10
    assert await count(runtime, QuestCompletion) == 1


def test_periods_are_the_members_local_day_and_iso_week() -> None:
    from zoneinfo import ZoneInfo

    from core.games.quests.periods import period_of

    sunday_night = datetime(2026, 12, 6, 22, 30, tzinfo=UTC)
    assert period_of("once", sunday_night, ZoneInfo("UTC")) == "once"
    assert period_of("weekly", sunday_night, ZoneInfo("Europe/London")) == "2026-W49"
    # Already Monday in Moscow: the next week.
    assert period_of("weekly", sunday_night, ZoneInfo("Europe/Moscow")) == "2026-W50"
    assert period_of("daily", sunday_night, ZoneInfo("Asia/Tehran")) == "2026-12-07"


async def test_quest_create_with_a_segment_audience(
    cli_env: Settings, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The example quest for a segment is created; a segment the segments refuse is refused
    with their own words, at the quest's field, exit 1 and no traceback."""
    example = EXAMPLE.with_name("quest-regulars-tasting.json")
    assert await run_cli("quest-create", "--file", str(example)) == 0
    assert "Quest 1 (regulars-tasting) created: 2 step(s)" in capsys.readouterr().out
    bad = workdir / "bad-segment.json"
    audience = {"kind": "segment", "segment": {"bought": {"min": 3, "days": 30}}}
    bad.write_text(json.dumps(quest_json(audience=audience)), encoding="utf-8")
    assert await run_cli("quest-create", "--file", str(bad)) == 1
    err = capsys.readouterr().err
    assert "Refused: audience.segment.segment: bought: give a category, a store or both" in err, err
    assert "Traceback" not in err
    assert await run_cli("quest-list") == 0
    assert "coffee" not in capsys.readouterr().out


async def test_quest_create_refuses_an_audience_naming_what_the_program_lacks(
    cli_env: Settings, runtime: Runtime, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A segment naming a tier, quest, badge or coupon campaign the program does not have
    would show the quest to nobody (or, "not redeemed", to everybody): quest-create refuses it
    as broadcast-create does (`invalid_segment`), naming each, exit 1, nothing stored; a tier
    audience naming no tier of the rules likewise (`invalid_quest`)."""
    await runtime.program.rules.update(
        actor="t", tiers=[{"key": "silver", "name": "Silver", "threshold": 1000}]
    )

    async def quest_create(slug: str, audience: dict[str, Any]) -> tuple[int, str, str]:
        path = workdir / f"{slug}.json"
        path.write_text(json.dumps(quest_json(slug=slug, audience=audience)), encoding="utf-8")
        code = await run_cli("quest-create", "--file", str(path))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    typos = {
        "tier": "gold",
        "quest": {"slug": "coffe-week"},
        "badge": "regullar",
        "coupon": {"campaign": "sprng", "redeemed": False},
    }
    code, _, err = await quest_create("typos", {"kind": "segment", "segment": typos})
    assert code == 1
    assert err.strip() == (
        "Refused: audience.segment: tier: no tier 'gold' in the rules (base, silver); "
        "quest: no quest 'coffe-week'; badge: no badge 'regullar'; coupon: no campaign 'sprng'"
    ), err
    code, _, err = await quest_create("tiers", {"kind": "tier", "tiers": ["silver", "glod"]})
    assert code == 1
    assert err.strip() == "Refused: audience.tiers: no tier 'glod' in the rules (tiers: silver)"
    assert await run_cli("quest-list") == 0
    assert "No quests yet" in capsys.readouterr().out

    # The stable codes, as an admin web would read them.
    with pytest.raises(InvalidSegment) as refused:
        await create(runtime, slug="core", audience={"kind": "segment", "segment": typos})
    assert refused.value.code == "invalid_segment"
    with pytest.raises(InvalidQuest) as wrong_tier:
        await create(runtime, slug="core", audience={"kind": "tier", "tiers": ["glod"]})
    assert wrong_tier.value.code == "invalid_quest"

    # Names the program has: created, and a later quest may name the first one.
    code, out, err = await quest_create("silvers", {"kind": "tier", "tiers": ["silver"]})
    assert (code, err) == (0, ""), err
    segment = {"tier": "base", "quest": {"slug": "silvers", "state": "joined"}}
    code, out, err = await quest_create("followers", {"kind": "segment", "segment": segment})
    assert (code, err) == (0, ""), err
    assert "(followers) created" in out
