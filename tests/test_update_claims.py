"""Nothing lost: an update is claimed while it is handled and marked done only after its
handler finished, and an infrastructure failure is answered 503 so the platform delivers the
update again. On every channel, over real HTTP, on both backends."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.exceptions
from sqlalchemy import exc as sa
from sqlalchemy.ext.asyncio import create_async_engine

from app.runtime import Runtime
from bots.updates import until_handled
from core.db.database import Database
from core.db.failures import is_infrastructure_failure
from core.db.state import (
    KEY_PREFIX,
    Claim,
    MemoryUpdateLog,
    RedisUpdateLog,
    UpdateLog,
    handling,
)
from core.shared.outage import Outage
from tests.conftest import WEBHOOK_SECRET, Backend
from tests.fakes.twilio_api import signed_inbound
from tests.telegram_member import text_of
from tests.test_parity import EveryChannel, every_channel
from tests.test_state import FakeMonotonic
from tests.test_vk import GROUP_ID, LANG_EN
from tests.whatsapp_member import ACCOUNT_SID, AUTH_TOKEN, SHOP_NUMBER, WEBHOOK_PATH

TTL = 48 * 3600
WELCOME = "Welcome to Loyalty Club"


# ---------------------------------------------------------------------- the update logs
def update_logs(runtime: Runtime) -> list[UpdateLog]:
    """The runtime's own (Redis on services, in-process on the embedded default)."""
    return [runtime.updates]


async def expire_claim(runtime: Runtime, updates: UpdateLog, key: str, clock: Any = None) -> None:
    """What the passing of CLAIM_TTL_SECONDS does to a claim left by a killed process."""
    if isinstance(updates, RedisUpdateLog):
        assert runtime.redis is not None
        assert await runtime.redis.pexpire(f"{KEY_PREFIX}:update:{key}", 1)
        await asyncio.sleep(0.01)
    else:
        assert clock is not None
        clock.advance(60)


async def test_a_claim_is_in_progress_until_finished_then_done(runtime: Runtime) -> None:
    updates = runtime.updates

    assert await updates.claim("telegram:1:1", "a") is Claim.CLAIMED
    assert await updates.claim("telegram:1:1", "b") is Claim.IN_PROGRESS
    await updates.finish("telegram:1:1", "a")
    assert await updates.claim("telegram:1:1", "c") is Claim.DONE
    assert await updates.first_time("telegram:1:1") is False

    if runtime.redis is not None:
        # A claim is short-lived; a finished update is kept the whole retention time.
        assert await updates.claim("telegram:1:2", "a") is Claim.CLAIMED
        assert 0 < await runtime.redis.ttl(f"{KEY_PREFIX}:update:telegram:1:2") <= 60
        ttl = await runtime.redis.ttl(f"{KEY_PREFIX}:update:telegram:1:1")
        assert 24 * 3600 < ttl <= runtime.settings.update_dedupe_ttl_seconds


async def test_a_released_claim_makes_the_update_new_and_only_its_own_claim(
    runtime: Runtime,
) -> None:
    updates = runtime.updates
    assert await updates.claim("vk:1:e", "mine") is Claim.CLAIMED

    await updates.release("vk:1:e", "someone-else")
    assert await updates.claim("vk:1:e", "other") is Claim.IN_PROGRESS
    await updates.release("vk:1:e", "mine")
    assert await updates.claim("vk:1:e", "again") is Claim.CLAIMED


async def test_the_claim_of_a_killed_process_expires_and_the_update_is_handled(
    runtime: Runtime,
) -> None:
    clock = FakeMonotonic()
    logs: list[UpdateLog] = [MemoryUpdateLog(TTL, monotonic=clock)]
    if runtime.redis is not None:  # the services backend checks the Redis log as well
        logs.append(RedisUpdateLog(runtime.redis, TTL))
    for updates in logs:
        assert await updates.claim("whatsapp:SM1", "killed") is Claim.CLAIMED

        assert await updates.claim("whatsapp:SM1", "retry") is Claim.IN_PROGRESS
        await expire_claim(runtime, updates, "whatsapp:SM1", clock)
        assert await updates.claim("whatsapp:SM1", "retry") is Claim.CLAIMED
        # The killed process's late release does not free the retry's claim.
        await updates.release("whatsapp:SM1", "killed")
        assert await updates.claim("whatsapp:SM1", "third") is Claim.IN_PROGRESS


class Killed(BaseException):
    """What a handler meets when its process goes away (not an Exception of ours)."""


