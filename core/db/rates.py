"""Send rates shared by every process that sends for a channel (broadcast workers).

A lane is one channel's budget ("telegram"): at most `per_second` sends, and at most
`chat_per_second` to one chat. Each send reserves the next free slot of its lane (and of its
chat) and sleeps until then, so the rate holds across every worker process without polling
(a generic cell rate algorithm: the lane keeps its "next free slot" time). When a platform
answers 429 with `retry_after`, `hold` stops the whole lane for that long: a sender that
reserved a slot checks for a hold when its slot comes, and waits the hold out first.

Redis keeps the slots and holds when several processes send (its clock is the only one they
all share); an in-process limiter does on the embedded default.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from redis.asyncio import Redis

from core.db.state import KEY_PREFIX

Sleep = Callable[[float], Awaitable[None]]
# A slot's record outlives any wait it could cause.
SLOT_TTL_MS = 10 * 60 * 1000


class RateLimiter(Protocol):
    async def acquire(
        self, lane: str, per_second: float, *, chat: str = "", chat_per_second: float = 0
    ) -> float:
        """Wait until one more send on `lane` (to `chat`, if given) keeps within the rates and
        no hold is on; the seconds waited."""
        ...

    async def hold(self, lane: str, seconds: float) -> None:
        """Nobody sends on `lane` for `seconds` from now (a longer hold in force stays)."""
        ...

    async def held_for(self, lane: str) -> float:
        """Seconds left of the lane's hold (0: none)."""
        ...


class MemoryRateLimiter:
    """One process's lanes; the same contract as RedisRateLimiter."""

    def __init__(
        self, *, monotonic: Callable[[], float] = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._monotonic = monotonic
        self._sleep = sleep
        self._next: dict[str, float] = {}
        self._holds: dict[str, float] = {}

    async def acquire(
        self, lane: str, per_second: float, *, chat: str = "", chat_per_second: float = 0
    ) -> float:
        waited = 0.0
        while True:
            held = await self.held_for(lane)
            if held > 0:
                await self._sleep(held)
                waited += held
                continue
            now = self._monotonic()
            start = max(now, self._next.get(lane, 0.0))
            chat_key = f"{lane}:chat:{chat}" if chat and chat_per_second > 0 else ""
            if chat_key:
                start = max(start, self._next.get(chat_key, 0.0))
                self._next[chat_key] = start + 1 / chat_per_second
            self._next[lane] = start + (1 / per_second if per_second > 0 else 0)
            if start > now:
                await self._sleep(start - now)
                waited += start - now
            if await self.held_for(lane) <= 0:
                return waited

    async def hold(self, lane: str, seconds: float) -> None:
        until = self._monotonic() + seconds
        self._holds[lane] = max(self._holds.get(lane, 0.0), until)

    async def held_for(self, lane: str) -> float:
        return max(0.0, self._holds.get(lane, 0.0) - self._monotonic())


# KEYS: lane's next slot, lane's hold, chat's next slot (or "").
# ARGV: lane interval (ms), chat interval (ms, 0: none), ttl (ms).
# Returns {ms to wait, 1 if that is a hold (nothing reserved) else 0}.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = redis.call('PTTL', KEYS[2])
if held > 0 then return {held, 1} end
local start = now
local chat_interval = tonumber(ARGV[2])
if chat_interval > 0 then
  local chat = tonumber(redis.call('GET', KEYS[3]) or '0')
  if chat > start then start = chat end
end
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot > start then start = slot end
redis.call('SET', KEYS[1], tostring(start + tonumber(ARGV[1])), 'PX', ARGV[3])
if chat_interval > 0 then
  redis.call('SET', KEYS[3], tostring(start + chat_interval), 'PX', ARGV[3])
end
return {start - now, 0}
"""

# KEYS: the lane's hold; ARGV: ms. Only ever lengthens a hold.
_HOLD = """
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
"""


class RedisRateLimiter:
    """Lanes in Redis, shared by every process on it (times from Redis's own clock)."""

    def __init__(self, redis: Redis, *, sleep: Sleep = asyncio.sleep) -> None:
        self._redis = redis
        self._sleep = sleep
        self._reserve = redis.register_script(_RESERVE)
        self._hold = redis.register_script(_HOLD)

    @staticmethod
    def _key(lane: str, what: str) -> str:
        return f"{KEY_PREFIX}:rate:{lane}:{what}"

    async def acquire(
        self, lane: str, per_second: float, *, chat: str = "", chat_per_second: float = 0
    ) -> float:
        waited = 0.0
        lane_ms = round(1000 / per_second) if per_second > 0 else 0
        chat_ms = round(1000 / chat_per_second) if chat and chat_per_second > 0 else 0
        keys = [
            self._key(lane, "next"),
            self._key(lane, "hold"),
            self._key(lane, f"chat:{chat}") if chat_ms else self._key(lane, "chat:"),
        ]
        while True:
            wait_ms, is_hold = await self._reserve(keys=keys, args=[lane_ms, chat_ms, SLOT_TTL_MS])
            seconds = int(wait_ms) / 1000
            if seconds > 0:
                await self._sleep(seconds)
                waited += seconds
            if int(is_hold):
                continue
            if await self.held_for(lane) <= 0:
                return waited

    async def hold(self, lane: str, seconds: float) -> None:
        await self._hold(keys=[self._key(lane, "hold")], args=[max(1, round(seconds * 1000))])

    async def held_for(self, lane: str) -> float:
        left = await self._redis.pttl(self._key(lane, "hold"))
        return max(0, int(left)) / 1000
