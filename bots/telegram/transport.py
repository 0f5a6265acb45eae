"""Telegram's transport: the aiogram Bot (optionally on another API server) and one request
that waits exactly as long as Telegram asks on a 429."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import quote_plus

import aiohttp
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiohttp.payload import BytesPayload

from bots.outbound import BLOCKED, Delivery

MAX_SEND_ATTEMPTS = 3
MAX_RETRY_AFTER_SECONDS = 60
FORM = "application/x-www-form-urlencoded"

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
    answered: Callable[[Any], None] | None = None,
) -> Delivery:
    """Send one Bot API request, waiting exactly as long as Telegram asks on a 429 (with
    `attempts=1`, a 429 is returned at once: the caller waits, with every other sender).
    `answered` hears what Telegram answered a request that went through."""
    for attempt in range(1, attempts + 1):
        try:
            result = await call
            if answered is not None:
                answered(result)
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


class TextSender:
    """A plain text message with an inline keyboard (a broadcast's), posted to the Bot API
    with aiogram's own HTTP session but without its models: building and validating a
    `SendMessage` and the `Message` it answers costs more CPU than the request itself, which
    capped a broadcast worker at a few hundred sends per second. The answer is read for what
    a broadcast needs: sent, blocked, the chat gone, a 429's retry_after, or another error.

    `paid`: Telegram's paid broadcasts (`allow_paid_broadcast`), up to 1,000 msg/s, each
    message above the free 30 per second charged in Stars to the bot's balance."""

    def __init__(self, bot: Bot, *, paid: bool = False) -> None:
        self._bot = bot
        self._paid = paid
        self._keyboards: dict[object, str] = {}

    def keyboard(self, rows: tuple[tuple[tuple[str, str], ...], ...]) -> str:
        """The inline keyboard's JSON, form-encoded, made once per set of buttons (a
        broadcast's variant in a language)."""
        made = self._keyboards.get(rows)
        if made is None:
            made = quote_plus(
                json.dumps(
                    {
                        "inline_keyboard": [
                            [{"text": label, "callback_data": action} for label, action in row]
                            for row in rows
                        ]
                    },
                    ensure_ascii=False,
                )
            )
            if len(self._keyboards) >= 64:
                self._keyboards.pop(next(iter(self._keyboards)))
            self._keyboards[rows] = made
        return made

    async def send(
        self, chat_id: int, text: str, rows: tuple[tuple[tuple[str, str], ...], ...]
    ) -> Delivery:
        # The form encoded here, as aiohttp's FormData would (application/x-www-form-
        # urlencoded, UTF-8), without building a FormData per send.
        form = f"chat_id={chat_id}&text={quote_plus(text)}"
        if rows:
            form += f"&reply_markup={self.keyboard(rows)}"
        if self._paid:
            form += "&allow_paid_broadcast=true"
        session = self._bot.session
        url = session.api.api_url(self._bot.token, "sendMessage")
        try:
            http = await cast(AiohttpSession, session).create_session()
            async with http.post(
                url, data=BytesPayload(form.encode(), content_type=FORM)
            ) as answered:
                answer = json.loads(await answered.read())
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            log.warning("telegram sendMessage failed: %s", error)
            return Delivery.failed(str(error) or type(error).__name__)
        return answer_of(answer)


def answer_of(answer: Any) -> Delivery:
    """A Bot API answer, as a broadcast sees it (the same reading as `request`'s)."""
    if not isinstance(answer, dict):
        return Delivery.failed("telegram answered something that is not JSON")
    if answer.get("ok") is True:
        return Delivery.sent()
    code = answer.get("error_code")
    description = str(answer.get("description") or "")
    parameters = answer.get("parameters")
    retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
    if code == 429 and isinstance(retry_after, int | float):
        return Delivery.failed(
            f"rate limited: retry after {retry_after}s", retry_after=float(retry_after)
        )
    if code == 403:
        log.info("a member blocked the bot; nothing more is sent to them")
        return Delivery.unreachable(BLOCKED)
    if code == 400 and "chat not found" in description.lower():
        return Delivery.unreachable("chat not found")
    log.warning("telegram refused a request: %s", description)
    return Delivery.failed(description or f"telegram error {code}")
