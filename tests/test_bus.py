"""The domain events bus: in-transaction subscribers run in order, atomically with the change
that published, and a rolled-back publish leaves nothing to deliver."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.runtime import Runtime
from core.db.models import LedgerEntry, Notice, Purchase
from core.earning.events import PurchaseRecorded
from core.notices import announcements
from core.notices.outbox import NoticeKind, Notices, enqueue_in
from core.shared.bus import DomainEvent, MessageBus
from tests.data import enrol


@dataclass(frozen=True, kw_only=True)
class Probed(DomainEvent):
    member_id: int


class Boom(Exception):
    pass


async def count(runtime: Runtime, model: type) -> int:
    async with runtime.program.db.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_in_transaction_subscribers_run_in_registration_order(runtime: Runtime) -> None:
    bus = MessageBus()
    heard: list[str] = []

    def recorder(name: str):  # type: ignore[no-untyped-def]
        async def handle(session: AsyncSession, event: Probed) -> None:
            assert session.in_transaction()
            heard.append(f"{name}:{event.member_id}")

        return handle

    for name in ("first", "second", "third"):
        bus.subscribe_in_transaction(Probed, recorder(name))
    async with runtime.program.db.transaction() as session:
        await bus.publish_in(session, Probed(occurred_at=runtime.program.clock.now(), member_id=7))

    assert heard == ["first:7", "second:7", "third:7"]


async def test_an_event_nobody_subscribed_to_is_published_to_nobody(runtime: Runtime) -> None:
    bus = MessageBus()
    async with runtime.program.db.transaction() as session:
        await bus.publish_in(session, Probed(occurred_at=runtime.program.clock.now(), member_id=1))

    assert bus.subscribers(Probed) == ()


async def test_a_raising_subscriber_rolls_back_the_whole_change(runtime: Runtime) -> None:
    program = runtime.program
    member = await enrol(runtime)
    before = (await count(runtime, LedgerEntry), await count(runtime, Notice))

    async def refuse(session: AsyncSession, event: PurchaseRecorded) -> None:
        raise Boom(event.purchase_id)

    program.bus.subscribe_in_transaction(PurchaseRecorded, refuse)

    with pytest.raises(Boom):
        await program.purchases.credit(member.card_code, "1000", purchase_id="R-BOOM", actor="op")

    # The purchase, its points and the notice the subscribers before it wrote: all gone.
    assert await count(runtime, Purchase) == 0
    assert (await count(runtime, LedgerEntry), await count(runtime, Notice)) == before
    assert (await program.members.get(member.id)).balance == member.balance


async def test_nothing_is_delivered_for_a_rolled_back_publish(runtime: Runtime) -> None:
    program = runtime.program
    member = await enrol(runtime)
    bus = MessageBus()

    async def announce(session: AsyncSession, event: Probed) -> None:
        await enqueue_in(
            session,
            member_id=event.member_id,
            kind=NoticeKind.POINTS_EARNED,
            payload={"points": 1, "balance": 1, "reason": "probe"},
            dedupe_key=f"probe:{event.member_id}",
            now=event.occurred_at,
        )

    bus.subscribe_in_transaction(Probed, announce)
    notices_before = await count(runtime, Notice)
    with pytest.raises(Boom):
        async with program.db.transaction() as session:
            await bus.publish_in(
                session, Probed(occurred_at=program.clock.now(), member_id=member.id)
            )
            assert await session.scalar(
                select(func.count()).select_from(Notice).where(Notice.dedupe_key.like("probe:%"))
            )
            raise Boom("the publisher fails after publishing")

    assert await count(runtime, Notice) == notices_before
    claimed = await Notices(program.db, program.clock).claim_batch(100)
    assert all(notice.payload.get("reason") != "probe" for notice in claimed)


async def test_the_program_wires_reactions_before_the_notice(runtime: Runtime) -> None:
    program = runtime.program

    assert program.bus.subscribers(PurchaseRecorded) == (
        program.referrals.on_purchase_recorded,
        program.tiers.on_purchase_recorded,
        announcements.points_earned_by_purchase,
    )
