"""Points expire by lots: spending takes the soonest-expiring points first, entry by entry, so
a batch that expires takes only what is left of it; the jobs are idempotent and concurrent-safe.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from core.db.migrate import alembic_config
from core.db.models import LedgerEntry, LotAllocation, Notice, PointLot
from core.ledger.expiry import EXPIRY_REASON
from core.members.accounts import IdentityKey
from core.notices.outbox import NoticeKind
from tests.clocks import StoppedClock
from tests.data import count, registration

START = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
TTL_DAYS = 30


@pytest.fixture
def clock() -> StoppedClock:
    return StoppedClock(START)


@pytest.fixture
async def timed(settings: Settings, clock: StoppedClock) -> AsyncIterator[Runtime]:
    built = build_runtime(settings, clock=clock)
    await built.program.rules.update(actor="test", points_ttl_days=TTL_DAYS, earn_rate="1")
    try:
        yield built
    finally:
        await built.close()


async def lots_of(runtime: Runtime, member_id: int) -> list[tuple[int, int, datetime | None]]:
    async with runtime.db.sessions() as session:
        rows = await session.scalars(
            select(PointLot).where(PointLot.member_id == member_id).order_by(PointLot.id)
        )
        return [(lot.points, lot.remaining, lot.expires_at) for lot in rows]


async def reasons_of(runtime: Runtime, member_id: int) -> list[tuple[str, int]]:
    async with runtime.db.sessions() as session:
        rows = await session.scalars(
            select(LedgerEntry).where(LedgerEntry.member_id == member_id).order_by(LedgerEntry.id)
        )
        return [(row.reason, row.points) for row in rows]


async def join(runtime: Runtime, user: str = "1001") -> int:
    enrolment = await runtime.program.members.enrol(registration(user))
    return enrolment.member.id


async def assert_consistent(runtime: Runtime, member_id: int) -> None:
    audit = await runtime.program.ledger.audit(member_id)
    assert audit.consistent, audit


async def test_spending_across_batches_never_makes_the_balance_collapse(
    timed: Runtime, clock: StoppedClock
) -> None:
    program = timed.program
    ann = await join(timed)  # 100 welcome points, expiring on day 30
    card = (await program.members.get(ann)).card_code
    clock.advance(days=10)
    await program.purchases.credit(card, "50", purchase_id="p-1", actor="till")  # day 40
    clock.advance(days=5)
    await program.purchases.redeem(card, 120, redemption_id="r-1", actor="till")

    # The welcome lot (first to expire) paid 100, the purchase's lot 20.
    assert await lots_of(timed, ann) == [
        (100, 0, START + timedelta(days=30)),
        (50, 30, START + timedelta(days=40)),
    ]
    clock.current = START + timedelta(days=31)
    run = await program.expiry.expire_due()
    assert (run.members, run.points) == (0, 0)
    assert await program.ledger.balance(ann) == 30

    clock.current = START + timedelta(days=40, seconds=1)
    run = await program.expiry.expire_due()
    assert (run.members, run.points) == (1, 30)
    assert await program.ledger.balance(ann) == 0
    assert (await reasons_of(timed, ann))[-1] == (EXPIRY_REASON, -30)
    await assert_consistent(timed, ann)
    # Allocations tell which lot each spending entry took from, point by point.
    async with timed.db.sessions() as session:
        taken = sum(await session.scalars(select(LotAllocation.points)))
    assert taken == 150


async def test_the_expiry_job_is_idempotent_and_safe_in_two_processes(
    settings: Settings, timed: Runtime, clock: StoppedClock
) -> None:
    members = [await join(timed, str(2000 + n)) for n in range(5)]
    clock.advance(days=TTL_DAYS, seconds=1)
    other = build_runtime(settings, clock=clock)
    try:
        runs = await asyncio.gather(
            timed.program.expiry.expire_due(), other.program.expiry.expire_due()
        )
    finally:
        await other.close()

    assert sum(run.points for run in runs) == 5 * 100
    assert sum(run.members for run in runs) == 5
    assert (await timed.program.expiry.expire_due()).points == 0
    for member_id in members:
        assert await timed.program.ledger.balance(member_id) == 0
        assert (
            await count(
                timed,
                LedgerEntry,
                LedgerEntry.member_id == member_id,
                LedgerEntry.reason == "expiry",
            )
            == 1
        )
        await assert_consistent(timed, member_id)
    # One "your points expired" notice per member, however many runs.
    assert await count(timed, Notice, Notice.kind == str(NoticeKind.POINTS_EXPIRED)) == 5


async def test_a_refund_takes_back_its_own_purchases_points_not_the_oldest(
    timed: Runtime, clock: StoppedClock
) -> None:
    program = timed.program
    ann = await join(timed)
    card = (await program.members.get(ann)).card_code
    clock.advance(days=1)
    await program.purchases.credit(card, "40", purchase_id="p-1", actor="till")
    clock.advance(days=1)
    await program.purchases.credit(card, "60", purchase_id="p-2", actor="till")
    await program.purchases.redeem(card, 30, redemption_id="r-1", actor="till")

    result = await program.purchases.refund("p-2", refund_id="rf-1", actor="till")

    assert (result.points, result.taken, result.debt_added) == (60, 60, 0)
    # The welcome lot paid the redemption and keeps its 70; p-1's lot is untouched.
    assert [remaining for _, remaining, _ in await lots_of(timed, ann)] == [70, 40, 0]
    await assert_consistent(timed, ann)


async def test_a_refund_after_partial_spend_leaves_a_debt_that_new_lots_settle(
    timed: Runtime, clock: StoppedClock
) -> None:
    program = timed.program
    rules = await program.rules.update(actor="test", welcome_bonus=0)
    assert rules.welcome_bonus == 0
    ann = await join(timed)
    card = (await program.members.get(ann)).card_code
    await program.purchases.credit(card, "100", purchase_id="p-1", actor="till")
    await program.purchases.redeem(card, 70, redemption_id="r-1", actor="till")

    result = await program.purchases.refund("p-1", refund_id="rf-1", actor="till")
    assert (result.taken, result.debt_added, result.balance) == (30, 70, 0)

    clock.advance(days=2)
    await program.purchases.credit(card, "100", purchase_id="p-2", actor="till")
    assert await program.ledger.balance(ann) == 30
    # The settlement drew from the new lot, which keeps its own expiry for the rest.
    assert (await lots_of(timed, ann))[-1] == (100, 30, clock.now() + timedelta(days=TTL_DAYS))
    await assert_consistent(timed, ann)


async def test_a_merge_moves_points_with_their_expiry(timed: Runtime, clock: StoppedClock) -> None:
    program = timed.program
    older = await join(timed, "1001")
    clock.advance(days=5)
    newer = (
        await program.members.enrol(registration("+79990001122", channel="whatsapp"))
    ).member.id
    issued = await program.linking.issue(older)
    clock.advance(minutes=1)
    linked = await program.linking.redeem(IdentityKey("whatsapp", "+79990001122"), issued.code)

    assert linked.outcome == "merged"
    lots = [
        (points, remaining, expires) for points, remaining, expires in await lots_of(timed, older)
    ]
    assert lots == [
        (100, 100, START + timedelta(days=30)),
        (100, 100, START + timedelta(days=35)),
    ]
    assert await program.ledger.balance(newer) == 0
    clock.current = START + timedelta(days=30, seconds=1)
    assert (await program.expiry.expire_due()).points == 100
    assert await program.ledger.balance(older) == 100
    await assert_consistent(timed, older)


async def test_members_hear_once_before_their_points_expire(
    timed: Runtime, clock: StoppedClock
) -> None:
    program = timed.program
    ann = await join(timed)
    assert (await program.expiry.upcoming(ann)) is not None

    clock.advance(days=TTL_DAYS - 8)
    assert await program.reminders.remind_due() == 0  # more than 7 days ahead

    clock.advance(days=2)
    assert await program.reminders.remind_due() == 1
    assert await program.reminders.remind_due() == 0
    clock.advance(days=1)
    assert await program.reminders.remind_due() == 0

    async with timed.db.sessions() as session:
        [notice] = await session.scalars(select(Notice).where(Notice.member_id == ann))
    assert notice.kind == NoticeKind.POINTS_EXPIRING
    assert not notice.marketing
    assert '"points": 100' in notice.payload
    upcoming = await program.expiry.upcoming(ann)
    assert upcoming is not None
    assert (upcoming.points, upcoming.expires_at) == (100, START + timedelta(days=TTL_DAYS))


async def test_reminders_are_marketing_where_the_marketer_says_so(
    timed: Runtime, clock: StoppedClock
) -> None:
    program = timed.program
    await program.rules.update(
        actor="test", expiry_reminder_is_marketing=True, expiry_reminder_days=3
    )
    ann = await join(timed)
    clock.advance(days=TTL_DAYS - 2)
    assert await program.reminders.remind_due() == 1
    async with timed.db.sessions() as session:
        notice = await session.scalar(select(Notice).where(Notice.member_id == ann))
    assert notice is not None and notice.marketing


async def test_points_never_expire_without_a_ttl(settings: Settings, clock: StoppedClock) -> None:
    runtime = build_runtime(settings, clock=clock)
    try:
        ann = await join(runtime)
        clock.advance(days=3650)
        assert (await runtime.program.expiry.expire_due()).points == 0
        assert await runtime.program.expiry.upcoming(ann) is None
        assert await runtime.program.reminders.remind_due() == 0
        assert await runtime.program.ledger.balance(ann) == 100
    finally:
        await runtime.close()


async def test_a_bad_ttl_is_refused(timed: Runtime) -> None:
    with pytest.raises(ValueError, match="points_ttl_days"):
        await timed.program.rules.update(actor="test", points_ttl_days=-1)
    with pytest.raises(ValueError, match="points_ttl_days"):
        await timed.program.rules.update(actor="test", points_ttl_days="30")


def test_balances_from_before_lots_become_a_lot_that_never_expires(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    config = alembic_config(f"sqlite+aiosqlite:///{path}")
    command.upgrade(config, "0006")
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO members (id, card_code, language, phone_verified, marketing_opt_in,"
            " terms_accepted_at, balance, debt, created_at, updated_at)"
            " VALUES (1, 'C1', 'en', 0, 0, '2026-01-01', 70, 0, '2026-01-01', '2026-01-01')"
        )
        connection.executemany(
            "INSERT INTO ledger_entries (id, member_id, points, reason, actor, idempotency_key,"
            " balance_after, created_at) VALUES (?, 1, ?, ?, 'x', ?, ?, '2026-01-02')",
            [(1, 100, "welcome", "k1", 100), (2, -30, "redemption", "k2", 70)],
        )
    command.upgrade(config, "head")
    with sqlite3.connect(path) as connection:
        lots = connection.execute(
            "SELECT member_id, entry_id, points, remaining, expires_at FROM point_lots"
        ).fetchall()
    assert lots == [(1, 1, 70, 70, None)]
