"""The composition root: reads settings, builds every layer, and runs what was asked.

python main.py [run]                      web server + every configured channel
python main.py chat                       talk to the bot in this terminal
python main.py migrate                    apply database migrations
python main.py credit CARD AMOUNT --purchase-id ID
python main.py redeem CARD POINTS --redemption-id ID
python main.py event CARD KIND EVENT_ID | tier-status CARD   (see cli/earning.py)
python main.py jobs list | jobs run NAME [--force]
python main.py scheduler | worker        scheduled jobs in processes of their own
python main.py rules [set KEY VALUE]     the program's rules (see cli/rules.py)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import hashlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from redis.asyncio import Redis

from bots.console import ConsoleChannel, stdin_reader
from bots.dispatch import DispatchReport, NoticeDispatcher
from bots.outbound import Outbound
from bots.telegram import TelegramChannel, create_bot
from bots.vk import VkChannel
from bots.vk import create_api as create_vk_api
from bots.web import Probe, build_web_app
from bots.whatsapp import WhatsAppChannel
from bots.whatsapp import create_client as create_twilio_client
from cli import coupons as coupon_commands
from cli import earning as earning_commands
from cli import rules as rules_commands
from core import cards
from core.clock import Clock
from core.db import Database
from core.errors import LoyaltyError, MemberNotFound
from core.jobs import Every, Job, JobRunner, UnknownJob, job_runner
from core.migrate import upgrade_async
from core.notices import Notices
from core.program import LoyaltyProgram
from core.settings import Settings
from core.state import (
    ConversationStore,
    FloodGate,
    MemoryConversationStore,
    MemoryFloodGate,
    MemoryUpdateLog,
    RedisConversationStore,
    RedisFloodGate,
    RedisUpdateLog,
    UpdateLog,
)
from handlers.conversation import Conversation
from handlers.i18n import Translator
from handlers.invites import InviteLinks
from scheduler import JobScheduler

log = logging.getLogger("loyalty")
# How long a shutdown waits for the notice dispatcher's batch in flight.
NOTICE_SHUTDOWN_SECONDS = 10.0
# Notices one run of the scheduled `dispatch_notices` job delivers at most.
NOTICE_JOB_BATCH = 100


@dataclass
class Runtime:
    settings: Settings
    db: Database
    redis: Redis | None
    program: LoyaltyProgram
    conversations: ConversationStore
    updates: UpdateLog
    conversation: Conversation
    notices: Notices
    telegram: TelegramChannel | None = None
    vk: VkChannel | None = None
    whatsapp: WhatsAppChannel | None = None
    # The terminal's member, while `run`/`chat` shows the console channel.
    console: ConsoleChannel | None = None
    web_app: web.Application = field(default_factory=web.Application)

    @property
    def has_messenger(self) -> bool:
        return any(channel is not None for channel in (self.telegram, self.vk, self.whatsapp))

    def outbound_channels(self) -> dict[str, Outbound]:
        """The channels that can reach a member now, by the name identities carry."""
        channels: dict[str, Outbound | None] = {
            "telegram": self.telegram,
            "vk": self.vk,
            "whatsapp": self.whatsapp,
            "console": self.console,
        }
        return {name: channel for name, channel in channels.items() if channel is not None}

    @property
    def dispatcher(self) -> NoticeDispatcher:
        return NoticeDispatcher(
            self.notices,
            self.program.rules,
            self.conversation.texts,
            self.outbound_channels,
        )

    async def dispatch_notices(self, limit: int = 100) -> DispatchReport:
        """Deliver up to `limit` pending notices (points earned, coupons, reminders ...)."""
        return await self.dispatcher.dispatch(limit)

    async def close(self) -> None:
        if self.telegram is not None:
            await self.telegram.close()
        if self.vk is not None:
            await self.vk.close()
        if self.whatsapp is not None:
            await self.whatsapp.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.close()


def webhook_secret(settings: Settings) -> str:
    if settings.telegram_webhook_secret is not None:
        return settings.telegram_webhook_secret.get_secret_value()
    # Stable across processes and restarts, and unguessable without the bot token.
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    return hashlib.sha256(f"webhook:{token}".encode()).hexdigest()


def build_runtime(settings: Settings, *, clock: Clock | None = None) -> Runtime:
    db = Database.from_url(settings.database_url, pool_size=settings.database_pool_size)
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    conversations: ConversationStore
    updates: UpdateLog
    if redis is not None:
        conversations = RedisConversationStore(redis, settings.conversation_ttl_seconds)
        updates = RedisUpdateLog(redis, settings.update_dedupe_ttl_seconds)
        flood: FloodGate = RedisFloodGate(redis, settings.flood_window_seconds)
    else:
        conversations = MemoryConversationStore(settings.conversation_ttl_seconds)
        updates = MemoryUpdateLog(settings.update_dedupe_ttl_seconds)
        flood = MemoryFloodGate(settings.flood_window_seconds)
    program = LoyaltyProgram.build(db, clock)
    invites = InviteLinks()
    if settings.telegram_bot_username:
        invites.add_telegram(settings.telegram_bot_username.lstrip("@"))
    if settings.vk_enabled and settings.vk_group_id is not None:
        invites.add_vk(settings.vk_group_id)
    if settings.whatsapp_enabled:
        invites.add_whatsapp(settings.twilio_whatsapp_from)
    conversation = Conversation(
        program,
        conversations,
        Translator.load(settings.locale),
        flood=flood,
        flood_limit=settings.flood_max_messages,
        invites=invites,
    )

    probes: dict[str, Probe] = {"database": db.ping}
    if redis is not None:

        async def redis_ping() -> None:
            await redis.ping()

        probes["redis"] = redis_ping
    runtime = Runtime(
        settings=settings,
        db=db,
        redis=redis,
        program=program,
        conversations=conversations,
        updates=updates,
        conversation=conversation,
        notices=Notices(db, program.clock),
        web_app=build_web_app(probes),
    )
    if settings.telegram_enabled and settings.telegram_bot_token is not None:
        bot = create_bot(
            settings.telegram_bot_token.get_secret_value(), api_url=settings.telegram_api_url
        )
        runtime.telegram = TelegramChannel(
            bot, conversation, updates, webhook_secret=webhook_secret(settings)
        )
        runtime.telegram.register_webhook(runtime.web_app)
    if settings.vk_enabled and settings.vk_group_token and settings.vk_group_id is not None:
        runtime.vk = VkChannel(
            create_vk_api(settings.vk_group_token.get_secret_value(), api_url=settings.vk_api_url),
            conversation,
            updates,
            conversations,
            group_id=settings.vk_group_id,
            confirmation_code=settings.vk_confirmation_code,
            secret=settings.vk_secret.get_secret_value() if settings.vk_secret else "",
        )
        runtime.vk.register_webhook(runtime.web_app)
    if settings.whatsapp_enabled and settings.twilio_auth_token is not None:
        auth_token = settings.twilio_auth_token.get_secret_value()
        runtime.whatsapp = WhatsAppChannel(
            create_twilio_client(
                settings.twilio_account_sid, auth_token, api_url=settings.twilio_api_url
            ),
            conversation,
            updates,
            conversations,
            program.members,
            sender=settings.twilio_whatsapp_from,
            auth_token=auth_token,
            public_url=settings.public_url,
            # Every process must sign card links alike, and nobody without the token can.
            media_key=hashlib.sha256(f"whatsapp-media:{auth_token}".encode()).digest(),
            clock=program.clock,
        )
        runtime.whatsapp.register_webhook(runtime.web_app)
    return runtime


async def run(settings: Settings, *, console: bool | None = None) -> None:
    """Serve until interrupted (or, with the console channel, until the member leaves)."""
    await upgrade_async(settings.database_url)
    runtime = build_runtime(settings)
    runner = web.AppRunner(runtime.web_app, access_log=None)
    await runner.setup()
    tasks: list[asyncio.Task[None]] = []
    stop_notices = asyncio.Event()
    notices: asyncio.Task[None] | None = None
    try:
        site = web.TCPSite(runner, settings.web_host, settings.web_port)
        await site.start()
        log.info("listening on http://%s:%s", settings.web_host, settings.web_port)
        if runtime.telegram is not None:
            await runtime.telegram.publish_commands(runtime.conversation.texts)
            if "telegram" not in runtime.conversation.invites.templates:
                username = await runtime.telegram.username()
                if username:
                    runtime.conversation.invites.add_telegram(username)
            if settings.telegram_webhook_url:
                await runtime.telegram.set_webhook(settings.telegram_webhook_url)
                log.info("telegram: webhook at %s", settings.telegram_webhook_url)
            else:
                tasks.append(asyncio.create_task(runtime.telegram.run_polling()))
                log.info("telegram: long polling")
        if runtime.whatsapp is not None:
            log.info("whatsapp: Twilio webhook at %s/webhook/whatsapp", settings.public_url)
        if runtime.vk is not None:
            if settings.public_url:
                log.info("vk: Callback API at %s/webhook/vk", settings.public_url.rstrip("/"))
            else:
                tasks.append(asyncio.create_task(runtime.vk.run_long_poll()))
                log.info("vk: Bots Long Poll")
        if settings.scheduler_enabled:
            jobs = JobScheduler.build(scheduled_jobs(runtime), settings.redis_url)
            tasks.append(asyncio.create_task(jobs.serve()))
        shows_console = console if console is not None else not runtime.has_messenger
        terminal = console_channel(runtime) if shows_console else None
        notices = asyncio.create_task(runtime.dispatcher.run_forever(stop_notices))
        if terminal is not None:
            await terminal.run()
        else:
            await wait_for_signal(tasks)
    finally:
        await stop_dispatching(stop_notices, notices)
        for task in tasks:
            task.cancel()
        if runtime.telegram is not None:
            await runtime.telegram.stop_polling()
        if runtime.vk is not None:
            await runtime.vk.stop()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await runner.cleanup()
        await runtime.close()


async def stop_dispatching(stop: asyncio.Event, task: asyncio.Task[None] | None) -> None:
    """Let the notice dispatcher finish the batch it is sending (so none stays claimed until
    its lease runs out), but not for long."""
    stop.set()
    if task is None:
        return
    with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
        await asyncio.wait_for(task, NOTICE_SHUTDOWN_SECONDS)


async def wait_for_signal(tasks: list[asyncio.Task[None]]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    waiters = [asyncio.create_task(stop.wait()), *tasks]
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    waiters[0].cancel()


def console_channel(runtime: Runtime, *, user_id: str | None = None) -> ConsoleChannel:
    """The terminal's conversation; notices for its member are printed in it too."""
    runtime.console = ConsoleChannel(
        runtime.conversation,
        user_id=user_id or os.environ.get("LOYALTY_CONSOLE_USER") or getpass.getuser(),
        language_code=os.environ.get("LANG"),
        display_name=None,
        read_line=stdin_reader(sys.stdin),
        output=sys.stdout,
        images_dir=Path("data") / "console",
    )
    return runtime.console


