"""Send rates shared by every process that sends for a channel (broadcast workers).

A lane is one channel's budget ("telegram"): at most `per_second` sends, and at most
`chat_per_second` to one chat. When a platform answers 429 with `retry_after`, `hold` stops the
whole lane for that long.

A window, with a margin. A platform counts sends where they arrive, in a sliding second
(Telegram's "30 per second"). A lane of `per_second` r keeps the times of its last N = ⌊r⌋
slots (at least 1) and gives a new slot only when N slots ago is at least
W = N · (1 s + WINDOW_MARGIN) / r back, and at least half an interval after the last one: so
any N + 1 consecutive sends span W (for 30/s: 31 sends span 1.04 s), which absorbs
WINDOW_MARGIN of jitter on the way, for 1 / (1 + WINDOW_MARGIN) of the limit (96 %). Slots are
never saved up beyond the window: a lane idle for a second starts afresh, never with more than
N sends in any W.

Slots taken when they are used, not ahead. A slot is reserved only when it is due (a sender
waits for its turn first, in its process's queue for the lane): its time is when the send
really goes (or, for a sender that woke up to the window's margin late, its due time: its
answer, below, covers the send), so a worker that was descheduled or late (a loaded
machine, a batch's claim) never puts a send close to the one N before it. Nor does it lose
the time: the lane keeps its schedule (one interval per slot) and a lane behind it catches
up at twice the rate, by at most CATCH_UP seconds (a lane idle for longer starts with that
much), never past N in any W; a lane on schedule is evenly spaced. At high rates a process
takes the slots of the next BULK_SPAN seconds in one go (one Redis round trip for several
sends, spaced as above); its senders use them in order.

Sends that come back late. The platform stamps a send somewhere between its slot and its
answer; a send held up on the way by more than the margin (a stalled process on a loaded
machine: 70 and 379 ms were seen) would leave the one N after it too close. So the engine
tells `sent` when each send came back, and one that came back more than the window's margin
after its slot counts in the window from its answer less the margin (in Redis one more round
trip, only for those): the send N after it goes a second after that answer at the earliest,
so after the platform's stamp. Within the margin, nothing changes (no time is lost).

Chats: a chat's next free time (interval 1/chat_per_second + margin), taken with the lane's
slot; when the chat is not free yet, the lane's slot is left unused and the sender waits.

Holds: a lane's hold is checked with every reservation; a lane with no rate of its own (0)
reserves nothing and reads the hold at most every HOLD_FRESH seconds per process (a hold this
process set is known at once): another process's 429 stops it within HOLD_FRESH. Slots taken
in bulk are used at most BULK_SPAN + the window's margin after their time (later ones are
dropped), so those taken just before another process's 429 go at most 2 × BULK_SPAN + the
margin (80 ms) into its hold; at the rates that take slots in bulk (100/s and more) that many
sends are on their way anyway.

Redis keeps the slots and holds when several processes send (its clock is the only one they
all share); an in-process limiter does on the embedded default.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol, cast

from redis.asyncio import Redis

from core.db.state import KEY_PREFIX

Sleep = Callable[[float], Awaitable[None]]
# A slot's record outlives any wait it could cause.
SLOT_TTL_MS = 10 * 60 * 1000
# Seconds of jitter (scheduling, the network) that a window of one second absorbs.
WINDOW_MARGIN = 0.04
# At high rates, a process reserves the slots of this many seconds at once.
BULK_SPAN = 0.02
# How old a process's reading of another process's hold may be, on a lane with no rate.
HOLD_FRESH = 0.02
# How far behind its schedule a lane may catch up (at twice its rate).
CATCH_UP = 0.25
# Chats an in-process limiter keeps before it forgets those that are free again.
CHATS_KEPT = 4096
# A slot this close is taken now (and waited for): a sleep may wake a little early.
DUE_SLACK = 0.002


# The slot the current task took last: (limiter, lane, the window's margin, its record: a cell
# in-process, or (monotonic, Redis µs) in Redis).
_TAKEN: ContextVar[tuple[object, str, float, object] | None] = ContextVar("rate_slot", default=None)


def interval(per_second: float) -> float:
    """Seconds between two evenly spaced slots of a lane (0: no limit)."""
    return (1 + WINDOW_MARGIN) / per_second if per_second > 0 else 0.0


@dataclass(frozen=True)
class Window:
    """A lane's rule: at most `count` slots in any `span` seconds, `spacing` apart at least;
    `bulk` slots reserved at once."""

    count: int
    span: float
    spacing: float
    bulk: int
    # The jitter the span absorbs (count × WINDOW_MARGIN / rate: 40 ms at 30/s).
    margin: float

    @classmethod
    def of(cls, per_second: float) -> Window:
        count = max(1, math.floor(per_second))
        return cls(
            count=count,
            span=count * interval(per_second),
            spacing=interval(per_second) / 2,
            bulk=max(1, math.floor(per_second * BULK_SPAN)),
            margin=count * WINDOW_MARGIN / per_second,
        )


class RateLimiter(Protocol):
    async def acquire(
        self, lane: str, per_second: float, *, chat: str = "", chat_per_second: float = 0
    ) -> float:
        """Wait until one more send on `lane` (to `chat`, if given) keeps within the rates and
        no hold is on; the seconds waited."""
        ...

    async def sent(self, lane: str) -> None:
        """The send of this task's last slot on `lane` came back now: if that is late, the
        lane's window counts it from now (the platform may have stamped it that late)."""
        ...

    async def hold(self, lane: str, seconds: float) -> None:
        """Nobody sends on `lane` for `seconds` from now (a longer hold in force stays)."""
        ...

    async def held_for(self, lane: str) -> float:
        """Seconds left of the lane's hold (0: none)."""
        ...


