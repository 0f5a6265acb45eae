"""Conversational state and update de-duplication: in-process (fake clock) and on real Redis."""

from __future__ import annotations

import asyncio
import json

from app.runtime import Runtime
from core.db.state import (
    KEY_PREFIX,
    MemoryConversationStore,
    MemoryUpdateLog,
    RedisConversationStore,
    RedisUpdateLog,
)

TTL = 60


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def test_memory_conversation_expires_after_the_ttl() -> None:
    clock = FakeMonotonic()
    store = MemoryConversationStore(TTL, monotonic=clock)

    await store.set("telegram:1", {"step": "phone", "name": "Алия"})
    clock.advance(TTL - 0.001)
    assert await store.get("telegram:1") == {"step": "phone", "name": "Алия"}

    clock.advance(0.001)
    assert await store.get("telegram:1") is None


async def test_memory_conversation_set_restarts_the_ttl_and_clear_removes() -> None:
    clock = FakeMonotonic()
    store = MemoryConversationStore(TTL, monotonic=clock)

    await store.set("k", {"step": 1})
    clock.advance(TTL - 1)
    await store.set("k", {"step": 2})
    clock.advance(TTL - 1)
    assert await store.get("k") == {"step": 2}

    await store.clear("k")
    assert await store.get("k") is None
    await store.clear("never-set")  # clearing nothing is fine
    assert await store.get("other") is None


async def test_memory_conversation_returns_a_copy() -> None:
    store = MemoryConversationStore(TTL, monotonic=FakeMonotonic())
    await store.set("k", {"answers": [1]})

    loaded = await store.get("k")
    assert loaded is not None
    loaded["answers"].append(2)

    assert await store.get("k") == {"answers": [1]}


async def test_memory_update_log_is_first_time_once_until_the_ttl() -> None:
    clock = FakeMonotonic()
    log = MemoryUpdateLog(TTL, monotonic=clock)

    assert await log.first_time("telegram:update:1") is True
    assert await log.first_time("telegram:update:1") is False
    assert await log.first_time("telegram:update:2") is True
    clock.advance(TTL - 0.001)
    assert await log.first_time("telegram:update:1") is False

    clock.advance(0.001)
    assert await log.first_time("telegram:update:1") is True
    assert await log.first_time("telegram:update:1") is False


async def test_memory_stores_purge_expired_entries() -> None:
    clock = FakeMonotonic()
    log = MemoryUpdateLog(TTL, monotonic=clock)
    for number in range(3000):
        assert await log.first_time(f"old:{number}")
    clock.advance(TTL)
    for number in range(3000):
        assert await log.first_time(f"new:{number}")

    remembered = log._items._items  # the purge is internal; its effect is memory use
    assert len(remembered) < 3000 + 1024


async def test_conversation_store_of_the_runtime(runtime: Runtime) -> None:
    store = runtime.conversations
    data = {"step": "birthday", "name": "Zoë", "answers": [1, "two", None], "ok": True}

    await store.set("telegram:42", data)
    assert await store.get("telegram:42") == data
    assert await store.get("telegram:43") is None

    if runtime.redis is not None:
        assert isinstance(store, RedisConversationStore)
        key = f"{KEY_PREFIX}:conversation:telegram:42"
        raw = await runtime.redis.get(key)
        assert raw is not None
        assert json.loads(raw) == data
        ttl = await runtime.redis.ttl(key)
        assert 0 < ttl <= runtime.settings.conversation_ttl_seconds
        # Another process (another store on the same Redis) sees the same conversation.
        other = RedisConversationStore(runtime.redis, TTL)
        assert await other.get("telegram:42") == data
    else:
        assert isinstance(store, MemoryConversationStore)

    await store.clear("telegram:42")
    assert await store.get("telegram:42") is None
    if runtime.redis is not None:
        assert await runtime.redis.exists(f"{KEY_PREFIX}:conversation:telegram:42") == 0


async def test_update_log_of_the_runtime_is_first_time_once(runtime: Runtime) -> None:
    updates = runtime.updates

    assert await updates.first_time("telegram:update:7") is True
    assert await updates.first_time("telegram:update:7") is False
    assert await updates.first_time("vk:event:7") is True

    if runtime.redis is not None:
        assert isinstance(updates, RedisUpdateLog)
        ttl = await runtime.redis.ttl(f"{KEY_PREFIX}:update:telegram:update:7")
        # Kept at least 24 h, as DESIGN.md requires for platform redeliveries.
        assert 24 * 3600 < ttl <= runtime.settings.update_dedupe_ttl_seconds
    else:
        assert isinstance(updates, MemoryUpdateLog)


async def test_update_log_of_the_runtime_under_concurrent_deliveries(runtime: Runtime) -> None:
    results = await asyncio.gather(
        *(runtime.updates.first_time("whatsapp:SM123") for _ in range(20))
    )

    assert sorted(results) == [False] * 19 + [True]

    if runtime.redis is not None:
        # Two processes behind a load balancer race for one redelivered update.
        logs = [runtime.updates, RedisUpdateLog(runtime.redis, TTL)]
        raced = await asyncio.gather(
            *(logs[number % 2].first_time("vk:event:race") for number in range(20))
        )
        assert raced.count(True) == 1
        assert await logs[1].first_time("whatsapp:SM123") is False
