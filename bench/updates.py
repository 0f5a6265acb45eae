"""Throughput and latency of a member's "Balance" update through the whole stack.

    python bench/updates.py [--backend services|embedded] [--updates N] [--concurrency C]
                            [--members M] [--rounds R] [--warmup W]
                            [--database-url URL] [--redis-url URL]

Each request is a real HTTP POST of a Telegram update to our `/webhook/telegram`:
webhook -> dedupe (Redis / in-process) -> aiogram dispatcher -> conversation handler ->
database (member + rules) -> `sendMessage` to a fake Bot API -> HTTP response. The webhook
processes the update inline, so a response means the reply has reached the fake API.

The baseline is a bare aiogram echo bot (`SimpleRequestHandler`, `handle_in_background=False`)
on the same fake API, driven by the same client with the same N and C. Echo and ours run
alternately (echo, ours, echo, ours, ...) and the median of the rounds is reported, with the
ratio ours/echo of updates per second against the 0.5x target.

Client, both servers and the fake API share one process and one event loop.

"services" uses a scratch PostgreSQL database, `bench` by default, created if missing (its
`public` schema is dropped and recreated), and Redis database 14 (FLUSHDB). Not `test`: the
test suite (tests/conftest.py) drops and truncates that one, and a run of both at once
deadlocks or wipes the other's data. "embedded" uses a SQLite file in a temporary directory
and in-process state.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiogram import Bot, Dispatcher, Router  # noqa: E402
from aiogram.client.session.aiohttp import AiohttpSession  # noqa: E402
from aiogram.client.telegram import TelegramAPIServer  # noqa: E402
from aiogram.types import Message  # noqa: E402
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application  # noqa: E402
from aiohttp import web  # noqa: E402
from redis.asyncio import Redis  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app.runtime import Runtime, build_runtime  # noqa: E402
from app.settings import Settings  # noqa: E402
from core.db.database import Database  # noqa: E402
from core.db.migrate import upgrade  # noqa: E402
from core.members.accounts import IdentityKey, Registration  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramAPI  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
OUR_TOKEN = "111111:BENCH-loyalty"
ECHO_TOKEN = "222222:BENCH-echo"
SECRET = "bench-webhook-secret"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_PATH = "/webhook/telegram"
BALANCE_LABEL = "💰 Balance"  # locales/en/loyalty.ftl: menu-balance
BALANCE_REPLY_PREFIX = "You have"  # locales/en/loyalty.ftl: balance
FIRST_USER_ID = 5_000_001
TARGET = 0.5


class BenchmarkError(AssertionError):
    """The system under test did something else than it should: the figures are worthless."""


@dataclass(frozen=True)
class Phase:
    name: str
    updates: int
    seconds: float
    cpu_seconds: float  # CPU time of this whole process (client, servers and fake) in the phase
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.updates / self.seconds

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile, in milliseconds."""
        ordered = sorted(self.latencies)
        index = max(0, math.ceil(q * len(ordered)) - 1)
        return ordered[index] * 1000

    @property
    def cpu_ms_per_update(self) -> float:
        return self.cpu_seconds / self.updates * 1000

    @property
    def p50(self) -> float:
        return self.percentile(0.50)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)


# --------------------------------------------------------------------------- setup


