"""Every channel's updates handled at most once to the end (core.db.state's claims), and what
a channel does when the infrastructure is out of reach."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

from core.db.failures import RetryLater, is_infrastructure_failure
from core.db.state import Claim, UpdateInProgress, UpdateLog, handling

log = logging.getLogger("bots.updates")


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
    process: Callable[[Any], Awaitable[None]], update: Any, stopping: asyncio.Event, pause: float
) -> None:
    """Process an update nobody will deliver again (a long-polled one): while the
    infrastructure is out of reach, try again every `pause` seconds until it is handled or
    `stopping` is set; a bug is logged and the update left."""
    while not stopping.is_set():
        try:
            await process(update)
            return
        except Exception as error:
            if not retry_later(error):
                log.exception("a long-polled update could not be processed")
                return
            log.warning("a long-polled update waits for the service (%s)", type(error).__name__)
        with suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), pause)
