"""The composition root: builds every layer of the program from its settings."""

from __future__ import annotations

import contextlib
import getpass
import inspect
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from aiohttp import web
from redis.asyncio import Redis

from app import broadcast_sending, jobs
from app.channels import PLUGINS
from app.settings import Settings
from bots.base import Channel, ChannelContext, MediaLinks
from bots.console import ConsoleChannel, stdin_reader
from bots.dispatch import DispatchReport, NoticeDispatcher
from bots.outbound import Outbound
from core.broadcasts.engine import BroadcastEngine, RunReport
from core.db.database import Database
from core.db.failures import is_infrastructure_failure
from core.db.installation import installation_secret
from core.db.rates import MemoryRateLimiter, RateLimiter, RedisRateLimiter
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
from core.jobs import JobRunner
from core.notices.outbox import Notices
from core.program import LoyaltyProgram
from core.shared.clock import Clock
from core.shared.redaction import use_key
from handlers.conversation import Conversation
from handlers.menus.invite import InviteLinks
from handlers.render.i18n import Translator
from web.app import Probe, build_web_app
from web.contests.pages import ContestPages
from web.media import LIFETIME, MEDIA_KEY, SignedMedia
from workers.kicks import SEND_BROADCAST

# The installation secret that keys the hash standing for a member in logs.
LOG_KEY = "log_identity_key"

if TYPE_CHECKING:
    # Only for the types of the properties below: importing them would load the SDKs.
    from bots.telegram.channel import TelegramChannel
    from bots.vk.channel import VkChannel
    from bots.whatsapp.channel import WhatsAppChannel

log = logging.getLogger("loyalty")
CONSOLE = "console"


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
    # Broadcast send rates: in Redis (every worker's) or this process's.
    limiter: RateLimiter = field(default_factory=MemoryRateLimiter)
    # Every channel that runs, by the name identities carry ("telegram", "vk" ...); the
    # console joins while `run`/`chat` shows the terminal's member.
    channels: dict[str, Channel] = field(default_factory=dict)
    web_app: web.Application = field(default_factory=web.Application)
    terminal: ConsoleChannel | None = None

    # Typed views of the registry, for tests and operators' scripts.
    @property
    def telegram(self) -> TelegramChannel | None:
        return cast("TelegramChannel | None", self.channels.get("telegram"))

    @telegram.setter
    def telegram(self, channel: TelegramChannel | None) -> None:
        self._put("telegram", channel)

    @property
    def vk(self) -> VkChannel | None:
        return cast("VkChannel | None", self.channels.get("vk"))

    @vk.setter
    def vk(self, channel: VkChannel | None) -> None:
        self._put("vk", channel)

    @property
    def whatsapp(self) -> WhatsAppChannel | None:
        return cast("WhatsAppChannel | None", self.channels.get("whatsapp"))

    @whatsapp.setter
    def whatsapp(self, channel: WhatsAppChannel | None) -> None:
        self._put("whatsapp", channel)

    @property
    def console(self) -> ConsoleChannel | None:
        return self.terminal

    @console.setter
    def console(self, channel: ConsoleChannel | None) -> None:
        self.terminal = channel

    def _put(self, name: str, channel: Channel | None) -> None:
        if channel is None:
            self.channels.pop(name, None)
        else:
            self.channels[name] = channel

    @property
    def has_messenger(self) -> bool:
        return bool(self.channels)

    def outbound_channels(self) -> dict[str, Outbound]:
        """The channels that can reach a member now, by the name identities carry."""
        reachable: dict[str, Outbound] = dict(self.channels)
        if self.terminal is not None:
            reachable[CONSOLE] = self.terminal
        return reachable

    @property
    def dispatcher(self) -> NoticeDispatcher:
        return NoticeDispatcher(
            self.notices,
            self.program.rules,
            self.conversation.texts,
            self.outbound_channels,
        )

    async def dispatch_notices(self, limit: int = jobs.NOTICE_JOB_BATCH) -> DispatchReport:
        """Deliver up to `limit` pending notices (points earned, coupons, reminders ...)."""
        return await self.dispatcher.dispatch(limit)

    @property
    def broadcast_engine(self) -> BroadcastEngine:
        return broadcast_sending.engine(
            self.settings,
            self.program,
            self.outbound_channels,
            self.conversation.texts,
            self.limiter,
        )

    async def send_broadcasts(self) -> RunReport:
        """Work every due broadcast until nobody can be sent to now (see BroadcastEngine)."""
        return await self.broadcast_engine.run_due()

    async def hash_members_with_the_installation_key(self) -> None:
        """Members appear in this process's log under the installation's own keyed hash
        (core.shared.redaction): the same in every process and after every restart. Every
        process calls this at start-up, before it serves. A process that starts while the
        database is out of reach (a worker may) keeps a key of its own rather than not start."""
        try:
            use_key(await installation_secret(self.db, LOG_KEY))
        except Exception as error:
            if not is_infrastructure_failure(error):
                raise
            log.warning(
                "members in this process's log are hashed with a key of its own: the "
                "database was out of reach at start-up (%s)",
                type(error).__name__,
            )

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
        if self.redis is not None:
            await self.redis.aclose()
        # Closing the database first lets the games hear what was handed off to them.
        await self.db.close()