async def ensure_database(database_url: str) -> None:
    """Create the scratch database if it does not exist yet (e.g. a dedicated `bench`)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql" or not url.database:
        return
    admin = Database.from_url(url.set(database="postgres").render_as_string(hide_password=False))
    try:
        autocommit = admin.engine.execution_options(isolation_level="AUTOCOMMIT")
        async with autocommit.connect() as connection:
            exists = await connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
            )
            if not exists:
                quoted = connection.dialect.identifier_preparer.quote(url.database)
                await connection.execute(text(f"CREATE DATABASE {quoted}"))
    finally:
        await admin.close()


async def prepare_services(database_url: str, redis_url: str) -> None:
    await ensure_database(database_url)
    db = Database.from_url(database_url)
    try:
        async with db.engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    finally:
        await db.close()
    # Alembic's async env runs its own event loop: give it a thread.
    await asyncio.to_thread(upgrade, database_url)
    redis = Redis.from_url(redis_url)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}{WEBHOOK_PATH}"


def echo_app(fake: FakeTelegramAPI) -> tuple[web.Application, Bot]:
    """The baseline: a bare aiogram echo bot behind aiogram's own webhook handler."""
    router = Router(name="echo")

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    dispatcher = Dispatcher(name="echo")
    dispatcher.include_router(router)
    bot = Bot(
        token=ECHO_TOKEN,
        session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)),
    )
    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, handle_in_background=False, secret_token=SECRET).register(
        app, path=WEBHOOK_PATH
    )
    setup_application(app, dispatcher, bot=bot)
    return app, bot


async def enrol_members(runtime: Runtime, user_ids: list[int]) -> None:
    for user_id in user_ids:
        enrolment = await runtime.program.members.enrol(
            Registration(
                identity=IdentityKey("telegram", str(user_id)),
                language="en",
                accepted_terms=True,
                marketing_opt_in=False,
                name=f"Bench {user_id}",
            )
        )
        if not enrolment.created:
            raise BenchmarkError(f"member {user_id} already existed: the database is not clean")


# --------------------------------------------------------------------------- load


async def drive(
    client: aiohttp.ClientSession,
    url: str,
    fake: FakeTelegramAPI,
    user_ids: list[int],
    count: int,
    concurrency: int,
    name: str,
) -> tuple[Phase, Counter[int]]:
    """POST `count` fresh Balance updates with `concurrency` workers; time each one."""
    # Bodies are built before the clock starts, so the client's JSON work is not measured.
    bodies: list[bytes] = []
    chats: Counter[int] = Counter()
    for i in range(count):
        user_id = user_ids[i % len(user_ids)]
        chats[user_id] += 1
        update = fake.message_update(user_id=user_id, text=BALANCE_LABEL)
        bodies.append(json.dumps(update).encode())
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    latencies: list[float] = [0.0] * count
    next_index = 0
    clock = time.perf_counter

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            index = next_index
            next_index += 1
            started = clock()
            async with client.post(url, data=bodies[index], headers=headers) as response:
                body = await response.read()
                if response.status != 200:
                    raise BenchmarkError(
                        f"{name}: webhook answered {response.status}: {body[:200]!r}"
                    )
            latencies[index] = clock() - started

    cpu_started = time.process_time()
    started = clock()
    try:
        async with asyncio.TaskGroup() as workers:  # one failure cancels the other workers
            for _ in range(concurrency):
                workers.create_task(worker())
    except* BenchmarkError as group:
        raise group.exceptions[0] from None
    elapsed = clock() - started
    cpu = time.process_time() - cpu_started
    return Phase(name, count, elapsed, cpu, latencies), chats


