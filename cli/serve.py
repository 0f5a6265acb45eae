"""The long-running commands and the schema: thin doors into app.lifecycle.

python main.py [run]                      web server + every configured channel
python main.py chat [--user NAME]         talk to the bot in this terminal
python main.py scheduler | worker        scheduled jobs in processes of their own
python main.py migrate                    apply database migrations

app.lifecycle is imported when one of them runs, not before: it brings the enabled channels' SDKs.
Each returns what the lifecycle returns: non-zero when a background task died.
"""

from __future__ import annotations

import argparse

from app.settings import Settings
from cli.command import Command, Context, Needs


class Run(Command):
    name = "run"
    help = "web server and every configured channel (default)"
    needs = Needs.SETTINGS

    def logs_progress(self, settings: Settings) -> bool:
        # Without a messenger the terminal is the console channel: logs would garble it.
        # Imported here: every command asks this, and only `run` should load the channel list.
        from app.channels import PLUGINS

        return any(plugin.enabled(settings) for plugin in PLUGINS)

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        from app.lifecycle import run as serve

        return await serve(context.settings)


class Chat(Command):
    name = "chat"
    help = "talk to the bot in this terminal"
    needs = Needs.SETTINGS

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--user", help="who you are in the console channel")

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        from app.lifecycle import chat

        return await chat(context.settings, args.user)


class ServeJobs(Command):
    needs = Needs.SETTINGS

    def logs_progress(self, settings: Settings) -> bool:
        return True

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        from app.lifecycle import serve_jobs

        schedule = self.name == "scheduler"
        return await serve_jobs(context.settings, schedule=schedule, work=not schedule)


class Scheduler(ServeJobs):
    name = "scheduler"
    help = "fire the job schedules (with REDIS_URL; else it runs them too)"


class Worker(ServeJobs):
    name = "worker"
    help = "run the jobs any scheduler fires (needs REDIS_URL)"


class Migrate(Command):
    name = "migrate"
    help = "apply database migrations"
    needs = Needs.SETTINGS

    def logs_progress(self, settings: Settings) -> bool:
        return True

    async def run(self, context: Context, args: argparse.Namespace) -> int:
        from core.db.migrate import upgrade_async

        await upgrade_async(context.settings.database_url)
        print("Database is up to date.")
        return 0


COMMANDS: tuple[Command, ...] = (Run(), Chat(), Migrate(), Scheduler(), Worker())
