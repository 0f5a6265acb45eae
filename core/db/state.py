"""Short-lived state shared by every channel: where a member is in a conversation, and which
platform updates were already processed.

An update is claimed "in progress" for a short while (`CLAIM_TTL_SECONDS`) when its handling
starts, and marked done (for the long retention time) only when the handler has finished: its
transaction committed and its replies sent. A handling that fails releases its claim; one that
dies with the process (kill -9) leaves a claim that expires. Either way the platform's next
delivery of that update is handled; a delivery while it is still in progress is told to come
back later (`UpdateInProgress`).

Redis in production (several processes share it); an in-process store on the embedded default.
Losing this state may cost a member one step of a conversation, never points.
"""

from __future__ import annotations

import enum
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

from redis.asyncio import Redis

from core.db.failures import RetryLater

KEY_PREFIX = "loyalty"
# How long an update's handling may hold it before another delivery may take it over: longer
# than any turn takes (the platforms give up on a webhook after about a minute anyway).
CLAIM_TTL_SECONDS = 60
# What a claimed update's entry holds until it is done (then DONE).
_PENDING = "pending:"
_DONE = "done"

log = logging.getLogger(__name__)


class ConversationStore(Protocol):
    async def get(self, key: str) -> dict[str, Any] | None: ...
    async def set(self, key: str, data: dict[str, Any]) -> None: ...
    async def clear(self, key: str) -> None: ...


class Claim(enum.Enum):
    CLAIMED = "claimed"  # this caller handles the update now: it finishes or releases it
    IN_PROGRESS = "in_progress"  # another handling holds it (and its claim has not expired)
    DONE = "done"  # handled to the end within the retention time


class UpdateInProgress(RetryLater):
    """A delivery of an update whose handling is still under way elsewhere."""


class UpdateLog(Protocol):
    async def claim(self, key: str, token: str) -> Claim:
        """Claim the update for `CLAIM_TTL_SECONDS` under `token`, unless it is done or held
        by an unexpired claim."""
        ...

    async def finish(self, key: str, token: str) -> None:
        """Mark a claimed update done, for the retention time."""
        ...

    async def release(self, key: str, token: str) -> None:
        """Give up the claim made with `token` (not a later one): the update is new again."""
        ...

    async def first_time(self, key: str) -> bool:
        """True exactly once per key within the retention time; records the key as done at
        once (for what needs no handling to the end)."""
        ...


@asynccontextmanager
async def handling(updates: UpdateLog, key: str) -> AsyncIterator[Claim]:
    """Handle an update at most once to the end: yields the claim's outcome; when CLAIMED, the
    update is marked done if the block completes and released if it raises anything at all
    (a cancellation included), so that the next delivery handles it again."""
    token = secrets.token_hex(8)
    claim = await updates.claim(key, token)
    if claim is not Claim.CLAIMED:
        yield claim
        return
    try:
        yield claim
    except BaseException:
        try:
            await updates.release(key, token)
        except Exception as error:  # the claim expires by itself
            log.warning("update %s: its claim could not be released: %s", key, error)
        raise
    try:
        await updates.finish(key, token)
    except Exception as error:
        # Handled and answered: the claim expires and a retry would handle it again, but the
        # platform was answered 2xx and does not retry.
        log.warning("update %s: handled, but not marked done: %s", key, error)


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

    def put(self, key: str, value: Any, ttl: float | None = None) -> None:
        self._purge()
        self._items[key] = (self._monotonic() + (self._ttl if ttl is None else ttl), value)

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
    def __init__(
        self,
        ttl_seconds: int,
        monotonic: Callable[[], float] = time.monotonic,
        *,
        claim_ttl_seconds: float = CLAIM_TTL_SECONDS,
    ) -> None:
        self._items = _Expiring(ttl_seconds, monotonic)
        self._claim_ttl = claim_ttl_seconds

    async def claim(self, key: str, token: str) -> Claim:
        held = self._items.get(key)
        if held is None:
            self._items.put(key, _PENDING + token, self._claim_ttl)
            return Claim.CLAIMED
        return Claim.IN_PROGRESS if str(held).startswith(_PENDING) else Claim.DONE

    async def finish(self, key: str, token: str) -> None:
        self._items.put(key, _DONE)

    async def release(self, key: str, token: str) -> None:
        if self._items.get(key) == _PENDING + token:
            self._items.pop(key)

    async def first_time(self, key: str) -> bool:
        if self._items.get(key) is not None:
            return False
        self._items.put(key, _DONE)
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


# Deletes the key only while it holds this very claim (a claim that expired and was taken
# over by another delivery is that delivery's to finish or release).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisUpdateLog:
    def __init__(
        self, redis: Redis, ttl_seconds: int, *, claim_ttl_seconds: int = CLAIM_TTL_SECONDS
    ) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._claim_ttl = claim_ttl_seconds
        self._release = redis.register_script(_RELEASE)

    @staticmethod
    def _name(key: str) -> str:
        return f"{KEY_PREFIX}:update:{key}"

    async def claim(self, key: str, token: str) -> Claim:
        name = self._name(key)
        if await self._redis.set(name, _PENDING + token, nx=True, ex=self._claim_ttl):
            return Claim.CLAIMED
        held = await self._redis.get(name)
        if held is None:
            # The claim that stood in the way expired (or was released) just now: one more go.
            if await self._redis.set(name, _PENDING + token, nx=True, ex=self._claim_ttl):
                return Claim.CLAIMED
            return Claim.IN_PROGRESS
        if isinstance(held, bytes):
            held = held.decode(errors="replace")
        # Anything but a claim (an entry from before claims were made, "1") is done.
        return Claim.IN_PROGRESS if str(held).startswith(_PENDING) else Claim.DONE

    async def finish(self, key: str, token: str) -> None:
        await self._redis.set(self._name(key), _DONE, ex=self._ttl)

    async def release(self, key: str, token: str) -> None:
        await self._release(keys=[self._name(key)], args=[_PENDING + token])

    async def first_time(self, key: str) -> bool:
        return bool(await self._redis.set(self._name(key), _DONE, nx=True, ex=self._ttl))


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
