"""The README's broadcast and segment examples as an operator follows them on a fresh
install: the JSON the README shows is the file in examples/, and every example is accepted."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from app.settings import Settings
from core.broadcasts.spec import parse_spec
from tests.test_cli import cli_env, run_cli  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXAMPLES = ROOT / "examples"


def section(title: str) -> str:
    """The README's text under the heading `title`, up to the next heading of its level (a
    `#` comment in a shell block is no heading)."""
    lines = README.read_text(encoding="utf-8").splitlines(keepends=True)
    found: list[str] = []
    level = 0
    fenced = False
    for line in lines:
        heading = None if fenced else re.match(r"(#+) ", line)
        if line.startswith("```"):
            fenced = not fenced
        if level and heading and len(heading.group(1)) <= level:
            break
        if level:
            found.append(line)
        elif heading and line[heading.end() :].strip() == title:
            level = len(heading.group(1))
    assert level, f"no section {title!r} in README.md"
    return "".join(found)


def json_blocks(text: str) -> list[Any]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.DOTALL)]


def test_the_readmes_broadcast_is_the_example_file() -> None:
    shown = json_blocks(section("Broadcasts"))[0]

    assert shown == json.loads((EXAMPLES / "broadcast.json").read_text(encoding="utf-8"))
    # Following the README must not send to everybody at once.
    assert shown["segment"] and shown["send_at"]


@pytest.mark.parametrize(
    "block",
    json_blocks(section("Broadcasts")) + json_blocks(section("Triggered campaigns and feedback")),
)
def test_every_broadcast_the_readme_shows_is_accepted(block: Any) -> None:
    parse_spec(block)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("broadcast*.json")), ids=lambda p: p.name)
def test_every_example_broadcast_is_accepted(path: Path) -> None:
    parse_spec(path.read_text(encoding="utf-8"))


def setup_commands(text: str, marker: str) -> list[list[str]]:
    """The `python main.py ...` lines of the README's shell block that holds `marker`, as
    argv (a path under examples/ made absolute: the test runs elsewhere)."""
    (block,) = [
        block for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL) if marker in block
    ]
    commands = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words[:2] == ["python", "main.py"]:
            commands.append(
                [str(ROOT / word) if word.startswith("examples/") else word for word in words[2:]]
            )
    assert commands
    return commands


async def test_every_example_segment_counts_after_the_documented_setup(
    cli_env: Settings,  # noqa: F811
) -> None:
    gold = str(EXAMPLES / "segments" / "gold-tier.json")
    # A fresh install has no tier gold: the README says so, and what to create.
    assert await run_cli("segment-count", "--file", gold) == 1

    for argv in setup_commands(section("Segments"), "What the example segments name"):
        assert await run_cli(*argv) == 0, argv

    examples = sorted((EXAMPLES / "segments").glob("*.json"))
    assert len(examples) >= 8
    for example in examples:
        assert await run_cli("segment-count", "--file", str(example)) == 0, example.name


async def test_the_readmes_win_back_rule_is_created_after_the_documented_setup(
    cli_env: Settings,  # noqa: F811
    workdir: Path,
) -> None:
    triggered = section("Triggered campaigns and feedback")
    win_back = workdir / "win-back.json"
    win_back.write_text(json.dumps(json_blocks(triggered)[1]), encoding="utf-8")
    assert await run_cli("broadcast-create", "--file", str(win_back)) == 1

    for argv in setup_commands(triggered, "campaign-create comeback"):
        assert await run_cli(*argv) == 0, argv

    assert await run_cli("broadcast-create", "--file", str(win_back)) == 0