@contextlib.asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = build_runtime(settings)
    try:
        yield runtime
    finally:
        await runtime.close()


async def chat(settings: Settings, user_id: str | None) -> None:
    await upgrade_async(settings.database_url)
    async with opened(settings) as runtime:
        terminal = console_channel(runtime, user_id=user_id)
        stop = asyncio.Event()
        notices = asyncio.create_task(runtime.dispatcher.run_forever(stop))
        try:
            await terminal.run()
        finally:
            await stop_dispatching(stop, notices)


async def credit(
    settings: Settings,
    card: str,
    amount: str,
    purchase_id: str,
    actor: str,
    store: str | None = None,
    categories: dict[str, str] | None = None,
) -> int:
    async with opened(settings) as runtime:
        result = await runtime.program.purchases.credit(
            card, amount, purchase_id=purchase_id, actor=actor, store=store, categories=categories
        )
    what = "was already credited" if result.replayed else "credited"
    tier = f" New tier: {result.tier}." if result.tier_changed else ""
    print(
        f"Purchase {result.purchase_id} ({result.amount}) {what}: "
        f"{result.points} points to card {cards.display(result.card_code)}. "
        f"Balance: {result.balance}.{tier}"
    )
    return 0


async def earning(settings: Settings, arguments: argparse.Namespace) -> int:
    async with opened(settings) as runtime:
        return await earning_commands.run(runtime.program, arguments)


