"""The README's broadcast and segment examples as an operator follows them on a fresh
install: the JSON the README shows is the file in examples/, and every example is accepted."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from core.broadcasts.spec import parse_spec

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXAMPLES = ROOT / "examples"


def section(title: str) -> str:
    """The README's text under the heading `title`, up to the next heading of its level."""
    text = README.read_text(encoding="utf-8")
    heading = re.search(rf"^(#+) {re.escape(title)}\n", text, re.MULTILINE)
    assert heading is not None, f"no section {title!r} in README.md"
    level = len(heading.group(1))
    rest = text[heading.end() :]
    following = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[: following.start()] if following else rest


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
