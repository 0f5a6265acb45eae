"""Scheduled jobs, by hand: list them, or run one now (for operators and system cron).

python main.py jobs list
python main.py jobs run NAME [--force]
"""

from __future__ import annotations

import argparse
from functools import partial

from app.jobs import scheduled_jobs
from app.settings import Settings
from cli.command import Command, Context


async def deliver_notices(settings: Settings, limit: int) -> object:
    """The one job that talks to the messengers opens the runtime, and so imports their
    SDKs, when it runs: listing jobs or running any other stays on the core."""
    from app.runtime import opened

    async with opened(settings) as runtime:
        return await runtime.dispatch_notices(limit)


async def send_broadcasts(settings: Settings) -> object:
    from app.runtime import opened

    async with opened(settings) as runtime:
        return await runtime.send_broadcasts()


class Jobs(Command):
    name = "jobs"
    help = "scheduled jobs: list them or run one now"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="jobs_command", required=True)
        actions.add_parser("list", help="every job and its schedule")
        run = actions.add_parser("run", help="run one job now")
        run.add_argument("name", help="the job's name, as `jobs list` shows it")
        run.add_argument(
            "--force", action="store_true", help="run even if this period's run is done"
        )

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        jobs = scheduled_jobs(
            context.program,
            partial(deliver_notices, context.settings),
            partial(send_broadcasts, context.settings),
        )
        if args.jobs_command == "list":
            for job in jobs.jobs:
                print(f"{job.name:<20} every {job.every:<6} cron {job.cron!r} (UTC)")
            return 0
        # It respects the period's claim (several machines may call it), unless forced.
        outcome = await jobs.run(args.name, force=args.force)
        if outcome.ran:
            print(f"{outcome.job}: {outcome.result} ({outcome.run_key})")
        else:
            print(
                f"{outcome.job}: this period was already run ({outcome.run_key}); "
                "--force runs it again"
            )
        return 0


COMMANDS: tuple[Command, ...] = (Jobs(),)