async def redeem(
    settings: Settings,
    card: str,
    points: int,
    redemption_id: str,
    actor: str,
    order_amount: str | None = None,
) -> int:
    async with opened(settings) as runtime:
        result = await runtime.program.purchases.redeem(
            card, points, redemption_id=redemption_id, actor=actor, order_amount=order_amount
        )
    what = "was already redeemed" if result.replayed else "redeemed"
    print(f"Redemption {redemption_id} {what}: {result.points} points. Balance: {result.balance}.")
    return 0


async def refund(
    settings: Settings, purchase_id: str, refund_id: str, actor: str, amount: str | None
) -> int:
    async with opened(settings) as runtime:
        result = await runtime.program.purchases.refund(
            purchase_id, refund_id=refund_id, actor=actor, amount=amount
        )
    what = "was already refunded" if result.replayed else "refunded"
    debt = f" ({result.debt_added} left as debt)" if result.debt_added else ""
    print(
        f"Refund {refund_id} of purchase {purchase_id} ({result.amount}) {what}: "
        f"{result.points} points taken back{debt}. Balance: {result.balance}."
    )
    return 0


def scheduled_jobs(runtime: Runtime) -> JobRunner:
    """Every scheduled job: the core's, and delivering notices, which needs the messengers
    and so is added here (the notices' leases keep it safe next to the live dispatcher)."""

    async def dispatch_notices() -> object:
        return await runtime.dispatch_notices(NOTICE_JOB_BATCH)

    return job_runner(runtime.program, [Job("dispatch_notices", Every.MINUTE, dispatch_notices)])


