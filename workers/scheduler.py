"""The job scheduler: the core's plain jobs (core/jobs.py) as taskiq tasks on a schedule.

Each job is a task `loyalty.<job>` on the process's TaskQueue (broker.py). With Redis the
schedules live in Redis (`ListRedisScheduleSource`, the maintained successor of
`RedisScheduleSource`: one cron entry per job under a fixed id) and a fired job goes to
whichever worker takes it. Any number of processes may run the scheduler and the worker: each
scheduler fires every schedule, and the job's claim of its period in `job_runs` lets exactly
one run do the work. On the embedded default (no Redis) the schedules are the tasks' labels
and a fired job runs in the process that fired it: `make run` works with no server at all.

Nothing here is global: `JobScheduler.build` wires one per process (app.lifecycle calls it).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from taskiq import AsyncBroker, InMemoryBroker, ScheduledTask, ScheduleSource, TaskiqScheduler
from taskiq.cli.scheduler.run import SchedulerLoop
from taskiq.receiver import Receiver

from core.jobs import Job, JobRunner
from core.shared.outage import Outage, infrastructure
from workers.broker import TASK_PREFIX, WORKER_CONCURRENCY, TaskQueue

log = logging.getLogger(__name__)

SCHEDULE_ID_PREFIX = "loyalty:"
# How often a scheduler re-reads the schedules from Redis (an operator's change shows then).
SCHEDULE_REFRESH = timedelta(seconds=60)
# How often a serving scheduler or worker checks that Redis answers, and how long it waits.
WATCH_SECONDS = 2.0
WATCH_TIMEOUT_SECONDS = 5.0


def task_name(job: Job) -> str:
    return f"{TASK_PREFIX}{job.name}"


def schedule_id(job: Job) -> str:
    return f"{SCHEDULE_ID_PREFIX}{job.name}"


def _when(job: Job, every_seconds: int | None) -> dict[str, object]:
    return {"interval": every_seconds} if every_seconds else {"cron": job.cron}


def _task_body(runner: JobRunner, name: str) -> Callable[[], Awaitable[str]]:
    """The taskiq task of one job: claims the period and runs it (see JobRunner.run)."""

    async def run_job() -> str:
        outcome = await runner.run(name)
        return outcome.result if outcome.ran and outcome.result else "skipped"

    run_job.__name__ = f"run_{name}"
    return run_job


def redis_outage(error: BaseException) -> bool:
    """Whether `error` means Redis is away (or came back empty: the queue's consumer group
    is gone), not a bug."""
    if isinstance(error, BaseExceptionGroup):
        return all(redis_outage(inner) for inner in error.exceptions)
    if isinstance(error, ResponseError) and str(error).startswith("NOGROUP"):
        return True
    return infrastructure(error)


class OutageQuietSource(ScheduleSource):
    """The schedules for taskiq's scheduler loop, which logs any error of a source with its
    traceback: a Redis outage here reads as "no schedules this time" (the watcher in
    `JobScheduler` logs the outage once and starts everything again), a bug still raises."""

    def __init__(self, source: ScheduleSource) -> None:
        self._source = source

    async def get_schedules(self) -> list[ScheduledTask]:
        try:
            return await self._source.get_schedules()
        except Exception as error:
            if not redis_outage(error):
                raise
            log.debug("schedules not read: Redis is away")
            return []

    async def pre_send(self, task: ScheduledTask) -> None:
        await _settled(self._source.pre_send(task))

    async def post_send(self, task: ScheduledTask) -> None:
        await _settled(self._source.post_send(task))


class OutageQuietScheduler(TaskiqScheduler):
    """taskiq's scheduler, whose loop sends each due job in a task of its own that nobody
    awaits: a send that meets a Redis outage (before the watcher in `JobScheduler` noticed
    it) would end that task with an exception asyncio logs with its traceback. It is the
    outage, logged once by the watcher; the job runs at its next time, as every job does
    while Redis is away. A bug still raises."""

    async def on_ready(self, source: ScheduleSource, task: ScheduledTask) -> None:
        try:
            await super().on_ready(source, task)
        except Exception as error:
            if not redis_outage(error):
                raise
            log.debug("job %s not sent: Redis is away", task.task_name)


async def _settled(result: object) -> None:
    """A source's hook may be plain or a coroutine (taskiq allows both)."""
    if inspect.isawaitable(result):
        await result


# taskiq's receiver logs how its listener ended, with a traceback, before it raises.
RECEIVER_LOGGER = "taskiq.receiver.receiver"


