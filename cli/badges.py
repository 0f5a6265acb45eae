"""Badges for marketers: defined as data, listed with how many members earned each.

python main.py badge-create --file F.json   a badge (see core/games/badges/definitions.py)
python main.py badge-list                   every badge, its condition and how many have it

A definition the program cannot use is refused ("Refused: ...", exit 1) and nothing is stored.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from cli.command import Command, Context
from core.games.badges.badges import BadgeInfo
from core.games.errors import InvalidBadge
from core.shared.parsing import load_json

MAX_FILE_BYTES = 64 * 1024


def read_definition(path: Path) -> Any:
    try:
        raw = path.read_bytes()[: MAX_FILE_BYTES + 1]
    except OSError as error:
        raise InvalidBadge(f"cannot read {path}: {error.strerror or error}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise InvalidBadge(f"{path} is larger than a badge can be ({MAX_FILE_BYTES} bytes)")
    try:
        return load_json(raw.decode("utf-8"))
    except ValueError as error:  # UnicodeDecodeError among them
        raise InvalidBadge(f"{path} is not JSON: {error}") from None


def describe(badge: BadgeInfo) -> str:
    condition = badge.condition
    if condition.kind == "tier":
        return f"tier {condition.tier} reached"
    if condition.kind == "quest":
        return (
            f"quest {condition.quest_id} done"
            if condition.quest_id
            else f"{condition.count} quests done"
        )
    if condition.kind == "streak":
        return f"a streak of {condition.count}" + (
            f" ({condition.streak})" if condition.streak else ""
        )
    if condition.kind in ("visits", "friends"):
        return f"{condition.count} {condition.kind}"
    if condition.kind == "award":
        return "awarded by name (a quest's reward)"
    return "the first purchase"


class BadgeCreate(Command):
    name = "badge-create"
    help = "define a badge from a JSON file"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--file", type=Path, required=True, help="the badge as JSON")
        parser.add_argument("--actor", default="operator", help="who creates it")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        definition = await asyncio.to_thread(read_definition, args.file)
        badge = await context.program.badges.create(definition, actor=args.actor)
        print(f"Badge {badge.name} ({badge.emoji or badge.picture}) created: {describe(badge)}.")
        return 0


class BadgeList(Command):
    name = "badge-list"
    help = "list the badges and how many members earned each"

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        badges = await context.program.badges.all()
        if not badges:
            print("No badges yet: create one with `main.py badge-create --file F`.")
            return 0
        counts = await context.program.badges.awarded_count()
        for badge in badges:
            state = "" if badge.active else " (retired)"
            print(
                f"{badge.name}{state}  {badge.emoji or badge.picture}  {badge.title.get('en')}  "
                f"{describe(badge)}  earned by {counts.get(badge.id, 0)}"
            )
        return 0


COMMANDS: tuple[Command, ...] = (BadgeCreate(), BadgeList())