async def jobs_list(settings: Settings) -> int:
    async with opened(settings) as runtime:
        for job in scheduled_jobs(runtime).jobs:
            print(f"{job.name:<20} every {job.every:<6} cron {job.cron!r} (UTC)")
    return 0


async def run_job(settings: Settings, name: str, *, force: bool) -> int:
    """One job now, for operators and system cron: it respects the period's claim (several
    machines may call it), unless forced."""
    async with opened(settings) as runtime:
        outcome = await scheduled_jobs(runtime).run(name, force=force)
    if outcome.ran:
        print(f"{outcome.job}: {outcome.result} ({outcome.run_key})")
    else:
        print(
            f"{outcome.job}: this period was already run ({outcome.run_key}); --force runs it again"
        )
    return 0


async def serve_jobs(settings: Settings, *, schedule: bool, work: bool) -> int:
    if work and not schedule and not settings.redis_url:
        print("A job worker takes jobs from Redis: set REDIS_URL.", file=sys.stderr)
        return 2
    async with opened(settings) as runtime:
        jobs = JobScheduler.build(scheduled_jobs(runtime), settings.redis_url)
        task = asyncio.create_task(jobs.serve(schedule=schedule, work=work))
        try:
            await wait_for_signal([task])
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="main.py", description="Messenger loyalty program.")
    commands = root.add_subparsers(dest="command")
    commands.add_parser("run", help="web server and every configured channel (default)")
    chat_parser = commands.add_parser("chat", help="talk to the bot in this terminal")
    chat_parser.add_argument("--user", help="who you are in the console channel")
    commands.add_parser("migrate", help="apply database migrations")
    credit_parser = commands.add_parser("credit", help="record a purchase and earn points")
    credit_parser.add_argument("card", help="the member's card code")
    credit_parser.add_argument("amount", help="purchase amount, e.g. 1234.50")
    credit_parser.add_argument("--purchase-id", required=True, help="the shop's receipt id")
    credit_parser.add_argument("--actor", default="operator", help="who records it")
    earning_commands.add_credit_options(credit_parser)
    redeem_parser = commands.add_parser("redeem", help="spend a member's points at the till")
    redeem_parser.add_argument("card", help="the member's card code")
    redeem_parser.add_argument("points", type=int, help="how many points to spend")
    redeem_parser.add_argument("--redemption-id", required=True, help="the shop's receipt id")
    redeem_parser.add_argument("--actor", default="operator", help="who records it")
    redeem_parser.add_argument(
        "--order-amount", help="the order paid with the points; caps them at the allowed share"
    )
    refund_parser = commands.add_parser("refund", help="take back a refunded purchase's points")
    refund_parser.add_argument("purchase_id", help="the purchase's receipt id")
    refund_parser.add_argument("--refund-id", required=True, help="the shop's refund id")
    refund_parser.add_argument("--amount", help="a partial refund; the whole purchase if absent")
    refund_parser.add_argument("--actor", default="operator", help="who records it")
    jobs_parser = commands.add_parser("jobs", help="scheduled jobs: list them or run one now")
    jobs_commands = jobs_parser.add_subparsers(dest="jobs_command", required=True)
    jobs_commands.add_parser("list", help="every job and its schedule")
    run_job_parser = jobs_commands.add_parser("run", help="run one job now")
    run_job_parser.add_argument("name", help="the job's name, as `jobs list` shows it")
    run_job_parser.add_argument(
        "--force", action="store_true", help="run even if this period's run is done"
    )
    commands.add_parser(
        "scheduler", help="fire the job schedules (with REDIS_URL; else it runs them too)"
    )
    commands.add_parser("worker", help="run the jobs any scheduler fires (needs REDIS_URL)")
    coupon_commands.add_parsers(commands)
    earning_commands.add_parsers(commands)
    rules_commands.add_parsers(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    settings = Settings()
    command = arguments.command or "run"
    quiet = command in ("chat", "credit", "redeem", "refund", "jobs") or (
        command == "run"
        and not (settings.telegram_enabled or settings.vk_enabled or settings.whatsapp_enabled)
    )
    quiet = quiet or command in (
        coupon_commands.COMMANDS | earning_commands.COMMANDS | rules_commands.COMMANDS
    )
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if command == "run":
            asyncio.run(run(settings))
        elif command == "chat":
            asyncio.run(chat(settings, arguments.user))
        elif command in coupon_commands.COMMANDS:
            return asyncio.run(coupon_commands.run(settings, arguments))
        elif command in rules_commands.COMMANDS:
            return asyncio.run(rules_commands.run(settings, arguments))
        elif command in earning_commands.COMMANDS:
            return asyncio.run(earning(settings, arguments))
        elif command == "migrate":
            asyncio.run(upgrade_async(settings.database_url))
            print("Database is up to date.")
        elif command == "credit":
            return asyncio.run(
                credit(
                    settings,
                    arguments.card,
                    arguments.amount,
                    arguments.purchase_id,
                    arguments.actor,
                    arguments.store,
                    earning_commands.categories_of(arguments.category),
                )
            )
        elif command == "redeem":
            return asyncio.run(
                redeem(
                    settings,
                    arguments.card,
                    arguments.points,
                    arguments.redemption_id,
                    arguments.actor,
                    arguments.order_amount,
                )
            )
        elif command == "jobs":
            if arguments.jobs_command == "list":
                return asyncio.run(jobs_list(settings))
            return asyncio.run(run_job(settings, arguments.name, force=arguments.force))
        elif command in ("scheduler", "worker"):
            return asyncio.run(
                serve_jobs(settings, schedule=command == "scheduler", work=command == "worker")
            )
        elif command == "refund":
            return asyncio.run(
                refund(
                    settings,
                    arguments.purchase_id,
                    arguments.refund_id,
                    arguments.actor,
                    arguments.amount,
                )
            )
    except UnknownJob as error:
        print(f"No job named {error}; see `main.py jobs list`", file=sys.stderr)
        return 2
    except argparse.ArgumentTypeError as error:
        print(f"Usage error: {error}", file=sys.stderr)
        return 2
    except cards.InvalidCardCode as error:
        print(f"Not a valid card code: {error}", file=sys.stderr)
        return 2
    except MemberNotFound as error:
        print(f"No member with card {error}", file=sys.stderr)
        return 1
    except LoyaltyError as error:
        print(f"Refused: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
