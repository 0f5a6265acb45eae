"""Every channel's updates handled at most once to the end (core.db.state's claims), and what
a channel does when the infrastructure is out of reach."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar

from core.db.failures import RetryLater, is_infrastructure_failure
from core.db.state import Claim, UpdateInProgress, UpdateLog, handling
from core.shared.outage import Outage

log = logging.getLogger("bots.updates")
T = TypeVar("T")


@asynccontextmanager
async def once(updates: UpdateLog, key: str, name: str) -> AsyncIterator[bool]:
    """True: handle the update now (done when the block completes, new again if it raises);
    False: it was handled already. A delivery of an update still being handled raises
    `UpdateInProgress`: the webhook answers 503 and the platform delivers it again later."""
    async with handling(updates, key) as claim:
        if claim is Claim.IN_PROGRESS:
            raise UpdateInProgress(f"{name} is being handled")
        if claim is Claim.DONE:
            log.info("%s was already processed", name)
        yield claim is Claim.CLAIMED


def retry_later(error: BaseException) -> bool:
    """Whether the update that failed so will succeed when tried again later."""
    return isinstance(error, RetryLater) or is_infrastructure_failure(error)


async def until_handled(
    process: Callable[[Any], Awaitable[T]],
    update: Any,
    stopping: asyncio.Event,
    outage: Outage,
) -> T | None:
    """Process an update nobody will deliver again (a long-polled one) to the end: while the
    infrastructure is out of reach, try the same update again after the outage's growing
    pause until it is handled or `stopping` is set (then None: the update is left unconfirmed
    where the platform allows it). The outage is logged once at ERROR, without a traceback,
    and once when it is over (`outage`, shared by the channel's updates); a bug is logged with
    its traceback and the update left (a retry would fail alike)."""
    while not stopping.is_set():
        try:
            result = await process(update)
        except Exception as error:
            if not retry_later(error):
                log.exception("a long-polled update could not be processed")
                return None
            pause = outage.failed(error)
        else:
            outage.recovered()
            return result
        with suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), pause)
    return None
