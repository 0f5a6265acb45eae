"""Inviting friends: personal referral links, one per connected messenger, and the invite screen."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from core.members.accounts import IdentityKey
from core.program import LoyaltyProgram
from core.shared import qr
from handlers import actions
from handlers.flows.signup import REFERRAL_PREFIX
from handlers.messages import Image, Reply
from handlers.render.views import RULES_SHOWN_MAX_AGE, Views
from handlers.routing import Router, Turn


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

    def for_member(self, referral_code: str) -> dict[str, str]:
        payload = quote(payload_for(referral_code))
        return {
            channel: template.format(payload=payload)
            for channel, template in self.templates.items()
        }


def payload_for(referral_code: str) -> str:
    """What an invite carries: the member's referral code, never the card (a till credential)."""
    return f"{REFERRAL_PREFIX}{referral_code}"


class InviteMenu:
    """Invite friends: the member's links per messenger, the code, progress, and a QR."""

    def __init__(self, program: LoyaltyProgram, views: Views, links: InviteLinks) -> None:
        self._program = program
        self._views = views
        self._links = links

    def register(self, router: Router) -> None:
        router.route(actions.Invite, self.invite)
        router.words(actions.Invite(), "menu-invite", "words-invite")
        router.command("invite", actions.Invite())

    async def invite(self, turn: Turn, _action: actions.Invite) -> list[Reply]:
        member = turn.member
        language = member.language
        t = self._views.t
        points = self._views.texts.points
        rules = await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)
        progress = await self._program.referrals.progress(member.id)
        links = self._links.for_member(member.referral_code)
        lines = [
            t(
                language,
                "invite-intro",
                program=rules.program_name,
                qualifies=t(language, f"invite-qualifies-{rules.referral_qualifies_on}"),
                referrer_bonus=points(language, rules.referral_referrer_bonus),
                friend_bonus=points(language, rules.referral_friend_bonus),
            ),
        ]
        if links:
            lines.append(t(language, "invite-links"))
            lines.extend(
                t(
                    language,
                    "invite-link-line",
                    channel=self._views.channel(language, IdentityKey(channel, "")),
                    link=link,
                )
                for channel, link in links.items()
            )
        lines.append(t(language, "invite-code", code=payload_for(member.referral_code)))
        lines.append(
            t(
                language,
                "invite-progress",
                joined=progress.joined,
                rewarded=progress.rewarded,
                points=points(language, progress.points_earned),
            )
        )
        shared = links.get(turn.message.channel) or payload_for(member.referral_code)
        return [
            Reply(
                text="\n".join(lines),
                image=Image(png=qr.png(shared), filename="invite.png"),
            )
        ]
