"""`main.py rules`: the marketer's rules shown as JSON and changed one at a time, validated."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from app.runtime import Runtime
from app.settings import Settings
from tests.test_cli import cli_env, run_cli  # noqa: F401  (cli_env is a fixture)
from tests.test_rules import CLI_CANNOT_SAY, REFUSALS


async def test_rules_are_shown_as_json_and_set_one_by_one(
    cli_env: Settings,  # noqa: F811
    runtime: Runtime,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert await run_cli("rules") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["earn_rate"] == "0.1" and shown["points_ttl_days"] == 0
    assert shown["tiers"] == [] and shown["time_zone"] == "Europe/Moscow"

    assert await run_cli("rules", "set", "earn_rate", "0.05") == 0
    assert await run_cli("rules", "set", "points_ttl_days", "365") == 0
    assert await run_cli("rules", "set", "program_name", "Coffee Club") == 0
    tiers = tmp_path / "tiers.json"
    tiers.write_text(
        json.dumps([{"key": "gold", "name": {"en": "Gold"}, "threshold": 5000}]), "utf-8"
    )
    assert await run_cli("rules", "set", "tiers", "--file", str(tiers)) == 0
    out = capsys.readouterr().out
    assert "points_ttl_days = 365" in out and 'program_name = "Coffee Club"' in out

    rules = await runtime.program.rules.current()
    assert rules.earn_rate == Decimal("0.05")
    assert (rules.points_ttl_days, rules.program_name) == (365, "Coffee Club")
    assert [tier.key for tier in rules.tiers] == ["gold"]


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (("rules", "set", "earn_rate", "lots"), "earn_rate"),
        (("rules", "set", "points_ttl_days", "-5"), "points_ttl_days"),
        (("rules", "set", "time_zone", "Mars/Olympus"), "time_zone"),
        (("rules", "set", "no_such_rule", "1"), "unknown rules"),
        (("rules", "set", "tiers", '[{"key": "gold"}]'), "tier"),
    ],
)
async def test_a_rule_the_program_cannot_use_is_refused_and_changes_nothing(
    cli_env: Settings,  # noqa: F811
    runtime: Runtime,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    reason: str,
) -> None:
    before = await runtime.program.rules.current()

    assert await run_cli(*argv) == 1
    assert reason in capsys.readouterr().err
    assert await runtime.program.rules.current() == before


async def test_set_wants_exactly_one_value(
    cli_env: Settings,  # noqa: F811
    runtime: Runtime,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await run_cli("rules", "set", "earn_rate") == 2
    assert "Give the value" in capsys.readouterr().err


async def test_rules_set_refuses_each_with_the_rule_and_why(
    cli_env: Settings,  # noqa: F811
    runtime: Runtime,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every refusal of tests/test_rules.py, typed at the command line as JSON."""
    await runtime.program.rules.update(actor="m", welcome_bonus=70)
    before = await runtime.program.rules.current()
    wrong = []
    for name, value, message in REFUSALS:
        if (name, value) in CLI_CANNOT_SAY:
            continue
        code = await run_cli("rules", "set", name, json.dumps(value))
        said = capsys.readouterr().err
        if code != 1 or not said.startswith(f"Refused: {message}"):
            wrong.append((name, value, code, said))
    assert wrong == []
    assert await runtime.program.rules.current() == before


async def test_a_value_nested_thousands_deep_is_refused_not_a_traceback(
    cli_env: Settings,  # noqa: F811
    runtime: Runtime,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    deep = "[" * 5000 + "]" * 5000
    source = tmp_path / "deep.json"
    source.write_text(deep, encoding="utf-8")

    for argv in (
        ("rules", "set", "tiers", deep),
        ("rules", "set", "tiers", "--file", str(source)),
        ("rules", "set", "tiers", "[" * 100 + "]" * 100),
    ):
        code = await run_cli(*argv)
        _, err = capsys.readouterr()
        assert code == 1, err
        assert err.startswith("Refused: "), err
        assert "Traceback" not in err


async def test_quiet_hours_that_would_silence_every_streak_reminder_are_refused(
    cli_env: Settings,  # noqa: F811
    runtime: Runtime,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Streak reminders go from `streak_reminder_hour` until the quiet hours: a night that
    starts before that hour (and lasts to midnight) would leave none, so it is refused."""
    before = await runtime.program.rules.current()
    assert before.streak_reminder_hour == 18 and before.streaks

    assert await run_cli("rules", "set", "quiet_hours_start", "17") == 1
    assert capsys.readouterr().err.startswith(
        "Refused: streak_reminder_hour: the quiet hours (17:00 to 09:00) cover 18:00 to"
        " midnight, so no streak reminder would ever go out; choose an earlier hour or"
        " shorter quiet hours"
    )
    assert await runtime.program.rules.current() == before

    # An earlier reminder hour first: then the longer night is the shop's to choose.
    assert await run_cli("rules", "set", "streak_reminder_hour", "12") == 0
    assert await run_cli("rules", "set", "quiet_hours_start", "17") == 0
    assert await run_cli("rules", "set", "streak_reminder_hour", "20") == 1
    assert "no streak reminder would ever go out" in capsys.readouterr().err
    rules = await runtime.program.rules.current()
    assert (rules.streak_reminder_hour, rules.quiet_hours_start) == (12, 17)

    # A night that ends before midnight still leaves the evening's last hours.
    assert await run_cli("rules", "set", "quiet_hours_start", "9") == 0
    assert await run_cli("rules", "set", "quiet_hours_end", "21") == 0
    assert await run_cli("rules", "set", "streak_reminder_hour", "18") == 0
