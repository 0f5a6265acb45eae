"""`main.py badge-create --file F` and `badge-list`, as a marketer runs them: a badge from
JSON, refused with the reason ("Refused: ...", exit 1) when it cannot be used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.runtime import Runtime
from app.settings import Settings
from tests.test_cli import cli_env, run_cli  # noqa: F401  (cli_env is a fixture)
from tests.test_games_chat import VISITS_BADGE


async def test_a_badge_is_created_from_a_file_and_listed(
    cli_env: Settings,  # noqa: F811
    runtime: Runtime,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert await run_cli("badge-list") == 0
    assert "No badges yet" in capsys.readouterr().out
    path = tmp_path / "regular.json"
    path.write_text(json.dumps(VISITS_BADGE, ensure_ascii=False), "utf-8")
    assert await run_cli("badge-create", "--file", str(path)) == 0
    assert "Badge regular (☕) created: 2 visits." in capsys.readouterr().out
    assert await run_cli("badge-create", "--file", str(path)) == 1
    assert "Refused: a badge named 'regular' exists already" in capsys.readouterr().err
    assert await run_cli("badge-list") == 0
    assert "regular  ☕  Regular  2 visits  earned by 0" in capsys.readouterr().out
    assert [badge.name for badge in await runtime.program.badges.all()] == ["regular"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "is not JSON"),
        ("[1, 2]", "a badge is a JSON object"),
        (json.dumps({**VISITS_BADGE, "condition": {"kind": "tier"}}), "names the tier"),
        (json.dumps({**VISITS_BADGE, "name": "Bad Name!"}), "name"),
        (json.dumps({**VISITS_BADGE, "emoji": None}), "needs an emoji or a picture"),
        (json.dumps({**VISITS_BADGE, "colour": "red"}), "unknown fields: colour"),
        (json.dumps({**VISITS_BADGE, "condition": {"kind": "visits", "count": -1}}), "count"),
    ],
)
async def test_a_badge_the_program_cannot_use_is_refused(
    cli_env: Settings,  # noqa: F811
    runtime: Runtime,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: str,
    reason: str,
) -> None:
    path = tmp_path / "badge.json"
    path.write_text(content, "utf-8")
    assert await run_cli("badge-create", "--file", str(path)) == 1
    err = capsys.readouterr().err
    assert err.startswith("Refused: ") and reason in err, err
    assert "Traceback" not in err
    assert await runtime.program.badges.all() == []


async def test_a_missing_file_is_refused(
    cli_env: Settings,  # noqa: F811
    runtime: Runtime,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert await run_cli("badge-create", "--file", str(tmp_path / "none.json")) == 1
    assert "Refused: cannot read" in capsys.readouterr().err
