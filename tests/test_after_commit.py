"""After-commit subscribers (the games): the publisher's transaction writes the event once,
its subscribers hear it after the commit in a transaction of their own, exactly once, even
when they fail, when the process dies before handling it, or when two processes try it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from core.db.database import Database
from core.db.models import Notice, PendingEvent
from core.earning.events import PurchaseRecorded
from core.jobs import job_runner
from core.notices.outbox import NoticeKind, enqueue_in
from core.shared.bus import HANDOFF_GRACE, DomainEvent, MessageBus
from tests.clocks import StoppedClock
from tests.data import enrol


@dataclass(frozen=True, kw_only=True)
class Probed(DomainEvent):
    member_id: int
    note: str


class Boom(Exception):
    pass


@pytest.fixture
def clock() -> StoppedClock:
    return StoppedClock()


@pytest.fixture
async def program_runtime(settings: Settings, clock: StoppedClock) -> AsyncIterator[Runtime]:
    built = build_runtime(settings, clock=clock)
    try:
        yield built
    finally:
        await built.close()


async def pending(runtime: Runtime) -> list[PendingEvent]:
    async with runtime.program.db.reading() as session:
        return list((await session.scalars(select(PendingEvent).order_by(PendingEvent.id))).all())


async def notices(runtime: Runtime, note: str) -> int:
    async with runtime.program.db.reading() as session:
        found = await session.scalar(
            select(func.count()).select_from(Notice).where(Notice.dedupe_key.like(f"{note}:%"))
        )
        return int(found or 0)


def probe(runtime: Runtime, member_id: int, note: str) -> Probed:
    return Probed(occurred_at=runtime.program.clock.now(), member_id=member_id, note=note)


async def announce_in(session: AsyncSession, event: Probed, key: str) -> None:
    await enqueue_in(
        session,
        member_id=event.member_id,
        kind=NoticeKind.POINTS_EARNED,
        payload={"points": 1, "balance": 1, "reason": "probe"},
        dedupe_key=f"{key}:{event.note}",
        now=event.occurred_at,
    )


async def test_they_run_after_the_commit_in_their_own_transaction_before_the_caller_goes_on(
    program_runtime: Runtime,
) -> None:
    runtime = program_runtime
    member = await enrol(runtime)
    bus = MessageBus(runtime.program.db, runtime.program.clock)
    heard: list[tuple[str, int]] = []

    async def publisher_wrote(session: AsyncSession, event: Probed) -> None:
        await announce_in(session, event, "publisher")

    async def game(session: AsyncSession, event: Probed) -> None:
        # What the publisher wrote is committed: another connection sees it.
        heard.append(("game", await notices(runtime, "publisher")))
        await announce_in(session, event, "game")

    async def second_game(session: AsyncSession, event: Probed) -> None:
        heard.append(("second", await notices(runtime, "game")))

    bus.subscribe_in_transaction(Probed, publisher_wrote)
    bus.subscribe_after_commit(Probed, game)
    bus.subscribe_after_commit(Probed, second_game)
    async with runtime.program.db.transaction() as session:
        await bus.publish_in(session, probe(runtime, member.id, "one"))
        assert heard == []
        (row,) = (await session.scalars(select(PendingEvent))).all()
        assert (row.kind, row.member_id) == ("Probed", member.id)

    # Both in one transaction, in registration order, before the caller's block went on.
    assert heard == [("game", 1), ("second", 0)]
    assert await notices(runtime, "game") == 1
    assert await pending(runtime) == []


async def test_a_rolled_back_publish_leaves_no_event_and_is_heard_by_nobody(
    program_runtime: Runtime,
) -> None:
    runtime = program_runtime
    member = await enrol(runtime)
    bus = MessageBus(runtime.program.db, runtime.program.clock)
    heard: list[Probed] = []

    async def game(session: AsyncSession, event: Probed) -> None:
        heard.append(event)

    bus.subscribe_after_commit(Probed, game)
    with pytest.raises(Boom):
        async with runtime.program.db.transaction() as session:
            await bus.publish_in(session, probe(runtime, member.id, "gone"))
            raise Boom

    assert heard == []
    assert await pending(runtime) == []
    assert await bus.deliver_pending() == 0


async def test_a_failing_subscriber_keeps_the_change_and_the_job_retries_it_once_due(
    program_runtime: Runtime, clock: StoppedClock
) -> None:
    runtime = program_runtime
    member = await enrol(runtime)
    bus = MessageBus(runtime.program.db, runtime.program.clock)
    attempts: list[str] = []

    async def publisher_wrote(session: AsyncSession, event: Probed) -> None:
        await announce_in(session, event, "publisher")

    async def flaky_game(session: AsyncSession, event: Probed) -> None:
        attempts.append(event.note)
        await announce_in(session, event, "game")
        if len(attempts) == 1:
            raise Boom("the first try fails")

    bus.subscribe_in_transaction(Probed, publisher_wrote)
    bus.subscribe_after_commit(Probed, flaky_game)
    async with runtime.program.db.transaction() as session:
        await bus.publish_in(session, probe(runtime, member.id, "flaky"))

    # The publisher's change stands; the game's half-done work was rolled back.
    assert (await notices(runtime, "publisher"), await notices(runtime, "game")) == (1, 0)
    (row,) = await pending(runtime)
    assert (row.attempts, row.error) == (1, "Boom")
    assert await bus.deliver_pending() == 0  # not due yet: a backoff after a failure

    clock.advance(row.due_at - clock.now())
    assert await bus.deliver_pending() == 1
    assert await bus.deliver_pending() == 0
    assert attempts == ["flaky", "flaky"]
    assert await notices(runtime, "game") == 1
    assert await pending(runtime) == []


async def test_an_event_a_dead_process_left_is_handled_once_by_the_job_even_from_two_places(
    settings: Settings, program_runtime: Runtime, clock: StoppedClock
) -> None:
    runtime = program_runtime
    other_process = build_runtime(settings, clock=clock)
    member = await enrol(runtime)
    heard: list[str] = []

    def bus_of(where: Runtime, name: str) -> MessageBus:
        bus = MessageBus(where.program.db, where.program.clock)

        async def game(session: AsyncSession, event: Probed) -> None:
            heard.append(name)
            await announce_in(session, event, "game")

        bus.subscribe_after_commit(Probed, game)
        return bus

    here, there = bus_of(runtime, "here"), bus_of(other_process, "there")
    try:
        # Committed, then the process dies before its after-commit work: a transaction
        # outside `Database.transaction`, which runs none.
        async with runtime.program.db.sessions() as session, session.begin():
            await here.publish_in(session, probe(runtime, member.id, "orphan"))
        assert len(await pending(runtime)) == 1

        assert await there.deliver_pending() == 0  # the grace period of its own process
        clock.advance(HANDOFF_GRACE)
        handled = await asyncio.gather(here.deliver_pending(), there.deliver_pending())
        assert sorted(handled) == [0, 1]
        assert len(heard) == 1
        assert await notices(runtime, "game") == 1
        assert await pending(runtime) == []
    finally:
        await other_process.close()


async def test_a_purchase_answers_the_till_first_and_the_games_hear_it_once(
    program_runtime: Runtime, clock: StoppedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = program_runtime
    program = runtime.program
    member = await enrol(runtime)

    credit = await program.purchases.credit(member.card_code, "500", purchase_id="P1", actor="t")
    await program.bus.drain()
    assert credit.points == 50
    standing = await program.boards.standing(member.id, "points", "week")
    assert standing.mine is not None and standing.mine.score == 50
    assert await pending(runtime) == []

    # The process dies after the commit, before its worker took the event: the job does it.
    monkeypatch.setattr(program.bus, "_enqueue", lambda row_id, event: None)
    await program.purchases.credit(member.card_code, "100", purchase_id="P2", actor="t")
    assert [row.kind for row in await pending(runtime)] == [PurchaseRecorded.__name__]
    standing = await program.boards.standing(member.id, "points", "week")
    assert standing.mine is not None and standing.mine.score == 50

    jobs = job_runner(program)
    clock.advance(HANDOFF_GRACE + timedelta(seconds=1))
    outcome = await jobs.run("deliver_events")
    assert outcome.result == "ok: 1"
    standing = await program.boards.standing(member.id, "points", "week")
    assert standing.mine is not None and standing.mine.score == 60
    assert await pending(runtime) == []
    # A replayed purchase publishes nothing new; nothing counts twice.
    await program.purchases.credit(member.card_code, "100", purchase_id="P2", actor="t")
    clock.advance(minutes=2)
    assert (await jobs.run("deliver_events")).result == "ok: 0"
    standing = await program.boards.standing(member.id, "points", "week")
    assert standing.mine is not None and standing.mine.score == 60


def test_after_commit_subscribers_need_a_database_and_distinct_event_names() -> None:
    with pytest.raises(RuntimeError):
        MessageBus().subscribe_after_commit(Probed, _ignore)

    class Other(DomainEvent):
        pass

    Other.__name__ = "Probed"
    bus = MessageBus(Database.from_url("sqlite+aiosqlite://"))
    bus.subscribe_after_commit(Probed, _ignore)
    with pytest.raises(ValueError):
        bus.subscribe_after_commit(Other, _ignore)


async def _ignore(session: AsyncSession, event: DomainEvent) -> None:
    return None
