"""Send rates shared by every process that sends for a channel (broadcast workers).

A lane is one channel's budget ("telegram"): at most `per_second` sends, and at most
`chat_per_second` to one chat. Each send reserves the next free slot of its lane (and of its
chat) and sleeps until then, so the rate holds across every worker process without polling
(a generic cell rate algorithm: the lane keeps its "next free slot" time). When a platform
answers 429 with `retry_after`, `hold` stops the whole lane for that long: a sender that
reserved a slot checks for a hold when its slot comes, and waits the hold out first.

Even pacing, with a margin. A platform counts sends where they arrive, in a sliding second
(Telegram's "30 per second"): slots exactly 1/rate apart let two sends that jitter by a few ms
on the way put rate + 1 into one second, and the 429 that follows costs the whole lane its
retry_after (at 30/s the limiter then reached half the limit). So the slots are
(1 s + WINDOW_MARGIN) / rate apart: any `rate` consecutive sends span at least a second plus
the margin, which absorbs that much jitter, for 1 / (1 + WINDOW_MARGIN) of the limit (96 %).
Slots are never saved up: a lane idle for a while starts at "now", not with a burst.

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
# Seconds of jitter (scheduling, the network) that a window of one second absorbs.
WINDOW_MARGIN = 0.04


def interval(per_second: float) -> float:
    """Seconds between two slots of a lane (0: no limit)."""
    return (1 + WINDOW_MARGIN) / per_second if per_second > 0 else 0.0


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
                self._next[chat_key] = start + interval(chat_per_second)
            self._next[lane] = start + interval(per_second)
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
# ARGV: lane interval (µs), chat interval (µs, 0: none), ttl (ms).
# Returns {µs to wait, 1 if that is a hold (nothing reserved) else 0}. Times in µs (a paid
# broadcast's 1,000/s needs finer than ms), written with %.0f: tostring would round them.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local held = redis.call('PTTL', KEYS[2])
if held > 0 then return {held * 1000, 1} end
local start = now
local chat_interval = tonumber(ARGV[2])
if chat_interval > 0 then
  local chat = tonumber(redis.call('GET', KEYS[3]) or '0')
  if chat > start then start = chat end
end
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot > start then start = slot end
redis.call('SET', KEYS[1], string.format('%.0f', start + tonumber(ARGV[1])), 'PX', ARGV[3])
if chat_interval > 0 then
  redis.call('SET', KEYS[3], string.format('%.0f', start + chat_interval), 'PX', ARGV[3])
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
        lane_us = round(1_000_000 * interval(per_second))
        chat_us = round(1_000_000 * interval(chat_per_second)) if chat else 0
        keys = [
            self._key(lane, "next"),
            self._key(lane, "hold"),
            self._key(lane, f"chat:{chat}") if chat_us else self._key(lane, "chat:"),
        ]
        while True:
            wait_us, is_hold = await self._reserve(keys=keys, args=[lane_us, chat_us, SLOT_TTL_MS])
            seconds = int(wait_us) / 1_000_000
            if seconds > 0:
                await self._sleep(seconds)
                waited += seconds
            if int(is_hold):
                continue
            # No wait: the script found no hold. After one, a 429 may have come meanwhile.
            if seconds <= 0 or await self.held_for(lane) <= 0:
                return waited

    async def hold(self, lane: str, seconds: float) -> None:
        await self._hold(keys=[self._key(lane, "hold")], args=[max(1, round(seconds * 1000))])

    async def held_for(self, lane: str) -> float:
        left = await self._redis.pttl(self._key(lane, "hold"))
        return max(0, int(left)) / 1000
