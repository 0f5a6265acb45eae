"""The composition root: builds every layer of the program from its settings."""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import logging
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from redis.asyncio import Redis

from app.settings import Settings
from bots.console import ConsoleChannel, stdin_reader
from bots.dispatch import DispatchReport, NoticeDispatcher
from bots.outbound import Outbound
from bots.telegram import TelegramChannel, create_bot
from bots.vk import VkChannel
from bots.vk import create_api as create_vk_api
from bots.web import Probe, build_web_app
from bots.whatsapp import WhatsAppChannel
from bots.whatsapp import create_client as create_twilio_client
from core.db.database import Database
from core.db.state import (
    ConversationStore,
    FloodGate,
    MemoryConversationStore,
    MemoryFloodGate,
    MemoryUpdateLog,
    RedisConversationStore,
    RedisFloodGate,
    RedisUpdateLog,
    UpdateLog,
)
from core.jobs import Every, Job, JobRunner, job_runner
from core.notices.outbox import Notices
from core.program import LoyaltyProgram
from core.shared.clock import Clock
from handlers.conversation import Conversation
from handlers.menus.invite import InviteLinks
from handlers.render.i18n import Translator

log = logging.getLogger("loyalty")
# Notices one run of the scheduled `dispatch_notices` job delivers at most.
NOTICE_JOB_BATCH = 100


@dataclass
class Runtime:
    settings: Settings
    db: Database
    redis: Redis | None
    program: LoyaltyProgram
    conversations: ConversationStore
    updates: UpdateLog
    conversation: Conversation
    notices: Notices
    telegram: TelegramChannel | None = None
    vk: VkChannel | None = None
    whatsapp: WhatsAppChannel | None = None
    # The terminal's member, while `run`/`chat` shows the console channel.
    console: ConsoleChannel | None = None
    web_app: web.Application = field(default_factory=web.Application)

    @property
    def has_messenger(self) -> bool:
        return any(channel is not None for channel in (self.telegram, self.vk, self.whatsapp))

    def outbound_channels(self) -> dict[str, Outbound]:
        """The channels that can reach a member now, by the name identities carry."""
        channels: dict[str, Outbound | None] = {
            "telegram": self.telegram,
            "vk": self.vk,
            "whatsapp": self.whatsapp,
            "console": self.console,
        }
        return {name: channel for name, channel in channels.items() if channel is not None}

    @property
    def dispatcher(self) -> NoticeDispatcher:
        return NoticeDispatcher(
            self.notices,
            self.program.rules,
            self.conversation.texts,
            self.outbound_channels,
        )

    async def dispatch_notices(self, limit: int = 100) -> DispatchReport:
        """Deliver up to `limit` pending notices (points earned, coupons, reminders ...)."""
        return await self.dispatcher.dispatch(limit)

    async def close(self) -> None:
        if self.telegram is not None:
            await self.telegram.close()
        if self.vk is not None:
            await self.vk.close()
        if self.whatsapp is not None:
            await self.whatsapp.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.close()


def webhook_secret(settings: Settings) -> str:
    if settings.telegram_webhook_secret is not None:
        return settings.telegram_webhook_secret.get_secret_value()
    # Stable across processes and restarts, and unguessable without the bot token.
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    return hashlib.sha256(f"webhook:{token}".encode()).hexdigest()


