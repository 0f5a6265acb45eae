"""How an operator command is written: a `Command` says what it needs, takes its arguments and
runs against a `Context` holding just that.

A command that talks to no messenger needs only the core (a Database and the LoyaltyProgram
over it): it starts without importing any messenger SDK. The long-running ones (`run`, `chat`,
...) build their own runtime through app.lifecycle, and what delivers through the channels
(`jobs run dispatch_notices`) opens one when it runs.
"""

from __future__ import annotations

import argparse
import enum
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import ClassVar

from app.settings import Settings
from core.db.database import Database
from core.members.accounts import Profile
from core.program import LoyaltyProgram
from core.shared.errors import MemberNotFound
from core.shared.owners import owner_of_card


class Needs(enum.Enum):
    SETTINGS = "settings"  # nothing opened: the command builds what it runs (migrate, run ...)
    CORE = "core"  # the database and the loyalty program over it, no channels


class UsageError(Exception):
    """A command line that parses but does not say one thing to do (exit status 2)."""


@dataclass(frozen=True)
class Context:
    settings: Settings
    _program: LoyaltyProgram | None = None

    @property
    def program(self) -> LoyaltyProgram:
        if self._program is None:
            raise RuntimeError("this command did not ask for the core (needs = Needs.CORE)")
        return self._program

    async def member_of(self, args: argparse.Namespace) -> Profile:
        """The member of `card` or `--phone` (cli.arguments.add_member_arguments):
        MemberNotFound, PhoneNotFound or PhoneShared if there is no one to pick."""
        if args.phone is not None:
            return await self.program.members.by_verified_phone(args.phone)
        return await self.program.members.get(await self.member_id(args.card))

    async def card_of(self, args: argparse.Namespace) -> str:
        """The card code of `card` or `--phone`: what the till's services take."""
        if args.phone is not None:
            return (await self.program.members.by_verified_phone(args.phone)).card_code
        code: str = args.card
        return code

    async def member_id(self, card: str) -> int:
        """The member a (normalized) card code belongs to today; MemberNotFound if none."""
        async with self.program.db.reading() as session:
            member_id = await session.scalar(owner_of_card(card))
        if member_id is None:
            raise MemberNotFound(card)
        return member_id


class Command(ABC):
    """One subcommand of main.py. Register an instance in cli/registry.py."""

    name: ClassVar[str]
    help: ClassVar[str]
    needs: ClassVar[Needs] = Needs.CORE

    # Not abstract on purpose: a command without arguments does not override it.
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:  # noqa: B027
        """The command's own arguments (none by default)."""

    def logs_progress(self, settings: Settings) -> bool:
        """True for commands whose INFO log is worth reading as they run (servers, migrations);
        the rest log warnings only, so what they print stays readable."""
        return False

    @abstractmethod
    async def run(self, context: Context, args: argparse.Namespace) -> int:
        """Do it; the exit status. Refusals are raised (see cli/errors.py), not printed."""


@asynccontextmanager
async def opened(settings: Settings, needs: Needs) -> AsyncIterator[Context]:
    if needs is Needs.SETTINGS:
        yield Context(settings)
    else:
        db = Database.from_url(settings.database_url, pool_size=settings.database_pool_size)
        try:
            yield Context(settings, _program=LoyaltyProgram.build(db))
        finally:
            await db.close()
