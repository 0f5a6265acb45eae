"""The member's profile: phone, birthday, language, time zone and offers, after joining.

Phone and birthday moved here from sign-up. A phone is either vouched for by the messenger
(one's own Telegram contact, WhatsApp's sender number) or typed (never vouched for: it can
neither find nor link a card). When a vouched-for number already belongs to another card
(a card opened on another messenger, or at the till with that number), the member is offered
to make the two one, never without a yes. A birthday is given once (core.birthdays: nothing in
the chat changes it later, so the birthday bonus cannot be moved around the calendar).
While a profile quest applies, the screen shows what is still missing and what it earns.

What the member types after "Phone" or "Birthday" is read as the answer for a while
(`ANSWER_WITHIN`): the question is kept in the flow store under the member, so another process
reads it as well; a button, a menu word or a command always means what it says.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from core.db.state import ConversationStore
from core.games.quests.errors import QuestRefused
from core.members.accounts import BirthdayAlreadyGiven, IdentityKey, Profile
from core.program import LoyaltyProgram
from core.rules.book import ProgramRules
from core.shared.cards import display
from handlers import actions
from handlers.flows.base import FlowStore
from handlers.messages import Button, Layout, Reply
from handlers.render.parsing import BirthdayError, parse_birthday, parse_phone
from handlers.render.profile_quest import fields_text, profile_quest_offer, reward_text
from handlers.render.views import RULES_SHOWN_MAX_AGE, Views, button
from handlers.routing import Router, Turn

FLOW = "profile"
# A question older than this is forgotten: what the member types later is ordinary text.
ANSWER_WITHIN = timedelta(minutes=30)
PHONE, BIRTHDAY, LINK = "phone", "birthday", "link"


class ProfileMenu:
    def __init__(self, program: LoyaltyProgram, store: ConversationStore, views: Views) -> None:
        self._program = program
        self._store = FlowStore(store, FLOW)
        self._views = views

    def register(self, router: Router) -> None:
        router.route(actions.Profile, self.profile)
        router.route(actions.ProfilePhone, self.ask_phone)
        router.route(actions.SharePhone, self.type_phone)
        router.route(actions.ProfilePhoneOwn, self.own_phone)
        router.route(actions.ProfileBirthday, self.ask_birthday)
        router.route(actions.ProfileCancel, self.cancel)
        router.route(actions.ProfileLink, self.link)
        router.route(actions.ProfileKeep, self.keep)
        router.words(actions.Profile(), "menu-profile", "words-profile")
        router.words(actions.ProfileCancel(), "profile-cancel")
        router.command("profile", actions.Profile())

    # ------------------------------------------------------------------ the profile screen
    async def profile(self, turn: Turn, _action: actions.Profile) -> list[Reply]:
        return [await self.screen(turn.member)]

    async def screen(self, member: Profile, notice: str = "") -> Reply:
        language = member.language
        t = self._views.t
        texts = self._views.texts
        rules = await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)
        lines = [notice] if notice else []
        lines.append(t(language, "profile-title"))
        if member.phone is None:
            lines.append(t(language, "profile-phone-none"))
        else:
            key = "profile-phone-verified-line" if member.phone_verified else "profile-phone-line"
            lines.append(t(language, key, phone=member.phone))
        if member.birthday is None:
            lines.append(t(language, "profile-birthday-none"))
        else:
            date = texts.date(language, member.birthday, style="long")
            lines.append(t(language, "profile-birthday-line", date=date))
        zone = member.time_zone or rules.time_zone
        lines.append(
            t(
                language,
                "profile-language-line",
                language=t(language, "language-name"),
                zone=self._views.time_zone_name(language, zone, self._program.clock.now()),
            )
        )
        lines.append(
            t(language, "profile-offers-on" if member.marketing_opt_in else "profile-offers-off")
        )
        quest = await self._quest_line(member)
        if quest:
            lines.append(quest)
        gift = self._birthday_gift(language, member, rules)
        if gift:
            lines.append(gift)
        first_row = [button(t(language, "profile-phone-button"), actions.ProfilePhone())]
        if member.birthday is None:
            first_row.append(
                button(t(language, "profile-birthday-button"), actions.ProfileBirthday())
            )
        offers = (
            button(t(language, "menu-marketing-off"), actions.MarketingOff())
            if member.marketing_opt_in
            else button(t(language, "menu-marketing-on"), actions.MarketingOn())
        )
        return Reply(
            text="\n".join(lines),
            buttons=(
                tuple(first_row),
                (
                    button(t(language, "menu-language"), actions.Language()),
                    button(t(language, "menu-timezone"), actions.TimeZone()),
                ),
                (offers,),
            ),
        )

    async def _with_quest(self, member: Profile, saved: str) -> str:
        """What was saved, and what the profile quest still wants, if anything."""
        quest = await self._quest_line(member)
        return f"{saved}\n{quest}" if quest else saved

    async def _quest_line(self, member: Profile) -> str:
        """The profile quest's progress and reward, while it is still to complete. A profile
        that was full before the quest began is counted now, by the member's opening it
        (the quest pays once, and its completion notice tells them)."""
        offer = await profile_quest_offer(self._program, member)
        if offer is None:
            return ""
        if not offer.missing:
            with contextlib.suppress(QuestRefused):  # it ended in between
                await self._program.quests.join(member.id, offer.view.quest.id)
            return ""
        language = member.language
        definition = offer.view.quest.definition
        return self._views.t(
            language,
            "profile-quest",
            quest=definition.title.get(language),
            done=len(offer.fields) - len(offer.missing),
            count=len(offer.fields),
            fields=fields_text(self._views, language, offer.missing),
            reward=reward_text(self._views, language, definition.reward),
        )

    def _birthday_gift(self, language: str, member: Profile, rules: ProgramRules) -> str:
        gift = rules.birthday_points(None)  # the base tier's: what a new card gets
        if member.birthday is not None or gift <= 0:
            return ""
        points = self._views.texts.points(language, gift)
        return self._views.t(language, "profile-birthday-gift", points=points)

    # ------------------------------------------------------------------ phone
    async def ask_phone(self, turn: Turn, _action: actions.ProfilePhone) -> list[Reply]:
        await self._expect(turn.member, PHONE)
        return [self._phone_prompt(turn, "profile-phone-ask")]

    async def type_phone(self, turn: Turn, _action: actions.SharePhone) -> list[Reply]:
        # A channel without a contact button (VK) sends the button's action instead.
        await self._expect(turn.member, PHONE)
        return [self._phone_prompt(turn, "profile-phone-type")]

    async def own_phone(self, turn: Turn, _action: actions.ProfilePhoneOwn) -> list[Reply]:
        vouched = turn.message.verified_phone
        phone = parse_phone(vouched) if vouched else None
        if phone is None:
            return await self.ask_phone(turn, actions.ProfilePhone())
        return await self._save_phone(turn, phone, verified=True)

    async def contact(self, turn: Turn) -> list[Reply]:
        """A contact shared by a member (Telegram's button): their own number, vouched for."""
        contact = turn.message.contact
        assert contact is not None
        if not contact.is_own:
            await self._expect(turn.member, PHONE)
            return [self._phone_prompt(turn, "profile-phone-not-own")]
        phone = parse_phone(contact.phone)
        if phone is None:
            await self._expect(turn.member, PHONE)
            return [self._phone_prompt(turn, "profile-phone-invalid")]
        return await self._save_phone(turn, phone, verified=True)

    def _phone_prompt(self, turn: Turn, key: str) -> Reply:
        language = turn.member.language
        t = self._views.t
        rows: list[tuple[Button, ...]] = [
            (
                button(
                    t(language, "profile-phone-share"), actions.SharePhone(), request_contact=True
                ),
            )
        ]
        vouched = turn.message.verified_phone
        phone = parse_phone(vouched) if vouched else None
        if phone is not None:
            rows.append(
                (button(t(language, "profile-phone-own", phone=phone), actions.ProfilePhoneOwn()),)
            )
        rows.append((button(t(language, "profile-cancel"), actions.ProfileCancel()),))
        return Reply(text=t(language, key), layout=Layout.MENU, buttons=tuple(rows))

    async def _save_phone(self, turn: Turn, phone: str, *, verified: bool) -> list[Reply]:
        member = await self._program.members.set_phone(turn.member.id, phone, verified=verified)
        language = member.language
        saved = self._views.t(language, "profile-phone-saved", phone=phone)
        holder = (
            await self._program.linking.card_of_verified_phone(member.id, phone)
            if member.phone_verified
            else None
        )
        if holder is None:
            await self._store.clear(member.id)
            return [self._views.main_menu(language, member, await self._with_quest(member, saved))]
        await self._expect(member, LINK, phone=phone)
        t = self._views.t
        return [
            self._views.main_menu(language, member, saved),
            Reply(
                text=t(language, "profile-phone-card", card=display(holder.card_code)),
                buttons=(
                    (button(t(language, "profile-phone-card-link"), actions.ProfileLink()),),
                    (button(t(language, "profile-phone-card-keep"), actions.ProfileKeep()),),
                ),
            ),
        ]

    async def link(self, turn: Turn, _action: actions.ProfileLink) -> list[Reply]:
        member = turn.member
        asked = await self._asked(member, LINK)
        phone = asked.get("phone") if asked else None
        # Only the number this member's messenger vouched for, and only while it still is.
        if not (isinstance(phone, str) and member.phone == phone and member.phone_verified):
            return [self._views.main_menu(member.language, member, self._button_gone(member))]
        if await self._program.linking.card_of_verified_phone(member.id, phone) is None:
            await self._store.clear(member.id)
            return [self._views.main_menu(member.language, member, self._button_gone(member))]
        identity = IdentityKey(turn.message.channel, turn.message.user_id)
        linked = await self._program.linking.merge_by_verified_phone(identity, phone)
        await self._store.clear(member.id)
        survivor = linked.member
        language = survivor.language
        text = self._views.t(
            language,
            "link-merged",
            card=display(survivor.card_code),
            moved=self._views.texts.points(language, linked.points_moved),
            points=self._views.texts.points(language, survivor.balance),
        )
        return [self._views.main_menu(language, survivor, text)]

    async def keep(self, turn: Turn, _action: actions.ProfileKeep) -> list[Reply]:
        await self._store.clear(turn.member.id)
        language = turn.member.language
        text = self._views.t(language, "profile-phone-kept")
        return [self._views.main_menu(language, turn.member, text)]

    def _button_gone(self, member: Profile) -> str:
        return self._views.t(member.language, "button-invalid")

    # ------------------------------------------------------------------ birthday
    async def ask_birthday(self, turn: Turn, _action: actions.ProfileBirthday) -> list[Reply]:
        member = turn.member
        language = member.language
        if member.birthday is not None:
            return [await self.screen(member, self._birthday_given(member))]
        await self._expect(member, BIRTHDAY)
        return [self._birthday_prompt(language, "profile-birthday-ask")]

    def _birthday_given(self, member: Profile) -> str:
        assert member.birthday is not None
        date = self._views.texts.date(member.language, member.birthday, style="long")
        return self._views.t(member.language, "profile-birthday-given", date=date)

    def _birthday_prompt(self, language: str, key: str) -> Reply:
        t = self._views.t
        cancel = button(t(language, "profile-cancel"), actions.ProfileCancel())
        return Reply(text=t(language, key), buttons=((cancel,),))

    async def _save_birthday(self, turn: Turn) -> list[Reply]:
        member = turn.member
        language = member.language
        try:
            birthday = parse_birthday(turn.message.text, today=self._program.clock.now().date())
        except BirthdayError as error:
            return [self._birthday_prompt(language, f"profile-birthday-{error.reason}")]
        try:
            member = await self._program.members.set_birthday(member.id, birthday)
        except BirthdayAlreadyGiven:
            await self._store.clear(member.id)
            fresh = await self._program.members.get(member.id)
            return [await self.screen(fresh, self._birthday_given(fresh))]
        await self._store.clear(member.id)
        date = self._views.texts.date(language, birthday, style="long")
        text = self._views.t(language, "profile-birthday-saved", date=date)
        return [self._views.main_menu(language, member, await self._with_quest(member, text))]

    # ------------------------------------------------------------------ typed answers
    async def cancel(self, turn: Turn, _action: actions.ProfileCancel) -> list[Reply]:
        await self._store.clear(turn.member.id)
        language = turn.member.language
        text = self._views.t(language, "profile-cancelled")
        return [self._views.main_menu(language, turn.member, text)]

    async def typed(self, turn: Turn) -> list[Reply] | None:
        """The answer to the question the profile asked last, or None when none is open."""
        member = turn.member
        state = await self._store.load(member.id)
        if not state or not self._fresh(state):
            return None
        awaiting = state.get("awaiting")
        if awaiting == PHONE:
            phone = parse_phone(turn.message.text)
            if phone is None:
                return [self._phone_prompt(turn, "profile-phone-invalid")]
            return await self._save_phone(turn, phone, verified=False)
        if awaiting == BIRTHDAY:
            return await self._save_birthday(turn)
        return None

    async def _expect(self, member: Profile, awaiting: str, **data: Any) -> None:
        at = self._program.clock.now().isoformat()
        await self._store.save(member.id, {"flow": FLOW, "awaiting": awaiting, "at": at, **data})

    async def _asked(self, member: Profile, awaiting: str) -> dict[str, Any] | None:
        state = await self._store.load(member.id)
        if not state or state.get("awaiting") != awaiting or not self._fresh(state):
            return None
        return state

    def _fresh(self, state: dict[str, Any]) -> bool:
        try:
            asked = datetime.fromisoformat(str(state.get("at")))
        except ValueError:
            return False
        return self._program.clock.now() - asked < ANSWER_WITHIN
