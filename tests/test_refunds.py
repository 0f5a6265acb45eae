"""Refunds take back a purchase's points; what the balance cannot cover becomes a debt that
later earnings settle first, never a negative balance shown as spendable."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from app.runtime import Runtime
from core.db.models import LedgerEntry
from core.shared.errors import IdempotencyConflict, InvalidAmount, PurchaseNotFound
from handlers.messages import Incoming
from main import main
from tests.data import enrol


async def reasons(runtime: Runtime, member_id: int) -> list[tuple[str, int, int]]:
    async with runtime.db.reading() as session:
        rows = await session.scalars(
            select(LedgerEntry).where(LedgerEntry.member_id == member_id).order_by(LedgerEntry.id)
        )
        return [(row.reason, row.points, row.balance_after) for row in rows]


async def test_a_refund_after_spending_leaves_a_debt_the_next_purchase_settles(
    runtime: Runtime,
) -> None:
    purchases = runtime.program.purchases
    member = await enrol(runtime, "ann")
    await purchases.credit(member.card_code, "1230", purchase_id="P1", actor="till")  # +123
    await purchases.redeem(member.card_code, 200, redemption_id="R1", actor="till")  # 23 left

    refund = await purchases.refund("P1", refund_id="F1", actor="till")

    assert (refund.points, refund.taken, refund.debt_added, refund.balance) == (123, 23, 100, 0)
    profile = await runtime.program.members.get(member.id)
    assert (profile.balance, profile.debt) == (0, 100)
    (balance,) = await runtime.conversation.handle(Incoming("telegram", "ann", text="balance"))
    assert "You have 0 points." in balance.text
    assert "A refund left 100 points to settle" in balance.text

    credit = await purchases.credit(member.card_code, "1500", purchase_id="P2", actor="till")

    assert credit.balance == 50, "150 earned, 100 of them settle the debt"
    profile = await runtime.program.members.get(member.id)
    assert (profile.balance, profile.debt) == (50, 0)
    assert (await runtime.program.ledger.audit(member.id)).consistent
    assert (await reasons(runtime, member.id))[-3:] == [
        ("refund", -23, 0),
        ("purchase", 150, 150),
        ("debt_settlement", -100, 50),
    ]
    (history,) = await runtime.conversation.handle(Incoming("telegram", "ann", text="history"))
    assert "Refund debt settled" in history.text and "Refund of purchase P1" in history.text


async def test_partial_refunds_add_up_to_the_purchase_and_no_more(runtime: Runtime) -> None:
    purchases = runtime.program.purchases
    member = await enrol(runtime, "bob")
    await purchases.credit(member.card_code, "999", purchase_id="P", actor="till")  # +99

    first = await purchases.refund("P", refund_id="F1", actor="till", amount="333")
    second = await purchases.refund("P", refund_id="F2", actor="till", amount="333")
    replay = await purchases.refund("P", refund_id="F2", actor="till", amount="333")
    last = await purchases.refund("P", refund_id="F3", actor="till")

    assert (first.points, second.points, last.points) == (33, 33, 33)
    assert replay.replayed and replay.points == 33
    assert await runtime.program.ledger.balance(member.id) == 100
    with pytest.raises(InvalidAmount):
        await purchases.refund("P", refund_id="F4", actor="till", amount="0.01")
    with pytest.raises(IdempotencyConflict):
        await purchases.refund("P", refund_id="F1", actor="till", amount="10")
    with pytest.raises(PurchaseNotFound):
        await purchases.refund("NOPE", refund_id="F5", actor="till")
    assert (await runtime.program.ledger.audit(member.id)).consistent


async def test_two_full_refunds_at_once_take_the_points_back_once(runtime: Runtime) -> None:
    purchases = runtime.program.purchases
    member = await enrol(runtime, "cat")
    await purchases.credit(member.card_code, "1000", purchase_id="P", actor="till")  # +100
    results = await asyncio.gather(
        *(purchases.refund("P", refund_id=f"F{n}", actor="till") for n in range(4)),
        return_exceptions=True,
    )
    done = [result for result in results if not isinstance(result, BaseException)]
    assert len(done) == 1
    assert all(isinstance(result, InvalidAmount) for result in results if result not in done)
    assert await runtime.program.ledger.balance(member.id) == 100


async def test_refund_from_the_command_line(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    member = await enrol(runtime, "dan")
    await runtime.program.purchases.credit(member.card_code, "500", purchase_id="P", actor="t")
    monkeypatch.setenv("DATABASE_URL", runtime.settings.database_url)
    monkeypatch.setenv("REDIS_URL", runtime.settings.redis_url)

    code = await asyncio.to_thread(main, ["refund", "P", "--refund-id", "F1", "--amount", "100"])
    assert code == 0
    assert "Refund F1 of purchase P (100.00) refunded: 10 points taken back." in (
        capsys.readouterr().out
    )
    code = await asyncio.to_thread(main, ["refund", "P", "--refund-id", "F2", "--amount", "999"])
    assert code == 1
    assert "at most 400.00" in capsys.readouterr().err