class OutageQuietLog(logging.Filter):
    """Drops a record of taskiq's receiver about a Redis outage: `JobScheduler.serve` logs
    each outage once itself, and a traceback in the log must mean a bug."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return error is None or not redis_outage(error)


@dataclass
class JobScheduler:
    runner: JobRunner
    broker: AsyncBroker
    source: ScheduleSource
    # True with Redis: schedules and the queue are shared by every process.
    distributed: bool
    # Where the schedules and the queue live ("" on the embedded default).
    redis_url: str = ""
    # Fire every job every this many seconds instead of by its cron (tests and demos; the
    # period claim still lets each job run once per period).
    every_seconds: int | None = None

    @classmethod
    def build(
        cls,
        runner: JobRunner,
        redis_url: str = "",
        *,
        every_seconds: int | None = None,
        tasks: Mapping[str, Callable[..., Awaitable[object]]] | None = None,
    ) -> JobScheduler:
        """`tasks`: work sent on demand, not on a schedule (a broadcast kicked by
        broadcast-send), registered as `loyalty.<name>`."""
        queue = TaskQueue.build(redis_url)
        for name, body in (tasks or {}).items():
            queue.broker.register_task(body, f"{TASK_PREFIX}{name}", retry_on_error=False)
        for job in runner.jobs:
            labels: dict[str, object] = {"retry_on_error": bool(redis_url)}
            if not redis_url:
                labels["schedule"] = [
                    {**_when(job, every_seconds), "schedule_id": schedule_id(job)}
                ]
            queue.broker.register_task(_task_body(runner, job.name), task_name(job), **labels)
        return cls(
            runner=runner,
            broker=queue.broker,
            source=queue.source,
            distributed=queue.distributed,
            redis_url=redis_url,
            every_seconds=every_seconds,
        )

    def schedules(self) -> list[ScheduledTask]:
        """Every job's schedule, as it is stored in Redis (cron, UTC)."""
        return [
            ScheduledTask(
                task_name=task_name(job),
                labels={},
                args=[],
                kwargs={},
                schedule_id=schedule_id(job),
                **_when(job, self.every_seconds),
            )
            for job in self.runner.jobs
        ]

    async def sync_schedules(self) -> None:
        """Make Redis hold exactly this version's schedules: each job's under a fixed id
        (replaced, so restarts do not pile up copies) and none of jobs that are gone."""
        if not self.distributed:
            return
        wanted = {schedule.schedule_id: schedule for schedule in self.schedules()}
        for existing in await self.source.get_schedules():
            if existing.schedule_id.startswith(SCHEDULE_ID_PREFIX) and (
                existing.schedule_id not in wanted
            ):
                await self.source.delete_schedule(existing.schedule_id)
        for schedule in wanted.values():
            await self.source.delete_schedule(schedule.schedule_id)
            await self.source.add_schedule(schedule)

    async def serve(
        self,
        *,
        schedule: bool = True,
        work: bool = True,
        started: asyncio.Event | None = None,
    ) -> None:
        """Fire the schedules (`schedule`) and run the jobs fired by any process (`work`),
        until cancelled. On the embedded default fired jobs always run here.

        With Redis, an outage of it (unreachable at start, gone while serving, restarted
        empty) ends nothing: it is logged once, the broker is started again after a growing
        pause until Redis answers, and then the schedules are written again and the queue's
        consumer group made again, as at a first start. Any other error ends the task."""
        if not self.distributed:
            work = False  # the in-memory broker runs what this process fires, nothing else
        self.broker.is_worker_process = work
        self.broker.is_scheduler_process = schedule
        if not self.distributed:
            await self._serve_once(schedule=schedule, work=work, started=started)
            return
        outage = Outage("jobs on Redis", log)
        receiver_log = logging.getLogger(RECEIVER_LOGGER)
        quiet = OutageQuietLog()
        receiver_log.addFilter(quiet)
        try:
            while True:
                try:
                    await self._serve_once(
                        schedule=schedule, work=work, started=started, outage=outage
                    )
                except Exception as error:
                    if not redis_outage(error):
                        raise
                    pause = outage.failed(error)
                else:
                    return
                await asyncio.sleep(pause)
        finally:
            receiver_log.removeFilter(quiet)

    async def _serve_once(
        self,
        *,
        schedule: bool,
        work: bool,
        started: asyncio.Event | None,
        outage: Outage | None = None,
    ) -> None:
        finish = asyncio.Event()
        try:
            await self.broker.startup()
            await self.source.startup()
            if schedule:
                await self.sync_schedules()
            async with asyncio.TaskGroup() as group:
                if self.distributed:
                    group.create_task(self._watch_redis())
                if work:
                    receiver = Receiver(
                        self.broker,
                        max_async_tasks=WORKER_CONCURRENCY,
                        run_startup=False,
                        propagate_exceptions=False,
                    )
                    group.create_task(receiver.listen(finish))
                if schedule:
                    loop = SchedulerLoop(
                        OutageQuietScheduler(self.broker, [OutageQuietSource(self.source)])
                    )
                    group.create_task(loop.run(update_interval=SCHEDULE_REFRESH))
                if outage is not None:
                    outage.recovered()
                log.info(
                    "jobs: %s%s on %s",
                    "scheduler" if schedule else "",
                    " + worker" if work else "",
                    "Redis" if self.distributed else "the embedded broker",
                )
                if started is not None:
                    started.set()
        finally:
            finish.set()
            with contextlib.suppress(Exception):
                if isinstance(self.broker, InMemoryBroker):
                    await asyncio.wait_for(self.broker.wait_all(), 10)
            await self.close()

    async def _watch_redis(self) -> None:
        """Ping Redis every few seconds; raise when it does not answer, so that the worker
        and the scheduler start again on a Redis that may have lost their schedules and
        their consumer group (taskiq's scheduler loop would otherwise go on firing nothing)."""
        client = Redis.from_url(
            self.redis_url,
            socket_connect_timeout=WATCH_TIMEOUT_SECONDS,
            socket_timeout=WATCH_TIMEOUT_SECONDS,
        )
        try:
            while True:
                pong = client.ping()
                if inspect.isawaitable(pong):
                    await pong
                await asyncio.sleep(WATCH_SECONDS)
        finally:
            await client.aclose()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.broker.shutdown()
        with contextlib.suppress(Exception):
            await self.source.shutdown()