@dataclass
class _Lane:
    """A process's side of a lane: its queue, and (in Redis) the slots it took in bulk and
    what it knows of the hold."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Slots taken, not used yet (monotonic, and in Redis µs), in order.
    slots: deque[tuple[float, int]] = field(default_factory=deque)
    held_until: float = 0.0
    hold_read_at: float = float("-inf")
    # In-process lanes only: the last `count` slots and the schedule.
    # (a send that came back late counts from then: a list of one time, changed by `sent`).
    log: deque[list[float]] = field(default_factory=deque)
    scheduled: float | None = None


def next_slot(
    window: Window, now: float, log: deque[list[float]], scheduled: float | None
) -> float:
    """The earliest slot the rules allow (see the module's docstring), if need be up to the
    window's margin before `now`: a sender that woke that late keeps its place (its answer
    tells `sent` if the send itself was later); `log` newest last."""
    due = float("-inf")
    if log:
        due = max(due, log[-1][0] + window.spacing)
        if len(log) >= window.count:
            due = max(due, log[-window.count][0] + window.span)
    if scheduled is not None:
        due = max(due, scheduled)
    return due if due >= now - window.margin else now


def schedule_after(window: Window, slot: float, scheduled: float | None) -> float:
    step = window.span / window.count
    if scheduled is None:
        return slot + step
    return max(scheduled, slot - CATCH_UP) + step


class MemoryRateLimiter:
    """One process's lanes; the same contract as RedisRateLimiter."""

    def __init__(
        self, *, monotonic: Callable[[], float] = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._monotonic = monotonic
        self._sleep = sleep
        self._lanes: dict[str, _Lane] = {}
        self._chats: dict[str, float] = {}
        self._chats_kept = CHATS_KEPT
        self._holds: dict[str, float] = {}

    async def acquire(
        self, lane: str, per_second: float, *, chat: str = "", chat_per_second: float = 0
    ) -> float:
        waited = 0.0
        chat_key = f"{lane}:chat:{chat}" if chat and chat_per_second > 0 else ""
        while True:
            pause = await self.held_for(lane)
            if chat_key:
                pause = max(pause, self._chats.get(chat_key, 0.0) - self._monotonic())
            if pause > 0:
                await self._sleep(pause)
                waited += pause
                continue
            if per_second > 0:
                waited += await self._slot(lane, Window.of(per_second))
            if await self.held_for(lane) > 0:
                continue  # a 429 came while this one waited: its slot goes unused
            now = self._monotonic()
            if chat_key:
                free = self._chats.get(chat_key, 0.0)
                if free > now + DUE_SLACK:
                    continue  # another sender took the chat meanwhile
                self._chats[chat_key] = max(now, free) + interval(chat_per_second)
                if len(self._chats) > self._chats_kept:
                    # A broadcast's chats, each once: forget those already free again, so a
                    # worker's memory does not grow with the audience.
                    self._chats = {key: at for key, at in self._chats.items() if at > now}
                    self._chats_kept = max(CHATS_KEPT, 2 * len(self._chats))
            return waited

    async def _slot(self, name: str, window: Window) -> float:
        """Wait for the lane's next slot in this process's queue; take it when it is due."""
        lane = self._lanes.setdefault(name, _Lane())
        waited = 0.0
        async with lane.lock:
            while True:
                now = self._monotonic()
                while len(lane.log) > window.count:
                    lane.log.popleft()
                slot = next_slot(window, now, lane.log, lane.scheduled)
                if slot > now + DUE_SLACK:
                    await self._sleep(slot - now)
                    waited += slot - now
                    continue
                taken = [slot]
                lane.log.append(taken)
                _TAKEN.set((self, name, window.margin, taken))
                lane.scheduled = schedule_after(window, slot, lane.scheduled)
                if slot > now:
                    await self._sleep(slot - now)
                    waited += slot - now
                return waited

    async def sent(self, lane: str) -> None:
        taken = _TAKEN.get()
        if taken is not None and taken[0] is self and taken[1] == lane:
            _TAKEN.set(None)
            cell = taken[3]
            assert isinstance(cell, list)
            cell[0] = max(cell[0], self._monotonic() - taken[2])

    async def hold(self, lane: str, seconds: float) -> None:
        until = self._monotonic() + seconds
        self._holds[lane] = max(self._holds.get(lane, 0.0), until)

    async def held_for(self, lane: str) -> float:
        return max(0.0, self._holds.get(lane, 0.0) - self._monotonic())


# KEYS: the lane's last slots (a list, newest first), its schedule, its hold.
# ARGV: count, span (µs), spacing (µs), step (µs), catch-up (µs), bulk, horizon (µs),
# due slack (µs), ttl (ms), the window's margin (µs).
# Returns {1, µs of hold left} (nothing reserved), {0, µs until the next slot is due}
# (nothing reserved), or {2, now, µs from now of each slot taken}. Times in µs (a paid
# broadcast's 1,000/s needs finer than ms), written with %.0f: tostring would round them.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local held = redis.call('PTTL', KEYS[3])
if held > 0 then return {1, held * 1000} end
local count = tonumber(ARGV[1])
local span = tonumber(ARGV[2])
local spacing = tonumber(ARGV[3])
local step = tonumber(ARGV[4])
local catch_up = tonumber(ARGV[5])
local bulk = tonumber(ARGV[6])
local horizon = tonumber(ARGV[7])
local slack = tonumber(ARGV[8])
local margin = tonumber(ARGV[10])
local scheduled = tonumber(redis.call('GET', KEYS[2]) or '-1')
local out = {2, now}
for j = 1, bulk do
  local due = 0
  local last = redis.call('LINDEX', KEYS[1], 0)
  if last then
    due = math.max(due, tonumber(last) + spacing)
    if redis.call('LLEN', KEYS[1]) >= count then
      due = math.max(due, tonumber(redis.call('LINDEX', KEYS[1], count - 1)) + span)
    end
  end
  if scheduled >= 0 then due = math.max(due, scheduled) end
  -- The first may be due up to the margin before now: a sender that woke late keeps its place.
  local slot = now
  if due >= now or (j == 1 and due >= now - margin) then slot = due end
  if j == 1 and slot > now + slack then return {0, slot - now} end
  if j > 1 and slot > now + horizon then break end
  redis.call('LPUSH', KEYS[1], string.format('%.0f', slot))
  redis.call('LTRIM', KEYS[1], 0, count - 1)
  if scheduled < 0 then
    scheduled = slot + step
  else
    scheduled = math.max(scheduled, slot - catch_up) + step
  end
  out[#out + 1] = slot - now
end
redis.call('PEXPIRE', KEYS[1], ARGV[9])
redis.call('SET', KEYS[2], string.format('%.0f', scheduled), 'PX', ARGV[9])
return out
"""

# KEYS: a chat's next free time (µs). ARGV: the chat's interval (µs), due slack (µs), ttl.
# Returns µs until the chat is free (nothing taken), or 0: taken now.
_CHAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
if free > now + tonumber(ARGV[2]) then return free - now end
redis.call('SET', KEYS[1], string.format('%.0f', math.max(now, free) + tonumber(ARGV[1])),
  'PX', ARGV[3])
return 0
"""

# KEYS: the lane's last slots; ARGV: one of them (µs), whose send came back late, and the
# window's margin (µs): it counts from now less the margin.
_LATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2]) - tonumber(ARGV[2])
local at = redis.call('LPOS', KEYS[1], ARGV[1])
if at and now > tonumber(ARGV[1]) then
  redis.call('LSET', KEYS[1], at, string.format('%.0f', now))
