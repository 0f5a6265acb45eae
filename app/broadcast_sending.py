"""The broadcast engine wired to this process's channels, rates and Redis.

The engine (core.broadcasts.engine) knows no messenger: `ChannelSender` sends its messages
through each channel's outbound contract (bots/outbound.py) with the conversation's rendering
(handlers/render/broadcasts.py), asking the channel not to wait out a 429 itself (the
engine's limiter makes every worker wait instead); WhatsApp templates through the WhatsApp
channel; one message to many accounts through a channel that takes many a request
(bots.outbound.ManyOutbound: VK). The limiter is in Redis when REDIS_URL is set (shared by
every worker), else in this process.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import TypeGuard

from app.broadcasts import broadcasts
from app.settings import Settings
from bots.outbound import NOT_CONNECTED, Delivery, ManyOutbound, Outbound, Outcome
from core.broadcasts.engine import BroadcastEngine, ChannelRate, SendOutcome, SendResult
from core.broadcasts.render import Outgoing
from core.broadcasts.spec import NPS_QUESTION, Template
from core.db.rates import RateLimiter
from core.program import LoyaltyProgram
from handlers.render.broadcasts import BroadcastReplies, body, caption, score_rows
from handlers.render.i18n import Translator

_OUTCOMES = {
    Outcome.SENT: SendOutcome.SENT,
    Outcome.UNREACHABLE: SendOutcome.UNREACHABLE,
    Outcome.FAILED: SendOutcome.FAILED,
}


def result_of(delivery: Delivery) -> SendResult:
    return SendResult(_OUTCOMES[delivery.outcome], delivery.detail, delivery.retry_after)


class ChannelSender:
    def __init__(self, channels: Callable[[], Mapping[str, Outbound]], texts: Translator) -> None:
        # Asked on every send: channels may be attached after start (the console).
        self._channels = channels
        self._texts = texts
        self._replies = BroadcastReplies(texts)

    def channels(self) -> Collection[str]:
        return tuple(self._channels())

    def group_limit(self, channel: str) -> int:
        outbound = self._channels().get(channel)
        return outbound.max_recipients if _sends_many(outbound) else 1

    async def send_many(
        self, channel: str, external_ids: Sequence[str], message: Outgoing, *, key: str
    ) -> dict[str, SendResult]:
        outbound = self._channels().get(channel)
        if not _sends_many(outbound):
            # Detached since the batch asked: each on its own, as `send` would.
            return {
                external_id: await self.send(channel, external_id, message, key=key)
                for external_id in external_ids
            }
        deliveries = await outbound.send_outbound_many(
            list(external_ids), self._replies(message), key=key
        )
        return {external_id: result_of(deliveries[external_id]) for external_id in external_ids}

    async def send(
        self, channel: str, external_id: str, message: Outgoing, *, key: str
    ) -> SendResult:
        outbound = self._channels().get(channel)
        if outbound is None:
            # Detached since the batch asked (the engine skips it as not connected, for now).
            return SendResult(SendOutcome.UNREACHABLE, NOT_CONNECTED)
        replies = self._replies(message)
        return result_of(
            await outbound.send_outbound(external_id, replies, key=key, wait_rate_limit=False)
        )

    async def send_template(
        self,
        channel: str,
        external_id: str,
        template: Template,
        variables: Mapping[str, str],
        *,
        key: str,
    ) -> SendResult:
        outbound = self._channels().get(channel)
        send_template = getattr(outbound, "send_template", None)
        if send_template is None:
            return SendResult(SendOutcome.UNREACHABLE, "no_templates")
        return result_of(await send_template(external_id, template.content_sid, variables))


def _sends_many(outbound: Outbound | None) -> TypeGuard[ManyOutbound]:
    return callable(getattr(outbound, "send_outbound_many", None)) and isinstance(
        getattr(outbound, "max_recipients", None), int
    )


def text_of(message: Outgoing, texts: Translator) -> str:
    """The message's text as the member reads it."""
    return body(message, texts)


def captions(message: Outgoing, texts: Translator) -> list[str]:
    """The message's buttons as the member reads them (a feedback question's 0-10 first)."""
    scores = (
        [button.label for row in score_rows(message.broadcast_id) for button in row]
        if message.question == NPS_QUESTION
        else []
    )
    return scores + [caption(button, texts, message.language) for button in message.buttons]


# Telegram's paid broadcasts: "Pass True to allow up to 1000 messages per second, ignoring
# broadcasting limits for a fee of 0.1 Telegram Stars per message" (the Bot API's
# sendMessage.allow_paid_broadcast, as aiogram 3.31 documents it).
PAID_PER_SECOND = 1000
STARS_PER_PAID_MESSAGE = Decimal("0.1")


def paid_cost_stars(messages: int) -> Decimal:
    """The most a paid broadcast of `messages` Telegram messages costs, in Stars (every
    message charged: Telegram does not promise which ones within the free 30/s are not)."""
    return STARS_PER_PAID_MESSAGE * messages


def rates(settings: Settings) -> dict[str, ChannelRate]:
    telegram = (
        PAID_PER_SECOND
        if settings.broadcast_telegram_paid
        else settings.broadcast_telegram_per_second
    )
    return {
        "telegram": ChannelRate(telegram, settings.broadcast_telegram_per_chat_per_second),
        "vk": ChannelRate(settings.broadcast_vk_per_second),
        "whatsapp": ChannelRate(settings.broadcast_whatsapp_per_second),
        # The terminal has no limit worth holding to.
        "console": ChannelRate(0),
    }


class LocaleWording:
    """core.broadcasts.render.Wording from the locales."""

    def __init__(self, texts: Translator) -> None:
        self._texts = texts

    def points(self, language: str, count: int) -> str:
        return self._texts.points(language, count)

    def nameless(self, language: str) -> str:
        return self._texts.text(language, "broadcast-nameless")

    def no_tier(self, language: str) -> str:
        return self._texts.text(language, "broadcast-no-tier")


def engine(
    settings: Settings,
    program: LoyaltyProgram,
    channels: Callable[[], Mapping[str, Outbound]],
    texts: Translator,
    limiter: RateLimiter,
) -> BroadcastEngine:
    return BroadcastEngine(
        program.db,
        program.clock,
        program.rules,
        broadcasts(program),
        program.coupons,
        program.tiers,
        ChannelSender(channels, texts),
        limiter,
        rates(settings),
        default_language=settings.locale,
        wording=LocaleWording(texts),
        lease=timedelta(seconds=settings.broadcast_lease_seconds),
    )
