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
from core.members.accounts import IdentityKey, Registration
from core.notices import announcements
from core.notices.outbox import NoticeKind, Notices, enqueue_in
from core.rules.book import ProgramRules
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
        # In the purchase's transaction: the notice last, with the balance after the others.
        program.referrals.on_purchase_recorded,
        program.tiers.on_purchase_recorded,
        announcements.points_earned_by_purchase,
        # After its commit, in the games' own transaction: a quest's completion is seen by
        # the contests' tickets, a streak's growth by the badges.
        program.quests.on_purchase,
        program.contests.on_purchase_recorded,
        program.streaks.on_purchase_recorded,
        program.badges.on_purchase_recorded,
        program.boards.on_purchase_recorded,
        # Triggered broadcasts after the games: a member's first purchase, points short.
        program.triggers.on_purchase_recorded,
    )


async def test_subscribers_decide_under_the_rules_the_purchase_was_decided_under(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A purchase reads the rules once, before its transaction; the referral and the tier it
    triggers use that snapshot (session-pinned), so they neither see a marketer's change made
    meanwhile nor ask the pool for a second connection while the member's row is locked."""
    program = runtime.program
    await program.rules.update(
        actor="m",
        referral_qualifies_on="first_purchase",
        referral_friend_bonus=25,
        referral_referrer_bonus=50,
        tiers=[{"key": "silver", "name": "Silver", "threshold": "100", "earn_multiplier": "2"}],
    )
    referrer = await enrol(runtime, "ref")
    friend = (
        await program.members.enrol(
            Registration(
                identity=IdentityKey("telegram", "friend"),
                language="en",
                accepted_terms=True,
                marketing_opt_in=False,
                referral_code=referrer.card_code,
            )
        )
    ).member
    reads: list[bool] = []
    current = program.rules.current

    async def counted(*, max_age: float = 0.0) -> ProgramRules:
        reads.append(True)
        return await current(max_age=max_age)

    monkeypatch.setattr(program.rules, "current", counted)

    credit = await program.purchases.credit(
        friend.card_code, "150", purchase_id="P-1", actor="till"
    )

    assert reads == [True], "only the purchase itself reads the rules"
    assert credit.tier_changed and credit.tier == "silver"
    referrer_after = await program.members.get(referrer.id)
    assert referrer_after.balance - referrer.balance == 50
