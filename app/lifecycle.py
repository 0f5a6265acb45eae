"""Start and stop: serving the web app, the channels, the scheduler and the notice dispatcher.

Every background task (a long poll, the scheduler, the notice dispatcher) is meant to run until
the process stops. One that ends anyway, with an exception or without, is logged at ERROR (with
its traceback) and stops the process with a non-zero status: a bot that silently stopped
listening is worse than one that restarts. That is for bugs: an outage of Redis or of the
database ends no task, each loop waits it out itself (logged once, retried with backoff: the
job scheduler in workers/scheduler.py, the notice dispatcher in bots/dispatch.py), and
/readyz says 503 meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from app.runtime import (
    Runtime,
    build_runtime,
    console_channel,
    opened,
    scheduled_jobs,
    worker_tasks,
)
from app.settings import Settings
from core.db.migrate import upgrade_async
from core.shared.outage import Outage
from workers.scheduler import JobScheduler

log = logging.getLogger("loyalty")
# How long a shutdown waits for the notice dispatcher's batch in flight.
NOTICE_SHUTDOWN_SECONDS = 10.0
# What `run`, `chat` and `serve_jobs` return when a background task died.
TASK_DIED = 1


class Supervisor:
    """The background tasks of one process, and who notices when one ends. A task may be
    spawned before `watch` or while it runs (a channel that starts polling late); after
    `watch` has returned nobody would notice, so `spawn` refuses."""

    def __init__(self) -> None:
        self.tasks: dict[asyncio.Task[None], str] = {}
        # Resolved by `spawn` while `watch` waits, so the wait starts over with the new task.
        self._spawned: asyncio.Future[None] | None = None
        self._watched = False

    def spawn(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        if self._watched:
            work.close()
            raise RuntimeError(f"{name} spawned after the watch ended: nobody would see it end")
        self.tasks[asyncio.create_task(work, name=name)] = name
        if self._spawned is not None and not self._spawned.done():
            self._spawned.set_result(None)

    async def watch(self, main: Coroutine[Any, Any, object]) -> int:
        """Run `main` (the console, or waiting for a signal) while every task runs: 0 when
        `main` ends, TASK_DIED as soon as a task ends first."""
        foreground = asyncio.create_task(main)
        loop = asyncio.get_running_loop()
        spawned = self._spawned = loop.create_future()
        try:
            while True:
                waited: set[asyncio.Future[Any]] = {foreground, spawned, *self.tasks}
                done, _ = await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
                if foreground in done:
                    foreground.result()  # the console's own error, if it had one
                    return 0
                ended = [task for task in self.tasks if task in done]
                for task in ended:
                    self._report(task)
                if ended:
                    return TASK_DIED
                # Only a new task: wait again, over it too.
                spawned = self._spawned = loop.create_future()
        finally:
            self._watched = True
            self._spawned = None
            spawned.cancel()
            if not foreground.done():
                foreground.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await foreground

    def _report(self, task: asyncio.Task[Any]) -> None:
        name = self.tasks[task]
        if task.cancelled():
            log.error("%s was cancelled while the process runs; stopping", name)
            return
        error = task.exception()
        if error is not None:
            log.error("%s died; stopping", name, exc_info=error)
        else:
            log.error("%s ended although it should run until the process stops; stopping", name)

    async def stop(self) -> None:
        """Cancel what still runs and wait for it; errors were reported by `watch`."""
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def run(settings: Settings, *, console: bool | None = None) -> int:
    """Serve until interrupted (or, with the console channel, until the member leaves).
    0 after a clean stop; TASK_DIED when a background task ended on its own."""
    await upgrade_async(settings.database_url)
    runtime = build_runtime(settings)
    await runtime.hash_members_with_the_installation_key()
    runner = web.AppRunner(runtime.web_app, access_log=None)
    await runner.setup()
    supervisor = Supervisor()
    stop_notices = asyncio.Event()
    try:
        site = web.TCPSite(runner, settings.web_host, settings.web_port)
        await site.start()
        log.info("listening on http://%s:%s", settings.web_host, settings.web_port)
        for channel in runtime.channels.values():
            await channel.start(supervisor.spawn)
        if settings.scheduler_enabled:
            jobs = JobScheduler.build(
                scheduled_jobs(runtime), settings.redis_url, tasks=worker_tasks(runtime)
            )
            supervisor.spawn("job scheduler", jobs.serve())
            if not settings.redis_url:
                supervisor.spawn(
                    "broadcast watcher",
                    watch_broadcasts(runtime, settings.broadcast_poll_seconds, stop_notices),
                )
        shows_console = console if console is not None else not runtime.has_messenger
        terminal = console_channel(runtime) if shows_console else None
        supervisor.spawn("notice dispatcher", runtime.dispatcher.run_forever(stop_notices))
        return await supervisor.watch(terminal.run() if terminal is not None else signalled())
    finally:
        await stop_dispatching(stop_notices, supervisor)
        for channel in runtime.channels.values():
            await channel.stop()
        await supervisor.stop()
        await runner.cleanup()
        await runtime.close()


async def watch_broadcasts(runtime: Runtime, interval: float, stop: asyncio.Event) -> None:
    """On the embedded default, send what `broadcast-send` planned in another process within
    `interval` seconds, not at the next minute's job (which stays, for scheduled broadcasts
    and the members whose morning came). A run while another is on is harmless: both take
    their recipients through the batches' claims. An outage or a bug never ends the loop."""
    outage = Outage("broadcast sending", log)
    while not stop.is_set():
        pause = interval
        try:
            await runtime.send_broadcasts()
        except Exception as error:
            pause = max(interval, outage.failed(error))
        else:
            outage.recovered()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)


async def stop_dispatching(stop: asyncio.Event, supervisor: Supervisor) -> None:
    """Let the notice dispatcher finish the batch it is sending (so none stays claimed until
    its lease runs out), but not for long."""
    stop.set()
    for task, name in supervisor.tasks.items():
        if name == "notice dispatcher" and not task.done():
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(task), NOTICE_SHUTDOWN_SECONDS)


async def signalled() -> None:
    """Until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def chat(settings: Settings, user_id: str | None) -> int:
    await upgrade_async(settings.database_url)
    async with opened(settings) as runtime:
        terminal = console_channel(runtime, user_id=user_id)
        supervisor = Supervisor()
        stop = asyncio.Event()
        supervisor.spawn("notice dispatcher", runtime.dispatcher.run_forever(stop))
        try:
            return await supervisor.watch(terminal.run())
        finally:
            await stop_dispatching(stop, supervisor)
            await supervisor.stop()


async def serve_jobs(settings: Settings, *, schedule: bool, work: bool) -> int:
    if work and not schedule and not settings.redis_url:
        print("A job worker takes jobs from Redis: set REDIS_URL.", file=sys.stderr)
        return 2
    async with opened(settings) as runtime:
        jobs = JobScheduler.build(
            scheduled_jobs(runtime), settings.redis_url, tasks=worker_tasks(runtime)
        )
        supervisor = Supervisor()
        supervisor.spawn("job scheduler", jobs.serve(schedule=schedule, work=work))
        try:
            return await supervisor.watch(signalled())
        finally:
            await supervisor.stop()
