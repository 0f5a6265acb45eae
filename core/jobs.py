"""Scheduled jobs as plain async callables, and the claim that makes each period run once.

A job knows nothing of the scheduler that fires it (taskiq, cron, an operator): it is a name,
how often it runs, and a coroutine. `JobRunner.run` first claims the job's period in
`job_runs` (primary key "birthdays:2026-11-24T10"): the INSERT of one process wins, every
other process firing the same schedule loses and skips. The jobs themselves are idempotent as
well (ledger idempotency keys, notice dedupe keys), so a claim lost to a crash costs at most a
delay, never a double payment.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, delete, or_, update

from core.db.database import Database
from core.db.models import JobRun
from core.program import LoyaltyProgram
from core.shared.clock import Clock
from core.shared.errors import NotFound
from core.shared.writes import insert_ignoring

log = logging.getLogger(__name__)

FAILED = "failed"
# A claim whose process died mid-run (never finished) may be taken over after this long.
STALE_CLAIM_AFTER = timedelta(hours=1)
# Finished runs are kept this long for operators, then pruned by the daily housekeeping job.
KEEP_RUNS_FOR = timedelta(days=30)
RESULT_MAX_LENGTH = 500


class Every(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"


_PERIOD_FORMAT = {
    Every.MINUTE: "%Y-%m-%dT%H:%M",
    Every.HOUR: "%Y-%m-%dT%H",
    Every.DAY: "%Y-%m-%d",
}

JobBody = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Job:
    """`every` sets both the cron and the period key, so the two cannot disagree: an hourly
    job's runs are keyed by the hour. `minute` and `hour` (UTC) spread jobs over the clock."""

    name: str
    every: Every
    body: JobBody
    minute: int = 0
    hour: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.minute < 60 or not 0 <= self.hour < 24:
            raise ValueError(f"job {self.name}: minute 0-59 and hour 0-23")

    @property
    def cron(self) -> str:
        """The schedule as a cron expression in UTC."""
        if self.every is Every.MINUTE:
            return "* * * * *"
        if self.every is Every.HOUR:
            return f"{self.minute} * * * *"
        return f"{self.minute} {self.hour} * * *"

    def run_key(self, now: datetime) -> str:
        return f"{self.name}:{now.strftime(_PERIOD_FORMAT[self.every])}"


@dataclass(frozen=True)
class JobOutcome:
    job: str
    run_key: str
    # False: another process had already claimed this period, nothing was done here.
    ran: bool
    result: str | None = None


class UnknownJob(NotFound):
    code = "unknown_job"


class JobRunner:
    def __init__(self, db: Database, clock: Clock, jobs: Iterable[Job] = ()) -> None:
        self._db = db
        self._clock = clock
        self._jobs: dict[str, Job] = {}
        for job in jobs:
            self.add(job)

    def add(self, job: Job) -> None:
        if job.name in self._jobs:
            raise ValueError(f"job {job.name} is registered twice")
        self._jobs[job.name] = job

    @property
    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def get(self, name: str) -> Job:
        try:
            return self._jobs[name]
        except KeyError:
            raise UnknownJob(name) from None

    async def run(self, name: str, *, force: bool = False) -> JobOutcome:
        """Run a job for the current period, unless another process has it. `force` runs it
        regardless (an operator's rerun), under a key of its own so the period's stays."""
        job = self.get(name)
        now = self._clock.now()
        run_key = job.run_key(now)
        if force:
            run_key = f"{job.name}:manual:{now.isoformat(timespec='microseconds')}"
        if not await self._claim(run_key, now):
            log.info("job %s: %s was already claimed (here or elsewhere)", job.name, run_key)
            return JobOutcome(job=job.name, run_key=run_key, ran=False)
        try:
            done = await job.body()
        except Exception as error:
            await self._finish(run_key, f"{FAILED}: {type(error).__name__}: {error}")
            raise
        result = summary(done)
        await self._finish(run_key, result)
        log.info("job %s: %s %s", job.name, run_key, result)
        return JobOutcome(job=job.name, run_key=run_key, ran=True, result=result)

    async def _claim(self, run_key: str, now: datetime) -> bool:
        async with self._db.transaction() as session:
            won = await session.scalar(
                insert_ignoring(
                    session, JobRun, {"run_key": run_key, "started_at": now}, unique=["run_key"]
                ).returning(JobRun.run_key)
            )
            if won is not None:
                return True
            # A failed run, or one whose process died, may be taken over; the UPDATE's row
            # lock lets exactly one of several contenders do it.
            taken = await session.execute(
                update(JobRun)
                .where(
                    JobRun.run_key == run_key,
                    or_(
                        JobRun.result.like(f"{FAILED}%"),
                        and_(
                            JobRun.finished_at.is_(None),
                            JobRun.started_at < now - STALE_CLAIM_AFTER,
                        ),
                    ),
                )
                .values(started_at=now, finished_at=None, result=None)
                .returning(JobRun.run_key)
            )
            return taken.first() is not None

    async def _finish(self, run_key: str, result: str) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                update(JobRun)
                .where(JobRun.run_key == run_key)
                .values(finished_at=self._clock.now(), result=result[:RESULT_MAX_LENGTH])
            )

    async def prune(self) -> int:
        """Forget finished runs older than KEEP_RUNS_FOR (their periods will not recur)."""
        before = self._clock.now() - KEEP_RUNS_FOR
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(JobRun)
                .where(JobRun.finished_at.is_not(None), JobRun.started_at < before)
                .returning(JobRun.run_key)
            )
            return len(result.all())


