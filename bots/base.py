"""What every channel is to the rest of the program, and what it is built from.

A channel is a plugin: its package says from the settings whether it is enabled and builds
itself from a `ChannelContext`; the composition root lists the plugins once and otherwise only
talks to the `Channel` protocol (mount its routes, start it, stop it, send through it). Nothing
here imports a messenger SDK: a plugin imports its SDK inside `build`, so a process that runs no
messenger never loads one.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from bots.outbound import Delivery
from core.db.state import ConversationStore, UpdateLog
from core.program import LoyaltyProgram
from core.shared.clock import Clock
from core.shared.redaction import who as who  # a member in a channel's log lines
from handlers.conversation import Conversation
from handlers.menus.invite import InviteLinks
from handlers.messages import Image, Reply, StoredImage

if TYPE_CHECKING:
    from pydantic import SecretStr

# Starts a coroutine that must run as long as the process does (a long poll); the caller
# supervises it: if it ever ends, with an error or without, the process stops and says why.
Spawn = Callable[[str, Coroutine[Any, Any, None]], None]


class Channel(Protocol):
    """A messenger as the program sees it."""

    name: str

    def register_routes(self, app: web.Application) -> None:
        """Mount the channel's webhook (and any media it serves) on the one web app."""

    async def start(self, spawn: Spawn) -> None:
        """Begin receiving: set the webhook, or `spawn` the long poll."""

    async def stop(self) -> None:
        """Stop receiving (a long poll returns); sending still works until `close`."""

    async def close(self) -> None:
        """Release the SDK's connections and threads."""

    async def send_outbound(
        self, external_id: str, replies: list[Reply], *, key: str, wait_rate_limit: bool = True
    ) -> Delivery:
        """Send outside a conversation turn (see bots.outbound.Outbound)."""


class MediaLinks(Protocol):
    """Signed, expiring links to media a platform fetches from us (WhatsApp's card QR, images
    and documents it cannot take as attachments). Served by the web app, which the channel
    does not import: the composition root hands one in."""

    def mount(self, app: web.Application) -> None: ...

    async def card_path(self, member_id: int) -> str:
        """The member's current card QR (an old link stops working when the card changes)."""

    async def image_path(self, image: Image) -> str:
        """This very image, kept for as long as its link lives."""

    def stored_image_path(self, image: StoredImage) -> str:
        """An image the database keeps (a broadcast's), served from there by any process for
        as long as it is kept: the link names it by its content's digest, so it cannot be
        guessed without the bytes."""

    async def export_path(self, member_id: int) -> str:
        """The member's data export, made when the link is fetched (nothing personal is kept
        for the link: after erasure it serves what is left, which is nothing personal)."""

    async def token(self, subject: str, expires: int, *, kind: str) -> str: ...


class ChannelSettings(Protocol):
    """The settings a channel plugin reads (app.settings.Settings has them all; bots may not
    import app)."""

    public_url: str
    telegram_bot_token: SecretStr | None
    telegram_api_url: str
    telegram_bot_username: str
    telegram_webhook_secret: SecretStr | None
    vk_group_token: SecretStr | None
    vk_group_id: int | None
    vk_confirmation_code: str
    vk_secret: SecretStr | None
    vk_api_url: str
    twilio_account_sid: str
    twilio_auth_token: SecretStr | None
    twilio_whatsapp_from: str
    twilio_api_url: str
    broadcast_telegram_paid: bool

    @property
    def telegram_enabled(self) -> bool: ...

    @property
    def vk_enabled(self) -> bool: ...

    @property
    def whatsapp_enabled(self) -> bool: ...

    @property
    def telegram_webhook_url(self) -> str | None: ...

    @property
    def trusted_proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """The peers whose X-Forwarded-Proto and X-Forwarded-Host are believed."""


@dataclass(frozen=True)
class ChannelContext:
    """What a plugin builds its channel from."""

    settings: ChannelSettings
    conversation: Conversation
    updates: UpdateLog
    # The shared key-value store (Redis, or in-process on the embedded default), with the
    # conversations' lifetime; `expiring` gives one whose entries live `ttl_seconds`.
    store: ConversationStore
    expiring: Callable[[int], ConversationStore]
    program: LoyaltyProgram
    clock: Clock
    # Builds the web app's signed-media service for a channel's namespace (signed with the
    # installation's own key, which the composition root provides).
    media: Callable[[str], MediaLinks]


class ChannelPlugin(Protocol):
    name: str

    def enabled(self, settings: ChannelSettings) -> bool: ...

    def add_invites(self, settings: ChannelSettings, invites: InviteLinks) -> None:
        """Members' referral links into this channel, when the settings tell its address."""

    def build(self, context: ChannelContext) -> Channel: ...
