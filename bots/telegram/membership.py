"""Whether a Telegram account is in a channel, as Telegram says (getChatMember): the
quests' channel-subscription step asks this, never the member."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import AiogramError

from core.games.quests.membership import Membership
from core.shared.redaction import who

log = logging.getLogger("bots.telegram")

SUBSCRIBED = {"creator", "administrator", "member"}


class TelegramMembership:
    """The quests context's `ChannelMembership` port, on the bot's own Bot API client. The
    bot must be an administrator of the channel (Telegram answers others only for admins)."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def membership(self, chat: str, external_id: str) -> Membership:
        try:
            user_id = int(external_id)
        except ValueError:
            return Membership.NOT_MEMBER
        chat_id: int | str = int(chat) if chat.lstrip("-").isdigit() else chat
        try:
            member = await self._bot.get_chat_member(chat_id=chat_id, user_id=user_id)
        except AiogramError as error:
            # Not an admin of the channel, a channel that does not exist, an outage: unknown,
            # so the member is asked to try later rather than told they are not subscribed.
            log.warning(
                "telegram: getChatMember for %s failed: %s", who("telegram", user_id), error
            )
            return Membership.UNKNOWN
        status = str(member.status.value if hasattr(member.status, "value") else member.status)
        if status in SUBSCRIBED or (status == "restricted" and getattr(member, "is_member", False)):
            return Membership.MEMBER
        return Membership.NOT_MEMBER
