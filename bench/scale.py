"""How the scheduled jobs and a purchase scale with the number of members.

    python bench/scale.py [--members 10000 1000000] [--purchases 20] [--ranks 50] [--keep]
                          [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]
                          [--database-prefix bench_scale] [--only all|leaderboard|segments]
                          [--rounds 5]

For each N, a scratch PostgreSQL database `<prefix>_<N>` (`bench_scale_<N>`) is created
(dropped first if it exists), migrated to head, and seeded straight through asyncpg's COPY
with N members: one Telegram identity each (a tenth also a VK one), a welcome entry of 100
points with its lot and its (sent) welcome notice, a purchase with its entry and lot for a
fifth of them, birthdays for four fifths, spread over the year, and a few time zones.

The work due at the benchmark's instant (2026-11-24 12:00 UTC) is the same at every N, so
what grows with N is the cost of finding it: 50 birthdays on the day (none on the
neighbouring days the lookup also considers), 50 members with a lot expired in the last
hour, 50 with a lot expiring within the reminder week, 50 members in a tier (about half of
them no longer qualifying), 50 pending notices and 60 days of job runs.

Every scheduled job (`app.runtime.scheduled_jobs`) is run twice through its `JobRunner`:
`first` claims the period and does the work, `again` is an operator's rerun (force) that
finds nothing new to do, i.e. the pure cost of looking (except `dispatch_notices`, whose
first run takes 100 of the ~150 pending notices and the second the rest). A purchase is
`program.purchases.credit` on a seeded member's card (median of --purchases); it includes
what the games do in its transaction (streaks, badges, the leaderboards' scores and tree).

Leaderboard: three fifths of the members have a score on this week's points board (1 to
500 points, reached at random times of the week so far; a tenth chose a nickname), its
counted tree built from the scores (`Leaderboards.rebuild`). `leaderboard rank` is
`Leaderboards.rank_in` for a member (median over --ranks members spread over the board,
from the top to the bottom); `leaderboard screen` is what the member's tap costs: the top
10 with names and their own place (`Leaderboards.standing`). `--only leaderboard` skips
the scheduled jobs. As a shared machine's load drifts over the minutes between one N and the
next, the leaderboard figures are taken again at the end in --rounds interleaved rounds
(10k, 1M, 10k, 1M, ...; the databases are kept until then), each figure the median of its
rounds: that table is the one to read for the ratio.

Segments: `program.segments.count` (what `main.py segment-count` prints: the total and by
last-used channel) of {}, {"tier": "silver"}, {"channel": "telegram", "language": "ru"} and
{"inactive_days": 30}, first (cold) and the median of 5 more; members are last active at a
random time between joining and the benchmark's instant, and a VK member's last channel is
VK for half of them. Three tenths of the members opted in to offers. Two segments on what was
bought are timed too (not simple: they aggregate a year's purchases by member): a coffee bought
(half the seeded purchases hold coffee) and 2,000 spent. Each segment is also asked for one
member alone (`Segments.contains`, median of 5 members), as a quest whose audience it is asks.
`--only segments` measures only these (and skips the interleaved leaderboard rounds).

Figures are wall times; the last table is the ratio of the largest N to the smallest.

The databases are scratch: they are dropped at the end unless --keep is given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # type: ignore[import-untyped]  # noqa: E402  (no type information)
from sqlalchemy import text  # noqa: E402

from app.runtime import Runtime, build_runtime, scheduled_jobs  # noqa: E402
from app.settings import Settings  # noqa: E402
from core.db.migrate import upgrade  # noqa: E402
from core.games.leaderboards.boards import board_period  # noqa: E402
from core.games.leaderboards.ranking import rank_key  # noqa: E402
from core.shared import cards  # noqa: E402
from tests.clocks import StoppedClock  # noqa: E402

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # 15:00 in Moscow, the program's zone
DUE = 50  # birthdays, expiring lots, reminders, tiered members, pending notices
SEED = 8
CHUNK = 100_000  # rows per COPY
ZONES = ["Asia/Tehran", "Europe/Berlin", "Asia/Yekaterinburg", "Europe/Moscow"]
TIERS = [
    {"key": "silver", "name": "Silver", "threshold": 1000, "earn_multiplier": "1.5"},
    {"key": "gold", "name": "Gold", "threshold": 5000, "earn_multiplier": "2"},
]


def card_code(member_id: int) -> str:
    """A valid card code per id (base 30 of the id, then the check character)."""
    body = []
    value = member_id
    for _ in range(cards.BODY_LENGTH):
        value, digit = divmod(value, len(cards.ALPHABET))
        body.append(cards.ALPHABET[digit])
    text = "".join(reversed(body))
    return text + cards.check_character(text)


def spread_birthday(rng: random.Random, avoid: set[tuple[int, int]]) -> date:
    while True:
        day = date(rng.randint(1950, 2006), 1, 1) + timedelta(days=rng.randrange(365))
        if (day.month, day.day) not in avoid:
            return day


@dataclass
class Rows:
    members: list[tuple[Any, ...]] = field(default_factory=list)
    identities: list[tuple[Any, ...]] = field(default_factory=list)
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    lots: list[tuple[Any, ...]] = field(default_factory=list)
    purchases: list[tuple[Any, ...]] = field(default_factory=list)
    notices: list[tuple[Any, ...]] = field(default_factory=list)
    boards: list[tuple[Any, ...]] = field(default_factory=list)
    board_scores: list[tuple[Any, ...]] = field(default_factory=list)
    game_profiles: list[tuple[Any, ...]] = field(default_factory=list)


# This week's points board at NOW (the program's zone, Moscow): id 1.
WEEK = board_period("points", "week", NOW, ZoneInfo("Europe/Moscow"))
BOARD_ROW = (1, WEEK.key, "points", "week", WEEK.starts_at, WEEK.ends_at)
SCORED = 0.6


def seed_rows(first: int, last: int, n: int) -> Rows:
    """Members first..last (inclusive) of a base of n; deterministic per member id."""
    rows = Rows()
    # The days the birthday lookup considers at NOW (local yesterday, today, tomorrow).
    avoid = {(11, 23), (11, 24), (11, 25)}
    special = {1 + k * (n // DUE) for k in range(DUE)}  # evenly spread over the ids
    for member_id in range(first, last + 1):
        rng = random.Random(SEED * 10_000_019 + member_id)
        created = NOW - timedelta(days=30 + rng.randrange(700), seconds=rng.randrange(86400))
        index = (member_id - 1) // (n // DUE) if member_id in special else -1
        birthday: date | None = None
        if member_id in special:
            birthday = date(rng.randint(1960, 2005), 11, 24)
        elif rng.random() < 0.8:
            birthday = spread_birthday(rng, avoid)
        zone = None
        if member_id in special:
            zone = ZONES[index % len(ZONES)] if index % 2 else None
        elif rng.random() < 0.1:
            zone = rng.choice(ZONES)
        balance = 100
        entry_id = member_id * 2 - 1
        # Welcome bonus: its lot expires a year after joining, pushed out of the week the
        # reminder looks at (so the reminders due are the same 50 at every N).
        expires = created + timedelta(days=365)
        if expires <= NOW + timedelta(days=8):
            expires = NOW + timedelta(days=8 + rng.randrange(300))
        if member_id in special:
            # Half of the special members have a lot that expired in the last hour, the
            # other half one that expires within the reminder week.
            expires = NOW - timedelta(minutes=30) if index % 2 else NOW + timedelta(days=3)
        rows.entries.append(
            (entry_id, member_id, 100, "welcome", "bench", f"welcome:{member_id}", None, 100,
             created)
        )  # fmt: skip
        rows.lots.append((entry_id, member_id, entry_id, 100, 100, created, expires))
        tier = tier_since = None
        if member_id in special or rng.random() < 0.2:
            bought = created + timedelta(days=rng.randrange(1, 25))
            amount = 1200 if member_id in special else rng.randrange(100, 3000)
            points = amount // 10
            balance += points
            entry = member_id * 2
            rows.entries.append(
                (entry, member_id, points, "purchase", "bench", f"purchase:bench-{member_id}",
                 f"bench-{member_id}", balance, bought)
            )  # fmt: skip
            # Half the baskets hold coffee, a third of their amount: from a generator of its
            # own, so every other seeded value stays as it was before purchase segments.
            basket = random.Random(SEED * 30_000_001 + member_id)
            categories = json.dumps({"coffee": str(amount // 3)}) if basket.random() < 0.5 else None
            rows.purchases.append(
                (member_id, f"bench-{member_id}", member_id, amount, points, entry, None,
                 categories, "bench", bought)
            )  # fmt: skip
            rows.lots.append(
                (entry, member_id, entry, points, points, bought,
                 max(bought + timedelta(days=365), NOW + timedelta(days=8 + rng.randrange(300))))
            )  # fmt: skip
            if member_id in special:
                tier, tier_since = "silver", bought
        # Activity from a generator of its own, so every other seeded value stays as it was
        # before segments: last active between joining and NOW, from the account used last
        # (VK for half of those who have one).
        activity = random.Random(SEED * 20_000_033 + member_id)
        last_active = created + (NOW - created) * activity.random()
        # In the order they were always drawn: language, consent, a VK account.
        language = rng.choice(["ru", "en"])
        opted_in = rng.random() < 0.3
        has_vk = rng.random() < 0.1
        last_channel = "vk" if has_vk and activity.random() < 0.5 else "telegram"
        rows.members.append(
            (member_id, card_code(member_id), f"Member {member_id}", language,
             None, False, birthday, opted_in, created, None, balance, 0, None, None,
             tier, tier_since, None, zone, created, created, f"{member_id:020x}", last_active,
             last_channel)
        )  # fmt: skip
        rows.identities.append(
            (member_id * 2 - 1, member_id, "telegram", str(1_000_000_000 + member_id), created,
             last_active if last_channel == "telegram" else created)
        )  # fmt: skip
        if has_vk:
            rows.identities.append(
                (member_id * 2, member_id, "vk", str(500_000_000 + member_id), created,
                 last_active if last_channel == "vk" else created)
            )  # fmt: skip
        rows.notices.append(
            (member_id * 2 - 1, member_id, "points_earned", '{"points": 100}',
             f"welcome:{member_id}", False, "sent", 1, "telegram", None, created, created,
             None)
        )  # fmt: skip
        if rng.random() < SCORED:
            elapsed = (NOW - WEEK.starts_at).total_seconds()
            reached = WEEK.starts_at + timedelta(seconds=rng.random() * elapsed)
            score = rng.randint(1, 500)
            rows.board_scores.append(
                (
                    1,
                    member_id,
                    score,
                    reached,
                    rank_key(score, reached, WEEK.starts_at, WEEK.ends_at),
                )
            )
            if rng.random() < 0.1:
                rows.game_profiles.append((member_id, f"Player {member_id}", created))
        if member_id in special:
            rows.notices.append(
                (member_id * 2, member_id, "points_earned", '{"points": 1}',
                 f"bench-pending:{member_id}", False, "pending", 0, None, None,
                 NOW - timedelta(minutes=5), None, None)
            )  # fmt: skip
    return rows


COLUMNS = {
    "members": [
        "id", "card_code", "name", "language", "phone", "phone_verified", "birthday",
        "marketing_opt_in", "terms_accepted_at", "referrer_id", "balance", "debt",
        "merged_into_id", "erased_at", "tier", "tier_since", "tier_grace_until", "time_zone",
        "created_at", "updated_at", "referral_code", "last_active_at", "last_channel",
    ],
    "identities": ["id", "member_id", "channel", "external_id", "created_at", "last_seen_at"],
    "ledger_entries": [
        "id", "member_id", "points", "reason", "actor", "idempotency_key", "reference",
        "balance_after", "created_at",
    ],
    "point_lots": [
        "id", "member_id", "entry_id", "points", "remaining", "earned_at", "expires_at",
    ],
    "purchases": [
        "id", "purchase_id", "member_id", "amount", "points", "ledger_entry_id", "store",
        "categories", "actor", "created_at",
    ],
    "notices": [
        "id", "member_id", "kind", "payload", "dedupe_key", "marketing", "status", "attempts",
        "channel", "error", "created_at", "sent_at", "due_at",
    ],
    "boards": ["id", "key", "metric", "period", "starts_at", "ends_at"],
    "board_scores": ["board_id", "member_id", "score", "reached_at", "rank_key"],
    "game_profiles": ["member_id", "nickname", "updated_at"],
}  # fmt: skip
# Tables whose id is a sequence to move past the seeded rows.
SEQUENCED = (
    "members",
    "identities",
    "ledger_entries",
    "point_lots",
    "purchases",
    "notices",
    "boards",
)
ROW_FIELD = {
    "members": "members",
    "identities": "identities",
    "ledger_entries": "entries",
    "point_lots": "lots",
    "purchases": "purchases",
    "notices": "notices",
    "boards": "boards",
    "board_scores": "board_scores",
    "game_profiles": "game_profiles",
}


def chunks(n: int) -> Iterator[tuple[int, int]]:
    for first in range(1, n + 1, CHUNK):
        yield first, min(first + CHUNK - 1, n)


async def seed(dsn: str, n: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        for first, last in chunks(n):
            rows = seed_rows(first, last, n)
            if first == 1:
                rows.boards.append(BOARD_ROW)
            async with connection.transaction():
                for table, columns in COLUMNS.items():
                    records = getattr(rows, ROW_FIELD[table])
                    if records:
                        await connection.copy_records_to_table(
                            table, records=records, columns=columns
                        )
        job_runs = []
        for hours in range(60 * 24):
            at = NOW - timedelta(hours=hours + 1)
            for job in ("greet_birthdays", "expire_points", "remind_expiring"):
                job_runs.append(
                    (f"{job}:{at.strftime('%Y-%m-%dT%H')}", at, at + timedelta(seconds=1), "ok")
                )
        await connection.copy_records_to_table(
            "job_runs",
            records=job_runs,
            columns=["run_key", "started_at", "finished_at", "result"],
        )
        for table in SEQUENCED:
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        # What autovacuum would have done on a base this size by now.
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


async def recreate(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def drop(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def database_dsn(admin_url: str, name: str) -> str:
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


async def configure(runtime: Runtime) -> None:
    await runtime.program.rules.update(
        actor="bench",
        welcome_bonus=100,
        birthday_bonus=200,
        points_ttl_days=365,
        expiry_reminder_days=7,
        tiers=TIERS,
        tier_window_days=365,
    )


@dataclass
class Figures:
    n: int
    seconds: dict[str, float] = field(default_factory=dict)
    results: dict[str, str] = field(default_factory=dict)


COUNT_AHEAD = text(
    "SELECT count(*) FROM board_scores AS other, board_scores AS mine "
    "WHERE mine.board_id = 1 AND mine.member_id = :member AND other.board_id = 1 "
    "AND (other.rank_key < mine.rank_key "
    "OR (other.rank_key = mine.rank_key AND other.member_id < mine.member_id))"
)


async def board_order(runtime: Runtime) -> list[int]:
    """The members on the week's board, first place first, by a plain ORDER BY."""
    async with runtime.db.reading() as session:
        found = await session.execute(
            text(
                "SELECT member_id FROM board_scores WHERE board_id = 1 ORDER BY rank_key, member_id"
            )
        )
        return list(found.scalars().all())


