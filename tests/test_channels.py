"""Channels as plugins, the one web app, and a runtime that notices dying tasks."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from app.channels import PLUGINS
from app.lifecycle import TASK_DIED, Supervisor
from app.runtime import Runtime
from app.settings import Settings
from core.shared.errors import HTTP_STATUSES, InsufficientPoints, MemberNotFound
from tests.conftest import Backend, leaks_in
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.test_architecture import ROOT, imports_of, python_files, top_package
from web.app import PROBLEM_TYPE, PROBLEM_URI, build_web_app, problem

SDKS = ("aiogram", "vk_api", "twilio")
CHANNEL_PACKAGES = ("telegram", "vk", "whatsapp", "console")


def forbidden_imports(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in python_files(package)
        for line, module in imports_of(path)
        if top_package(module) in forbidden
    )


def test_bots_import_no_web_nor_app_and_web_imports_no_sdk() -> None:
    assert forbidden_imports("bots", ("web", "app", "cli", "main")) == []
    assert forbidden_imports("web", (*SDKS, "app", "cli", "main")) == []


def test_every_file_of_a_channel_package_is_under_400_lines() -> None:
    for name in CHANNEL_PACKAGES:
        files = python_files(f"bots/{name}")
        assert ROOT / "bots" / name / "channel.py" in files
        for path in files:
            lines = len(path.read_text(encoding="utf-8").splitlines())
            assert lines < 400, f"{path.relative_to(ROOT)} has {lines} lines"


def test_each_channel_is_one_line_of_registration() -> None:
    assert [plugin.name for plugin in PLUGINS] == ["telegram", "vk", "whatsapp"]


def test_a_runtime_without_messengers_imports_no_sdk(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from app.runtime import build_runtime\n"
        "from app.settings import Settings\n"
        f"runtime = build_runtime(Settings(_env_file=None, database_url="
        f"'sqlite+aiosqlite:///{tmp_path}/x.db'))\n"
        "assert not runtime.channels\n"
        f"print(sorted(m for m in {SDKS!r} if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in list(env):
        if name.startswith(("TELEGRAM_", "VK_", "TWILIO_")):
            del env[name]
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# ---------------------------------------------------------------------- problem+json
async def problem_of(app: web.Application, path: str) -> tuple[int, str, dict[str, Any]]:
    async with TestClient(TestServer(app)) as client:
        response = await client.get(path)
        return response.status, response.content_type, json.loads(await response.text())


async def test_a_refusal_in_a_web_handler_is_a_problem_with_its_status_and_code() -> None:
    async def refuse(_request: web.Request) -> web.Response:
        raise InsufficientPoints(10, 50)

    app = build_web_app({})
    app.router.add_get("/refuse", refuse)
    status, content_type, body = await problem_of(app, "/refuse")
    assert content_type == PROBLEM_TYPE
    assert status == HTTP_STATUSES[InsufficientPoints.kind] == body["status"]
    assert body["code"] == InsufficientPoints.code
    assert body["detail"] == "balance 10 is less than 50"
    assert set(body) == {"type", "title", "status", "code", "detail"}
    assert body["code"] in body["type"]


async def test_an_unexpected_error_is_a_500_problem_without_the_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def crash(_request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    async def missing(_request: web.Request) -> web.Response:
        raise MemberNotFound("0000")

    app = build_web_app({})
    app.router.add_get("/crash", crash)
    app.router.add_get("/missing", missing)
    status, content_type, body = await problem_of(app, "/crash")
    assert (status, content_type, body["status"]) == (500, PROBLEM_TYPE, 500)
    assert "secret internals" not in json.dumps(body) and "Traceback" not in json.dumps(body)
    assert "secret internals" in caplog.text, "the traceback goes to the log"
    assert (await problem_of(app, "/missing"))[0] == HTTP_STATUSES[MemberNotFound.kind]


async def test_an_unknown_route_is_a_404_problem(runtime: Runtime) -> None:
    status, content_type, body = await problem_of(runtime.web_app, "/no/such/page")
    assert (status, content_type, body["status"]) == (404, PROBLEM_TYPE, 404)


async def test_every_error_the_web_app_answers_is_a_problem() -> None:
    """Not only refusals raised by the core: a handler's (or a channel's) own plain-text error,
    aiohttp's own 405 (its Allow header kept) and a status HTTP does not name."""

    async def plain(_request: web.Request) -> web.Response:
        return web.Response(status=403, text="forbidden", headers={"Retry-After": "5"})

    async def odd(_request: web.Request) -> web.Response:
        return web.Response(status=599, text="the proxy gave up")

    async def fine(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = build_web_app({})
    app.router.add_get("/plain", plain)
    app.router.add_get("/odd", odd)
    app.router.add_get("/fine", fine)
    async with TestClient(TestServer(app)) as client:
        refused = await client.get("/plain")
        assert (refused.status, refused.content_type) == (403, PROBLEM_TYPE)
        assert refused.headers["Retry-After"] == "5"
        assert await refused.json(content_type=PROBLEM_TYPE) == {
            "type": PROBLEM_URI.format(code="forbidden"),
            "title": "Forbidden",
            "status": 403,
            "code": "forbidden",
            "detail": "forbidden",
        }
        odd_answer = await client.get("/odd")
        assert (odd_answer.status, odd_answer.content_type) == (599, PROBLEM_TYPE)
        body = await odd_answer.json(content_type=PROBLEM_TYPE)
        assert (body["title"], body["code"], body["detail"]) == (
            "Error",
            "http_599",
            "the proxy gave up",
        )
        not_allowed = await client.post("/fine")
        assert (not_allowed.status, not_allowed.content_type) == (405, PROBLEM_TYPE)
        assert not_allowed.headers["Allow"] == "GET,HEAD"
        assert (await not_allowed.json(content_type=PROBLEM_TYPE))["code"] == "method_not_allowed"
        # A success keeps its own body and type (VK wants a plain "ok").
        ok = await client.get("/fine")
        assert (ok.status, ok.content_type, await ok.text()) == (200, "text/plain", "ok")
    assert json.loads(problem(599, code="http_599").text or "")["title"] == "Error"


# ---------------------------------------------------------------------- dying tasks
async def test_a_task_that_ends_quietly_is_an_error_too(caplog: pytest.LogCaptureFixture) -> None:
    async def returns() -> None:
        return None

    supervisor = Supervisor()
    supervisor.spawn("long poll", returns())
    assert await supervisor.watch(asyncio.Event().wait()) == TASK_DIED
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "long poll ended although it should run" in record.getMessage()


async def test_a_task_that_crashes_is_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def crashes() -> None:
        await asyncio.sleep(0)
        raise ConnectionResetError("the platform hung up")

    supervisor = Supervisor()
    supervisor.spawn("scheduler", crashes())
    assert await supervisor.watch(asyncio.Event().wait()) == TASK_DIED
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == "scheduler died; stopping"
    assert record.exc_info is not None and "the platform hung up" in caplog.text


async def test_a_task_spawned_while_watching_is_watched_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A channel may start its long poll after the supervisor began watching: that poll dying
    must stop the process as surely as one spawned before."""
    supervisor = Supervisor()
    gate = asyncio.Event()

    async def crashes() -> None:
        await gate.wait()
        raise ConnectionResetError("the late poll hung up")

    async def foreground() -> None:
        await asyncio.sleep(0)
        supervisor.spawn("late poll", crashes())
        gate.set()
        await asyncio.Event().wait()

    try:
        assert await asyncio.wait_for(supervisor.watch(foreground()), 5) == TASK_DIED
    finally:
        await supervisor.stop()
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == "late poll died; stopping"


async def test_a_task_spawned_after_watching_ended_is_refused() -> None:
    supervisor = Supervisor()

    async def forever() -> None:
        await asyncio.Event().wait()

    async def done() -> None:
        return None

    assert await supervisor.watch(done()) == 0
    work = forever()
    with pytest.raises(RuntimeError, match="nobody would see it end"):
        supervisor.spawn("too late", work)
    assert supervisor.tasks == {}


async def test_main_run_exits_non_zero_when_telegram_polling_dies(
    backend: Backend, settings: Settings, fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    """A revoked token: polling cannot even start (getMe is refused), and the process says so
    and stops, instead of serving the web app with nobody listening to Telegram."""
    fake_telegram.revoke_token()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "TELEGRAM_BOT_TOKEN": "123:revoked",
        "TELEGRAM_API_URL": fake_telegram.base_url,
        "WEB_PORT": "0",
        "SCHEDULER_ENABLED": "false",
    }
    for name in ("PUBLIC_URL", "TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_BOT_USERNAME"):
        env.pop(name, None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        "run",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = stderr.decode()
    assert leaks_in(log) == []
    assert process.returncode == TASK_DIED != 0, log
    assert "ERROR loyalty: telegram polling died; stopping" in log
    assert "Traceback (most recent call last)" in log
    assert "TelegramUnauthorizedError" in log
