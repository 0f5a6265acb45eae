"""Operator commands start fast: a command that talks to no messenger imports none of their
SDKs, even with every channel configured. Run as an operator runs them (a real
`python main.py ...` process), with `-X importtime` listing every module the process imported."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.db.database import Database
from core.db.migrate import upgrade_async
from core.members.accounts import IdentityKey, Registration
from core.program import LoyaltyProgram
from tests.conftest import leaks_in

ROOT = Path(__file__).resolve().parent.parent
MESSENGER_SDKS = ("aiogram", "vk_api", "twilio")
# Every channel enabled, as on a shop's server. The addresses lead nowhere: a command that
# needs no messenger must not even import one, and the control below calls none.
NOWHERE = "http://127.0.0.1:9"
MESSENGERS = {
    "TELEGRAM_BOT_TOKEN": "123456:startup-test-token",
    "TELEGRAM_API_URL": NOWHERE,
    "TELEGRAM_BOT_USERNAME": "startup_test_bot",
    "VK_GROUP_TOKEN": "startup-test-token",
    "VK_GROUP_ID": "1",
    "VK_API_URL": NOWHERE,
    "TWILIO_ACCOUNT_SID": "AC0000000000000000000000000000000",
    "TWILIO_AUTH_TOKEN": "startup-test-token",
    "TWILIO_WHATSAPP_FROM": "whatsapp:+15550000000",
    "TWILIO_API_URL": NOWHERE,
}


def imported_modules(importtime: str) -> set[str]:
    """Every module in `-X importtime` output ("import time: self | cumulative | name")."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in importtime.splitlines()
        if line.startswith("import time:") and line.count("|") == 2 and "[us]" not in line
    }


def top_level(modules: set[str]) -> set[str]:
    return {module.split(".", 1)[0] for module in modules}


@pytest.fixture(scope="module")
def card_and_database(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A scratch SQLite database, migrated, with one member: what the commands run against."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('startup') / 'loyalty.db'}"

    async def prepare() -> str:
        await upgrade_async(url)
        db = Database.from_url(url)
        try:
            joined = await LoyaltyProgram.build(db).members.enrol(
                Registration(
                    identity=IdentityKey("console", "startup"),
                    language="en",
                    accepted_terms=True,
                    marketing_opt_in=False,
                )
            )
        finally:
            await db.close()
        return joined.member.card_code

    return asyncio.run(prepare()), url


async def run_main(database_url: str, cwd: Path, *argv: str) -> tuple[int, str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "VK_", "TWILIO_", "WHATSAPP_", "PUBLIC_URL"))
    }
    env.update(MESSENGERS, DATABASE_URL=database_url, REDIS_URL="", PYTHONPATH=str(ROOT))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-X",
        "importtime",
        str(ROOT / "main.py"),
        *argv,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    assert leaks_in(stderr) == []
    return process.returncode, stdout.decode(), stderr.decode()


@pytest.mark.parametrize(
    ("argv", "printed"),
    [
        (("credit", "{card}", "10", "--purchase-id", "S-1"), "points to card"),
        (("rules",), '"earn_rate"'),
        (("rewards",), "catalogue is empty"),
        (("jobs", "list"), "dispatch_notices     every minute"),
        (("jobs", "run", "prune_job_runs"), "prune_job_runs: ok"),
    ],
    ids=["credit", "rules", "rewards", "jobs-list", "jobs-run"],
)
async def test_an_operator_command_imports_no_messenger_sdk(
    card_and_database: tuple[str, str],
    tmp_path: Path,
    argv: tuple[str, ...],
    printed: str,
) -> None:
    card, database_url = card_and_database
    argv = tuple(argument.format(card=card) for argument in argv)

    status, out, err = await run_main(database_url, tmp_path, *argv)

    assert status == 0, err[-2000:]
    assert printed in out
    modules = imported_modules(err)
    assert {"sqlalchemy", "core.program", "cli.registry"} <= modules, "the scan sees imports"
    assert not top_level(modules) & set(MESSENGER_SDKS)
    assert not modules & {"app.runtime", "app.lifecycle", "bots"}


async def test_delivering_notices_by_hand_opens_the_configured_channels(
    card_and_database: tuple[str, str], tmp_path: Path
) -> None:
    """The control: the settings above do enable every channel, so the commands above leave
    the SDKs out because they need none, and the one job that delivers still gets them."""
    _, database_url = card_and_database

    status, out, err = await run_main(database_url, tmp_path, "jobs", "run", "dispatch_notices")

    assert status == 0, err[-2000:]
    assert "dispatch_notices: ok: claimed " in out
    assert set(MESSENGER_SDKS) <= top_level(imported_modules(err))


def test_the_scan_finds_a_messenger_sdk() -> None:
    """The control: the parser reads real `-X importtime` lines, nested ones too."""
    sample = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       335 |     178971 |   aiohttp\n"
        "import time:      8396 |    4039990 |       aiogram.client.bot\n"
    )
    assert top_level(imported_modules(sample)) == {"aiohttp", "aiogram"}


def test_output_cut_short_by_its_reader_ends_quietly(
    card_and_database: tuple[str, str], tmp_path: Path
) -> None:
    """`main.py rules | head -1`: the reader goes away before the command has printed; the
    command ends with a broken pipe's status, no traceback."""
    _, database_url = card_and_database
    env = {key: value for key, value in os.environ.items() if not key.startswith("TELEGRAM_")}
    env.update(DATABASE_URL=database_url, REDIS_URL="", PYTHONPATH=str(ROOT))
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: every write fails with EPIPE
    try:
        process = subprocess.run(
            [sys.executable, str(ROOT / "main.py"), "rules"],
            cwd=tmp_path,
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in process.stderr.decode(), process.stderr.decode()[-2000:]
    assert process.returncode == 141


@pytest.mark.parametrize("argv", [("rules",), ("broadcast-status", "1"), ("quest-list",)])
def test_a_command_run_where_no_database_was_set_up_says_how_to_set_it_up(
    tmp_path: Path, argv: tuple[str, ...]
) -> None:
    """The default database is `data/loyalty.db` under the folder the command runs in: from
    another folder (or against an empty database) the operator is told which file it opened
    and what to run, not shown SQLAlchemy's traceback."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TELEGRAM_")}
    env.pop("DATABASE_URL", None)
    env.update(REDIS_URL="", PYTHONPATH=str(ROOT))
    process = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    err = process.stderr.decode()
    assert "Traceback" not in err, err[-2000:]
    assert process.returncode == 1
    assert err.strip() == (
        "The database at sqlite+aiosqlite:///data/loyalty.db "
        f"({tmp_path / 'data' / 'loyalty.db'}) is not set up for this version of the program: "
        "run `python main.py migrate` (or point DATABASE_URL at the shop's database)"
    )