LEADERBOARD_FIGURES = (
    "leaderboard rank (median)",
    "leaderboard rank (max)",
    "leaderboard rank by COUNT (median)",
    "leaderboard rank by COUNT (max)",
    "leaderboard screen (median)",
)


async def leaderboard_round(
    runtime: Runtime, ordered: list[int], ranks: int, passes: int = 2
) -> dict[str, float]:
    """One round over `ranks` members spread from first place to last: the tree's rank, the
    screen, and the baseline COUNT; each rank checked against the ORDER BY. The single-run
    figures (`measure_leaderboard`) are the same with no unmeasured pass first: cold."""
    boards = runtime.program.boards
    place = {member_id: number for number, member_id in enumerate(ordered, start=1)}
    step = max(1, len(ordered) // ranks)
    chosen = [*ordered[::step][:ranks], ordered[-1]]
    await boards.standing(chosen[0], "points", "week")  # warm: the pseudonym secret, rules
    rank_times: list[float] = []
    screen_times: list[float] = []
    count_times: list[float] = []
    # A first pass unmeasured (the connections' prepared statements, the pages of the
    # members' rows), then `passes` measured ones: a server in its steady state. With
    # passes=0, one measured pass, cold. The baseline's passes come after the tree's: each
    # of its COUNTs reads up to the whole board, which would push the tree's pages out of
    # the caches between two measured ranks.
    sequence = list(enumerate(chosen * (passes + 1) if passes else chosen))
    for number, member_id in sequence:
        timed = passes == 0 or number >= len(chosen)
        async with runtime.db.reading() as session:
            started = time.perf_counter()
            rank = await boards.rank_in(session, 1, member_id)
            if timed:
                rank_times.append(time.perf_counter() - started)
        # The tree must agree with a plain ORDER BY, or the figure is worthless.
        if rank != place[member_id]:
            raise SystemExit(
                f"BENCHMARK INVALID: member {member_id} ranked {rank}, not {place[member_id]}"
            )
        started = time.perf_counter()
        await boards.standing(member_id, "points", "week")
        if timed:
            screen_times.append(time.perf_counter() - started)
    for number, member_id in sequence:
        timed = passes == 0 or number >= len(chosen)
        # The baseline: the same rank by counting the scores ahead over the board's index.
        async with runtime.db.reading() as session:
            started = time.perf_counter()
            counted = await session.scalar(COUNT_AHEAD, {"member": member_id})
            if timed:
                count_times.append(time.perf_counter() - started)
        if counted + 1 != place[member_id]:
            raise SystemExit(f"BENCHMARK INVALID: COUNT says {counted + 1} for {member_id}")
    return dict(
        zip(
            LEADERBOARD_FIGURES,
            (
                statistics.median(rank_times),
                max(rank_times),
                statistics.median(count_times),
                max(count_times),
                statistics.median(screen_times),
            ),
            strict=True,
        )
    )


async def measure_leaderboard(runtime: Runtime, figures: Figures, ranks: int) -> None:
    started = time.perf_counter()
    scored = await runtime.program.boards.rebuild(WEEK.key)
    figures.seconds["leaderboard tree build (once)"] = time.perf_counter() - started
    figures.results["leaderboard tree build (once)"] = f"{scored:,} scores"
    ordered = await board_order(runtime)
    figures.seconds.update(await leaderboard_round(runtime, ordered, ranks, passes=0))
    figures.results.update(
        {
            "leaderboard rank (median)": f"{ranks + 1} members, ranks 1..{len(ordered):,}",
            "leaderboard rank (max)": "the slowest of them",
            "leaderboard rank by COUNT (median)": "the baseline: O(rank)",
            "leaderboard rank by COUNT (max)": "the slowest of them",
            "leaderboard screen (median)": "top 10 with names + own place",
        }
    )


async def interleaved_rounds(urls: dict[int, str], ranks: int, rounds: int) -> None:
    """The leaderboard figures again, every N in turn, `rounds` times: a shared machine's
    load then weighs on every N alike. Each figure is the median of its rounds."""
    seen: dict[int, dict[str, list[float]]] = {n: {} for n in urls}
    orders: dict[int, list[int]] = {}
    for number in range(rounds):
        for n, url in urls.items():
            settings = Settings(_env_file=None, database_url=url, redis_url="", public_url="")
            runtime = build_runtime(settings, clock=StoppedClock(NOW))
            try:
                if n not in orders:
                    orders[n] = await board_order(runtime)
                for key, seconds in (await leaderboard_round(runtime, orders[n], ranks)).items():
                    seen[n].setdefault(key, []).append(seconds)
            finally:
                await runtime.close()
        print(f"leaderboard round {number + 1} of {rounds} done", flush=True)
    small, large = min(urls), max(urls)
    print()
    print(f"Leaderboard, {rounds} interleaved rounds (median of the rounds):")
    print(f"| what | N={small:,} ms | N={large:,} ms | ratio |")
    print("|---|---:|---:|---:|")
    for key in LEADERBOARD_FIGURES:
        low, high = statistics.median(seen[small][key]), statistics.median(seen[large][key])
        print(f"| {key} | {low * 1000:.1f} | {high * 1000:.1f} | {high / low:.2f}× |")


async def measure(
    runtime: Runtime, n: int, purchases: int, ranks: int = 50, only: str = "all"
) -> Figures:
    figures = Figures(n)
    runner = scheduled_jobs(runtime)
    # Warm up what every job uses first (connections, the rules), so the first job timed
    # pays no more than the others.
    await runtime.db.ping()
    await runtime.program.rules.current()
    await measure_segments(runtime, figures)
    if only == "segments":
        return figures
    await measure_leaderboard(runtime, figures, ranks)
    for job in runner.jobs if only == "all" else ():
        for label, force in (("first", False), ("again", True)):
            started = time.perf_counter()
            outcome = await runner.run(job.name, force=force)
            figures.seconds[f"{job.name} ({label})"] = time.perf_counter() - started
            figures.results[f"{job.name} ({label})"] = outcome.result or "not run"
    times = []
    for number in range(purchases):
        member_id = 1 + (number * 7919) % n
        started = time.perf_counter()
        await runtime.program.purchases.credit(
            card_code(member_id), "450.00", purchase_id=f"bench-buy-{number}", actor="bench"
        )
        times.append(time.perf_counter() - started)
    figures.seconds["purchase (median)"] = statistics.median(times)
    figures.results["purchase (median)"] = f"{purchases} purchases"
    await measure_quest(runtime, n, purchases, figures)
    return figures


# Simple segments a marketer counts before a broadcast (`segment-count`), and everyone.
SEGMENTS: dict[str, dict[str, Any]] = {
    "segment {} (every consenting member)": {},
    'segment {"tier": "silver"}': {"tier": "silver"},
    'segment {"channel": "telegram", "language": "ru"}': {"channel": "telegram", "language": "ru"},
    'segment {"inactive_days": 30}': {"inactive_days": 30},
    # Not simple: these aggregate a period's purchases by member (a fifth of members bought).
    'segment {"bought": {"category": "coffee", "min": 1, "days": 365}}': {
        "bought": {"category": "coffee", "min": 1, "days": 365}
    },
    'segment {"spent": {"min": 2000, "days": 365}}': {"spent": {"min": 2000, "days": 365}},
}


async def measure_segments(runtime: Runtime, figures: Figures, passes: int = 5) -> None:
    """`program.segments.count` (what `segment-count` prints: the total and by channel) of
    each simple segment: the first call (cold), then the median of `passes` more."""
    from core.segments.definition import parse_segment

    for label, data in SEGMENTS.items():
        segment = parse_segment(data)
        times = []
        counted = None
        for _ in range(passes + 1):
            started = time.perf_counter()
            counted = await runtime.program.segments.count(segment)
            times.append(time.perf_counter() - started)
        assert counted is not None
        channels = ", ".join(f"{name} {count:,}" for name, count in counted.by_channel.items())
        figures.seconds[f"{label} (first)"] = times[0]
        figures.results[f"{label} (first)"] = f"{counted.total:,} members: {channels}"
        figures.seconds[f"{label} (median)"] = statistics.median(times[1:])
        figures.results[f"{label} (median)"] = f"median of {passes} more"
        # One member asked alone, as a quest whose audience is the segment asks.
        members = [1 + (number * 7919) % figures.n for number in range(passes)]
        alone = []
        for member_id in members:
            started = time.perf_counter()
            await runtime.program.segments.contains(segment, member_id)
            alone.append(time.perf_counter() - started)
        figures.seconds[f"{label} one member (median)"] = statistics.median(alone)
        figures.results[f"{label} one member (median)"] = f"contains() of {passes} members"


# A live quest of the kind a shop runs: weekly, five purchases and a check-in for points.
QUEST = {
    "slug": "bench-week",
    "title": "Five coffees a week",
    "starts": "2026-11-01T00:00:00+00:00",
    "recurrence": "weekly",
    "steps": [{"kind": "purchase", "count": 5}, {"kind": "checkin"}],
    "reward": {"points": 50},
}


async def measure_quest(runtime: Runtime, n: int, purchases: int, figures: Figures) -> None:
    """The cost a live quest adds to a purchase: purchases by members who joined a live
    quest (the purchase moves its step: a progress row, the period's tally and completion
    read back, in the purchase's transaction), alternating with purchases while the same
    quest is ended (no live quest: the quests' subscriber finds nothing to do), so drift in
    the machine's load hits both alike. Every purchase is by another member."""
    from sqlalchemy import update

    from core.db.models import Quest
    from core.games.quests.definition import parse_definition

    program = runtime.program
    quest = await program.quests.create(parse_definition(QUEST), actor="bench")
    members = [1 + (n // 2 + number * 7919) % n for number in range(2 * purchases)]
    for member_id in members:
        await program.quests.join(member_id, quest.id)

    async def set_live(live: bool) -> None:
        async with runtime.db.transaction() as session:
            await session.execute(
                update(Quest)
                .where(Quest.id == quest.id)
                .values(ended_at=None if live else program.clock.now())
            )

    timed: dict[bool, list[float]] = {True: [], False: []}
    for number, member_id in enumerate(members):
        live = number % 2 == 0
        await set_live(live)
        started = time.perf_counter()
        await program.purchases.credit(
            card_code(member_id), "450.00", purchase_id=f"bench-quest-{number}", actor="bench"
        )
        timed[live].append(time.perf_counter() - started)
    await set_live(True)
    view = await program.quests.view(members[0], quest.id)
    assert view.steps[0].done == 1, "the quest counted the purchase"
    without, with_quest = statistics.median(timed[False]), statistics.median(timed[True])
    figures.seconds["purchase, no live quest (median)"] = without
    figures.results["purchase, no live quest (median)"] = f"{purchases} purchases, alternating"
    key = "purchase in a live quest (median)"
    figures.seconds[key] = with_quest
    figures.results[key] = f"{purchases} purchases, {with_quest / without:.2f}× without"


async def run_one(
    admin_url: str,
    n: int,
    purchases: int,
    keep: bool,
    *,
    prefix: str = "bench_scale",
    ranks: int = 50,
    only: str = "all",
) -> Figures:
    name = f"{prefix}_{n}"
    await recreate(admin_url, name)
    dsn = database_dsn(admin_url, name)
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        await asyncio.to_thread(upgrade, url)
        started = time.perf_counter()
        await seed(dsn, n)
        print(f"N={n:,}: seeded in {time.perf_counter() - started:.1f} s", flush=True)
        settings = Settings(_env_file=None, database_url=url, redis_url="", public_url="")
        runtime = build_runtime(settings, clock=StoppedClock(NOW))
        try:
            await configure(runtime)
            figures = await measure(runtime, n, purchases, ranks, only)
        finally:
            await runtime.close()
    except BaseException:
        await drop(admin_url, name)
        raise
    if not keep:
        await drop(admin_url, name)
    for key, seconds in figures.seconds.items():
        print(f"  {key:32} {seconds * 1000:10.1f} ms   {figures.results[key]}", flush=True)
    return figures


def report(all_figures: Sequence[Figures]) -> None:
    small, large = all_figures[0], all_figures[-1]
    print()
    header = f"| what | N={small.n:,} ms | N={large.n:,} ms | ratio |"
    print(header)
    print("|---|---:|---:|---:|")
    for key, seconds in small.seconds.items():
        other = large.seconds[key]
        ratio = other / seconds if seconds else float("inf")
        print(f"| {key} | {seconds * 1000:.1f} | {other * 1000:.1f} | {ratio:.1f}× |")


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--purchases", type=int, default=20)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument("--ranks", type=int, default=50, help="members whose rank is timed")
    parser.add_argument("--database-prefix", default="bench_scale", help="scratch databases")
    parser.add_argument("--only", choices=["all", "leaderboard", "segments"], default="all")
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved leaderboard rounds at the end"
    )
    args = parser.parse_args(argv)
    if any(n < DUE for n in args.members):
        parser.error(f"at least {DUE} members")
    logging.basicConfig(level=logging.WARNING)
    # Every database is kept until the interleaved rounds at the end are done.
    all_figures = [
        await run_one(
            args.postgres_url,
            n,
            args.purchases,
            True,
            prefix=args.database_prefix,
            ranks=args.ranks,
            only=args.only,
        )
        for n in args.members
    ]
    names = {n: f"{args.database_prefix}_{n}" for n in args.members}
    try:
        report(all_figures)
        if args.rounds > 0 and len(args.members) > 1 and args.only != "segments":
            urls = {
                n: database_dsn(args.postgres_url, name).replace(
                    "postgresql://", "postgresql+asyncpg://", 1
                )
                for n, name in names.items()
            }
            await interleaved_rounds(urls, args.ranks, args.rounds)
    finally:
        if not args.keep:
            for name in names.values():
                await drop(args.postgres_url, name)


if __name__ == "__main__":
    asyncio.run(main())
