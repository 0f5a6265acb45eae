"""The program's rules, for marketers.

python main.py rules                      every rule in force, as JSON
python main.py rules set KEY VALUE        one rule; VALUE is JSON (0.1, 30, true, "text",
                                          [...], {...}) or else plain text
python main.py rules set KEY --file F     one rule from a JSON file (tiers, promotions, ...),
                                          or from stdin with --file -

A value the program cannot use is refused with the reason and changes nothing.
"""

from __future__ import annotations

import argparse
import json
from decimal import Decimal
from typing import Any

from cli.command import Command, Context, UsageError
from cli.coupons import read_text
from core.rules.book import rules_as_json
from core.shared.errors import InvalidRules


def parse_value(raw: str) -> Any:
    """JSON where it parses (decimals kept exact: 0.1 stays Decimal('0.1')), else the text."""
    try:
        return _loads(raw)
    except json.JSONDecodeError:
        return raw


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal)
    except RecursionError:
        # Not text either: a value nested thousands of levels deep is no rule.
        raise InvalidRules("the value is nested too deeply to be a rule") from None
    except json.JSONDecodeError:
        raise
    except ValueError:
        # An integer of thousands of digits (past sys.get_int_max_str_digits): no rule either.
        raise InvalidRules("the value has a number with too many digits to be a rule") from None


class Rules(Command):
    name = "rules"
    help = "show the program's rules, or set one"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="rules_command")
        actions.add_parser("show", help="every rule in force, as JSON (the default)")
        change = actions.add_parser("set", help="set one rule")
        change.add_argument("key", help="the rule's name, as `rules` shows it")
        change.add_argument("value", nargs="?", help="JSON, or plain text")
        change.add_argument("--file", help="read the value (JSON) from this file, or - for stdin")
        change.add_argument("--actor", default="operator", help="who changes it (kept with it)")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        program = context.program
        if args.rules_command != "set":
            rules = await program.rules.current()
            print(json.dumps(rules_as_json(rules), ensure_ascii=False, indent=2))
            return 0
        if (args.value is None) == (args.file is None):
            raise UsageError("Give the value, or --file with it, not both.")
        if args.file is not None:
            text = await read_text(args.file)  # UnreadableFile if it cannot be read as text
            try:
                value = _loads(text)
            except json.JSONDecodeError as error:
                where = "stdin" if args.file == "-" else args.file
                raise InvalidRules(f"{where} is not JSON: {error}") from None
        else:
            value = parse_value(args.value)
        # A refused value (InvalidRules) is printed and mapped to its exit code by cli/errors.py.
        updated = await program.rules.update(actor=args.actor, **{args.key: value})
        shown = rules_as_json(updated)[args.key]
        print(f"{args.key} = {json.dumps(shown, ensure_ascii=False)}")
        return 0


COMMANDS: tuple[Command, ...] = (Rules(),)
