"""Start and stop: serving the web app, the channels, the scheduler and the notice dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from aiohttp import web

from app.runtime import build_runtime, console_channel, opened, scheduled_jobs
from app.settings import Settings
from core.db.migrate import upgrade_async
from workers.scheduler import JobScheduler

log = logging.getLogger("loyalty")
# How long a shutdown waits for the notice dispatcher's batch in flight.
NOTICE_SHUTDOWN_SECONDS = 10.0


async def run(settings: Settings, *, console: bool | None = None) -> None:
    """Serve until interrupted (or, with the console channel, until the member leaves)."""
    await upgrade_async(settings.database_url)
    runtime = build_runtime(settings)
    runner = web.AppRunner(runtime.web_app, access_log=None)
    await runner.setup()
    tasks: list[asyncio.Task[None]] = []
    stop_notices = asyncio.Event()
    notices: asyncio.Task[None] | None = None
    try:
        site = web.TCPSite(runner, settings.web_host, settings.web_port)
        await site.start()
        log.info("listening on http://%s:%s", settings.web_host, settings.web_port)
        if runtime.telegram is not None:
            await runtime.telegram.publish_commands(runtime.conversation.texts)
            if "telegram" not in runtime.conversation.invites.templates:
                username = await runtime.telegram.username()
                if username:
                    runtime.conversation.invites.add_telegram(username)
            if settings.telegram_webhook_url:
                await runtime.telegram.set_webhook(settings.telegram_webhook_url)
                log.info("telegram: webhook at %s", settings.telegram_webhook_url)
            else:
                tasks.append(asyncio.create_task(runtime.telegram.run_polling()))
                log.info("telegram: long polling")
        if runtime.whatsapp is not None:
            log.info("whatsapp: Twilio webhook at %s/webhook/whatsapp", settings.public_url)
        if runtime.vk is not None:
            if settings.public_url:
                log.info("vk: Callback API at %s/webhook/vk", settings.public_url.rstrip("/"))
            else:
                tasks.append(asyncio.create_task(runtime.vk.run_long_poll()))
                log.info("vk: Bots Long Poll")
        if settings.scheduler_enabled:
            jobs = JobScheduler.build(scheduled_jobs(runtime), settings.redis_url)
            tasks.append(asyncio.create_task(jobs.serve()))
        shows_console = console if console is not None else not runtime.has_messenger
        terminal = console_channel(runtime) if shows_console else None
        notices = asyncio.create_task(runtime.dispatcher.run_forever(stop_notices))
        if terminal is not None:
            await terminal.run()
        else:
            await wait_for_signal(tasks)
    finally:
        await stop_dispatching(stop_notices, notices)
        for task in tasks:
            task.cancel()
        if runtime.telegram is not None:
            await runtime.telegram.stop_polling()
        if runtime.vk is not None:
            await runtime.vk.stop()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await runner.cleanup()
        await runtime.close()


async def stop_dispatching(stop: asyncio.Event, task: asyncio.Task[None] | None) -> None:
    """Let the notice dispatcher finish the batch it is sending (so none stays claimed until
    its lease runs out), but not for long."""
    stop.set()
    if task is None:
        return
    with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
        await asyncio.wait_for(task, NOTICE_SHUTDOWN_SECONDS)


async def wait_for_signal(tasks: list[asyncio.Task[None]]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    waiters = [asyncio.create_task(stop.wait()), *tasks]
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    waiters[0].cancel()


async def chat(settings: Settings, user_id: str | None) -> None:
    await upgrade_async(settings.database_url)
    async with opened(settings) as runtime:
        terminal = console_channel(runtime, user_id=user_id)
        stop = asyncio.Event()
        notices = asyncio.create_task(runtime.dispatcher.run_forever(stop))
        try:
            await terminal.run()
        finally:
            await stop_dispatching(stop, notices)


async def serve_jobs(settings: Settings, *, schedule: bool, work: bool) -> int:
    if work and not schedule and not settings.redis_url:
        print("A job worker takes jobs from Redis: set REDIS_URL.", file=sys.stderr)
        return 2
    async with opened(settings) as runtime:
        jobs = JobScheduler.build(scheduled_jobs(runtime), settings.redis_url)
        task = asyncio.create_task(jobs.serve(schedule=schedule, work=work))
        try:
            await wait_for_signal([task])
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return 0
