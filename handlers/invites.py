"""Personal referral links, one per connected messenger, built from the shop's addresses."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from handlers.signup import REFERRAL_PREFIX


@dataclass
class InviteLinks:
    """Link templates per channel, with `{payload}` where the referral payload goes.

    Filled by the composition root: it alone knows the bot's username (from Telegram at
    start-up), the VK community and the WhatsApp number."""

    templates: dict[str, str] = field(default_factory=dict)

    def add_telegram(self, bot_username: str) -> None:
        self.templates["telegram"] = f"https://t.me/{bot_username}?start={{payload}}"

    def add_vk(self, group_id: int) -> None:
        self.templates["vk"] = f"https://vk.me/club{group_id}?ref={{payload}}"

    def add_whatsapp(self, number: str) -> None:
        digits = "".join(char for char in number if char.isdigit())
        self.templates["whatsapp"] = f"https://wa.me/{digits}?text={{payload}}"

    def for_member(self, card_code: str) -> dict[str, str]:
        payload = quote(payload_for(card_code))
        return {
            channel: template.format(payload=payload)
            for channel, template in self.templates.items()
        }


def payload_for(card_code: str) -> str:
    return f"{REFERRAL_PREFIX}{card_code}"
