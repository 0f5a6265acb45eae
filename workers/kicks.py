"""Work sent to the workers at once, not at the next minute's job: a broadcast kicked by
`broadcast-send --detach` (the task `loyalty.send_broadcast`, registered by the workers through
JobScheduler.build's `tasks`).

A message on the Redis stream goes to one worker; KICKS of them let several workers (or
several of one worker's task slots) join the broadcast at once, and they share it through
the batches' leases. A worker that takes a kick for a broadcast already done returns at once.
"""

from __future__ import annotations

from taskiq.kicker import AsyncKicker

from workers.broker import TASK_PREFIX, TaskQueue

SEND_BROADCAST = "send_broadcast"
KICKS = 4


async def kick_broadcast(redis_url: str, broadcast_id: int, *, kicks: int = KICKS) -> None:
    """Put `kicks` messages "send broadcast N" on the workers' stream."""
    queue = TaskQueue.build(redis_url)
    await queue.broker.startup()
    try:
        kicker: AsyncKicker[[int], object] = AsyncKicker(
            f"{TASK_PREFIX}{SEND_BROADCAST}", queue.broker, labels={}
        )
        for _ in range(kicks):
            await kicker.kiq(broadcast_id)
    finally:
        await queue.broker.shutdown()
