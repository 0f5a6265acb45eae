"""The broadcast engine's coalescer on its own: when a group of sends goes (full, nobody else
can join, every slot waiting, the linger), one result per sender, and a failure for all."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from core.broadcasts.coalescer import Coalescer


class Platform:
    """Records each group request; answers each account with its own result."""

    def __init__(self, *, fail: bool = False, refuse: bool = False) -> None:
        self.requests: list[tuple[str, str, str, list[str]]] = []
        self._fail = fail
        self._refuse = refuse

    async def send_group(
        self, channel: str, key: str, message: str, external_ids: list[str]
    ) -> Mapping[str, str] | None:
        self.requests.append((channel, key, message, list(external_ids)))
        await asyncio.sleep(0)
        if self._fail:
            raise ConnectionError("the platform is down")
        if self._refuse:
            return None
        return {external_id: f"sent {message} to {external_id}" for external_id in external_ids}


def coalescer(platform: Platform, senders: int, *, capacity: int = 100) -> Coalescer[str, str]:
    return Coalescer(platform.send_group, range(senders), capacity=capacity, linger=30)


async def send(
    group: Coalescer[str, str], sender: int, message: str = "hi", limit: int = 100
) -> str:
    try:
        result = await group.send(
            "vk", str(1000 + sender), message, key="k", limit=limit, sender=sender
        )
        assert result is not None
        return result
    finally:
        group.done(sender)


async def test_full_groups_then_the_rest_when_nobody_else_can_join() -> None:
    platform = Platform()
    group = coalescer(platform, 5)
    results = await asyncio.wait_for(
        asyncio.gather(*(send(group, sender, limit=2) for sender in range(5))), 5
    )
    assert results == [f"sent hi to {1000 + sender}" for sender in range(5)]
    assert [ids for *_, ids in platform.requests] == [
        ["1000", "1001"],
        ["1002", "1003"],
        ["1004"],
    ]


async def test_each_message_its_own_group_and_a_sender_that_never_comes_does_not_wait() -> None:
    platform = Platform()
    group = coalescer(platform, 4)
    group.done(3)  # skipped before sending (a holdout, quiet hours ...)
    results = await asyncio.wait_for(
        asyncio.gather(send(group, 0, "A"), send(group, 1, "B"), send(group, 2, "A")), 5
    )
    assert list(results) == ["sent A to 1000", "sent B to 1001", "sent A to 1002"]
    assert sorted((message, ids) for _, _, message, ids in platform.requests) == [
        ("A", ["1000", "1002"]),
        ("B", ["1001"]),
    ]


async def test_a_group_goes_when_every_slot_waits_in_it() -> None:
    platform = Platform()
    # Four recipients, two at a time: the two waiting hold every slot.
    group = coalescer(platform, 4, capacity=2)
    gate = asyncio.Semaphore(2)

    async def slot(sender: int) -> str:
        async with gate:
            return await send(group, sender)

    results = await asyncio.wait_for(asyncio.gather(*(slot(sender) for sender in range(4))), 5)
    assert len(results) == 4
    assert [ids for *_, ids in platform.requests] == [["1000", "1001"], ["1002", "1003"]]


async def test_a_group_goes_after_the_linger_while_others_still_run() -> None:
    platform = Platform()
    group: Coalescer[str, str] = Coalescer(platform.send_group, range(2), capacity=100, linger=0.05)
    # Sender 1 is busy elsewhere (a Telegram send waiting on its rate) and never comes.
    result = await asyncio.wait_for(send(group, 0), 5)
    assert result == "sent hi to 1000"
    assert [ids for *_, ids in platform.requests] == [["1000"]]


async def test_a_group_not_sent_answers_none_and_a_failure_reaches_every_sender() -> None:
    refused = coalescer(Platform(refuse=True), 1)
    assert await refused.send("vk", "1", "hi", key="k", limit=100, sender=0) is None

    failing = coalescer(Platform(fail=True), 2)
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(asyncio.gather(send(failing, 0), send(failing, 1)), 5)
    await failing.close()
