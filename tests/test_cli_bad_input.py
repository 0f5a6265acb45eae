"""What an operator may mistype at `main.py`, and the answer they get: one line on stderr
naming what is wrong and a nonzero exit status (2: the command line itself, as argparse says
it; 1: a refusal), never a traceback, and nothing written.

Each row: the command line ({file}: a file holding the row's content; {dir}: a directory;
"-" reads the content from stdin), the exit status, a fragment of what stderr says.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.runtime import Runtime
from app.settings import Settings
from core.db.models import Coupon
from tests.conftest import Backend, make_settings
from tests.test_cli import SETTINGS_VARIABLES, cli_env, run_cli  # noqa: F401  (a fixture)
from tests.test_quests import quest_json

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 50_000 + "1" + "}" * 50_000
# Past Python's int_max_str_digits (4300): json.loads raises a ValueError of its own.
LONG_NUMBER = '{"x": 1' + "0" * 5000 + "}"
NOT_UTF8 = b"\xff\xfe\x00{}"
PAST_ANY_ID = "99999999999999999999"  # more than a BIGINT holds
CAMPAIGN = ("campaign-create", "bad-input", "--name", "C", "--kind", "percent", "--value", "10")
REWARD = ("reward-add", "bad-input", "--name", "R", "--cost", "10")

CASES: list[tuple[tuple[str, ...], str | bytes, int, str]] = [
    # JSON definitions nested past the parser's recursion, or with a number past int digits
    (("quest-create", "--file", "{file}"), DEEP, 1, "nested too deeply"),
    (("quest-create", "--file", "-"), DEEP_OBJECT, 1, "nested too deeply"),
    (("segment-count", "--file", "{file}"), DEEP, 1, "nested too deeply"),
    (("broadcast-create", "--file", "{file}"), DEEP_OBJECT, 1, "nested too deeply"),
    (("contest-create", "--file", "{file}"), DEEP, 1, "nested too deeply"),
    (("contest-create", "--file", "{file}"), LONG_NUMBER, 1, "a number has too many digits"),
    (("verify-draw", "{file}"), DEEP_OBJECT, 1, "nested too deeply"),
    (("verify-draw", "{file}"), LONG_NUMBER, 1, "a number has too many digits"),
    (("badge-create", "--file", "{file}"), LONG_NUMBER, 1, "a number has too many digits"),
    (("rules", "set", "tiers", "--file", "{file}"), LONG_NUMBER, 1, "too many digits"),
    (("rules", "set", "welcome_bonus", "1" + "0" * 5000), "", 1, "too many digits"),
    (("rules", "set", "tiers", "--file", "{file}"), NOT_UTF8, 1, "not UTF-8"),
    (("rules", "set", "tiers", "--file", "-"), "{oops", 1, "stdin is not JSON"),
    (("rules", "set", "tiers", "--file", "{dir}"), "", 1, "cannot read"),
    # ids past any row's: no such thing (or not an id at all), not the driver's OverflowError
    (("quest-end", PAST_ANY_ID), "", 1, f"no quest {PAST_ANY_ID}"),
    (("quest-end", "²"), "", 1, "no quest ²"),
    (("contest-close", PAST_ANY_ID), "", 1, "no contest"),
    (("contest-draw", PAST_ANY_ID, "--beacon", "00"), "", 1, "no contest"),
    (("quest-review", "--approve", PAST_ANY_ID), "", 2, "not an id"),
    (("quest-review", "--reject", "-1", "--reason", "x"), "", 2, "not an id"),
    (("broadcast-status", PAST_ANY_ID), "", 2, "not an id"),
    (("broadcast-cancel", PAST_ANY_ID), "", 2, "not an id"),
    # limits past what their 32-bit columns (or the calendar) hold
    ((*CAMPAIGN, "--valid-days", PAST_ANY_ID), "", 1, "valid days must be 1 to 36500"),
    ((*CAMPAIGN, "--total-limit", "3000000000"), "", 1, "the total limit must be 1 to"),
    ((*CAMPAIGN, "--uses-per-coupon", PAST_ANY_ID), "", 1, "uses per coupon must be 1 to"),
    ((*REWARD, "--per-member-limit", PAST_ANY_ID), "", 1, "per-member limit must be at most"),
    ((*REWARD, "--stock", "3000000000"), "", 1, "stock must be at most"),
    (("reward-add", "bad-input", "--name", "R", "--cost", PAST_ANY_ID), "", 1, "costs at most"),
    # moments whose UTC falls off the calendar
    (("feedback-report", "--since", "0001-01-01T00:00+01:00"), "", 2, "out of the calendar"),
    (
        (*CAMPAIGN, "--ends-at", "9999-12-31T23:59:59-01:00"),
        "",
        2,
        "out of the calendar",
    ),
    # times typed as a bare number (pydantic would read seconds since 1970) and fields pydantic
    # refuses, said in the rules' words rather than pydantic's ("Input should be ...")
    (
        ("broadcast-create", "--file", "{file}"),
        '{"name": "x", "segment": {}, "text": "Hi", "send_at": "2027"}',
        1,
        "send_at: must be a date (2027-03-01) or a time (2027-03-01T10:00), not '2027'",
    ),
    (
        ("segment-count", "--file", "{file}"),
        '{"joined": {"since": 1700000000}}',
        1,
        "joined.since: must be a date (2027-03-01) or a time",
    ),
    (
        ("quest-create", "--file", "{file}"),
        json.dumps(quest_json(starts="2026")),
        1,
        "starts: must be a date (2027-03-01) or a time",
    ),
    (
        ("broadcast-create", "--file", "{file}"),
        '{"name": "x", "segment": {}, "text": "Hi", "trigger": {"kind": "birthday"}}',
        1,
        "trigger: 'kind' is 'birthday': it must be one of 'win_back', 'first_purchase'",
    ),
    (
        ("broadcast-create", "--file", "{file}"),
        '{"name": "x", "segment": {"balance": {"min": "a"}}, "text": "Hi", "holdout": 150}',
        1,
        "holdout: must be at most 50, not 150",
    ),
    # unknown things named as such
    (
        ("refund", "no-such-receipt", "--refund-id", "bad-input-refund"),
        "",
        1,
        "no purchase with id",
    ),
    # an output file that cannot be written, refused before the draw
    (
        ("contest-draw", "no-such-contest", "--beacon", "00", "--output", "{dir}"),
        "",
        1,
        "cannot write",
    ),
]


@pytest.fixture
def operator_env(backend: Backend, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """cli_env without wiping the database first: no row of CASES depends on what is in it
    (ids past any row's, names nobody creates) nor writes to it, and a wipe per row would be
    most of this file's time."""
    settings = make_settings(backend)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return settings


@pytest.mark.parametrize(("argv", "content", "status", "says"), CASES)
async def test_bad_input_gets_one_clear_line_and_an_exit_status(
    operator_env: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    argv: tuple[str, ...],
    content: str | bytes,
    status: int,
    says: str,
) -> None:
    given = tmp_path / "given.json"
    given.write_bytes(content if isinstance(content, bytes) else content.encode())
    (tmp_path / "adir").mkdir()
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    typed = [
        part.replace("{file}", str(given)).replace("{dir}", str(tmp_path / "adir")) for part in argv
    ]

    code = await run_cli(*typed)
    out, err = capsys.readouterr()

    assert "Traceback" not in err + out
    assert code == status, err
    # A refusal is one line; argparse puts its usage above its own.
    said = err.strip().splitlines()
    assert says in said[-1], err
    assert status == 2 or len(said) == 1, err


async def test_codes_are_not_generated_for_an_output_that_cannot_be_written(
    cli_env: Settings,  # noqa: F811
    runtime: Runtime,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """The codes went to the database before the file failed: live coupons nobody had."""
    created = ("campaign-create", "spring", "--name", "Spring", "--kind", "percent")
    assert await run_cli(*created, "--value", "10") == 0
    capsys.readouterr()

    for output in (tmp_path, tmp_path / "missing" / "codes.txt"):
        code = await run_cli("coupons-generate", "spring", "5", "--output", str(output))
        _, err = capsys.readouterr()
        assert (code, "Traceback" in err) == (1, False), err
        assert f"cannot write {output}" in err
    # A refused generation leaves no empty file behind either.
    fresh = tmp_path / "fresh.txt"
    assert await run_cli("coupons-generate", "nosuch", "5", "--output", str(fresh)) == 1
    assert not fresh.exists()

    async with runtime.db.reading() as session:
        assert await session.scalar(select(func.count()).select_from(Coupon)) == 0
