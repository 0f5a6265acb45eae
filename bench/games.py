"""What the games cost a purchase: a purchase with every game live against one without games.

    python bench/games.py [--members 10000] [--purchases 200]
                          [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]
                          [--database-prefix bench_games]

Issue 10 asks that a live quest cost a purchase at most 1.3x a purchase without games. A
scratch PostgreSQL database `<prefix>_<N>` is seeded as bench/scale.py seeds it (N members,
this week's points board with three fifths of them scored, its counted tree), and three
runtimes are built on it:

- `no games`: the program with the games' subscribers taken off its bus (what a purchase
  cost before the games existed: the ledger, tiers, referrals, the notice);
- `games, no quest`: the program as it ships: streaks, badges (five badges defined), both
  leaderboards' scores and trees, contests (a giveaway open with tickets per purchase) hear
  the purchase, and the member is in no quest;
- `games + live quest`: the same, by a member who joined a live weekly quest (five purchases
  and a check-in) whose purchase step the purchase moves.

Two figures per purchase: what the till waits for (`credit`: the purchase's transaction,
which only writes the event for the games, then the answer), and what the games then do in
their own transaction right after the commit (`drain`: the background worker hearing the
event; measured after the answer, before the next purchase, so the two never overlap).

The three kinds take turns purchase by purchase (each by another seeded member), so the
machine's drift hits them alike; each figure is the median of its kind, and the ratios are
against `no games`. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.runtime import Runtime, build_runtime  # noqa: E402
from app.settings import Settings  # noqa: E402
from bench.scale import (  # noqa: E402
    DEFAULT_POSTGRES_URL,
    NOW,
    QUEST,
    card_code,
    configure,
    database_dsn,
    drop,
    recreate,
    seed,
)
from core.db.migrate import upgrade  # noqa: E402
from core.games.quests.definition import parse_definition  # noqa: E402
from core.shared.bus import MessageBus  # noqa: E402
from tests.clocks import StoppedClock  # noqa: E402

KINDS = ("no games", "games, no quest", "games + live quest")
BADGES: list[dict[str, Any]] = [
    {"name": f"b{number}", "title": "Badge", "description": "A badge", "emoji": "🏅",
     "condition": condition}
    for number, condition in enumerate(
        [
            {"kind": "first_purchase"},
            {"kind": "visits", "count": 5},
            {"kind": "visits", "count": 50},
            {"kind": "friends", "count": 3},
            {"kind": "streak", "count": 4},
        ]
    )
]  # fmt: skip
GIVEAWAY = {
    "slug": "bench-giveaway",
    "title": "Bench giveaway",
    "starts_at": (NOW - timedelta(days=1)).isoformat(),
    "ends_at": (NOW + timedelta(days=7)).isoformat(),
    "draw_at": (NOW + timedelta(days=8)).isoformat(),
    "winners": 1,
    "prize": {"points": 100},
    "tickets": {"join": 1, "per_purchase": 1, "requires_join": False},
}


def without_games(bus: MessageBus) -> None:
    """Take the games' subscribers off `bus`, as if the games did not exist. (A benchmark's
    reach into the bus's table: the product never unsubscribes.)"""
    for table in (bus._in_transaction, bus._after_commit):
        for event_type, handlers in list(table.items()):
            kept = [
                handler
                for handler in handlers
                if not getattr(handler, "__module__", "").startswith("core.games")
            ]
            if kept:
                table[event_type] = kept
            else:
                del table[event_type]


async def prepare(runtime: Runtime, members: Sequence[int]) -> None:
    program = runtime.program
    await configure(runtime)
    for badge in BADGES:
        await program.badges.create(badge, actor="bench")
    await program.contests.create(GIVEAWAY, actor="bench")
    quest = await program.quests.create(parse_definition(QUEST), actor="bench")
    for member_id in members:
        await program.quests.join(member_id, quest.id)


async def run(
    admin_url: str, n: int, purchases: int, prefix: str
) -> dict[str, tuple[float, float]]:
    name = f"{prefix}_{n}"
    await recreate(admin_url, name)
    dsn = database_dsn(admin_url, name)
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        await asyncio.to_thread(upgrade, url)
        await seed(dsn, n)
        settings = Settings(_env_file=None, database_url=url, redis_url="", public_url="")
        runtimes = {kind: build_runtime(settings, clock=StoppedClock(NOW)) for kind in KINDS}
        without_games(runtimes["no games"].program.bus)
        members = {
            kind: [1 + (n // 3 * index + number * 7919) % n for number in range(purchases)]
            for index, kind in enumerate(KINDS)
        }
        try:
            await prepare(runtimes["games + live quest"], members["games + live quest"])
            till: dict[str, list[float]] = {kind: [] for kind in KINDS}
            total: dict[str, list[float]] = {kind: [] for kind in KINDS}
            for number in range(purchases):
                for kind in KINDS:
                    program = runtimes[kind].program
                    member_id = members[kind][number]
                    started = time.perf_counter()
                    await program.purchases.credit(
                        card_code(member_id),
                        "450.00",
                        purchase_id=f"bench-{kind}-{number}",
                        actor="bench",
                    )
                    answered = time.perf_counter()
                    await program.bus.drain()
                    till[kind].append(answered - started)
                    total[kind].append(time.perf_counter() - started)
            quest_view = await runtimes["games + live quest"].program.quests.available(
                members["games + live quest"][0]
            )
            assert any(step.done for view in quest_view for step in view.steps), "quest moved"
        finally:
            for runtime in runtimes.values():
                await runtime.close()
    finally:
        await drop(admin_url, name)
    return {kind: (statistics.median(till[kind]), statistics.median(total[kind])) for kind in KINDS}


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--purchases", type=int, default=200)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--database-prefix", default="bench_games")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    medians = await run(args.postgres_url, args.members, args.purchases, args.database_prefix)
    till_base, total_base = medians["no games"]
    print(
        f"| purchase (median of {args.purchases}, N={args.members:,}) | till waits, ms "
        "| × no games | with the games' work after it, ms | × no games |"
    )
    print("|---|---:|---:|---:|---:|")
    for kind, (till, total) in medians.items():
        print(
            f"| {kind} | {till * 1000:.1f} | {till / till_base:.2f}× "
            f"| {total * 1000:.1f} | {total / total_base:.2f}× |"
        )


if __name__ == "__main__":
    asyncio.run(main())
