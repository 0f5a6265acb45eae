"""The terminal's input, read without blocking the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TextIO

ReadLine = Callable[[], Awaitable[str]]


def stdin_reader(stream: TextIO) -> ReadLine:
    async def read() -> str:
        # A blocking read belongs in a thread, never in the event loop.
        return await asyncio.to_thread(stream.readline)

    return read