def build_runtime(settings: Settings, *, clock: Clock | None = None) -> Runtime:
    db = Database.from_url(settings.database_url, pool_size=settings.database_pool_size)
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    conversations: ConversationStore
    updates: UpdateLog
    if redis is not None:
        conversations = RedisConversationStore(redis, settings.conversation_ttl_seconds)
        updates = RedisUpdateLog(redis, settings.update_dedupe_ttl_seconds)
        flood: FloodGate = RedisFloodGate(redis, settings.flood_window_seconds)
    else:
        conversations = MemoryConversationStore(settings.conversation_ttl_seconds)
        updates = MemoryUpdateLog(settings.update_dedupe_ttl_seconds)
        flood = MemoryFloodGate(settings.flood_window_seconds)
    program = LoyaltyProgram.build(db, clock)
    invites = InviteLinks()
    if settings.telegram_bot_username:
        invites.add_telegram(settings.telegram_bot_username.lstrip("@"))
    if settings.vk_enabled and settings.vk_group_id is not None:
        invites.add_vk(settings.vk_group_id)
    if settings.whatsapp_enabled:
        invites.add_whatsapp(settings.twilio_whatsapp_from)
    conversation = Conversation(
        program,
        conversations,
        Translator.load(settings.locale),
        flood=flood,
        flood_limit=settings.flood_max_messages,
        invites=invites,
    )

    probes: dict[str, Probe] = {"database": db.ping}
    if redis is not None:

        async def redis_ping() -> None:
            await redis.ping()

        probes["redis"] = redis_ping
    runtime = Runtime(
        settings=settings,
        db=db,
        redis=redis,
        program=program,
        conversations=conversations,
        updates=updates,
        conversation=conversation,
        notices=Notices(db, program.clock),
        web_app=build_web_app(probes),
    )
    if settings.telegram_enabled and settings.telegram_bot_token is not None:
        bot = create_bot(
            settings.telegram_bot_token.get_secret_value(), api_url=settings.telegram_api_url
        )
        runtime.telegram = TelegramChannel(
            bot, conversation, updates, webhook_secret=webhook_secret(settings)
        )
        runtime.telegram.register_webhook(runtime.web_app)
    if settings.vk_enabled and settings.vk_group_token and settings.vk_group_id is not None:
        runtime.vk = VkChannel(
            create_vk_api(settings.vk_group_token.get_secret_value(), api_url=settings.vk_api_url),
            conversation,
            updates,
            conversations,
            group_id=settings.vk_group_id,
            confirmation_code=settings.vk_confirmation_code,
            secret=settings.vk_secret.get_secret_value() if settings.vk_secret else "",
        )
        runtime.vk.register_webhook(runtime.web_app)
    if settings.whatsapp_enabled and settings.twilio_auth_token is not None:
        auth_token = settings.twilio_auth_token.get_secret_value()
        runtime.whatsapp = WhatsAppChannel(
            create_twilio_client(
                settings.twilio_account_sid, auth_token, api_url=settings.twilio_api_url
            ),
            conversation,
            updates,
            conversations,
            program.members,
            sender=settings.twilio_whatsapp_from,
            auth_token=auth_token,
            public_url=settings.public_url,
            # Every process must sign card links alike, and nobody without the token can.
            media_key=hashlib.sha256(f"whatsapp-media:{auth_token}".encode()).digest(),
            clock=program.clock,
        )
        runtime.whatsapp.register_webhook(runtime.web_app)
    return runtime


def console_channel(runtime: Runtime, *, user_id: str | None = None) -> ConsoleChannel:
    """The terminal's conversation; notices for its member are printed in it too."""
    runtime.console = ConsoleChannel(
        runtime.conversation,
        user_id=user_id or os.environ.get("LOYALTY_CONSOLE_USER") or getpass.getuser(),
        language_code=os.environ.get("LANG"),
        display_name=None,
        read_line=stdin_reader(sys.stdin),
        output=sys.stdout,
        images_dir=Path("data") / "console",
    )
    return runtime.console


@contextlib.asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = build_runtime(settings)
    try:
        yield runtime
    finally:
        await runtime.close()


def scheduled_jobs(runtime: Runtime) -> JobRunner:
    """Every scheduled job: the core's, and delivering notices, which needs the messengers
    and so is added here (the notices' leases keep it safe next to the live dispatcher)."""

    async def dispatch_notices() -> object:
        return await runtime.dispatch_notices(NOTICE_JOB_BATCH)

    return job_runner(runtime.program, [Job("dispatch_notices", Every.MINUTE, dispatch_notices)])
