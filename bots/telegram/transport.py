"""Telegram's transport: the aiogram Bot (optionally on another API server) and one request
that waits exactly as long as Telegram asks on a 429."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)

from bots.outbound import BLOCKED, Delivery

MAX_SEND_ATTEMPTS = 3
MAX_RETRY_AFTER_SECONDS = 60

log = logging.getLogger("bots.telegram")


def create_bot(token: str, *, api_url: str = "") -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url)) if api_url else None
    return Bot(token=token, session=session)


async def request(
    bot: Bot,
    call: Awaitable[Any],
    *,
    sleep: Callable[[float], Awaitable[None]],
    attempts: int = MAX_SEND_ATTEMPTS,
) -> Delivery:
    """Send one Bot API request, waiting exactly as long as Telegram asks on a 429 (with
    `attempts=1`, a 429 is returned at once: the caller waits, with every other sender)."""
    for attempt in range(1, attempts + 1):
        try:
            await call
            return Delivery.sent()
        except TelegramRetryAfter as error:
            if attempt == attempts or error.retry_after > MAX_RETRY_AFTER_SECONDS:
                log.warning("telegram kept asking to retry after %ss", error.retry_after)
                return Delivery.failed(
                    f"rate limited: retry after {error.retry_after}s",
                    retry_after=error.retry_after,
                )
            await sleep(error.retry_after)
            # An awaited TelegramMethod cannot be awaited again: re-issue the same call.
            call = error.method.emit(bot)
        except TelegramForbiddenError:
            log.info("a member blocked the bot; nothing more is sent to them")
            return Delivery.unreachable(BLOCKED)
        except TelegramBadRequest as error:
            if "message is not modified" in error.message:
                return Delivery.sent()
            log.warning("telegram refused a request: %s", error.message)
            if "chat not found" in error.message.lower():
                return Delivery.unreachable("chat not found")
            return Delivery.failed(error.message)
        except TelegramAPIError as error:
            log.warning("telegram request failed: %s", error)
            return Delivery.failed(str(error))
    return Delivery.failed("too many attempts")
