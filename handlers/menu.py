"""What a member who has joined can do from the main menu."""

from __future__ import annotations

import json

from core.members.accounts import IdentityKey, IdentityNotLinked, LastIdentity, Profile
from core.members.linking import CODE_TTL
from core.program import LoyaltyProgram
from core.shared import qr
from handlers import views
from handlers.coupons import CouponsMenu
from handlers.invites import InviteLinks, payload_for
from handlers.messages import Button, Document, Image, Incoming, Reply
from handlers.views import RULES_SHOWN_MAX_AGE, Views, tail

HISTORY_PAGE_SIZE = 5


class MemberMenu:
    def __init__(self, program: LoyaltyProgram, views: Views, invites: InviteLinks) -> None:
        self._program = program
        self._views = views
        self._invites = invites
        self._coupons = CouponsMenu(program, views)

    async def handle(self, message: Incoming, member: Profile, action: str | None) -> list[Reply]:
        language = member.language
        t = self._views.t
        if action == "start":
            rules = await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)
            text = t(
                language,
                "menu-welcome-back",
                program=rules.program_name,
                points=self._views.texts.points(language, member.balance),
            )
            return [self._views.main_menu(language, member, text)]
        if action == "menu":
            return [self._views.main_menu(language, member, t(language, "menu-prompt"))]
        if action == views.BALANCE:
            rules = await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)
            tier = await self._program.tiers.status(member.id, rules) if rules.tiers else None
            # Only a program whose points expire pays for the extra query on every Balance.
            expiring = (
                await self._program.expiry.upcoming(member.id)
                if rules.points_ttl_days and member.balance
                else None
            )
            return [Reply(text=self._views.balance(language, member, rules, tier, expiring))]
        if action == views.HISTORY or (action or "").startswith(views.HISTORY_PAGE):
            return [await self._history(member, action or "")]
        if action == views.CARD:
            return [self._card(member)]
        if action == views.LANGUAGE:
            return [
                self._views.language_picker(
                    language, t(language, "language-choose"), with_time_zone=True
                )
            ]
        if action == views.TIME_ZONE:
            return [await self._time_zone_picker(member)]
        if action and action.startswith(views.CHOOSE_TIME_ZONE):
            zone = action.removeprefix(views.CHOOSE_TIME_ZONE)
            return [await self._set_time_zone(member, zone)]
        if action and action.startswith(views.CHOOSE_LANGUAGE):
            return [await self._set_language(member, action.removeprefix(views.CHOOSE_LANGUAGE))]
        if action == views.HELP:
            rules = await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)
            text = t(
                language,
                "help",
                program=rules.program_name,
                rules=self._views.rules(language, rules, now=self._program.clock.now()),
            )
            return [Reply(text=text)]
        if action == views.LINK:
            return [await self._messengers(message, member)]
        if action and action.startswith(views.UNLINK):
            return [await self._unlink(message, member, action.removeprefix(views.UNLINK))]
        if action == views.INVITE:
            return [await self._invite(message, member)]
        if action in (views.COUPONS, views.REWARDS) or (action or "").startswith(
            (views.REWARD, views.REWARDS_PAGE)
        ):
            return await self._coupons.handle(member, action or "")
        if action == views.PRIVACY:
            return [self._privacy(language)]
        if action == views.EXPORT:
            data = await self._program.members.export(member.id)
            content = json.dumps(data, ensure_ascii=False, indent=2).encode()
            document = Document(content=content, filename=f"my-data-{member.card_code}.json")
            return [Reply(text=t(language, "privacy-export"), document=document)]
        if action == views.ERASE:
            return [
                Reply(
                    text=t(
                        language,
                        "privacy-erase-confirm",
                        points=self._views.texts.points(language, member.balance),
                    ),
                    buttons=(
                        (Button(t(language, "privacy-erase-yes"), views.ERASE_CONFIRMED),),
                        (Button(t(language, "privacy-erase-no"), "menu"),),
                    ),
                )
            ]
        if action == views.ERASE_CONFIRMED:
            await self._program.members.erase(member.id)
            return [Reply(text=t(language, "privacy-erased"), remove_menu=True)]
        if action == views.LINK_CODE:
            issued = await self._program.linking.issue(member.id)
            minutes = int(CODE_TTL.total_seconds() // 60)
            return [Reply(text=t(language, "link-code", code=issued.display, minutes=minutes))]
        if action in (views.MARKETING_ON, views.MARKETING_OFF):
            opt_in = action == views.MARKETING_ON
            member = await self._program.members.set_marketing(
                member.id, opt_in=opt_in, channel=message.channel
            )
            key = "marketing-on" if opt_in else "marketing-off"
            return [self._views.main_menu(language, member, t(language, key))]
        return [self._views.main_menu(language, member, t(language, "menu-unknown"))]

    async def _history(self, member: Profile, action: str) -> Reply:
        page_text = action.removeprefix(views.HISTORY_PAGE)
        page = int(page_text) if page_text.isdigit() else 1
        history = await self._program.ledger.history(
            member.id, page=page, page_size=HISTORY_PAGE_SIZE
        )
        return self._views.history(
            member.language, history, replaces_origin=action.startswith(views.HISTORY_PAGE)
        )

    async def _messengers(self, message: Incoming, member: Profile, notice: str = "") -> Reply:
        identities = await self._program.members.identities(member.id)
        current = IdentityKey(message.channel, message.user_id)
        return self._views.messengers(
            member.language, member.card_code, identities, current, notice=notice
        )

    async def _unlink(self, message: Incoming, member: Profile, target: str) -> Reply:
        language = member.language
        channel, _, external_id = target.partition(":")
        identity = IdentityKey(channel, external_id)
        if identity == IdentityKey(message.channel, message.user_id):
            # Unlinking the account one is writing from would strand this very chat.
            return await self._messengers(message, member)
        try:
            await self._program.members.unlink(member.id, identity)
        except LastIdentity:
            notice = self._views.t(language, "messengers-last")
        except IdentityNotLinked:
            notice = self._views.t(language, "messengers-not-found")
        else:
            notice = self._views.t(
                language,
                "messengers-unlinked",
                channel=self._views.channel(language, identity),
                tail=tail(identity),
            )
        return await self._messengers(message, member, notice)

    async def _invite(self, message: Incoming, member: Profile) -> Reply:
        language = member.language
        t = self._views.t
        points = self._views.texts.points
        rules = await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)
        progress = await self._program.referrals.progress(member.id)
        links = self._invites.for_member(member.card_code)
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
        lines.append(t(language, "invite-code", code=payload_for(member.card_code)))
        lines.append(
            t(
                language,
                "invite-progress",
                joined=progress.joined,
                rewarded=progress.rewarded,
                points=points(language, progress.points_earned),
            )
        )
        shared = links.get(message.channel) or payload_for(member.card_code)
        return Reply(
            text="\n".join(lines),
            image=Image(png=qr.png(shared), filename=f"invite-{member.card_code}.png"),
        )

    def _privacy(self, language: str) -> Reply:
        t = self._views.t
        return Reply(
            text=t(language, "privacy-info"),
            buttons=(
                (Button(t(language, "privacy-export-button"), views.EXPORT),),
                (Button(t(language, "privacy-erase-button"), views.ERASE),),
            ),
        )

    def _card(self, member: Profile) -> Reply:
        return Reply(
            text=self._views.card_caption(member.language, member.card_code),
            image=Image(
                png=qr.png(member.card_code),
                filename=f"card-{member.card_code}.png",
                is_card=True,
            ),
        )

    async def _time_zone_picker(self, member: Profile) -> Reply:
        rules = await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)
        current = member.time_zone or rules.time_zone
        return self._views.time_zone_picker(member.language, current, self._program.clock.now())

    async def _set_time_zone(self, member: Profile, zone: str) -> Reply:
        if zone not in views.TIME_ZONES:
            return await self._time_zone_picker(member)
        member = await self._program.members.set_time_zone(member.id, zone)
        name = self._views.time_zone_name(member.language, zone, self._program.clock.now())
        text = self._views.t(member.language, "time-zone-changed", zone=name)
        return self._views.main_menu(member.language, member, text)

    async def _set_language(self, member: Profile, language: str) -> Reply:
        if language not in self._views.texts.languages:
            return self._views.language_picker(
                member.language, self._views.t(member.language, "language-choose")
            )
        member = await self._program.members.set_language(member.id, language)
        return self._views.main_menu(language, member, self._views.t(language, "language-changed"))