def verify(
    fake: FakeTelegramAPI,
    *,
    name: str,
    token: str,
    expected_chats: Counter[int],
    accept: Callable[[str], bool],
    what: str,
) -> None:
    """Exactly one successful sendMessage per update, to the right chat, with the right text."""
    calls = list(fake.calls)
    fake.clear()
    problems: list[str] = []
    foreign = [c for c in calls if c.token != token]
    if foreign:
        problems.append(f"{len(foreign)} calls with another bot's token")
    mine = [c for c in calls if c.token == token]
    other = [c for c in mine if c.method.lower() != "sendmessage"]
    if other:
        methods = Counter(c.method for c in other)
        problems.append(f"unexpected Bot API calls: {dict(methods)}")
    sends = [c for c in mine if c.method.lower() == "sendmessage"]
    expected = sum(expected_chats.values())
    if len(sends) != expected:
        problems.append(f"{len(sends)} sendMessage calls for {expected} updates")
    failed = [c for c in sends if c.status != 200]
    if failed:
        problems.append(f"{len(failed)} sendMessage calls failed (status {failed[0].status})")
    wrong = [c for c in sends if not accept(str(c.params.get("text", "")))]
    if wrong:
        problems.append(
            f"{len(wrong)} replies are not {what}; first: {wrong[0].params.get('text')!r}"
        )
    got_chats = Counter(c.chat_id for c in sends)
    if got_chats != expected_chats:
        diff = {
            chat: (expected_chats.get(chat, 0), got_chats.get(chat, 0))
            for chat in set(expected_chats) | set(got_chats)
            if expected_chats.get(chat, 0) != got_chats.get(chat, 0)
        }
        problems.append(
            f"replies per chat differ (chat: expected, got): {dict(list(diff.items())[:5])}"
        )
    if problems:
        raise BenchmarkError(
            f"{name}: wrong behaviour, figures discarded:\n  " + "\n  ".join(problems)
        )


# --------------------------------------------------------------------------- report


def median_phase(phases: list[Phase]) -> dict[str, float]:
    """Median of each figure over the rounds (the mean of the middle two for an even count)."""
    return {
        "rate": statistics.median(p.rate for p in phases),
        "p50": statistics.median(p.p50 for p in phases),
        "p99": statistics.median(p.p99 for p in phases),
        "cpu": statistics.median(p.cpu_ms_per_update for p in phases),
    }


HEADER = f"{'':<10}{'updates/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'cpu ms/upd':>12}"


def row(label: str, rate: float, p50: float, p99: float, cpu: float) -> str:
    return f"{label:<10}{rate:>11.1f}{p50:>9.2f}{p99:>9.2f}{cpu:>12.2f}"


def report(
    args: argparse.Namespace, echo: list[Phase], ours: list[Phase], setup_seconds: float
) -> None:
    print()
    print(
        f"backend={args.backend}  updates={args.updates}  concurrency={args.concurrency}  "
        f"members={args.members}  rounds={args.rounds}  warmup={args.warmup}"
    )
    print(f"python {sys.version.split()[0]}  cpus={os.cpu_count()}  setup {setup_seconds:.1f}s")
    print("cpu ms/upd = CPU time of this process (client, both servers, fake API) per update")
    print()
    print(HEADER)
    for index, (e, o) in enumerate(zip(echo, ours, strict=True), start=1):
        for phase in (e, o):
            label = f"{phase.name} #{index}"
            print(row(label, phase.rate, phase.p50, phase.p99, phase.cpu_ms_per_update))
    medians = {"echo": median_phase(echo), "ours": median_phase(ours)}
    print()
    print(f"median of {args.rounds} round(s)")
    print(HEADER)
    for label, figures in medians.items():
        print(row(label, figures["rate"], figures["p50"], figures["p99"], figures["cpu"]))
    ratio = medians["ours"]["rate"] / medians["echo"]["rate"]
    verdict = "PASS" if ratio >= TARGET else "FAIL"
    print()
    print(f"ratio ours/echo (updates/s): {ratio:.2f}x   target >= {TARGET}x   {verdict}")


# --------------------------------------------------------------------------- main