def summary(done: object) -> str:
    """A job's result as a short line for `job_runs`: counts, or a small record's fields."""
    if done is None or isinstance(done, bool):
        return "ok"
    if isinstance(done, list | tuple | set | dict):
        return f"ok: {len(done)}"
    if dataclasses.is_dataclass(done) and not isinstance(done, type):
        fields = dataclasses.asdict(done)
        return "ok: " + ", ".join(f"{name} {value}" for name, value in fields.items())
    return f"ok: {done}"


def _job(name: str, every: Every, body: JobBody, **at: int) -> Job:
    return Job(name=name, every=every, body=body, **at)


def program_jobs(program: LoyaltyProgram) -> list[Job]:
    """The core's scheduled jobs. A service not (yet) part of the program simply has no job,
    so the scheduler runs whatever the core offers."""
    jobs = [
        # Hourly: a member's birthday starts at a different UTC hour in every time zone.
        _job("greet_birthdays", Every.HOUR, program.birthdays.greet_due, minute=0),
    ]
    # Every minute: events the games have not heard yet (a process died before handling
    # them, or their handling failed and is due again).
    jobs.append(_job("deliver_events", Every.MINUTE, program.bus.deliver_pending))
    expiry = getattr(program, "expiry", None)
    if expiry is not None:
        # Hourly: points expire at the instant their lot says, not at some daily batch time.
        jobs.append(_job("expire_points", Every.HOUR, expiry.expire_due, minute=5))
        jobs.append(_job("remind_expiring", Every.HOUR, program.reminders.remind_due, minute=10))
    coupon_reminders = getattr(program, "coupon_reminders", None)
    if coupon_reminders is not None:
        # Hourly: a coupon stops working at the instant its date says.
        jobs.append(_job("remind_coupons", Every.HOUR, coupon_reminders.remind_due, minute=12))
    streaks = getattr(program, "streaks", None)
    if streaks is not None:
        # Hourly: the reminder hour comes at a different UTC hour in every time zone.
        jobs.append(_job("remind_streaks", Every.HOUR, streaks.remind_due, minute=15))
    boards = getattr(program, "boards", None)
    if boards is not None:
        # Daily, at a quiet hour: leaderboard nodes left at zero, finished boards' trees.
        jobs.append(_job("prune_boards", Every.DAY, boards.prune, minute=50, hour=4))
    tiers = getattr(program, "tiers", None)
    if tiers is not None:
        # Daily, at a quiet hour: downgrades after the grace period are a matter of days.
        jobs.append(_job("review_tiers", Every.DAY, tiers.review_all, minute=20, hour=2))
    contests = getattr(program, "contests", None)
    if contests is not None:
        # Every minute: a giveaway closes at its end time (its list must be frozen before
        # the beacon round is out), and a reserve is called soon after a deadline passes.
        jobs.append(_job("settle_contests", Every.MINUTE, contests.settle_due))
    triggers = getattr(program, "triggers", None)
    if triggers is not None:
        # Hourly: win-back counts days since a purchase; the engine sends what it queues.
        jobs.append(_job("fire_triggers", Every.HOUR, triggers.fire_due, minute=25))
    return jobs


def job_runner(program: LoyaltyProgram, extra: Iterable[Job] = ()) -> JobRunner:
    """Every job the program runs on a schedule: the core's, `extra` ones the composition
    root adds (delivering notices needs the messengers), and the runs' own housekeeping."""
    runner = JobRunner(program.db, program.clock, [*program_jobs(program), *extra])
    runner.add(_job("prune_job_runs", Every.DAY, runner.prune, minute=40, hour=4))
    return runner
