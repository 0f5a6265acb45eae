"""The channels the program knows: one line per channel. A plugin decides from the settings
whether it runs and builds its channel (and imports its SDK) only then."""

from __future__ import annotations

from bots import telegram, vk, whatsapp
from bots.base import ChannelPlugin

PLUGINS: tuple[ChannelPlugin, ...] = (
    telegram.PLUGIN,
    vk.PLUGIN,
    whatsapp.PLUGIN,
)
