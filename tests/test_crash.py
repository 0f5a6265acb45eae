"""`kill -9` of a real `main.py run` (webhook mode, PostgreSQL + Redis) in the middle of a
burst of Telegram updates, some of which spend points (reward claims), then a restart; the
test plays the platform and delivers again every update that got no 2xx, as Telegram does.
Every update is answered exactly once, nothing is paid twice, the ledger audit is clean.

The kill comes at a known point of the burst, not at a random one: while the claims of the
second wave are inside their transactions (the test holds a lock on the rewards they need)
and every other update has been answered. A kill between a reply's send and the update's
"done" mark would make the platform's retry answer twice: no platform offers an idempotent
send, so that window (a Redis write) is made as short as it can be, not closed."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select, text

from app.runtime import Runtime
from bots.telegram.channel import SECRET_HEADER
from core.db.models import LedgerEntry, RewardClaim
from core.members.accounts import IdentityKey
from core.offers.rewards import RewardSpec
from tests.conftest import TELEGRAM_TOKEN, WEBHOOK_SECRET, Backend, leaks_in
from tests.data import enrol, scalar
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_member import text_of
from tests.test_redis_outage import WITHIN, Program, environment, free_port, ready_is

pytestmark = pytest.mark.parametrize("backend", ["services"], indirect=True)

MEMBERS = 12
BLOCKED = 10  # members whose second claim is inside its transaction at the kill
COST = 10
# How long the claim of an update whose process died holds (UPDATE_CLAIM_SECONDS).
CLAIM_SECONDS = 2


class Platform:
    """Telegram's side of the webhook: each update delivered until it got a 2xx."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/webhook/telegram"
        self.answered: set[int] = set()
        self.updates: dict[int, dict[str, Any]] = {}

    async def deliver(self, update: dict[str, Any]) -> int | None:
        """The status the webhook answered; None when it answered nothing (a dead process)."""
        self.updates[update["update_id"]] = update
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    self.url,
                    json=update,
                    headers={SECRET_HEADER: WEBHOOK_SECRET},
                    timeout=aiohttp.ClientTimeout(WITHIN),
                ) as answer,
            ):
                status = answer.status
        except (aiohttp.ClientError, TimeoutError):
            return None
        if 200 <= status < 300:
            self.answered.add(update["update_id"])
        return status

    def unanswered(self) -> list[dict[str, Any]]:
        return [u for uid, u in sorted(self.updates.items()) if uid not in self.answered]

    async def redeliver_until_answered(self) -> int:
        """Deliver again what got no 2xx (503 while a dead process's claim stands) until
        every update was answered; how many deliveries it took."""
        deliveries = 0
        deadline = asyncio.get_running_loop().time() + WITHIN
        while pending := self.unanswered():
            assert asyncio.get_running_loop().time() < deadline, f"never answered: {pending}"
            statuses = await asyncio.gather(*(self.deliver(u) for u in pending))
            deliveries += len(statuses)
            assert all(s in (200, 503, None) for s in statuses), statuses
            if any(s != 200 for s in statuses):
                await asyncio.sleep(0.5)
        return deliveries


async def waiting_on_locks(runtime: Runtime) -> int:
    async with runtime.db.reading() as session:
        found = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return int(found or 0)


async def test_kill_9_mid_burst_then_retries_answer_every_update_once_and_pay_once(
    backend: Backend, runtime: Runtime, fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    users = [8001 + n for n in range(MEMBERS)]
    starting = {user: (await enrol(runtime, str(user))).balance for user in users}
    await runtime.program.rewards.add(RewardSpec(slug="tea", name="Tea", cost=COST), actor="t")
    tea = (await runtime.program.rewards.catalogue())[0]

    port = free_port()
    env = environment(
        backend.database_url,
        backend.redis_url,
        WEB_PORT=str(port),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
        TELEGRAM_API_URL=fake_telegram.base_url,
        TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
        SCHEDULER_ENABLED="false",
        DEFAULT_LOCALE="en",
        UPDATE_CLAIM_SECONDS=str(CLAIM_SECONDS),
    )
    platform = Platform(port)

    def claim(user: int) -> dict[str, Any]:
        # "Yes, get it" with the nonce its question drew: a claim of its own.
        data = f"reward:yes:{tea.id}:{secrets.token_hex(4)}"
        return fake_telegram.callback_update(user_id=user, data=data)

    def balance(user: int) -> dict[str, Any]:
        return fake_telegram.message_update(user_id=user, text="balance")

    first = Program("run", env=env, cwd=tmp_path / "first")
    second = Program("run", env=env, cwd=tmp_path / "second")
    for program in (first, second):
        program.cwd.mkdir()
    lock = await runtime.db.engine.connect()
    try:
        await first.start()
        await ready_is(port, 200)

        # The first wave: a claim and a balance per member, all at once, all answered.
        wave = [claim(u) for u in users] + [balance(u) for u in users]
        assert await asyncio.gather(*(platform.deliver(u) for u in wave)) == [200] * len(wave)

        # The second wave, with the rewards locked: the claims wait inside their
        # transactions, the balances of the others are answered.
        transaction = await lock.begin()
        await lock.execute(text("LOCK TABLE rewards IN EXCLUSIVE MODE"))
        claims = [asyncio.create_task(platform.deliver(claim(u))) for u in users[:BLOCKED]]
        reads = [balance(u) for u in users[BLOCKED:]]
        assert await asyncio.gather(*(platform.deliver(u) for u in reads)) == [200] * len(reads)

        async def all_blocked() -> bool:
            return await waiting_on_locks(runtime) >= BLOCKED

        deadline = asyncio.get_running_loop().time() + WITHIN
        while not await all_blocked():
            assert asyncio.get_running_loop().time() < deadline, "the claims never blocked"
            await asyncio.sleep(0.1)

        await first.kill()  # SIGKILL: no cleanup, the claims stay "in progress"
        assert await asyncio.gather(*claims) == [None] * BLOCKED
        await transaction.rollback()
        # Updates the platform sends while the process is down: nobody answers.
        late = [claim(u) for u in users[BLOCKED:]]
        assert await asyncio.gather(*(platform.deliver(u) for u in late)) == [None] * len(late)

        await second.start()
        await ready_is(port, 200)
        await platform.redeliver_until_answered()
        await asyncio.sleep(1)  # time for a duplicate answer to show
        second.assert_alive()
    finally:
        with contextlib.suppress(Exception):
            await lock.close()
        await first.kill()
        await second.kill()

    for user in users:
        texts = [text_of(call) for call in fake_telegram.sent_to(user)]
        claimed = [t for t in texts if t.startswith("Done! Tea is yours")]
        balances = [t for t in texts if t.startswith("You have ")]
        assert len(claimed) == 2, (user, texts)  # every claim answered, once
        assert len(balances) == (1 if user in users[:BLOCKED] else 2), (user, texts)
    assert await scalar(runtime, select(func.count()).select_from(RewardClaim)) == 2 * MEMBERS
    spent = select(func.count()).where(LedgerEntry.reason == "reward")
    assert await scalar(runtime, spent) == 2 * MEMBERS, "nothing paid twice"
    for user in users:
        profile = await runtime.program.members.find(IdentityKey("telegram", str(user)))
        assert profile is not None
        assert profile.balance == starting[user] - 2 * COST
        audit = await runtime.program.ledger.audit(profile.id)
        assert audit.consistent, audit
    for program in (first, second):
        assert "Traceback" not in program.log, program.log
        assert leaks_in(program.log) == []
