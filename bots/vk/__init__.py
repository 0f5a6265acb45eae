"""VK through vk-api: channel.py (Callback API and Bots Long Poll in, messages.send out),
transport.py (the SDK's session, rate limit and threads), render.py (keyboards). Importing this
package loads no SDK: `PLUGIN.build` does, when VK is enabled."""

from __future__ import annotations

from bots.base import Channel, ChannelContext, ChannelSettings
from handlers.menus.invite import InviteLinks


class VkPlugin:
    name = "vk"

    def enabled(self, settings: ChannelSettings) -> bool:
        return settings.vk_enabled

    def add_invites(self, settings: ChannelSettings, invites: InviteLinks) -> None:
        if settings.vk_group_id is not None:
            invites.add_vk(settings.vk_group_id)

    def build(self, context: ChannelContext) -> Channel:
        from bots.vk.channel import VkChannel
        from bots.vk.transport import create_api

        settings = context.settings
        assert settings.vk_group_token is not None and settings.vk_group_id is not None
        return VkChannel(
            create_api(settings.vk_group_token.get_secret_value(), api_url=settings.vk_api_url),
            context.conversation,
            context.updates,
            context.store,
            group_id=settings.vk_group_id,
            confirmation_code=settings.vk_confirmation_code,
            secret=settings.vk_secret.get_secret_value() if settings.vk_secret else "",
            # Without a public URL VK cannot post to us: we ask it instead.
            long_poll=not settings.public_url,
        )


PLUGIN = VkPlugin()
