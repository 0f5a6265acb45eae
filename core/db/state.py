"""Short-lived state shared by every channel: where a member is in a conversation, and which
platform updates were already processed.

Redis in production (several processes share it); an in-process store on the embedded default.
Losing this state may cost a member one step of a conversation, never points.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Protocol

from redis.asyncio import Redis

KEY_PREFIX = "loyalty"


class ConversationStore(Protocol):
    async def get(self, key: str) -> dict[str, Any] | None: ...
    async def set(self, key: str, data: dict[str, Any]) -> None: ...
    async def clear(self, key: str) -> None: ...


class UpdateLog(Protocol):
    async def first_time(self, key: str) -> bool:
        """True exactly once per key within the retention time; records the key."""
        ...


class _Expiring:
    def __init__(self, ttl_seconds: int, monotonic: Callable[[], float]) -> None:
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._items: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> Any | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires, value = item
        if expires <= self._monotonic():
            del self._items[key]
            return None
        return value

    def put(self, key: str, value: Any) -> None:
        self._purge()
        self._items[key] = (self._monotonic() + self._ttl, value)

    def replace(self, key: str, value: Any) -> None:
        """A new value that keeps the old expiry (a fixed window, not a sliding one)."""
        item = self._items.get(key)
        if item is not None:
            self._items[key] = (item[0], value)

    def pop(self, key: str) -> None:
        self._items.pop(key, None)

    def _purge(self) -> None:
        if len(self._items) % 1024:
            return
        now = self._monotonic()
        for key in [key for key, (expires, _) in self._items.items() if expires <= now]:
            del self._items[key]


class MemoryConversationStore:
    def __init__(self, ttl_seconds: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._items = _Expiring(ttl_seconds, monotonic)

    async def get(self, key: str) -> dict[str, Any] | None:
        data = self._items.get(key)
        return json.loads(data) if data is not None else None

    async def set(self, key: str, data: dict[str, Any]) -> None:
        self._items.put(key, json.dumps(data))

    async def clear(self, key: str) -> None:
        self._items.pop(key)


class MemoryUpdateLog:
    def __init__(self, ttl_seconds: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._items = _Expiring(ttl_seconds, monotonic)

    async def first_time(self, key: str) -> bool:
        if self._items.get(key) is not None:
            return False
        self._items.put(key, True)
        return True


class RedisConversationStore:
    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds

    async def get(self, key: str) -> dict[str, Any] | None:
        raw = await self._redis.get(f"{KEY_PREFIX}:conversation:{key}")
        return json.loads(raw) if raw is not None else None

    async def set(self, key: str, data: dict[str, Any]) -> None:
        await self._redis.set(f"{KEY_PREFIX}:conversation:{key}", json.dumps(data), ex=self._ttl)

    async def clear(self, key: str) -> None:
        await self._redis.delete(f"{KEY_PREFIX}:conversation:{key}")


class RedisUpdateLog:
    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds

    async def first_time(self, key: str) -> bool:
        return bool(await self._redis.set(f"{KEY_PREFIX}:update:{key}", 1, nx=True, ex=self._ttl))


class FloodGate(Protocol):
    async def count(self, key: str) -> int:
        """Messages from this sender in the current window, this one included."""
        ...


class MemoryFloodGate:
    def __init__(
        self, window_seconds: int, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._items = _Expiring(window_seconds, monotonic)

    async def count(self, key: str) -> int:
        current = (self._items.get(key) or 0) + 1
        if current == 1:
            self._items.put(key, current)
        else:
            self._items.replace(key, current)
        return current


class RedisFloodGate:
    def __init__(self, redis: Redis, window_seconds: int) -> None:
        self._redis = redis
        self._window = window_seconds

    async def count(self, key: str) -> int:
        name = f"{KEY_PREFIX}:flood:{key}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, self._window, nx=True)
            current, _ = await pipe.execute()
        return int(current)
