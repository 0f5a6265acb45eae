"""The broadcast engine's throughput, into a fake Telegram with no limit and into one that
enforces 30 msg/s with 429 retry_after; and a worker's memory as the audience grows.

    python bench/broadcast.py [--members 10000] [--limited-members 1500] [--rate 30]
                              [--memory 10000 100000] [--workers 1]
                              [--flood-members 600] [--flood-at 300]
                              [--only unlimited limited flood memory]
                              [--database-url URL] [--redis-url URL]
                              [--concurrency N] [--batch N]

Three kinds of process, as in production: this one seeds the database (SQLite in a temporary
directory by default, or the PostgreSQL database given, which is emptied) and creates the
broadcast; the fake Bot API (the aiohttp fake of tests/fakes) runs in its own process, as
Telegram does not share the worker's CPU; `--workers` worker processes run the engine (the real
aiogram client, the real limiter: in Redis when --redis-url is given) and share the broadcast
through the batches' leases. Then:

- `unlimited`: one broadcast to everyone, the engine with no rate of its own, into a fake
  that never refuses: sends per second end to end (claim, render, send, record), from the
  first worker's start to the last one's end; target >= 2,000/s on 2 cores. On a machine
  shared with other work the wall-clock rate follows the load, so the workers' CPU time is
  printed too: sends per CPU second is what the engine costs, whatever else runs;
- `limited`: the same into a fake that answers 429 (retry_after 1 s) to any send beyond 30 in
  the last second (a sliding window), the engine at `--rate` (default 30 msg/s): the rate
  achieved (target >= 95 % of the limit), the 429s, the most sends the fake saw in any one
  second, and the sends that arrived while a retry_after was running (target 0);
- `flood`: the same with `--flood-members`, and the fake also answers the `--flood-at`th send
  with 429 whatever the rate (as Telegram's flood control may), so a retry_after surely runs
  even when the engine never goes over the limit: the sends during it (target 0). Its rate
  is printed but not the target's (the hold costs a second of sending);
- `memory`: for each size of `--memory`, a broadcast to that many members, and the worker's
  peak RSS (getrusage, the whole process) and the engine's peak of Python allocations during
  the run (tracemalloc, so this run is slower); target: at 100,000 within 1.2x of 10,000.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import deque
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiohttp import ClientSession, web  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from app import broadcasts as wiring  # noqa: E402
from app.broadcast_sending import ChannelSender  # noqa: E402
from app.runtime import Runtime, build_runtime  # noqa: E402
from app.settings import Settings  # noqa: E402
from core.broadcasts.broadcasts import SENDING  # noqa: E402
from core.broadcasts.engine import (  # noqa: E402
    DEFAULT_BATCH,
    DEFAULT_CONCURRENCY,
    BroadcastEngine,
    ChannelRate,
)
from core.broadcasts.spec import parse_spec  # noqa: E402
from core.db.migrate import upgrade  # noqa: E402
from core.db.models import Base, Identity, Member  # noqa: E402
from tests.clocks import TEST_DAY, ShiftedClock  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramAPI, _error  # noqa: E402

TOKEN = "123456:BENCH-token"
LIMIT = 30


# ---------------------------------------------------------------------- the fake's process
class BenchTelegram(FakeTelegramAPI):
    """The fake Bot API, optionally with Telegram's flood control as seen from outside: more
    than `limit` sends in the last second get 429 with retry_after 1; a send during a running
    retry_after is counted. Keeps no record of calls (a 100,000-member run), only counts, on
    GET /stats."""

    def __init__(self, limit: int, flood_at: int = 0) -> None:
        super().__init__()
        self.limit = limit
        self.flood_at = flood_at
        self.window: deque[float] = deque()
        self.limited_until = 0.0
        self.sent = 0
        self.during_wait = 0
        self.refused = 0
        self.most_in_a_second = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/stats", self._stats)
        super().routes(app)

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "sent": self.sent,
                "refused": self.refused,
                "during_wait": self.during_wait,
                "most_in_a_second": self.most_in_a_second,
            }
        )

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"].lower()
        params = dict(await request.post())
        if method != "sendmessage":
            status, result = await super()._dispatch(method, params)
        else:
            status, result = self._send(params)
        body = result if status != 200 else {"ok": True, "result": result}
        return web.json_response(body, status=status)

    def _send(self, params: dict[str, Any]) -> tuple[int, Any]:
        now = time.monotonic()
        if now < self.limited_until:
            self.during_wait += 1
        if self.flood_at and self.sent + self.refused + 1 == self.flood_at:
            self.refused += 1
            self.limited_until = now + 1
            return 429, _error(429, "Too Many Requests: retry after 1", retry_after=1)
        if self.limit:
            while self.window and self.window[0] <= now - 1:
                self.window.popleft()
            if len(self.window) >= self.limit:
                self.refused += 1
                self.limited_until = now + 1
                return 429, _error(429, "Too Many Requests: retry after 1", retry_after=1)
            self.window.append(now)
            self.most_in_a_second = max(self.most_in_a_second, len(self.window))
        self.sent += 1
        chat_id = int(str(params.get("chat_id")))
        return 200, self._message("sendmessage", chat_id, {"text": params.get("text", "")})


async def serve_fake(limit: int, flood_at: int) -> None:
    async with BenchTelegram(limit, flood_at) as fake:
        print(fake.base_url, flush=True)
        # Until the parent closes our stdin.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


# ---------------------------------------------------------------------- a worker's process
def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_settings(database_url: str, redis_url: str, api_url: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        redis_url=redis_url,
        telegram_bot_token=TOKEN,
        telegram_api_url=api_url,
    )


def bench_runtime(settings: Settings) -> Runtime:
    clock = ShiftedClock()
    clock.offset = TEST_DAY - clock.now()  # 13:00 in Moscow: nobody's quiet hours
    return build_runtime(settings, clock=clock)


async def work(args: argparse.Namespace) -> None:
    """One worker: the engine on the broadcast until nobody is left; a JSON line of figures."""
    runtime = bench_runtime(bench_settings(args.database_url, args.redis_url, args.api_url))
    try:
        engine = BroadcastEngine(
            runtime.db,
            runtime.program.clock,
            runtime.program.rules,
            wiring.broadcasts(runtime.program),
            runtime.program.coupons,
            runtime.program.tiers,
            ChannelSender(runtime.outbound_channels, runtime.conversation.texts),
            runtime.limiter,
            {"telegram": ChannelRate(args.rate, 1 if args.rate else 0)},
            batch=args.batch or DEFAULT_BATCH,
            concurrency=args.concurrency or DEFAULT_CONCURRENCY,
        )
        await runtime.program.rules.current()  # warm: not part of the run
        if args.trace:
            tracemalloc.start()
        started = time.time()
        cpu_before = cpu_seconds()
        report = await engine.run(args.work)
        # Rows put back after a 429, or another worker's, until someone finishes it (another
        # worker may: then this one's run returns at once, never done).
        while not report.done and await engine.broadcasts.state(args.work) == SENDING:
            await asyncio.sleep(0.05)
            report = await engine.run(args.work)
        ended = time.time()
        cpu = cpu_seconds() - cpu_before
        traced = tracemalloc.get_traced_memory()[1] / 2**20 if args.trace else 0.0
        print(
            json.dumps(
                {
                    "started": started,
                    "ended": ended,
                    "cpu": cpu,
                    "peak_rss_mb": peak_rss_mb(),
                    "traced_peak_mb": traced,
                }
            ),
            flush=True,
        )
    finally:
        await runtime.close()


# ---------------------------------------------------------------------- the orchestrator
async def seed(runtime: Runtime, members: int) -> None:
    now = runtime.program.clock.now()
    async with runtime.db.transaction() as session:
        for start in range(0, members, 5000):
            count = min(5000, members - start)
            ids = list(
                (
                    await session.execute(
                        insert(Member).returning(Member.id),
                        [
                            {
                                "card_code": f"B{start + n:011d}",
                                "referral_code": f"r{start + n:031d}",
                                "name": f"Member {start + n}",
                                "language": "en",
                                "marketing_opt_in": True,
                                "terms_accepted_at": now,
                                "balance": 100,
                                "debt": 0,
                                "created_at": now,
                                "updated_at": now,
                            }
                            for n in range(count)
                        ],
                    )
                ).scalars()
            )
            await session.execute(
                insert(Identity),
                [
                    {
                        "member_id": member_id,
                        "channel": "telegram",
                        "external_id": str(100000 + start + n),
                        "created_at": now,
                    }
                    for n, member_id in enumerate(ids)
                ],
            )


async def wipe(runtime: Runtime) -> None:
    async with runtime.db.transaction() as session:
        for table in reversed(Base.metadata.sorted_tables):
            await session.execute(text(f"DELETE FROM {table.name}"))


async def prepared(args: argparse.Namespace, members: int, label: str) -> int:
    """A fresh database of `members`, and a started, planned broadcast to all: its id."""
    runtime = bench_runtime(bench_settings(args.database_url, args.redis_url, ""))
    try:
        await wipe(runtime)
        if runtime.redis is not None:
            await runtime.redis.flushdb()
        await seed(runtime, members)
        broadcasts = wiring.broadcasts(runtime.program)
        spec = parse_spec({"name": label, "text": {"en": "Hi {name}, {balance} points"}})
        broadcast = await broadcasts.create(spec, actor="bench")
        await broadcasts.start(broadcast.id)
        await broadcasts.plan(broadcast.id)
        return broadcast.id
    finally:
        await runtime.close()


def child(*extra: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *extra]


async def run_workers(
    args: argparse.Namespace, broadcast_id: int, api_url: str, *, rate: float, trace: bool
) -> list[dict[str, Any]]:
    command = child(
        "--work",
        str(broadcast_id),
        "--api-url",
        api_url,
        "--rate",
        str(rate),
        "--database-url",
        args.database_url,
        "--redis-url",
        args.redis_url,
        "--batch",
        str(args.batch),
        "--concurrency",
        str(args.concurrency),
        *(["--trace"] if trace else []),
    )
    workers = [
        await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE)
        for _ in range(args.workers)
    ]
    results = []
    for worker in workers:
        out, _ = await worker.communicate()
        if worker.returncode != 0:
            raise SystemExit(f"a worker failed ({worker.returncode})")
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


class Fake:
    """The fake Bot API in its own process."""

    def __init__(self, limit: int, flood_at: int = 0) -> None:
        self.limit = limit
        self.flood_at = flood_at

    async def __aenter__(self) -> Fake:
        self.process = await asyncio.create_subprocess_exec(
            *child("--serve-fake", str(self.limit), "--flood-at", str(self.flood_at)),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        self.url = (await self.process.stdout.readline()).decode().strip()
        return self

    async def stats(self) -> dict[str, int]:
        async with ClientSession() as http, http.get(f"{self.url}/stats") as response:
            return dict(await response.json())

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()


async def one_run(
    args: argparse.Namespace,
    members: int,
    *,
    limit: int,
    rate: float,
    trace: bool = False,
    flood_at: int = 0,
) -> tuple[dict[str, int], float, list[dict[str, Any]]]:
    broadcast_id = await prepared(args, members, f"{members} at {rate or 'no limit'}")
    async with Fake(limit, flood_at) as fake:
        workers = await run_workers(args, broadcast_id, fake.url, rate=rate, trace=trace)
        stats = await fake.stats()
    elapsed = max(w["ended"] for w in workers) - min(w["started"] for w in workers)
    return stats, elapsed, workers


async def main(args: argparse.Namespace) -> None:
    await asyncio.to_thread(upgrade, args.database_url)
    backend = "PostgreSQL + Redis" if args.redis_url else "SQLite, in-process limiter"
    print(
        f"{backend}; {args.workers} worker(s), batch {args.batch}, concurrency {args.concurrency}"
    )
    if "unlimited" in args.only:
        stats, elapsed, workers = await one_run(args, args.members, limit=0, rate=0)
        rss = max(w["peak_rss_mb"] for w in workers)
        cpu = sum(w["cpu"] for w in workers)
        print(
            f"unlimited: {stats['sent']} sent in {elapsed:.1f} s = "
            f"{stats['sent'] / elapsed:.0f} sends/s; worker CPU {cpu:.1f} s = "
            f"{stats['sent'] / cpu:.0f} sends per CPU second; worker peak RSS {rss:.0f} MB"
        )
    if "limited" in args.only:
        stats, elapsed, workers = await one_run(
            args, args.limited_members, limit=LIMIT, rate=args.rate
        )
        achieved = stats["sent"] / elapsed
        print(
            f"{LIMIT}/s limit, engine at {args.rate:g}/s: {stats['sent']} sent in "
            f"{elapsed:.1f} s = {achieved:.2f} msg/s ({100 * achieved / LIMIT:.1f} % of {LIMIT});"
            f" 429s: {stats['refused']}; most in any second: {stats['most_in_a_second']};"
            f" sends during a retry_after: {stats['during_wait']}"
        )
    if "flood" in args.only:
        stats, elapsed, workers = await one_run(
            args, args.flood_members, limit=LIMIT, rate=args.rate, flood_at=args.flood_at
        )
        print(
            f"{LIMIT}/s limit and a 429 at send {args.flood_at}: {stats['sent']} sent in "
            f"{elapsed:.1f} s; 429s: {stats['refused']}; most in any second: "
            f"{stats['most_in_a_second']}; sends during a retry_after: {stats['during_wait']}"
        )
    if "memory" in args.only:
        for members in args.memory:
            stats, elapsed, workers = await one_run(args, members, limit=0, rate=0, trace=True)
            print(
                f"memory at {members}: {stats['sent']} sent in {elapsed:.1f} s; worker peak RSS "
                f"{max(w['peak_rss_mb'] for w in workers):.0f} MB, engine's peak Python "
                f"allocations {max(w['traced_peak_mb'] for w in workers):.1f} MB (tracemalloc)"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--limited-members", type=int, default=1500)
    parser.add_argument("--memory", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--only", nargs="*", default=["unlimited", "limited", "flood", "memory"])
    parser.add_argument("--flood-members", type=int, default=600)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=0, help="0: the engine's default")
    parser.add_argument("--batch", type=int, default=0, help="0: the engine's default")
    parser.add_argument("--rate", type=float, default=LIMIT, help="the engine's Telegram rate")
    parser.add_argument(
        "--flood-at",
        type=int,
        default=300,
        help="the flood run's fake answers this send with 429 whatever the rate",
    )
    # The child processes.
    parser.add_argument("--serve-fake", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--api-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if parsed.serve_fake is not None:
        asyncio.run(serve_fake(parsed.serve_fake, parsed.flood_at))
    elif parsed.work is not None:
        asyncio.run(work(parsed))
    else:
        with tempfile.TemporaryDirectory() as scratch:
            if not parsed.database_url:
                parsed.database_url = f"sqlite+aiosqlite:///{scratch}/bench.db"
            os.environ.setdefault("PYTHONPATH", str(ROOT))
            asyncio.run(main(parsed))