async def bench(args: argparse.Namespace) -> None:
    began = time.perf_counter()
    scratch: tempfile.TemporaryDirectory[str] | None = None
    if args.backend == "services":
        database_url, redis_url = args.database_url, args.redis_url
        await prepare_services(database_url, redis_url)
    else:
        scratch = tempfile.TemporaryDirectory(prefix="bench-updates-")
        database_url = f"sqlite+aiosqlite:///{scratch.name}/loyalty.db"
        redis_url = ""
        await asyncio.to_thread(upgrade, database_url)

    fake = FakeTelegramAPI()
    await fake.start()
    runtime: Runtime | None = None
    runners: list[web.AppRunner] = []
    client: aiohttp.ClientSession | None = None
    try:
        settings = Settings(
            _env_file=None,
            database_url=database_url,
            redis_url=redis_url,
            telegram_bot_token=OUR_TOKEN,
            telegram_api_url=fake.base_url,
            telegram_webhook_secret=SECRET,
            public_url="",
            default_locale="en",
            # 50 members each tapping Balance ~40 times a second is a flood by design here;
            # the flood check itself (one Redis INCR per update) still runs and is measured.
            flood_max_messages=1_000_000,
        )
        runtime = build_runtime(settings)
        if runtime.telegram is None:
            raise BenchmarkError("the runtime has no Telegram channel")
        user_ids = [FIRST_USER_ID + i for i in range(args.members)]
        await enrol_members(runtime, user_ids)

        our_runner, our_url = await serve(runtime.web_app)
        runners.append(our_runner)
        app, _ = echo_app(fake)
        echo_runner, echo_url = await serve(app)  # its shutdown closes the echo bot's session
        runners.append(echo_runner)

        client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max(100, args.concurrency)),
            timeout=aiohttp.ClientTimeout(total=60),
        )

        def ours_ok(reply: str) -> bool:
            return reply.startswith(BALANCE_REPLY_PREFIX)

        def echo_ok(reply: str) -> bool:
            return reply == BALANCE_LABEL

        sides: dict[str, tuple[str, str, Callable[[str], bool], str]] = {
            "echo": (echo_url, ECHO_TOKEN, echo_ok, "the echoed text"),
            "ours": (our_url, OUR_TOKEN, ours_ok, f"a balance ({BALANCE_REPLY_PREFIX!r}...)"),
        }

        async def run(side: str, count: int, label: str) -> Phase:
            url, token, accept, what = sides[side]
            fake.clear()
            phase, chats = await drive(client, url, fake, user_ids, count, args.concurrency, side)
            verify(fake, name=label, token=token, expected_chats=chats, accept=accept, what=what)
            return phase

        setup_seconds = time.perf_counter() - began
        if args.warmup:
            for side in ("echo", "ours"):
                await run(side, args.warmup, f"{side} warm-up")
        echo: list[Phase] = []
        ours: list[Phase] = []
        for round_number in range(1, args.rounds + 1):
            for side, phases in (("echo", echo), ("ours", ours)):
                phase = await run(side, args.updates, f"{side} round {round_number}")
                phases.append(phase)
                print(
                    f"  {side} round {round_number}: {phase.rate:8.1f} updates/s  "
                    f"p50 {phase.p50:7.2f} ms  p99 {phase.p99:8.2f} ms  "
                    f"cpu {phase.cpu_ms_per_update:5.2f} ms/update  (replies verified)",
                    flush=True,
                )
        report(args, echo, ours, setup_seconds)
    finally:
        if client is not None:
            await client.close()
        for runner in reversed(runners):
            await runner.cleanup()
        if runtime is not None:
            await runtime.close()
        await fake.close()
        if scratch is not None:
            scratch.cleanup()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/updates.py",
        description="Balance updates through the whole stack vs a bare aiogram echo bot.",
    )
    parser.add_argument("--backend", choices=("services", "embedded"), default="services")
    parser.add_argument("--updates", type=int, default=2000, help="measured updates per round")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--members", type=int, default=50, help="distinct members sending")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of echo, then ours")
    parser.add_argument("--warmup", type=int, default=100, help="unmeasured updates per side")
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="services only; a SCRATCH database: its public schema is dropped",
    )
    parser.add_argument(
        "--redis-url", default=DEFAULT_REDIS_URL, help="services only; a SCRATCH db: FLUSHDB"
    )
    args = parser.parse_args(argv)
    for name in ("updates", "concurrency", "members", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(bench(args))
    except BenchmarkError as error:
        print(f"\nBENCHMARK INVALID: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
