"""PostgreSQL out of reach under a running `main.py run` (webhook mode, PostgreSQL + Redis):
the line to the database goes through a TCP proxy the test cuts and restores. While it is cut,
webhooks answer 503 (so the platform delivers again) and /readyz names the database; once it
is back, the redelivered update gets its real answer, once, without a restart."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from bots.telegram.channel import SECRET_HEADER
from tests.conftest import TELEGRAM_TOKEN, WEBHOOK_SECRET, Backend, leaks_in
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.tcp_proxy import Cut, TcpProxy, proxied
from tests.test_redis_outage import (
    ROOT,
    WITHIN,
    Program,
    environment,
    free_port,
    readiness,
    ready_is,
)
from web.app import PROBLEM_TYPE

pytestmark = pytest.mark.parametrize("backend", ["services"], indirect=True)


@pytest.fixture
async def database_proxy(backend: Backend, settings: Any) -> AsyncIterator[TcpProxy]:
    """A proxy in front of the (wiped) test database."""
    url = make_url(backend.database_url)
    async with proxied(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy


def through(proxy: TcpProxy, database_url: str) -> str:
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


class WebhookShop:
    """`main.py run` with Telegram by webhook, its database behind the proxy."""

    def __init__(self, backend: Backend, proxy: TcpProxy, fake: FakeTelegramAPI, cwd: Path):
        self.port = free_port()
        self.fake = fake
        self.database_url = through(proxy, backend.database_url)
        self.env = environment(
            self.database_url,
            backend.redis_url,
            WEB_PORT=str(self.port),
            PUBLIC_URL=f"http://127.0.0.1:{self.port}",
            TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
            TELEGRAM_API_URL=fake.base_url,
            TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
            SCHEDULER_ENABLED="false",
        )
        self.run = Program("run", env=self.env, cwd=cwd)

    async def post(self, update: dict[str, Any]) -> tuple[int, str, dict[str, Any] | None]:
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{self.port}/webhook/telegram",
                json=update,
                headers={SECRET_HEADER: WEBHOOK_SECRET},
                timeout=aiohttp.ClientTimeout(WITHIN),
            ) as answer,
        ):
            problem = await answer.json() if answer.content_type == PROBLEM_TYPE else None
            return answer.status, answer.content_type, problem


async def outage_and_back(shop: WebhookShop, proxy: TcpProxy, member: int, how: Cut) -> None:
    fake = shop.fake
    first = fake.message_update(user_id=member, text="/start")
    assert (await shop.post(first))[0] == 200
    per_turn = len(fake.sent_to(member))
    assert per_turn >= 1

    await proxy.cut(how)
    update = fake.message_update(user_id=member, text="/start")
    for _ in range(2):  # the platform's first delivery, and a retry while still cut
        status, content_type, problem = await shop.post(update)
        assert (status, content_type) == (503, PROBLEM_TYPE), how
        assert problem is not None and problem["code"] == "service_unavailable"
    status, report = await readiness(shop.port)
    assert status == 503 and report["database"] == "unavailable", report
    assert report["redis"] == "ok", report
    assert len(fake.sent_to(member)) == per_turn, "no apology, no answer yet"

    if how == "drop":
        # An operator's command meanwhile (the line open, then reset): told plainly, no
        # traceback. (A refused connection: tests/test_cli.py.)
        code, err = await cli(shop.env, shop.run.cwd, "rules")
        assert code != 0, err
        assert (
            f"Cannot reach the database at postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/"
            in err
        ), err
        assert "Traceback" not in err, err
    shop.run.assert_alive()

    await proxy.restore()
    await ready_is(shop.port, 200)
    # Telegram delivers the update again: now it gets the real answer, once.
    assert (await shop.post(update))[0] == 200
    assert len(fake.sent_to(member)) == 2 * per_turn
    assert (await shop.post(update))[0] == 200  # a late duplicate delivery
    after = fake.message_update(user_id=member + 100, text="/start")
    assert (await shop.post(after))[0] == 200
    assert len(fake.sent_to(member + 100)) >= 1
    assert len(fake.sent_to(member)) == 2 * per_turn


async def cli(env: dict[str, str], cwd: Path, *argv: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), WITHIN)
    assert process.returncode is not None
    return process.returncode, err.decode(errors="replace")


async def test_a_cut_database_is_answered_503_and_the_redelivery_once_it_is_back(
    backend: Backend, database_proxy: TcpProxy, fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    shop = WebhookShop(backend, database_proxy, fake_telegram, tmp_path)
    try:
        await shop.run.start()
        await ready_is(shop.port, 200)
        hows: tuple[Cut, ...] = ("refuse", "drop")
        for member, how in enumerate(hows, start=7001):
            await outage_and_back(shop, database_proxy, member, how)
        shop.run.assert_alive()
    finally:
        await shop.run.kill()
    log = shop.run.log
    assert "Traceback" not in log, log
    assert "the service is unavailable" in log, log
    assert "Something went wrong" not in log
    assert leaks_in(log) == []
