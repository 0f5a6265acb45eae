"""The operator CLI (`main.main`), in-process, against the same database as the test.

`main.main` runs its own event loop (asyncio.run), so it is called in a worker thread.
`run_cli` gives the exit status a shell would see: main's return value, or the status of the
SystemExit with which argparse ends a usage error (a missing option, a malformed card code).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

import main
from app.runtime import Runtime
from app.settings import Settings
from core.db.models import LedgerEntry, Purchase
from core.members.accounts import IdentityKey, Profile, Registration
from core.shared import cards

WELCOME_BONUS = 100
SETTINGS_VARIABLES = (
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_API_URL",
    "TELEGRAM_WEBHOOK_SECRET",
    "PUBLIC_URL",
    "DEFAULT_LOCALE",
)


@pytest.fixture
def cli_env(settings: Settings, workdir: object, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The CLI reads the environment (and a .env in the working directory, which is empty)."""
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return settings


async def run_main(*argv: str) -> int:
    return await asyncio.to_thread(main.main, list(argv))


async def run_cli(*argv: str) -> int:
    try:
        return await run_main(*argv)
    except SystemExit as exited:
        return exited.code if isinstance(exited.code, int) else 1


async def enrol(runtime: Runtime) -> Profile:
    enrolment = await runtime.program.members.enrol(
        Registration(
            identity=IdentityKey("telegram", "3001"),
            language="en",
            accepted_terms=True,
            marketing_opt_in=False,
        )
    )
    return enrolment.member


async def count(runtime: Runtime, model: type[Any]) -> int:
    async with runtime.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_credit_prints_points_and_balance_and_is_idempotent(
    runtime: Runtime, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    member = await enrol(runtime)

    code = await run_cli("credit", member.card_code, "1234.50", "--purchase-id", "R-1")
    out, err = capsys.readouterr()

    assert code == 0, err
    assert "123 points" in out
    assert f"Balance: {WELCOME_BONUS + 123}." in out
    assert cards.display(member.card_code) in out
    assert "already" not in out
    assert await runtime.program.ledger.balance(member.id) == WELCOME_BONUS + 123

    code = await run_cli("credit", member.card_code, "1234.50", "--purchase-id", "R-1")
    out, err = capsys.readouterr()

    assert code == 0, err
    assert "already credited" in out
    assert f"Balance: {WELCOME_BONUS + 123}." in out
    assert await count(runtime, Purchase) == 1
    assert await count(runtime, LedgerEntry) == 2
    assert await runtime.program.ledger.balance(member.id) == WELCOME_BONUS + 123


async def test_credit_with_another_amount_for_the_same_purchase_is_refused(
    runtime: Runtime, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    member = await enrol(runtime)
    assert await run_cli("credit", member.card_code, "1234.50", "--purchase-id", "R-1") == 0
    capsys.readouterr()

    code = await run_cli("credit", member.card_code, "99.00", "--purchase-id", "R-1")
    out, err = capsys.readouterr()

    assert code != 0
    assert out == ""
    assert "R-1" in err
    assert "already used" in err
    assert "Traceback" not in err
    assert await count(runtime, Purchase) == 1
    assert await count(runtime, LedgerEntry) == 2
    assert await runtime.program.ledger.balance(member.id) == WELCOME_BONUS + 123


async def test_credit_refuses_bad_and_unknown_cards_and_bad_amounts(
    runtime: Runtime, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    member = await enrol(runtime)
    unknown = cards.generate()
    while unknown == member.card_code:
        unknown = cards.generate()

    assert await run_cli("credit", "NOT-A-CARD", "10", "--purchase-id", "R-1") == 2
    _, err = capsys.readouterr()
    assert "Not a valid card code" in err

    assert await run_cli("credit", unknown, "10", "--purchase-id", "R-1") == 1
    _, err = capsys.readouterr()
    assert f"No member with card {unknown}" in err

    assert await run_cli("credit", member.card_code, "abc", "--purchase-id", "R-1") == 1
    _, err = capsys.readouterr()
    assert "not a number" in err

    assert await count(runtime, Purchase) == 0
    assert await runtime.program.ledger.balance(member.id) == WELCOME_BONUS


async def test_redeem_spends_and_refuses_overspending(
    runtime: Runtime, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    member = await enrol(runtime)
    shown = cards.display(member.card_code).lower()

    code = await run_cli("redeem", shown, "30", "--redemption-id", "T-1")
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "redeemed: 30 points" in out
    assert f"Balance: {WELCOME_BONUS - 30}." in out

    code = await run_cli("redeem", shown, "30", "--redemption-id", "T-1")
    out, _ = capsys.readouterr()
    assert code == 0
    assert "already redeemed" in out

    code = await run_cli("redeem", member.card_code, "71", "--redemption-id", "T-2")
    out, err = capsys.readouterr()
    assert code != 0
    assert out == ""
    assert "balance 70 is less than 71" in err
    assert await runtime.program.ledger.balance(member.id) == WELCOME_BONUS - 30
    assert await count(runtime, LedgerEntry) == 2

    assert await run_cli("redeem", "O0O-O0O-O0O", "1", "--redemption-id", "T-3") == 2
    assert await runtime.program.ledger.balance(member.id) == WELCOME_BONUS - 30


async def test_missing_purchase_id_is_a_usage_error(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        await run_main("credit", "ABC-DEF-GHJ", "10")

    assert exited.value.code == 2
    assert "--purchase-id" in capsys.readouterr().err


async def test_migrate_reports_up_to_date(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli("migrate") == 0
    assert "up to date" in capsys.readouterr().out


async def test_redeem_against_an_order_is_capped_at_the_allowed_share(
    runtime: Runtime, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    member = await enrol(runtime)

    code = await run_cli(
        "redeem", member.card_code, "31", "--redemption-id", "O-1", "--order-amount", "100"
    )
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert "at most 30 points may be spent on this order" in err
    assert await runtime.program.ledger.balance(member.id) == WELCOME_BONUS

    code = await run_cli(
        "redeem", member.card_code, "30", "--redemption-id", "O-1", "--order-amount", "100"
    )
    assert code == 0
    assert await runtime.program.ledger.balance(member.id) == WELCOME_BONUS - 30
