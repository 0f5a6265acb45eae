"""Redis goes away and comes back under the real processes (`main.py run`, `worker`,
`scheduler`): each keeps running, /readyz says 503 naming Redis meanwhile, the outage is logged
once, and the work resumes by itself when Redis is back (empty: a throwaway redis-server on a
port of its own, without persistence, like a restarted cache)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import select
from taskiq import BrokerMessage, InMemoryBroker, ScheduledTask, ScheduleSource
from taskiq.cli.scheduler.run import get_schedules
from taskiq.exceptions import SendTaskError

from app.runtime import Runtime, build_runtime, scheduled_jobs
from app.settings import Settings
from bots.dispatch import DispatchReport
from core.db.database import Database
from core.db.migrate import upgrade_async
from core.db.models import JobRun
from tests.conftest import TELEGRAM_TOKEN
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.vk_api import FakeVkAPI
from workers.broker import SCHEDULE_KEY_PREFIX
from workers.scheduler import (
    JobScheduler,
    OutageQuietLog,
    OutageQuietScheduler,
    OutageQuietSource,
)

ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = shutil.which("redis-server")
# Every wait of these tests is bounded by this many seconds: a bound, not a pace (each wait
# ends as soon as what it waits for happens). `main.py run` migrating and starting took over
# 30 s on a 2-core machine busy with two test workers and other processes.
WITHIN = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A throwaway redis-server on a port of its own, stopped and started at will."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        assert REDIS_SERVER is not None
        self.process = await asyncio.create_subprocess_exec(
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        client = Redis.from_url(self.url)
        try:

            async def answers() -> bool:
                with contextlib.suppress(Exception):
                    return bool(await cast("Awaitable[bool]", client.ping()))
                return False

            await until(answers, "redis-server did not start")
        finally:
            await client.aclose()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await asyncio.wait_for(self.process.wait(), WITHIN)
        self.process = None


@pytest.fixture
async def redis_server() -> AsyncIterator[RedisServer]:
    if REDIS_SERVER is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the Redis fault tests: redis-server is not installed")
        pytest.skip("redis-server is not installed")
    server = RedisServer(free_port())
    try:
        yield server
    finally:
        await server.stop()


async def until(
    condition: Callable[[], Awaitable[bool]], failure: str, log: Callable[[], str] = str
) -> None:
    deadline = asyncio.get_running_loop().time() + WITHIN
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, f"{failure}\n{log()}"
        await asyncio.sleep(0.2)


class Program:
    """`python main.py <command>`, its output going to a file read as it grows."""

    def __init__(self, *argv: str, env: dict[str, str], cwd: Path) -> None:
        self.argv = argv
        self.env = env
        self.output = cwd / f"{argv[0]}.log"
        self.cwd = cwd
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.output.open("wb") as output:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(ROOT / "main.py"),
                *self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
            )

    @property
    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def assert_alive(self) -> None:
        assert self.process is not None
        assert self.process.returncode is None, (
            f"exited with {self.process.returncode}:\n{self.log}"
        )

    async def until_logged(self, text: str, times: int = 1) -> None:
        async def logged() -> bool:
            return self.log.count(text) >= times

        await until(logged, f"{self.argv[0]} did not log {text!r} {times} times", lambda: self.log)

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await asyncio.wait_for(self.process.wait(), WITHIN)


def environment(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "VK_", "TWILIO_", "PUBLIC_URL", "WEB_"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        LANG="en_US.UTF-8",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


async def readiness(port: int) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/readyz", timeout=aiohttp.ClientTimeout(10)) as answer,
    ):
        return answer.status, await answer.json()


async def ready_is(port: int, status: int) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def matches() -> bool:
        nonlocal seen
        try:
            got, seen = await readiness(port)
        except aiohttp.ClientConnectionError:
            return False
        return got == status

    await until(matches, f"/readyz never answered {status}", lambda: f"last: {seen}")
    return seen


async def test_run_keeps_serving_while_redis_is_away_and_resumes_when_it_is_back(
    redis_server: RedisServer, fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    port = free_port()
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'loyalty.db'}"
    env = environment(
        database_url,
        redis_server.url,
        WEB_PORT=str(port),
        TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
        TELEGRAM_API_URL=fake_telegram.base_url,
    )
    # Redis is not even there at the start.
    run = Program("run", env=env, cwd=tmp_path)
    try:
        await run.start()
        report = await ready_is(port, 503)
        assert report["redis"] == "unavailable" and report["database"] == "ok", report
        await asyncio.sleep(3)
        run.assert_alive()

        await redis_server.start()
        assert (await ready_is(port, 200))["redis"] == "ok"
        await run.until_logged("jobs on Redis works again", 1)

        await redis_server.stop()
        report = await ready_is(port, 503)
        assert report["redis"] == "unavailable", report
        await run.until_logged("jobs on Redis failed", 2)
        await asyncio.sleep(4)
        run.assert_alive()
        assert (await readiness(port))[0] == 503

        await redis_server.start()
        assert (await ready_is(port, 200))["redis"] == "ok"
        await run.until_logged("jobs on Redis works again", 2)
        # The bot answers again (its de-duplication and conversations live in Redis).
        fake_telegram.push_update(fake_telegram.message_update(user_id=4242, text="/start"))
        await fake_telegram.wait_for_sent(4242, 1, timeout=WITHIN)
        run.assert_alive()
    finally:
        await run.kill()
    log = run.log
    # Each outage is logged once by the job scheduler, at ERROR, without a traceback.
    assert log.count("ERROR workers.scheduler: jobs on Redis failed") == 2, log
    assert "died; stopping" not in log
    assert "Traceback" not in log, log


async def kicked_job_runs(database_url: str, redis_url: str, job: str) -> None:
    """Send `job` to the Redis queue, as a scheduler would, and wait until a worker ran it."""
    runtime = build_runtime(Settings(database_url=database_url, redis_url=redis_url))
    sender = JobScheduler.build(scheduled_jobs(runtime), redis_url)
    database = Database.from_url(database_url)
    try:
        await sender.broker.startup()
        kicker = sender.broker.find_task(f"loyalty.{job}")
        assert kicker is not None
        await kicker.kiq()

        async def ran() -> bool:
            async with database.reading() as session:
                keys = (await session.scalars(select(JobRun.run_key))).all()
            return any(key.startswith(f"{job}:") for key in keys)

        await until(ran, f"the worker did not run {job}")
    finally:
        await sender.close()
        await runtime.close()
        await database.close()


async def test_worker_and_scheduler_outlive_a_redis_restart(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'loyalty.db'}"
    await upgrade_async(database_url)
    env = environment(database_url, redis_server.url)
    await redis_server.start()
    worker = Program("worker", env=env, cwd=tmp_path)
    scheduler = Program("scheduler", env=env, cwd=tmp_path)
    runtime = build_runtime(Settings(database_url=database_url))
    jobs = scheduled_jobs(runtime)
    await runtime.close()
    redis = Redis.from_url(redis_server.url)

    async def schedules_stored() -> bool:
        with contextlib.suppress(Exception):
            stored = await cast("Awaitable[int]", redis.llen(f"{SCHEDULE_KEY_PREFIX}:cron"))
            return stored == len(jobs.jobs)
        return False

    try:
        await worker.start()
        await scheduler.start()
        await until(schedules_stored, "the scheduler stored no schedules", lambda: scheduler.log)

        await redis_server.stop()
        for program in (worker, scheduler):
            await program.until_logged("jobs on Redis failed")
        await asyncio.sleep(4)
        worker.assert_alive()
        scheduler.assert_alive()

        await redis_server.start()  # empty: the schedules and the consumer group are gone
        # The scheduler writes its schedules again, the worker takes jobs again.
        await until(schedules_stored, "the schedules were not restored", lambda: scheduler.log)
        for program in (worker, scheduler):
            await program.until_logged("jobs on Redis works again")
        await kicked_job_runs(database_url, redis_server.url, "prune_job_runs")
        worker.assert_alive()
        scheduler.assert_alive()
    finally:
        await redis.aclose()
        await worker.kill()
        await scheduler.kill()
    for program in (worker, scheduler):
        assert program.log.count("jobs on Redis failed") == 1, program.log
        assert "died; stopping" not in program.log


async def test_the_notice_dispatcher_logs_an_outage_once_backs_off_and_goes_on(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    dispatcher = runtime.dispatcher
    attempts: list[float] = []

    async def dispatch(limit: int = 0) -> DispatchReport:
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) <= 3:
            raise ConnectionRefusedError("the database is away")
        return DispatchReport()

    monkeypatch.setattr(dispatcher, "dispatch", dispatch)
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO, logger="bots.dispatch"):
        loop = asyncio.create_task(dispatcher.run_forever(stop, interval=0.01))
        try:

            async def recovered() -> bool:
                return len(attempts) >= 6

            await until(recovered, "the dispatcher did not try again")
            loop_alive = not loop.done()
        finally:
            stop.set()
            await asyncio.wait_for(loop, WITHIN)
    assert loop_alive
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(failures) == 1, [r.getMessage() for r in failures]
    assert "ConnectionRefusedError: the database is away" in failures[0].getMessage()
    assert failures[0].exc_info is None  # an outage, not a bug: no traceback
    assert sum("works again after" in r.getMessage() for r in caplog.records) == 1
    # The pauses grew while it failed (0.5 s, 1 s, 2 s), then back to the interval.
    pauses = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert pauses[0] >= 0.4 and pauses[1] >= 0.9 and pauses[2] >= 1.9, pauses
    assert pauses[-1] < 0.4, pauses


async def test_long_polling_waits_out_a_redis_outage_and_answers_each_update_once(
    redis_server: RedisServer, fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    """Telegram and VK long polling under `main.py run` while Redis (their de-duplication and
    conversations) is away: the updates that arrive wait, the outage is logged once per
    channel at ERROR without a traceback, and once Redis is back each of them is answered,
    exactly once, in order; nothing was lost although nobody delivers them again."""
    await redis_server.start()
    async with FakeVkAPI() as fake_vk:
        env = environment(
            f"sqlite+aiosqlite:///{tmp_path / 'loyalty.db'}",
            redis_server.url,
            WEB_PORT=str(free_port()),
            TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
            TELEGRAM_API_URL=fake_telegram.base_url,
            VK_GROUP_TOKEN=fake_vk.token,
            VK_GROUP_ID=str(fake_vk.group_id),
            VK_API_URL=fake_vk.base_url,
            SCHEDULER_ENABLED="false",
        )
        run = Program("run", env=env, cwd=tmp_path)
        telegram_user, vk_user = 5001, 6001
        try:
            await run.start()
            await run.until_logged("telegram: long polling")
            await run.until_logged("vk: Bots Long Poll")
            # Events queued before the poll server is handed out are not delivered (as on VK).
            await fake_vk.wait_for_call("groups.getLongPollServer", timeout=WITHIN)
            fake_telegram.push_update(
                fake_telegram.message_update(user_id=telegram_user, text="/start")
            )
            fake_vk.queue_long_poll(fake_vk.message_new(vk_user, "Start"))
            await fake_telegram.wait_for_sent(telegram_user, 1, timeout=WITHIN)
            await fake_vk.wait_for_sent(vk_user, 1, timeout=WITHIN)
            await asyncio.sleep(1)  # every answer to the first turn sent
            per_turn = len(fake_telegram.sent_to(telegram_user)), len(fake_vk.sent_to(vk_user))

            await redis_server.stop()
            for _ in range(2):  # two updates each: the first waits, the second behind it
                fake_telegram.push_update(
                    fake_telegram.message_update(user_id=telegram_user, text="/start")
                )
                fake_vk.queue_long_poll(fake_vk.message_new(vk_user, "Start"))
            await run.until_logged("telegram long polling: handling updates failed")
            await run.until_logged("vk long poll: handling events failed")
            await asyncio.sleep(2)
            run.assert_alive()
            waiting = len(fake_telegram.sent_to(telegram_user)), len(fake_vk.sent_to(vk_user))
            assert waiting == per_turn, "nothing is answered while Redis is away"

            await redis_server.start()  # empty, as a restarted cache
            await fake_telegram.wait_for_sent(telegram_user, 3 * per_turn[0], timeout=WITHIN)
            await fake_vk.wait_for_sent(vk_user, 3 * per_turn[1], timeout=WITHIN)
            await run.until_logged("telegram long polling: handling updates works again")
            await run.until_logged("vk long poll: handling events works again")
            await asyncio.sleep(2)  # time for a duplicate to show
            answered = len(fake_telegram.sent_to(telegram_user)), len(fake_vk.sent_to(vk_user))
            assert answered == (3 * per_turn[0], 3 * per_turn[1]), "each update answered once"
            run.assert_alive()
        finally:
            await run.kill()
    log = run.log
    for outage in ("telegram long polling: handling updates", "vk long poll: handling events"):
        assert log.count(f"{outage} failed") == 1, log
        assert log.count(f"{outage} works again") == 1, log
    assert "Traceback" not in log, log
    assert "Cause exception while process update" not in log, log


class _FailingSource(ScheduleSource):
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def get_schedules(self) -> list[ScheduledTask]:
        raise self.error


async def test_taskiqs_loop_logs_no_traceback_for_a_redis_outage_but_does_for_a_bug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """taskiq's scheduler loop logs a failing source with its traceback; while Redis is away
    (the watcher logs that once) the schedules read as none, and a bug still shows."""
    with caplog.at_level(logging.DEBUG):
        away = OutageQuietSource(_FailingSource(RedisConnectionError("Connection refused")))
        assert await get_schedules(away) == []
        assert not [record for record in caplog.records if record.exc_info]

        caplog.clear()
        broken = OutageQuietSource(_FailingSource(ValueError("a bug of ours")))
        assert await get_schedules(broken) == []
        assert [record for record in caplog.records if record.exc_info]


class _FailingBroker(InMemoryBroker):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    async def kick(self, message: BrokerMessage) -> None:
        raise self.error


async def test_a_job_sent_while_redis_is_away_is_not_a_traceback_but_a_bug_is() -> None:
    """taskiq's scheduler loop sends each due job in a task nobody awaits: a send that meets
    a Redis outage ends quietly (the watcher logs the outage once), a bug still raises."""
    job = ScheduledTask(task_name="loyalty:expire", labels={}, args=[], kwargs={}, cron="* * * * *")
    source = _FailingSource(ValueError("not read here"))
    away = OutageQuietScheduler(_FailingBroker(RedisConnectionError("Connection refused")), [])
    await away.on_ready(source, job)

    broken = OutageQuietScheduler(_FailingBroker(ValueError("a bug of ours")), [])
    with pytest.raises(SendTaskError):
        await broken.on_ready(source, job)


def test_taskiqs_receiver_record_of_a_redis_outage_is_dropped_but_a_bug_kept() -> None:
    def record_of(error: BaseException) -> logging.LogRecord:
        try:
            raise error
        except BaseException:
            return logging.LogRecord(
                "taskiq.receiver.receiver",
                logging.ERROR,
                __file__,
                1,
                "ended",
                None,
                sys.exc_info(),
            )

    quiet = OutageQuietLog()
    assert not quiet.filter(record_of(RedisConnectionError("Error 111 connecting")))
    assert quiet.filter(record_of(ValueError("a bug of ours")))
    assert quiet.filter(logging.LogRecord("x", logging.INFO, __file__, 1, "fine", None, None))