end
return 1
"""

# KEYS: the lane's hold; ARGV: ms. Only ever lengthens a hold.
_HOLD = """
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
"""


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


class RedisRateLimiter:
    """Lanes in Redis, shared by every process on it (times from Redis's own clock)."""

    def __init__(
        self,
        redis: Redis,
        *,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._sleep = sleep
        self._monotonic = monotonic
        self._reserve = redis.register_script(_RESERVE)
        self._chat = redis.register_script(_CHAT)
        self._hold = redis.register_script(_HOLD)
        self._late = redis.register_script(_LATE)
        self._lanes: dict[str, _Lane] = {}

    @staticmethod
    def _key(lane: str, what: str) -> str:
        return f"{KEY_PREFIX}:rate:{lane}:{what}"

    def _lane(self, name: str) -> _Lane:
        lane = self._lanes.get(name)
        if lane is None:
            lane = self._lanes[name] = _Lane()
        return lane

    async def acquire(
        self, lane: str, per_second: float, *, chat: str = "", chat_per_second: float = 0
    ) -> float:
        state = self._lane(lane)
        waited = 0.0
        while True:
            pause = state.held_until - self._monotonic()
            if pause <= 0 and per_second <= 0:
                pause = await self._fresh_hold(lane, state)
            if pause > 0:
                await self._sleep(pause)
                waited += pause
                continue
            if per_second > 0:
                slot_wait = await self._slot(lane, state, Window.of(per_second))
                if slot_wait is None:
                    continue  # a hold: waited out above
                waited += slot_wait
                if state.held_until > self._monotonic():
                    continue  # this process got a 429 meanwhile: the slot goes unused
            if chat and chat_per_second > 0:
                busy = int(
                    await self._chat(
                        keys=[self._key(lane, f"chat:{chat}")],
                        args=[_us(interval(chat_per_second)), _us(DUE_SLACK), SLOT_TTL_MS],
                    )
                )
                if busy > 0:
                    # The chat's turn is later: this lane slot goes unused.
                    await self._sleep(busy / 1_000_000)
                    waited += busy / 1_000_000
                    continue
            return waited

    async def _fresh_hold(self, name: str, lane: _Lane) -> float:
        """A lane with no rate: its hold, read from Redis at most every HOLD_FRESH seconds."""
        now = self._monotonic()
        if now - lane.hold_read_at >= HOLD_FRESH:
            lane.hold_read_at = now  # the other senders meanwhile go on what is known
            left = max(0, int(await self._redis.pttl(self._key(name, "hold")))) / 1000
            lane.held_until = max(lane.held_until, self._monotonic() + left)
        return lane.held_until - self._monotonic()

    async def _slot(self, name: str, lane: _Lane, window: Window) -> float | None:
        """Wait for one of the lane's slots (taken in this process's queue, several at once
        at high rates); the seconds waited, or None if the lane is held (nothing taken)."""
        waited = 0.0
        while True:
            if lane.slots:
                slot, at = lane.slots.popleft()
                wait = slot - self._monotonic()
                if wait < -BULK_SPAN - window.margin:
                    continue  # its time went by unused: a send now would not be at its slot
                _TAKEN.set((self, name, window.margin, (slot, at)))
                if wait > 0:
                    await self._sleep(wait)
                    waited += wait
                return waited
            async with lane.lock:
                if lane.slots:
                    continue
                step = window.span / window.count
                horizon = BULK_SPAN if window.bulk > 1 else DUE_SLACK
                answer = await self._reserve(
                    keys=[
                        self._key(name, "slots"),
                        self._key(name, "schedule"),
                        self._key(name, "hold"),
                    ],
                    args=[
                        window.count,
                        _us(window.span),
                        _us(window.spacing),
                        _us(step),
                        _us(CATCH_UP),
                        window.bulk,
                        _us(horizon),
                        _us(DUE_SLACK),
                        SLOT_TTL_MS,
                        _us(window.margin),
                    ],
                )
                kind, *times = (int(value) for value in answer)
                now = self._monotonic()
                if kind == 1:
                    lane.held_until = max(lane.held_until, now + times[0] / 1_000_000)
                    return None
                if kind == 0:
                    # Not due yet: this sender waits at the head of the queue.
                    await self._sleep(times[0] / 1_000_000)
                    waited += times[0] / 1_000_000
                    continue
                lane.slots.extend(
                    (now + offset / 1_000_000, times[0] + offset) for offset in times[1:]
                )

    async def sent(self, lane: str) -> None:
        taken = _TAKEN.get()
        if taken is None or taken[0] is not self or taken[1] != lane:
            return
        _TAKEN.set(None)
        slot, at = cast(tuple[float, int], taken[3])
        if self._monotonic() - slot > taken[2]:
            await self._late(keys=[self._key(lane, "slots")], args=[at, _us(taken[2])])

    async def hold(self, lane: str, seconds: float) -> None:
        state = self._lane(lane)
        state.held_until = max(state.held_until, self._monotonic() + seconds)
        state.slots.clear()  # taken before the 429: not to be used during the hold
        await self._hold(keys=[self._key(lane, "hold")], args=[max(1, round(seconds * 1000))])

    async def held_for(self, lane: str) -> float:
        left = await self._redis.pttl(self._key(lane, "hold"))
        return max(0, int(left)) / 1000
