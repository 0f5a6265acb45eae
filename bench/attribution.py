"""What `broadcast-status` costs to say whether a broadcast worked, at 100,000 deliveries.

    python bench/attribution.py [--deliveries 100000] [--rounds 5] [--keep]
                                [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]

A scratch PostgreSQL database `bench_attribution` is created (dropped first), migrated to head
and seeded with SQL (generate_series): N + N/9 members; one broadcast sent to N of them
(variants A and B, each with a coupon code) and N/9 held out; 1,000,000 purchases spread
over the year up to 15 days after the broadcast; a redemption of every 13th broadcast
coupon; a tap of every 7th recipient. Then `Attribution.report` (7-day window) is timed:
the first (cold) and the median of --rounds more (on this 2-core machine: about 0.3 s). The
database is dropped at the end unless --keep is given.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # type: ignore[import-untyped]  # noqa: E402  (no type information)

from core.broadcasts.attribution import Attribution  # noqa: E402
from core.db.database import Database  # noqa: E402
from core.db.migrate import upgrade  # noqa: E402
from tests.clocks import StoppedClock  # noqa: E402

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
NAME = "bench_attribution"
SENT_AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
PURCHASES = 1_000_000

SEED_SQL = """
INSERT INTO members (id, card_code, referral_code, language, phone_verified, marketing_opt_in,
                     terms_accepted_at, balance, created_at, updated_at)
SELECT n, 'C' || n, 'R' || n, 'en', false, true, $1::timestamptz, 0, $1::timestamptz,
       $1::timestamptz
FROM generate_series(1, {members}) AS n;

INSERT INTO broadcasts (id, name, spec, state, started_at, created_by, created_at)
VALUES (1, 'bench', '{{"name": "bench", "text": "hi"}}', 'done', $1::timestamptz, 'bench',
        $1::timestamptz);

INSERT INTO coupon_campaigns (id, slug, name, kind, transferable, active, created_by,
                              created_at)
VALUES (1, 'bench', 'Bench', 'percent', false, true, 'bench', $1::timestamptz);

INSERT INTO coupons (id, campaign_id, code, member_id, source, uses, created_at)
SELECT n, 1, 'B-' || n, n, 'broadcast', 0, $1::timestamptz
FROM generate_series(1, {deliveries}) AS n;

INSERT INTO broadcast_deliveries (broadcast_id, member_id, variant, channel, status,
                                  attempts, sent_at, coupon_code)
SELECT 1, n, CASE WHEN n % 2 = 0 THEN 'A' ELSE 'B' END, 'telegram', 'sent', 1,
       $1::timestamptz + (n % 3600) * interval '1 second', 'B-' || n
FROM generate_series(1, {deliveries}) AS n;

INSERT INTO broadcast_deliveries (broadcast_id, member_id, variant, status, reason, attempts)
SELECT 1, n, 'holdout', 'skipped', 'holdout', 1
FROM generate_series({deliveries} + 1, {members}) AS n;

INSERT INTO coupon_redemptions (redemption_id, coupon_id, member_id, discount, actor,
                                created_at)
SELECT 'R-' || n, n, n, 1, 'bench', $1::timestamptz + interval '1 day'
FROM generate_series(13, {deliveries}, 13) AS n;

INSERT INTO broadcast_taps (broadcast_id, member_id, variant, tapped_at)
SELECT 1, n, CASE WHEN n % 2 = 0 THEN 'A' ELSE 'B' END, $1::timestamptz + interval '1 hour'
FROM generate_series(7, {deliveries}, 7) AS n;

INSERT INTO purchases (purchase_id, member_id, amount, points, actor, created_at)
SELECT 'P-' || n, 1 + (n::bigint * 7919) % {members}, 10 + n % 90, 0, 'bench',
       $1::timestamptz - interval '345 days'
       + ((n::bigint * 104729) % (360 * 86400)) * interval '1 second'
FROM generate_series(1, {purchases}) AS n;

ANALYZE;
"""


async def recreate(admin_url: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{NAME}"')
    finally:
        await connection.close()


async def drop(admin_url: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
    finally:
        await connection.close()


async def seed(dsn: str, deliveries: int) -> None:
    counts = {
        "members": deliveries + deliveries // 9,
        "deliveries": deliveries,
        "purchases": PURCHASES,
    }
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            for statement in SEED_SQL.format(**counts).split(";\n"):
                if statement.strip():
                    values = [SENT_AT] if "$1::timestamptz" in statement else []
                    await connection.execute(statement, *values)
    finally:
        await connection.close()


async def run(admin_url: str, deliveries: int, rounds: int, keep: bool) -> None:
    await recreate(admin_url)
    dsn = admin_url.rsplit("/", 1)[0] + f"/{NAME}"
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        await asyncio.to_thread(upgrade, url)
        started = time.perf_counter()
        await seed(dsn, deliveries)
        print(f"seeded {deliveries:,} deliveries in {time.perf_counter() - started:.1f} s")
        db = Database.from_url(url)
        attribution = Attribution(db, StoppedClock(SENT_AT + timedelta(days=8)))
        try:
            started = time.perf_counter()
            report = await attribution.report(1)
            cold = time.perf_counter() - started
            warm = []
            for _ in range(rounds):
                started = time.perf_counter()
                await attribution.report(1)
                warm.append(time.perf_counter() - started)
        finally:
            await db.close()
        for outcome in (*report.variants, report.holdout):
            if outcome is not None:
                print(
                    f"  {outcome.key:8} delivered {outcome.delivered:7,} tapped {outcome.tapped:6,}"
                    f" redeemed {outcome.redeemed:5,} purchased {outcome.purchased:6,}"
                    f" revenue {outcome.revenue}"
                )
        if report.best_versus_next is not None:
            print(f"  best: {report.best_versus_next.words}")
        print(
            f"report: cold {cold * 1000:.0f} ms, warm median {statistics.median(warm) * 1000:.0f}"
            f" ms (of {rounds})"
        )
    finally:
        if not keep:
            await drop(admin_url)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args(argv)
    asyncio.run(run(args.postgres_url, args.deliveries, args.rounds, args.keep))


if __name__ == "__main__":
    main()
