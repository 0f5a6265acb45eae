"""The operator CLI (`main.main`), in-process, against the same database as the test.

`main.main` runs its own event loop (asyncio.run), so it is called in a worker thread.
`run_cli` gives the exit status a shell would see: main's return value, or the status of the
SystemExit with which argparse ends a usage error (a missing option, a malformed card code).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import main
from app.runtime import Runtime
from app.settings import Settings
from core.db.models import LedgerEntry, Purchase
from core.members.accounts import IdentityKey, Profile, Registration
from core.shared import cards
from tests.conftest import leaks_in

ROOT = Path(__file__).resolve().parent.parent
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


async def test_an_actor_longer_than_is_kept_is_refused_not_a_traceback(
    runtime: Runtime, cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    member = await enrol(runtime)
    long_actor = "a" * 65

    commands = (
        ("credit", member.card_code, "100", "--purchase-id", "R-1", "--actor", long_actor),
        ("redeem", member.card_code, "10", "--redemption-id", "X-1", "--actor", long_actor),
        ("rules", "set", "welcome_bonus", "50", "--actor", long_actor),
    )
    for argv in commands:
        code = await run_cli(*argv)
        _, err = capsys.readouterr()
        assert code == 1, (argv, err)
        assert err.startswith("Refused: an actor of 1 to 64 characters"), err
        assert "Traceback" not in err

    assert await count(runtime, Purchase) == 0
    assert await runtime.program.ledger.balance(member.id) == WELCOME_BONUS
    assert (await runtime.program.rules.current()).welcome_bonus == WELCOME_BONUS


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    "argv",
    [("rules",), ("migrate",), ("credit", "CARD", "10", "--purchase-id", "R-1"), ("run",)],
    ids=["rules", "migrate", "credit", "run"],
)
async def test_an_unreachable_database_is_named_without_its_password(
    argv: tuple[str, ...], tmp_path: Path
) -> None:
    port = closed_port()
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"postgresql+asyncpg://shop:s3cret-pw@127.0.0.1:{port}/loyalty",
        "REDIS_URL": "",
        "PORT": str(closed_port()),
    }
    for name in SETTINGS_VARIABLES:
        environment.pop(name, None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        *(cards.generate() if word == "CARD" else word for word in argv),
        cwd=tmp_path,
        env=environment,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, raw_err = await asyncio.wait_for(process.communicate(), 60)
    err = raw_err.decode()

    assert leaks_in(err) == []
    assert process.returncode == 1, err
    assert f"Cannot reach the database at postgresql+asyncpg://shop@127.0.0.1:{port}/loyalty" in err
    assert "Traceback" not in err
    assert "s3cret-pw" not in err
