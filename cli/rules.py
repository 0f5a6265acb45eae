"""Operator commands for the program's rules (wired into `main.py`'s CLI).

python main.py rules                      every rule in force, as JSON
python main.py rules set KEY VALUE        one rule; VALUE is JSON (0.1, 30, true, "text",
                                          [...], {...}) or else plain text
python main.py rules set KEY --file F     one rule from a JSON file (tiers, promotions, ...)

A value the program cannot use is refused with the reason and changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.settings import Settings
from core.db.database import Database
from core.program import LoyaltyProgram
from core.rules.book import rules_as_json
from core.shared.errors import InvalidRules

COMMANDS = frozenset({"rules"})


def add_parsers(commands: Any) -> None:
    """Add this module's subcommands to main.py's subparsers."""
    rules = commands.add_parser("rules", help="show the program's rules, or set one")
    actions = rules.add_subparsers(dest="rules_command")
    actions.add_parser("show", help="every rule in force, as JSON (the default)")
    change = actions.add_parser("set", help="set one rule")
    change.add_argument("key", help="the rule's name, as `rules` shows it")
    change.add_argument("value", nargs="?", help="JSON, or plain text")
    change.add_argument("--file", type=Path, help="read the value (JSON) from this file")
    change.add_argument("--actor", default="operator", help="who changes it (kept with it)")


def parse_value(raw: str) -> Any:
    """JSON where it parses (decimals kept exact: 0.1 stays Decimal('0.1')), else the text."""
    try:
        return json.loads(raw, parse_float=Decimal)
    except json.JSONDecodeError:
        return raw


async def run(settings: Settings, arguments: argparse.Namespace) -> int:
    db = Database.from_url(settings.database_url, pool_size=settings.database_pool_size)
    try:
        program = LoyaltyProgram.build(db)
        if arguments.rules_command != "set":
            rules = await program.rules.current()
            print(json.dumps(rules_as_json(rules), ensure_ascii=False, indent=2))
            return 0
        if (arguments.value is None) == (arguments.file is None):
            print("Give the value, or --file with it, not both.", file=sys.stderr)
            return 2
        if arguments.file is not None:
            try:
                text = await asyncio.to_thread(arguments.file.read_text, encoding="utf-8")
                value = json.loads(text, parse_float=Decimal)
            except (OSError, json.JSONDecodeError) as error:
                print(f"Cannot read {arguments.file}: {error}", file=sys.stderr)
                return 1
        else:
            value = parse_value(arguments.value)
        try:
            updated = await program.rules.update(actor=arguments.actor, **{arguments.key: value})
        except InvalidRules as error:
            print(f"Refused: {error}", file=sys.stderr)
            return 1
        shown = rules_as_json(updated)[arguments.key]
        print(f"{arguments.key} = {json.dumps(shown, ensure_ascii=False)}")
        return 0
    finally:
        await db.close()