@pytest.mark.parametrize("death", ["cancelled", "killed", "failed"])
async def test_handling_releases_the_claim_whatever_ends_it(runtime: Runtime, death: str) -> None:
    updates = runtime.updates
    started = asyncio.Event()

    async def handle() -> None:
        async with handling(updates, "telegram:1:9") as claim:
            assert claim is Claim.CLAIMED
            started.set()
            if death == "killed":
                raise Killed
            if death == "failed":
                raise sa.OperationalError("SELECT 1", {}, ConnectionRefusedError())
            await asyncio.Event().wait()

    task = asyncio.create_task(handle())
    await started.wait()
    if death == "cancelled":
        task.cancel()
    with pytest.raises((asyncio.CancelledError, Killed, sa.OperationalError)):
        await task

    assert await updates.claim("telegram:1:9", "retry") is Claim.CLAIMED


async def test_handling_marks_done_only_when_the_block_completes(runtime: Runtime) -> None:
    async with handling(runtime.updates, "vk:1:done") as claim:
        assert claim is Claim.CLAIMED
        assert await runtime.updates.claim("vk:1:done", "other") is Claim.IN_PROGRESS
    async with handling(runtime.updates, "vk:1:done") as claim:
        assert claim is Claim.DONE


# ---------------------------------------------------------------------- what is an outage
@pytest.mark.parametrize(
    "error",
    [
        sa.OperationalError("SELECT 1", {}, Exception("server closed the connection")),
        sa.InterfaceError("SELECT 1", {}, Exception("connection is closed")),
        sa.DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True),
        sa.TimeoutError("QueuePool limit reached"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
        redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379"),
        redis.exceptions.TimeoutError("Timeout reading from socket"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_infrastructure_failures_are_told_apart(error: BaseException) -> None:
    assert is_infrastructure_failure(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a bug"),
        KeyError("key"),
        sa.IntegrityError("INSERT", {}, Exception("duplicate key")),
        sa.DBAPIError("SELECT", {}, Exception("syntax error"), connection_invalidated=False),
        redis.exceptions.ResponseError("WRONGTYPE"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_bugs_are_not_infrastructure_failures(error: BaseException) -> None:
    assert not is_infrastructure_failure(error)


def test_a_bug_while_handling_an_outage_is_still_a_bug() -> None:
    try:
        try:
            raise ConnectionRefusedError
        except ConnectionRefusedError:
            raise KeyError("a bug in the except block") from None
    except KeyError as error:
        assert not is_infrastructure_failure(error)
    wrapped = RuntimeError("while talking to the database")
    wrapped.__cause__ = ConnectionResetError()
    assert is_infrastructure_failure(wrapped)


# ---------------------------------------------------------------------- every channel, by HTTP
@dataclass
class Side:
    """One channel as the platform sees it: an update for a member, its post, what the member
    received."""

    name: str
    update: Callable[[str], tuple[Any, str]]  # text -> (what the platform posts, its log key)
    post: Callable[[Any], Awaitable[aiohttp.ClientResponse]]
    received: Callable[[], list[str]]


def sides(channels: EveryChannel) -> list[Side]:
    client = channels.client
    telegram = channels.runtime.telegram
    assert telegram is not None
    tg_user, vk_user, number = 9101, 9102, "+49990009103"

    def telegram_update(text: str) -> tuple[Any, str]:
        update = channels.telegram.message_update(user_id=tg_user, text=text)
        return update, f"telegram:{telegram.bot.id}:{update['update_id']}"

    async def telegram_post(update: Any) -> aiohttp.ClientResponse:
        headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
        return await client.post("/webhook/telegram", json=update, headers=headers)

    def vk_update(text: str) -> tuple[Any, str]:
        event = channels.vk.message_new(vk_user, text, lang_id=LANG_EN)
        return event, f"vk:{GROUP_ID}:{event['event_id']}"

    async def vk_post(event: Any) -> aiohttp.ClientResponse:
        return await client.post("/webhook/vk", json=event)

    def whatsapp_update(text: str) -> tuple[Any, str]:
        form, headers = signed_inbound(
            channels.public_url + WEBHOOK_PATH,
            AUTH_TOKEN,
            account_sid=ACCOUNT_SID,
            from_number=number,
            to_number=SHOP_NUMBER,
            body=text,
            profile_name="Ann",
        )
        return (form, headers), f"whatsapp:{form['MessageSid']}"

    async def whatsapp_post(signed: Any) -> aiohttp.ClientResponse:
        form, headers = signed
        return await client.post(WEBHOOK_PATH, data=form, headers=headers)

    return [
        Side(
            "telegram",
            telegram_update,
            telegram_post,
            lambda: [text_of(call) for call in channels.telegram.sent_to(tg_user)],
        ),
        Side(
            "vk",
            vk_update,
            vk_post,
            lambda: [sent.message for sent in channels.vk.sent_to(vk_user)],
        ),
        Side(
            "whatsapp",
            whatsapp_update,
            whatsapp_post,
            lambda: [sent.body for sent in channels.twilio.sent_to(number)],
        ),
    ]


async def assert_retry_later(response: aiohttp.ClientResponse) -> None:
    assert response.status == 503, await response.text()
    assert response.content_type == "application/problem+json"
    assert (await response.json(content_type=None))["code"] == "service_unavailable"
    assert int(response.headers["Retry-After"]) > 0


async def assert_handled(side: Side, response: aiohttp.ClientResponse) -> None:
    assert response.status == 200, f"{side.name}: {await response.text()}"
    received = side.received()
    assert len(received) == 1, f"{side.name}: {received}"
    assert WELCOME in received[0], f"{side.name}: {received}"


@pytest.mark.parametrize("backend", ["embedded", "services"], indirect=True)
async def test_an_update_whose_handler_died_is_handled_when_it_comes_again(
    backend: Backend, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with every_channel(backend, tmp_path, (0, 0, "")) as channels:
        conversation = channels.runtime.conversation
        handle = conversation.handle
        for side in sides(channels):
            update, _key = side.update("/start" if side.name != "whatsapp" else "Hi")

            async def dies(*_args: Any, **_kwargs: Any) -> Any:
                # The process goes away mid-turn: the handling task is cancelled.
                raise asyncio.CancelledError

            monkeypatch.setattr(conversation, "handle", dies)
            with pytest.raises(aiohttp.ClientError):
                await side.post(update)
            monkeypatch.setattr(conversation, "handle", handle)
            assert side.received() == [], side.name

            # The platform got no answer and delivers it again: handled, answered once.
            await assert_handled(side, await side.post(update))
            # A duplicate of the completed update is still dropped.
            again = await side.post(update)
            assert again.status == 200
            assert len(side.received()) == 1, side.name


@pytest.mark.parametrize("backend", ["embedded", "services"], indirect=True)
async def test_an_update_still_in_progress_is_answered_503_then_handled_once_free(
    backend: Backend, settings: Any, tmp_path: Path
) -> None:
    async with every_channel(backend, tmp_path, (0, 0, "")) as channels:
        updates = channels.runtime.updates
        for side in sides(channels):
            update, key = side.update("/start" if side.name != "whatsapp" else "Hi")
            # Another delivery of it is being handled (or a killed process's claim stands).
            assert await updates.claim(key, "elsewhere") is Claim.CLAIMED

            await assert_retry_later(await side.post(update))
            assert side.received() == [], side.name

            await updates.release(key, "elsewhere")  # ended, or its claim expired
            await assert_handled(side, await side.post(update))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("backend", ["embedded", "services"], indirect=True)
async def test_a_database_out_of_reach_is_answered_503_and_the_retry_answered_once(
    backend: Backend, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend.is_postgres:
        unreachable = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/gone"
    else:
        (tmp_path / "a-file").write_text("not a directory")
        unreachable = f"sqlite+aiosqlite:///{tmp_path}/a-file/loyalty.db"
    dead = Database(create_async_engine(unreachable))
    async with every_channel(backend, tmp_path, (0, 0, "")) as channels:
        db = channels.runtime.db
        alive = {name: getattr(db, name) for name in ("engine", "sessions", "_reads")}
        alive["_read_engine"] = db._read_engine
        try:
            for side in sides(channels):
                update, key = side.update("/start" if side.name != "whatsapp" else "Hi")
                for name in alive:
                    monkeypatch.setattr(db, name, getattr(dead, name))
                await assert_retry_later(await side.post(update))
                assert side.received() == [], f"{side.name}: {side.received()}"
                # The claim was released: the retry is not taken for one in progress.
                assert await channels.runtime.updates.claim(key, "probe") is Claim.CLAIMED
                await channels.runtime.updates.release(key, "probe")

                for name, value in alive.items():
                    monkeypatch.setattr(db, name, value)
                await assert_handled(side, await side.post(update))
        finally:
            await dead.close()


# ---------------------------------------------------------------------- the long poll's retries
def quick_outage() -> Outage:
    return Outage("handling", logging.getLogger("tests.update_claims"), first=0.001)


async def test_a_long_polled_update_is_tried_again_until_the_service_is_back() -> None:
    attempts: list[Any] = []

    async def process(update: Any) -> None:
        attempts.append(update)
        if len(attempts) < 3:
            raise ConnectionRefusedError  # the database is still down

    await until_handled(process, {"event_id": "e"}, asyncio.Event(), quick_outage())
    assert attempts == [{"event_id": "e"}] * 3


async def test_a_long_polled_update_that_meets_a_bug_is_left_and_a_stop_ends_the_wait() -> None:
    attempts: list[Any] = []

    async def buggy(update: Any) -> None:
        attempts.append(update)
        raise KeyError("a bug")

    await until_handled(buggy, 1, asyncio.Event(), quick_outage())
    assert attempts == [1]

    stopping = asyncio.Event()

    async def down(update: Any) -> None:
        attempts.append(update)
        stopping.set()
        raise ConnectionRefusedError

    await asyncio.wait_for(
        until_handled(
            down, 2, stopping, Outage("down", logging.getLogger("tests.update_claims"), first=60)
        ),
        5,
    )
    assert attempts == [1, 2]
