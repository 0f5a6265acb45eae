"""Telegram through aiogram 3: channel.py (updates in, replies out, webhook or polling),
transport.py (the Bot and its retries), render.py (keyboards). Importing this package loads
no SDK: `PLUGIN.build` does, when Telegram is enabled."""

from __future__ import annotations

import hashlib

from bots.base import Channel, ChannelContext, ChannelSettings
from handlers.menus.invite import InviteLinks


def webhook_secret(settings: ChannelSettings) -> str:
    if settings.telegram_webhook_secret is not None:
        return settings.telegram_webhook_secret.get_secret_value()
    # Stable across processes and restarts, and unguessable without the bot token.
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    return hashlib.sha256(f"webhook:{token}".encode()).hexdigest()


class TelegramPlugin:
    name = "telegram"

    def enabled(self, settings: ChannelSettings) -> bool:
        return settings.telegram_enabled

    def add_invites(self, settings: ChannelSettings, invites: InviteLinks) -> None:
        # Else asked from Telegram (getMe) when the channel starts.
        if settings.telegram_bot_username:
            invites.add_telegram(settings.telegram_bot_username.lstrip("@"))

    def build(self, context: ChannelContext) -> Channel:
        from bots.telegram.channel import TelegramChannel
        from bots.telegram.membership import TelegramMembership
        from bots.telegram.transport import create_bot

        settings = context.settings
        assert settings.telegram_bot_token is not None
        bot = create_bot(
            settings.telegram_bot_token.get_secret_value(), api_url=settings.telegram_api_url
        )
        # Quests check channel subscriptions through Telegram itself.
        context.program.quests.add_membership("telegram", TelegramMembership(bot))
        return TelegramChannel(
            bot,
            context.conversation,
            context.updates,
            webhook_secret=webhook_secret(settings),
            webhook_url=settings.telegram_webhook_url,
            paid_broadcasts=settings.broadcast_telegram_paid,
        )


PLUGIN = TelegramPlugin()