def build_runtime(settings: Settings, *, clock: Clock | None = None) -> Runtime:
    db = Database.from_url(settings.database_url, pool_size=settings.database_pool_size)
    redis = (
        Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout_seconds,
            socket_connect_timeout=settings.redis_timeout_seconds,
        )
        if settings.redis_url
        else None
    )
    conversations: ConversationStore
    updates: UpdateLog
    if redis is not None:
        conversations = RedisConversationStore(redis, settings.conversation_ttl_seconds)
        updates = RedisUpdateLog(
            redis,
            settings.update_dedupe_ttl_seconds,
            claim_ttl_seconds=settings.update_claim_seconds,
        )
        flood: FloodGate = RedisFloodGate(redis, settings.flood_window_seconds)
    else:
        conversations = MemoryConversationStore(settings.conversation_ttl_seconds)
        updates = MemoryUpdateLog(
            settings.update_dedupe_ttl_seconds, claim_ttl_seconds=settings.update_claim_seconds
        )
        flood = MemoryFloodGate(settings.flood_window_seconds)

    def expiring(ttl_seconds: int) -> ConversationStore:
        if redis is not None:
            return RedisConversationStore(redis, ttl_seconds)
        return MemoryConversationStore(ttl_seconds)

    program = LoyaltyProgram.build(db, clock)
    enabled = [plugin for plugin in PLUGINS if plugin.enabled(settings)]
    invites = InviteLinks()
    for plugin in enabled:
        plugin.add_invites(settings, invites)
    conversation = Conversation(
        program,
        conversations,
        Translator.load(settings.locale),
        flood=flood,
        flood_limit=settings.flood_max_messages,
        invites=invites,
    )

    async def media_key() -> bytes:
        # The installation's own: every process signs alike, and no platform credential can.
        return await installation_secret(db, MEDIA_KEY)

    def media(namespace: str) -> MediaLinks:
        # Kept no longer than the links that name it.
        store = expiring(int(LIFETIME.total_seconds()))
        return SignedMedia(namespace, media_key, clock=program.clock, store=store, program=program)

    context = ChannelContext(
        settings=settings,
        conversation=conversation,
        updates=updates,
        store=conversations,
        expiring=expiring,
        program=program,
        clock=program.clock,
        media=media,
    )
    channels = {plugin.name: plugin.build(context) for plugin in enabled}

    probes: dict[str, Probe] = {"database": db.ping}
    if redis is not None:

        async def redis_ping() -> None:
            # redis-py types ping() for its sync and async clients at once.
            pong = redis.ping()
            if inspect.isawaitable(pong):
                await pong

        probes["redis"] = redis_ping
    return Runtime(
        settings=settings,
        db=db,
        redis=redis,
        program=program,
        conversations=conversations,
        updates=updates,
        conversation=conversation,
        notices=Notices(db, program.clock),
        limiter=RedisRateLimiter(redis) if redis is not None else MemoryRateLimiter(),
        channels=channels,
        web_app=build_web_app(
            probes, [*channels.values(), ContestPages(program, conversation.texts)]
        ),
    )


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
        await runtime.hash_members_with_the_installation_key()
        yield runtime
    finally:
        await runtime.close()


def worker_tasks(runtime: Runtime) -> dict[str, Callable[..., Awaitable[object]]]:
    """The work a worker takes when it is sent (workers/kicks.py), beside the scheduled jobs."""

    async def send_broadcast(broadcast_id: int) -> str:
        report = await runtime.broadcast_engine.run(broadcast_id)
        return f"sent {report.sent}, skipped {report.skipped}, failed {report.failed}"

    return {SEND_BROADCAST: send_broadcast}


def scheduled_jobs(runtime: Runtime) -> JobRunner:
    """Every scheduled job (app/jobs.py), delivering notices through this runtime's channels."""
    return jobs.scheduled_jobs(runtime.program, runtime.dispatch_notices, runtime.send_broadcasts)
