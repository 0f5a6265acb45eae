"""WhatsApp through Twilio: channel.py (webhook in, replies out), transport.py (the twilio
client, sends and refusals), render.py (bodies and numbered choices). Importing this package
loads no SDK: `PLUGIN.build` does, when WhatsApp is enabled."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bots.base import Channel, ChannelContext, ChannelSettings
from handlers.menus.invite import InviteLinks

if TYPE_CHECKING:
    from bots.whatsapp.channel import WhatsAppChannel


class WhatsAppPlugin:
    name = "whatsapp"

    def enabled(self, settings: ChannelSettings) -> bool:
        return settings.whatsapp_enabled

    def add_invites(self, settings: ChannelSettings, invites: InviteLinks) -> None:
        invites.add_whatsapp(settings.twilio_whatsapp_from)

    def build(self, context: ChannelContext) -> Channel:
        return self.build_channel(context)

    def build_channel(self, context: ChannelContext) -> WhatsAppChannel:
        from bots.whatsapp.channel import WhatsAppChannel
        from bots.whatsapp.transport import create_client

        settings = context.settings
        assert settings.twilio_auth_token is not None
        auth_token = settings.twilio_auth_token.get_secret_value()
        return WhatsAppChannel(
            create_client(settings.twilio_account_sid, auth_token, api_url=settings.twilio_api_url),
            context.conversation,
            context.updates,
            context.store,
            context.program.members,
            account_sid=settings.twilio_account_sid,
            sender=settings.twilio_whatsapp_from,
            auth_token=auth_token,
            public_url=settings.public_url,
            media=context.media(self.name),
            clock=context.clock,
            trusted_proxies=settings.trusted_proxy_networks,
        )


PLUGIN = WhatsAppPlugin()
