"""The sends of one batch that can go as one request: the same message to many accounts of a
channel that takes many recipients a request (VK's messages.send with peer_ids, up to 100).

Each recipient of a batch is a coroutine of its own (core.broadcasts.engine). Those whose
account is on such a channel and whose message is the very same (text, image, buttons: a
broadcast without personal placeholders renders the same for everyone of a variant and
language) wait here in one group, under one key (VK's random_id), and each gets its own
result back. A personalised message ({name}, {balance}, {coupon} ...) differs per member:
its group is of one, the same request as a single send's.

A group goes
    - as soon as it holds the channel's limit;
    - when nobody else can join it: every sender of the batch has come here or finished, or
      every slot of the batch's concurrency is held by a sender waiting here. No clock is
      involved, so a batch of one channel always goes in full groups and one remainder;
    - at the latest LINGER seconds after its first sender came: in a batch mixing channels,
      the other channels' sends (which may wait seconds on their own rate) must not hold a
      group back for long. Coming late only makes one more, smaller request.

The coalescer knows no channel: `send_group` (the engine's) paces and sends a group, and
answers None for a group not sent (the broadcast was paused or cancelled first).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

M = TypeVar("M", bound=Hashable)
R = TypeVar("R")
# Long enough for the senders of a batch that are a database read away to come, short next
# to a send's own round trip.
LINGER = 0.05

SendGroup = Callable[[str, str, M, list[str]], Awaitable[Mapping[str, R] | None]]


@dataclass(eq=False)
class _Group(Generic[M, R]):
    channel: str
    key: str
    message: M
    # Per account, the senders waiting for its result (one, but nothing here depends on it).
    waiting: dict[str, list[asyncio.Future[R | None]]] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None

    @property
    def senders(self) -> int:
        return sum(len(futures) for futures in self.waiting.values())


class Coalescer(Generic[M, R]):
    """One batch's groups. `senders`: who may still come (the batch's recipients); `capacity`:
    how many of them run at once (the batch's concurrency)."""

    def __init__(
        self,
        send_group: SendGroup[M, R],
        senders: Collection[Hashable],
        *,
        capacity: int,
        linger: float = LINGER,
    ) -> None:
        self._send_group = send_group
        self._unsettled = set(senders)
        self._capacity = capacity
        self._linger = linger
        self._open: dict[tuple[str, str, M], _Group[M, R]] = {}
        self._waiting = 0
        self._sending: set[asyncio.Task[None]] = set()

    async def send(
        self,
        channel: str,
        external_id: str,
        message: M,
        *,
        key: str,
        limit: int,
        sender: Hashable,
    ) -> R | None:
        """`external_id`'s result once its group is sent; None if the group was not sent."""
        loop = asyncio.get_running_loop()
        self._unsettled.discard(sender)
        group = self._open.get((channel, key, message))
        if group is None:
            group = _Group(channel, key, message)
            self._open[(channel, key, message)] = group
            group.timer = loop.call_later(self._linger, self._go, group)
        future: asyncio.Future[R | None] = loop.create_future()
        group.waiting.setdefault(external_id, []).append(future)
        self._waiting += 1
        if len(group.waiting) >= limit:
            self._go(group)
        else:
            self._go_if_nobody_can_join()
        return await future

    def done(self, sender: Hashable) -> None:
        """`sender` finished (or never came here): it will not join a group."""
        self._unsettled.discard(sender)
        self._go_if_nobody_can_join()

    async def close(self) -> None:
        """At the end of the batch: groups still out are stopped (their senders are gone)."""
        for group in list(self._open.values()):
            self._go(group)
        for task in list(self._sending):
            task.cancel()
        for task in list(self._sending):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _go_if_nobody_can_join(self) -> None:
        if self._waiting and (not self._unsettled or self._waiting >= self._capacity):
            for group in list(self._open.values()):
                self._go(group)

    def _go(self, group: _Group[M, R]) -> None:
        if self._open.get((group.channel, group.key, group.message)) is not group:
            return  # gone already
        del self._open[(group.channel, group.key, group.message)]
        if group.timer is not None:
            group.timer.cancel()
        self._waiting -= group.senders
        task = asyncio.ensure_future(self._send(group))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, group: _Group[M, R]) -> None:
        futures = [future for waiting in group.waiting.values() for future in waiting]
        try:
            results = await self._send_group(
                group.channel, group.key, group.message, list(group.waiting)
            )
        except BaseException as error:
            for future in futures:
                if not future.done():
                    if isinstance(error, asyncio.CancelledError):
                        future.cancel()
                    else:
                        future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for external_id, waiting in group.waiting.items():
            for future in waiting:
                if future.done():
                    continue
                if results is None:
                    future.set_result(None)
                elif external_id in results:
                    future.set_result(results[external_id])
                else:
                    future.set_exception(LookupError(f"no result for {external_id}"))
