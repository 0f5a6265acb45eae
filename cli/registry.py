"""Every operator command, in one list: main.py parses the command line through it.

A new command is a `Command` (cli/command.py) in the module of its feature, added to that
module's COMMANDS; a new module's COMMANDS are added below.
"""

from __future__ import annotations

import argparse

from app.settings import Settings
from cli import (
    badges,
    broadcasts,
    contests,
    coupons,
    earning,
    feedback,
    jobs,
    quests,
    rules,
    segments,
    serve,
    support,
    till,
)
from cli.command import Command, opened

DEFAULT = "run"
COMMANDS: tuple[Command, ...] = (
    *serve.COMMANDS,
    *till.COMMANDS,
    *support.COMMANDS,
    *earning.COMMANDS,
    *jobs.COMMANDS,
    *rules.COMMANDS,
    *coupons.COMMANDS,
    *quests.COMMANDS,
    *contests.COMMANDS,
    *badges.COMMANDS,
    *segments.COMMANDS,
    *broadcasts.COMMANDS,
    *feedback.COMMANDS,
)
BY_NAME: dict[str, Command] = {command.name: command for command in COMMANDS}
if len(BY_NAME) != len(COMMANDS):
    raise RuntimeError("two commands share a name")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="main.py", description="Messenger loyalty program.")
    subcommands = root.add_subparsers(dest="command")
    for command in COMMANDS:
        command.add_arguments(subcommands.add_parser(command.name, help=command.help))
    return root


def command_of(arguments: argparse.Namespace) -> Command:
    return BY_NAME[arguments.command or DEFAULT]


async def execute(command: Command, settings: Settings, arguments: argparse.Namespace) -> int:
    """Open what the command needs, run it, close it again."""
    async with opened(settings, command.needs) as context:
        return await command.run(context, arguments)
