"""The broadcast engine's throughput, into a fake Telegram with no limit and into one that
enforces 30 msg/s with 429 retry_after.

    python bench/broadcast.py [--members 10000] [--limited-members 3000] [--rate 30]
                              [--database-url URL] [--redis-url URL]
                              [--concurrency 16] [--batch 50]

Members with one Telegram account each are written straight into a fresh database (SQLite in
a temporary directory by default, or the PostgreSQL database given, which is emptied). Then:

- `unlimited`: one broadcast to everyone, the engine with no rate of its own, into the fake
  Bot API (aiohttp on 127.0.0.1, the real aiogram client): sends per second end to end
  (claim, render, send, record), the figure the issue wants at >= 2,000/s on 2 cores;
- `30/s`: the same into a fake that answers 429 (retry_after 1 s) to any send beyond 30 in
  the last second, with the engine at its default 30 msg/s: the rate achieved (target >= 95 %
  of the limit), how many 429s, and how many sends arrived while a retry_after was running
  (target 0).

Peak RSS of the process is printed after each (resource.getrusage).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from app import broadcasts as wiring  # noqa: E402
from app.broadcast_sending import ChannelSender  # noqa: E402
from app.runtime import Runtime, build_runtime  # noqa: E402
from app.settings import Settings  # noqa: E402
from core.broadcasts.engine import BroadcastEngine, ChannelRate  # noqa: E402
from core.broadcasts.spec import parse_spec  # noqa: E402
from core.db.migrate import upgrade  # noqa: E402
from core.db.models import Base, Identity, Member  # noqa: E402
from tests.clocks import TEST_DAY, ShiftedClock  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramAPI, _error  # noqa: E402

TOKEN = "123456:BENCH-token"
LIMIT = 30


class LimitedTelegram(FakeTelegramAPI):
    """Telegram's flood control as seen from outside: more than LIMIT sends in the last second
    get 429 with retry_after; a send during a running retry_after is counted."""

    def __init__(self) -> None:
        super().__init__()
        self.window: deque[float] = deque()
        self.limited_until = 0.0
        self.during_wait = 0
        self.refused = 0

    async def _dispatch(self, method: str, params: Any) -> tuple[int, Any]:
        if method != "sendmessage":
            return await super()._dispatch(method, params)
        now = time.monotonic()
        if now < self.limited_until:
            self.during_wait += 1
        while self.window and self.window[0] <= now - 1:
            self.window.popleft()
        if len(self.window) >= LIMIT:
            self.refused += 1
            self.limited_until = now + 1
            return 429, _error(429, "Too Many Requests: retry after 1", retry_after=1)
        self.window.append(now)
        return await super()._dispatch(method, params)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


async def one_run(
    label: str, fake: FakeTelegramAPI, args: argparse.Namespace, rate: float, members: int
) -> tuple[int, float]:
    settings = Settings(
        _env_file=None,
        database_url=args.database_url,
        redis_url=args.redis_url,
        telegram_bot_token=TOKEN,
        telegram_api_url=fake.base_url,
    )
    clock = ShiftedClock()
    clock.offset = TEST_DAY - clock.now()  # 13:00 in Moscow: nobody's quiet hours
    runtime = build_runtime(settings, clock=clock)
    try:
        await wipe(runtime)
        await seed(runtime, members)
        engine = BroadcastEngine(
            runtime.db,
            runtime.program.clock,
            runtime.program.rules,
            wiring.broadcasts(runtime.program),
            runtime.program.coupons,
            runtime.program.tiers,
            ChannelSender(runtime.outbound_channels, runtime.conversation.texts),
            runtime.limiter,
            {"telegram": ChannelRate(rate)},
            batch=args.batch,
            concurrency=args.concurrency,
        )
        spec = parse_spec({"name": label, "text": {"en": "Hi {name}, {balance} points"}})
        broadcast = await engine.broadcasts.create(spec, actor="bench")
        await engine.broadcasts.start(broadcast.id)
        await engine.broadcasts.plan(broadcast.id)
        started = time.monotonic()
        report = await engine.run(broadcast.id)
        while not report.done:  # rows put back after a 429 wait for their time
            await asyncio.sleep(0.2)
            report = await engine.run(broadcast.id)
        elapsed = time.monotonic() - started
        status = await engine.broadcasts.status(broadcast.id)
        return status.sent, elapsed
    finally:
        await runtime.close()


async def main(args: argparse.Namespace) -> None:
    await asyncio.to_thread(upgrade, args.database_url)
    async with FakeTelegramAPI() as fake:
        sent, elapsed = await one_run("unlimited", fake, args, 0, args.members)
    print(
        f"unlimited: {sent} sent in {elapsed:.1f} s = {sent / elapsed:.0f} sends/s; "
        f"peak RSS {peak_rss_mb():.0f} MB"
    )
    async with LimitedTelegram() as limited:
        sent, elapsed = await one_run("30/s", limited, args, args.rate, args.limited_members)
        print(
            f"30/s: {sent} sent in {elapsed:.1f} s = {sent / elapsed:.2f} msg/s "
            f"({100 * sent / elapsed / LIMIT:.1f} % of {LIMIT}); 429s: {limited.refused}; "
            f"sends during a retry_after: {limited.during_wait}; peak RSS {peak_rss_mb():.0f} MB"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument(
        "--limited-members", type=int, default=3000, help="recipients of the 30/s run"
    )
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--rate", type=float, default=LIMIT, help="the engine's Telegram rate")
    parsed = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as scratch:
        if not parsed.database_url:
            parsed.database_url = f"sqlite+aiosqlite:///{scratch}/bench.db"
        asyncio.run(main(parsed))
