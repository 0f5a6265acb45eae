"""The operator CLI for earning: credit with store and categories, events, tier status."""

from __future__ import annotations

import pytest

from app.runtime import Runtime
from core.db.models import MemberEvent, Purchase
from core.shared import cards
from tests.data import count, enrol
from tests.test_cli import cli_env, run_cli  # noqa: F401  (cli_env: a fixture)

WELCOME_BONUS = 100
pytestmark = pytest.mark.usefixtures("cli_env")


async def test_credit_with_store_and_categories(
    runtime: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    await runtime.program.rules.update(
        actor="m",
        promotions=[{"key": "coffee", "name": "Coffee x3", "multiplier": 3, "category": "coffee"}],
        tiers=[{"key": "silver", "name": "Silver", "threshold": 500}],
    )
    member = await enrol(runtime)

    code = await run_cli(
        "credit",
        member.card_code,
        "1000",
        "--purchase-id",
        "R-1",
        "--store",
        "msk-1",
        "--category",
        "coffee=300",
        "--category",
        "tea = 100",
    )
    out, err = capsys.readouterr()

    assert code == 0, err
    assert "160 points" in out  # 300 x 0.1 x 3 + 700 x 0.1
    assert f"Balance: {WELCOME_BONUS + 160}." in out
    assert "New tier: silver." in out
    assert await count(runtime, Purchase, Purchase.store == "msk-1") == 1


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (("--category", "coffee"), "NAME=AMOUNT"),
        (("--category", "coffee=300", "--category", "coffee=1"), "given twice"),
    ],
)
async def test_malformed_categories_are_usage_errors(
    runtime: Runtime,
    capsys: pytest.CaptureFixture[str],
    arguments: tuple[str, ...],
    expected: str,
) -> None:
    member = await enrol(runtime)
    try:
        code = await run_cli("credit", member.card_code, "1000", "--purchase-id", "R", *arguments)
    except SystemExit as exited:
        code = int(exited.code or 0)
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err and "Traceback" not in err
    assert await count(runtime, Purchase) == 0


async def test_categories_above_the_total_are_refused(
    runtime: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    member = await enrol(runtime)
    code = await run_cli(
        "credit", member.card_code, "100", "--purchase-id", "R", "--category", "coffee=300"
    )
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert "more than the purchase" in err
    assert await count(runtime, Purchase) == 0


async def test_event_pays_once_and_refuses_unknown_kinds(
    runtime: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    await runtime.program.rules.update(
        actor="m", event_bonuses={"review": {"points": 50, "per_member": 1}}
    )
    member = await enrol(runtime)
    shown = cards.display(member.card_code)

    assert await run_cli("event", shown, "review", "rev-1") == 0
    assert capsys.readouterr().out == (
        f"Event review rev-1 recorded: 50 points to card {shown}. Balance: 150.\n"
    )
    assert await run_cli("event", shown, "review", "rev-1") == 0
    assert "was already recorded: 50 points" in capsys.readouterr().out
    assert await run_cli("event", shown, "review", "rev-2") == 0
    assert "no points" in capsys.readouterr().out

    code = await run_cli("event", shown, "selfie", "s-1")
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert "no event bonus is defined for the kind 'selfie'" in err
    assert await count(runtime, MemberEvent) == 2
    assert await runtime.program.ledger.balance(member.id) == WELCOME_BONUS + 50


async def test_tier_status(runtime: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    member = await enrol(runtime)
    assert await run_cli("tier-status", member.card_code) == 0
    assert "no tiers" in capsys.readouterr().out

    await runtime.program.rules.update(
        actor="m",
        tiers=[
            {"key": "silver", "name": "Silver", "threshold": 1000},
            {"key": "gold", "name": "Gold", "threshold": 5000},
        ],
    )
    await runtime.program.purchases.credit(member.card_code, "1200", purchase_id="P", actor="t")

    assert await run_cli("tier-status", member.card_code) == 0
    out = capsys.readouterr().out
    assert "tier Silver; 1200.00 RUB spent in the last 365 days." in out
    assert "Next tier: Gold, 3800.00 RUB to go." in out
    assert await run_cli("tier-status", "O0O-O0O-O0O") == 2
