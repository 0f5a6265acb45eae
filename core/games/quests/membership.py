"""Whether a member is subscribed to a messenger channel, as the messenger says: a port the
bot layer implements (Telegram: getChatMember), so the core knows no SDK."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Membership(StrEnum):
    MEMBER = "member"  # subscribed (also an admin or the owner)
    NOT_MEMBER = "not_member"  # left, kicked, or never joined
    UNKNOWN = "unknown"  # the messenger could not tell (the bot is not in the channel, an outage)


class ChannelMembership(Protocol):
    """One messenger's answer to "is this account in that channel?"."""

    async def membership(self, chat: str, external_id: str) -> Membership: ...
