"""Crediting purchases and redeeming points by card code, with the rules stored as data."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.runtime import Runtime
from app.settings import Settings
from core.db.database import Database
from core.db.models import LedgerEntry, Purchase
from core.earning.events import PURCHASE_REASON
from core.program import LoyaltyProgram
from core.rules.book import ProgramRules
from core.shared import cards
from core.shared.errors import (
    IdempotencyConflict,
    InsufficientPoints,
    InvalidActor,
    InvalidAmount,
    InvalidReference,
    MemberNotFound,
    RedemptionTooLarge,
)
from tests.data import count, enrol

WELCOME_BONUS = 100


def unknown_card(*taken: str) -> str:
    while True:
        code = cards.generate()
        if code not in taken:
            return code


async def test_credit_earns_floor_of_amount_times_rate(runtime: Runtime) -> None:
    member = await enrol(runtime)

    credit = await runtime.program.purchases.credit(
        member.card_code, "1234.50", purchase_id="R-1", actor="op"
    )

    assert credit.points == 123  # floor(1234.50 * 0.1)
    assert credit.amount == Decimal("1234.50")
    assert credit.balance == WELCOME_BONUS + 123
    assert (credit.member_id, credit.card_code, credit.purchase_id) == (
        member.id,
        member.card_code,
        "R-1",
    )
    assert credit.replayed is False
    assert await runtime.program.ledger.balance(member.id) == WELCOME_BONUS + 123
    async with runtime.db.sessions() as session:
        purchase = await session.scalar(select(Purchase).where(Purchase.purchase_id == "R-1"))
        entry = await session.scalar(
            select(LedgerEntry).where(LedgerEntry.reason == PURCHASE_REASON)
        )
    assert purchase is not None and entry is not None
    assert (purchase.amount, purchase.points, purchase.actor) == (Decimal("1234.50"), 123, "op")
    assert purchase.ledger_entry_id == entry.id
    assert (entry.points, entry.actor, entry.reference) == (123, "op", "R-1")


async def test_replaying_a_purchase_returns_the_first_credit(runtime: Runtime) -> None:
    purchases = runtime.program.purchases
    member = await enrol(runtime)
    first = await purchases.credit(member.card_code, "1234.50", purchase_id="R-1", actor="op")

    # The same amount, however it is written, is a replay.
    for amount in ("1234.50", "1234.5", "1234,50", " 1234.50 ", Decimal("1234.5")):
        again = await purchases.credit(member.card_code, amount, purchase_id="R-1", actor="op")

        assert again.replayed is True, amount
        assert (again.points, again.balance, again.amount) == (
            first.points,
            first.balance,
            first.amount,
        )

    assert await count(runtime, Purchase) == 1
    assert await count(runtime, LedgerEntry) == 2  # welcome + this purchase
    assert await runtime.program.ledger.balance(member.id) == WELCOME_BONUS + 123


async def test_same_purchase_id_with_another_amount_or_card_is_a_conflict(
    runtime: Runtime,
) -> None:
    purchases = runtime.program.purchases
    alice = await enrol(runtime, "alice")
    bob = await enrol(runtime, "bob")
    await purchases.credit(alice.card_code, "1234.50", purchase_id="R-1", actor="op")

    with pytest.raises(IdempotencyConflict):
        await purchases.credit(alice.card_code, "1234.51", purchase_id="R-1", actor="op")
    with pytest.raises(IdempotencyConflict):
        await purchases.credit(bob.card_code, "1234.50", purchase_id="R-1", actor="op")

    assert await count(runtime, Purchase) == 1
    assert await count(runtime, LedgerEntry) == 3
    assert await runtime.program.ledger.balance(alice.id) == WELCOME_BONUS + 123
    assert await runtime.program.ledger.balance(bob.id) == WELCOME_BONUS


INVALID_AMOUNTS = (
    "0",
    "0.00",
    "-5",
    "abc",
    "",
    "1.234",
    "NaN",
    "sNaN",
    "Infinity",
    "1e12",
    "1000000000",
)
INVALID_PURCHASE_IDS = ("", "   ", "P" * 65)


async def test_invalid_amounts_and_purchase_ids_are_refused(runtime: Runtime) -> None:
    member = await enrol(runtime)
    accepted: list[str] = []

    for amount in INVALID_AMOUNTS:
        try:
            await runtime.program.purchases.credit(
                member.card_code, amount, purchase_id=f"R-{amount}", actor="op"
            )
        except InvalidAmount:
            continue
        accepted.append(f"amount {amount!r}")
    for purchase_id in INVALID_PURCHASE_IDS:
        try:
            await runtime.program.purchases.credit(
                member.card_code, "10", purchase_id=purchase_id, actor="op"
            )
        except InvalidReference:
            continue
        accepted.append(f"purchase id {purchase_id!r}")

    assert accepted == [], f"accepted instead of a refusal: {accepted}"
    assert await count(runtime, Purchase) == 0
    assert await runtime.program.ledger.balance(member.id) == WELCOME_BONUS


async def test_a_small_purchase_is_recorded_without_a_ledger_entry(runtime: Runtime) -> None:
    member = await enrol(runtime)

    credit = await runtime.program.purchases.credit(
        member.card_code, "9.99", purchase_id="R-small", actor="op"
    )

    assert (credit.points, credit.balance) == (0, WELCOME_BONUS)
    assert await count(runtime, Purchase) == 1
    assert await count(runtime, LedgerEntry) == 1
    again = await runtime.program.purchases.credit(
        member.card_code, "9.99", purchase_id="R-small", actor="op"
    )
    assert again.replayed is True


async def test_card_codes_unknown_malformed_and_in_display_form(runtime: Runtime) -> None:
    purchases = runtime.program.purchases
    member = await enrol(runtime)

    with pytest.raises(MemberNotFound):
        await purchases.credit(unknown_card(member.card_code), "10", purchase_id="R-1", actor="op")
    with pytest.raises(cards.InvalidCardCode):
        await purchases.credit("NOT-A-CARD", "10", purchase_id="R-1", actor="op")
    broken = member.card_code[:-1] + next(
        char for char in cards.ALPHABET if char != member.card_code[-1]
    )
    with pytest.raises(cards.InvalidCardCode):
        await purchases.credit(broken, "10", purchase_id="R-1", actor="op")
    assert await count(runtime, Purchase) == 0

    typed = f" {cards.display(member.card_code).lower()} "
    credit = await purchases.credit(typed, "1234.50", purchase_id="R-1", actor="op")

    assert credit.member_id == member.id
    assert credit.card_code == member.card_code
    assert credit.points == 123


async def test_rules_are_data_and_change_the_next_credit_and_enrolment(
    runtime: Runtime, settings: Settings
) -> None:
    program = runtime.program
    member = await enrol(runtime, "before")
    await program.purchases.credit(member.card_code, "1234.50", purchase_id="R-1", actor="op")

    updated = await program.rules.update(actor="marketer", earn_rate="0.05", welcome_bonus=50)

    assert (updated.earn_rate, updated.welcome_bonus) == (Decimal("0.05"), 50)
    credit = await program.purchases.credit(
        member.card_code, "1234.50", purchase_id="R-2", actor="op"
    )
    assert credit.points == 61  # floor(1234.50 * 0.05)
    newcomer = await enrol(runtime, "after")
    assert newcomer.balance == 50
    assert await program.ledger.balance(newcomer.id) == 50

    # Another process reading the same database sees the marketer's rules.
    other_db = Database.from_url(settings.database_url)
    try:
        rules = await LoyaltyProgram.build(other_db).rules.current()
    finally:
        await other_db.close()
    assert (rules.earn_rate, rules.welcome_bonus) == (Decimal("0.05"), 50)
    assert rules.program_name == ProgramRules().program_name


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"earn_rate": "-0.1"}, id="negative-earn-rate"),
        pytest.param({"welcome_bonus": -1}, id="negative-welcome-bonus"),
        pytest.param({"point_value": "0"}, id="zero-point-value"),
        pytest.param({"program_name": "  "}, id="blank-program-name"),
        pytest.param({"cashback": 5}, id="unknown-rule"),
        pytest.param({"earn_rate": "0.2", "bogus": 1}, id="unknown-with-valid"),
        pytest.param({"earn_rate": "Infinity"}, id="infinite-earn-rate"),
        pytest.param({"earn_rate": "NaN"}, id="nan-earn-rate"),
        pytest.param({"earn_rate": "abc"}, id="non-numeric-earn-rate"),
        pytest.param({"earn_rate": 0.1}, id="float-earn-rate"),
        pytest.param({"earn_rate": "5000"}, id="absurd-earn-rate"),
        pytest.param({"welcome_bonus": 1.5}, id="fractional-welcome-bonus"),
        pytest.param({"welcome_bonus": "50"}, id="text-welcome-bonus"),
        pytest.param({"welcome_bonus": True}, id="boolean-welcome-bonus"),
        pytest.param({"currency": "rubles"}, id="not-a-currency-code"),
    ],
)
async def test_invalid_rules_are_refused_and_not_stored(
    runtime: Runtime, changes: dict[str, Any]
) -> None:
    before = await runtime.program.rules.current()

    with pytest.raises(ValueError):
        await runtime.program.rules.update(actor="marketer", **changes)

    assert await runtime.program.rules.current() == before


async def test_redeem_spends_and_refuses_more_than_the_balance(runtime: Runtime) -> None:
    purchases = runtime.program.purchases
    member = await enrol(runtime)

    spent = await purchases.redeem(member.card_code, 60, redemption_id="T-1", actor="till")
    assert (spent.points, spent.balance, spent.replayed) == (60, WELCOME_BONUS - 60, False)

    again = await purchases.redeem(member.card_code, 60, redemption_id="T-1", actor="till")
    assert (again.balance, again.replayed) == (WELCOME_BONUS - 60, True)

    with pytest.raises(InsufficientPoints):
        await purchases.redeem(member.card_code, 41, redemption_id="T-2", actor="till")
    with pytest.raises(IdempotencyConflict):
        await purchases.redeem(member.card_code, 10, redemption_id="T-1", actor="till")
    with pytest.raises(InvalidAmount):
        await purchases.redeem(member.card_code, 0, redemption_id="T-3", actor="till")
    with pytest.raises(InvalidAmount):
        await purchases.redeem(member.card_code, -5, redemption_id="T-4", actor="till")
    with pytest.raises(MemberNotFound):
        await purchases.redeem(unknown_card(member.card_code), 1, redemption_id="T-5", actor="till")
    for bad_id in ("", "   ", "x" * 65):
        with pytest.raises(InvalidReference):
            await purchases.redeem(member.card_code, 1, redemption_id=bad_id, actor="till")

    assert await runtime.program.ledger.balance(member.id) == WELCOME_BONUS - 60
    assert await count(runtime, LedgerEntry) == 2
    assert (await runtime.program.ledger.audit(member.id)).consistent

    last = await purchases.redeem(member.card_code, 40, redemption_id="T-2", actor="till")
    assert last.balance == 0


async def test_concurrent_credits_of_one_purchase_credit_once(runtime: Runtime) -> None:
    purchases = runtime.program.purchases
    member = await enrol(runtime)

    credits = await asyncio.wait_for(
        asyncio.gather(
            *(
                purchases.credit(member.card_code, "1234.50", purchase_id="R-race", actor="op")
                for _ in range(10)
            )
        ),
        timeout=60,
    )

    assert sum(not credit.replayed for credit in credits) == 1
    assert {credit.points for credit in credits} == {123}
    assert await count(runtime, Purchase) == 1
    assert await count(runtime, LedgerEntry, LedgerEntry.reason == PURCHASE_REASON) == 1
    assert await runtime.program.ledger.balance(member.id) == WELCOME_BONUS + 123
    assert (await runtime.program.ledger.audit(member.id)).consistent


async def test_points_pay_at_most_the_allowed_share_of_an_order(runtime: Runtime) -> None:
    purchases = runtime.program.purchases
    member = await enrol(runtime)
    await purchases.credit(member.card_code, "5000", purchase_id="BIG", actor="t")  # +500

    # 30 % of a 1000 order at 1 point = 1 currency unit: at most 300 points.
    with pytest.raises(RedemptionTooLarge) as refused:
        await purchases.redeem(
            member.card_code, 301, redemption_id="O-1", actor="till", order_amount="1000"
        )
    assert refused.value.allowed == 300
    assert await runtime.program.ledger.balance(member.id) == 600
    spent = await purchases.redeem(
        member.card_code, 300, redemption_id="O-1", actor="till", order_amount="1000"
    )
    assert spent.balance == 300

    await runtime.program.rules.update(actor="m", max_points_share="0.5", point_value="2")
    with pytest.raises(RedemptionTooLarge) as refused:
        await purchases.redeem(
            member.card_code, 51, redemption_id="O-2", actor="till", order_amount="199.99"
        )
    assert refused.value.allowed == 49, "floor(199.99 × 0.5 / 2)"
    with pytest.raises(InvalidAmount):
        await purchases.redeem(
            member.card_code, 1, redemption_id="O-3", actor="till", order_amount="-5"
        )
    with pytest.raises(ValueError):
        await runtime.program.rules.update(actor="m", max_points_share="1.5")


async def test_a_store_name_and_actor_are_cleaned_or_refused_as_they_are_kept(
    runtime: Runtime,
) -> None:
    member = await enrol(runtime)
    purchases = runtime.program.purchases

    await purchases.credit(
        member.card_code, "10", purchase_id="R-1", actor="till\x00 1", store="Main\x00\n St"
    )
    with pytest.raises(InvalidReference):
        await purchases.credit(member.card_code, "10", purchase_id="R-2", actor="op", store="\x00")
    with pytest.raises(InvalidActor):
        await purchases.credit(member.card_code, "10", purchase_id="R-3", actor="a" * 65)
    with pytest.raises(InvalidActor):
        await runtime.program.ledger.post(
            member.id, 5, reason="gift", actor="\x07", idempotency_key="gift-1"
        )

    async with runtime.db.sessions() as session:
        purchase = await session.scalar(select(Purchase))
    assert purchase is not None and (purchase.store, purchase.actor) == ("Main St", "till 1")
    assert await count(runtime, Purchase) == 1
