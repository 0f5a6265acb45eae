"""Health probes: `/healthz` answers while the process lives; `/readyz` only when the
database and Redis answer too."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from tests.conftest import Backend, make_settings
from web.app import build_web_app


async def test_healthz_and_readyz_when_everything_is_up(runtime: Runtime) -> None:
    async with TestClient(TestServer(runtime.web_app)) as client:
        health = await client.get("/healthz")
        assert health.status == 200
        ready = await client.get("/readyz")
        body = await ready.json()
    assert ready.status == 200
    assert body["status"] == "ok" and body["database"] == "ok"
    if runtime.redis is not None:
        assert body["redis"] == "ok"


async def test_readyz_reports_a_missing_redis(settings: Settings) -> None:
    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    runtime = build_runtime(broken)
    try:
        async with TestClient(TestServer(runtime.web_app)) as client:
            ready = await client.get("/readyz")
            body = await ready.json()
            health = await client.get("/healthz")
    finally:
        await runtime.close()
    assert ready.status == 503
    assert body == {"status": "unavailable", "database": "ok", "redis": "unavailable"}
    assert health.status == 200


async def test_readyz_answers_503_at_once_when_a_dependency_hangs() -> None:
    """A Redis behind a dead link answers nothing: /readyz says so within its own bound
    instead of hanging until the orchestrator's probe gives up."""

    async def ok() -> None:
        return None

    async def hangs() -> None:
        await asyncio.Event().wait()

    app = build_web_app({"database": ok, "redis": hangs})
    async with TestClient(TestServer(app)) as client:
        ready = await asyncio.wait_for(client.get("/readyz"), 5)
        body = await ready.json()
    assert ready.status == 503
    assert body == {"status": "unavailable", "database": "ok", "redis": "unavailable"}


async def test_readyz_reports_a_missing_database(settings: Settings, tmp_path: object) -> None:
    broken = settings.model_copy(
        update={"database_url": "postgresql+asyncpg://nobody@127.0.0.1:1/none", "redis_url": ""}
    )
    runtime = build_runtime(broken)
    try:
        async with TestClient(TestServer(runtime.web_app)) as client:
            ready = await client.get("/readyz")
            body = await ready.json()
    finally:
        await runtime.close()
    assert ready.status == 503
    assert body["database"] == "unavailable"


async def test_no_telegram_webhook_route_without_a_token(runtime: Runtime) -> None:
    async with TestClient(TestServer(runtime.web_app)) as client:
        response = await client.post("/webhook/telegram", json={"update_id": 1})
    assert response.status in (404, 405)


def test_a_copy_of_env_example_is_a_valid_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = Path(__file__).resolve().parent.parent / ".env.example"
    (tmp_path / ".env").write_text(example.read_text())
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("DATABASE_", "REDIS_", "TELEGRAM_", "VK_", "TWILIO_", "PUBLIC_")):
            monkeypatch.delenv(name)

    settings = Settings()

    assert settings.database_url == "sqlite+aiosqlite:///data/loyalty.db"
    assert not (settings.telegram_enabled or settings.vk_enabled or settings.whatsapp_enabled)
    assert settings.flood_max_messages == 20


async def test_a_redis_that_never_answers_is_given_up_on(
    backend: Backend, settings: Settings
) -> None:
    """A Redis behind a dead link (it accepts, then says nothing) must not hold a webhook for
    ever: the update log's command times out, which the web app answers 503."""
    silent = await asyncio.start_server(lambda _reader, _writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        built = build_runtime(
            make_settings(
                backend, redis_url=f"redis://127.0.0.1:{port}/0", redis_timeout_seconds=0.5
            )
        )
        try:
            started = asyncio.get_running_loop().time()
            with pytest.raises(RedisTimeoutError):
                await asyncio.wait_for(built.updates.first_time("telegram:1:1"), 10)
            assert asyncio.get_running_loop().time() - started < 5
        finally:
            await built.close()
    finally:
        silent.close()
        await silent.wait_closed()
