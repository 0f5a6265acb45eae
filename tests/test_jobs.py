"""Scheduled jobs: one run per period across processes (`job_runs`), and the real taskiq
scheduler firing them: Redis schedules, stream broker and worker on the services backend, the
in-memory broker on the embedded default. The jobs see a clock the test controls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, date, datetime, timedelta
from typing import cast

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

import main
from app.runtime import Runtime, build_runtime, scheduled_jobs
from app.settings import Settings
from core.db.models import JobRun, LedgerEntry, Notice
from core.jobs import Every, Job, JobRunner, job_runner
from core.members.accounts import IdentityKey, Registration
from tests.clocks import StoppedClock
from tests.data import count
from workers.broker import QUEUE, SCHEDULE_KEY_PREFIX
from workers.scheduler import JobScheduler

BONUS = 25


@pytest.fixture
def clock() -> StoppedClock:
    return StoppedClock(datetime(2026, 11, 24, 10, 15, tzinfo=UTC))


@pytest.fixture
async def shop(settings: Settings, clock: StoppedClock) -> AsyncIterator[Runtime]:
    built = build_runtime(settings, clock=clock)
    await built.program.rules.update(actor="test", birthday_bonus=BONUS)
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
async def second_process(settings: Settings, clock: StoppedClock) -> AsyncIterator[Runtime]:
    """Another process of the program on the same database (and Redis)."""
    built = build_runtime(settings, clock=clock)
    try:
        yield built
    finally:
        await built.close()


async def birthday_today(runtime: Runtime, user: str = "1") -> int:
    enrolment = await runtime.program.members.enrol(
        Registration(
            identity=IdentityKey("telegram", user),
            language="en",
            accepted_terms=True,
            marketing_opt_in=False,
            birthday=date(1990, 11, 24),
        )
    )
    return enrolment.member.id


async def job_runs(runtime: Runtime) -> list[JobRun]:
    async with runtime.db.reading() as session:
        return list(await session.scalars(select(JobRun).order_by(JobRun.run_key)))


def test_the_period_key_follows_the_schedule() -> None:
    async def nothing() -> None:
        return None

    now = datetime(2026, 11, 24, 10, 15, 42, tzinfo=UTC)
    hourly = Job("greet_birthdays", Every.HOUR, nothing, minute=5)
    daily = Job("review_tiers", Every.DAY, nothing, minute=20, hour=2)
    minutely = Job("dispatch_notices", Every.MINUTE, nothing)

    assert (hourly.cron, hourly.run_key(now)) == ("5 * * * *", "greet_birthdays:2026-11-24T10")
    assert (daily.cron, daily.run_key(now)) == ("20 2 * * *", "review_tiers:2026-11-24")
    assert (minutely.cron, minutely.run_key(now)) == (
        "* * * * *",
        "dispatch_notices:2026-11-24T10:15",
    )
    with pytest.raises(ValueError):
        Job("bad", Every.HOUR, nothing, minute=60)


async def test_the_program_offers_its_jobs(shop: Runtime) -> None:
    names = {job.name for job in scheduled_jobs(shop).jobs}

    assert {
        "greet_birthdays",
        "expire_points",
        "remind_expiring",
        "remind_coupons",
        "dispatch_notices",
    } <= names
    assert "prune_job_runs" in names


async def test_two_processes_running_the_same_period_do_the_work_once(
    shop: Runtime, second_process: Runtime, clock: StoppedClock
) -> None:
    member = await birthday_today(shop)
    first = job_runner(shop.program)
    second = job_runner(second_process.program)

    outcomes = await asyncio.gather(first.run("greet_birthdays"), second.run("greet_birthdays"))

    assert sorted(outcome.ran for outcome in outcomes) == [False, True]
    [run] = await job_runs(shop)
    assert run.run_key == "greet_birthdays:2026-11-24T10"
    assert run.finished_at is not None and run.result == "ok: 1"
    assert await count(shop, LedgerEntry, LedgerEntry.reason == "birthday") == 1
    assert await count(shop, Notice, Notice.member_id == member) == 1

    # The same hour again: nothing; the next hour: a run (with nobody left to greet).
    assert (await first.run("greet_birthdays")).ran is False
    clock.current += timedelta(hours=1)
    again = await second.run("greet_birthdays")
    assert (again.ran, again.result) == (True, "ok: 0")


async def test_a_failed_or_abandoned_run_may_be_taken_over(
    shop: Runtime, clock: StoppedClock
) -> None:
    calls: list[datetime] = []

    async def flaky() -> int:
        calls.append(clock.now())
        if len(calls) == 1:
            raise ConnectionError("database went away")
        return 7

    runner = JobRunner(shop.db, clock, [Job("flaky", Every.DAY, flaky)])
    with pytest.raises(ConnectionError):
        await runner.run("flaky")
    [failed] = await job_runs(shop)
    assert failed.result is not None and failed.result.startswith("failed: ConnectionError")

    retried = await runner.run("flaky")
    assert (retried.ran, retried.result) == (True, "ok: 7")
    assert (await runner.run("flaky")).ran is False

    # A process that died mid-run leaves its claim unfinished: taken over an hour later.
    clock.current = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
    async with shop.db.transaction() as session:
        session.add(JobRun(run_key="flaky:2026-11-25", started_at=clock.now()))
    clock.current = datetime(2026, 11, 25, 0, 30, tzinfo=UTC)
    assert (await runner.run("flaky")).ran is False
    clock.current = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)
    assert (await runner.run("flaky")).ran is True


async def test_forcing_a_run_and_pruning_old_runs(shop: Runtime, clock: StoppedClock) -> None:
    async def once() -> None:
        return None

    runner = JobRunner(shop.db, clock, [Job("once", Every.DAY, once)])
    assert (await runner.run("once")).ran is True
    forced = await runner.run("once", force=True)
    assert forced.ran is True and forced.run_key.startswith("once:manual:")

    clock.current += timedelta(days=31)
    assert await runner.prune() == 2
    assert await job_runs(shop) == []


async def test_the_operator_runs_a_job_from_the_command_line(
    settings: Settings,
    shop: Runtime,
    workdir: object,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)

    assert await asyncio.to_thread(main.main, ["jobs", "run", "prune_job_runs"]) == 0
    assert await asyncio.to_thread(main.main, ["jobs", "run", "prune_job_runs"]) == 0
    assert await asyncio.to_thread(main.main, ["jobs", "run", "no_such_job"]) == 2
    assert await asyncio.to_thread(main.main, ["jobs", "list"]) == 0

    out = capsys.readouterr().out
    assert "prune_job_runs: ok: 0" in out
    assert "this period was already run" in out
    assert "greet_birthdays" in out and "'0 * * * *'" in out
    # The whole schedule the scheduler fires, in its order, dispatch_notices included.
    listed = [line.split()[0] for line in out.splitlines() if " every " in line]
    assert listed == [job.name for job in scheduled_jobs(shop).jobs]


async def wait_for(condition: object, within: float = 15.0) -> None:
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + within
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "the scheduled job did not run"
        await asyncio.sleep(0.1)


async def test_the_scheduler_fires_jobs_that_run_once_per_period(
    settings: Settings, shop: Runtime, second_process: Runtime
) -> None:
    """Two processes, each with a scheduler and a worker, firing every second: on Redis the
    schedules live in Redis and jobs go through the stream to either worker; embedded, each
    process runs what it fires. Either way the hour's birthday run happens once."""
    member = await birthday_today(shop)
    processes = [
        JobScheduler.build(scheduled_jobs(runtime), settings.redis_url, every_seconds=1)
        for runtime in (shop, second_process)
    ]
    assert all(p.distributed == bool(settings.redis_url) for p in processes)
    started = [asyncio.Event() for _ in processes]
    serving = [
        asyncio.create_task(process.serve(started=event))
        for process, event in zip(processes, started, strict=True)
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in started)), 10)

        async def greeted() -> bool:
            return await count(shop, Notice, Notice.member_id == member) > 0

        await wait_for(greeted)

        async def birthdays_ran() -> bool:
            runs = {run.run_key: run for run in await job_runs(shop)}
            run = runs.get("greet_birthdays:2026-11-24T10")
            return run is not None and run.finished_at is not None

        await wait_for(birthdays_ran)
        await asyncio.sleep(1.5)  # more firings, from both schedulers
    finally:
        for task in serving:
            task.cancel()
        await asyncio.gather(*serving, return_exceptions=True)

    assert await count(shop, LedgerEntry, LedgerEntry.reason == "birthday") == 1
    assert await count(shop, Notice, Notice.member_id == member) == 1
    runs = await job_runs(shop)
    keys = [run.run_key for run in runs]
    assert keys.count("greet_birthdays:2026-11-24T10") == 1
    assert "dispatch_notices:2026-11-24T10:15" in keys
    assert [run.run_key for run in runs if not (run.result or "").startswith("ok")] == []
    if settings.redis_url:
        # The jobs really travelled through the Redis stream to the workers.
        redis = Redis.from_url(settings.redis_url)
        try:
            assert await redis.xlen(QUEUE) >= 2 * len(processes[0].runner.jobs)
        finally:
            await redis.aclose()


@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_redis_holds_one_cron_schedule_per_job(
    settings: Settings, shop: Runtime, second_process: Runtime
) -> None:
    # Schedules are kept in Redis only on the services backend.
    jobs = scheduled_jobs(shop)
    for runtime in (shop, second_process, shop):  # restarts and a second process
        process = JobScheduler.build(scheduled_jobs(runtime), settings.redis_url)
        await process.source.startup()
        await process.sync_schedules()
        await process.close()

    reader = JobScheduler.build(jobs, settings.redis_url)
    try:
        stored = await reader.source.get_schedules()
    finally:
        await reader.close()
    assert sorted((s.task_name, s.cron) for s in stored) == sorted(
        (f"loyalty.{job.name}", job.cron) for job in jobs.jobs
    )
    redis = Redis.from_url(settings.redis_url)
    try:
        # redis-py types its commands for the sync and the async client at once.
        scheduled = cast("Awaitable[int]", redis.llen(f"{SCHEDULE_KEY_PREFIX}:cron"))
        assert await scheduled == len(jobs.jobs)
    finally:
        await redis.aclose()
