"""Joining the program in at most three taps: /start, accept the terms, choose about offers.

1. `/start` (or a referral link, or a `ref_…` typed on WhatsApp) shows the welcome, the
   program's rules and the terms, in the messenger's language, with "Accept the terms" and
   "Decline". The other languages are buttons of the same screen: one tap switches, and the
   same screen comes back in that language. Choosing a language is never a required step.
2. "Accept the terms" asks about offers, as a question of its own: "Yes, send me offers" or
   "No offers".
3. Either answer opens the card with the welcome bonus.

Why the offers question is not folded into the terms screen ("Accept & get offers" / "Accept
without offers"): a privacy reviewer wants consent to marketing to be a separate act, not a
variant of accepting the terms (GDPR art. 7(2) and the EDPB's guidance on granularity; in
Russia, 152-FZ wants the consent to processing apart from other documents and 38-FZ a prior
consent to advertising). With two screens, the terms are accepted by a button that says only
that, the offers question has two equal answers, neither preselected, and nothing is assumed
when the member does not answer: three taps, and nobody can say that the "yes" to offers was
the price of the card.

Phone and birthday are no part of joining: they are set in the profile (handlers.menus.profile).
When a profile quest applies (`quest-create --profile`), the card's message says what adding
them earns ("Add your phone and birthday in 👤 Profile: 50 points").
A number the messenger vouches for (WhatsApp's sender) is still kept at joining, and when it
already belongs to a card, the welcome screen offers to link this messenger to that card
instead of opening a new one (never without the member's tap).

The steps are looked up in a table by the draft's step. Drafts saved by an earlier version
(steps "language", "phone", "phone_card", "birthday": members who were mid-sign-up during a
deploy) still finish: past the offers question they are enrolled with what they had answered;
before it they see the welcome screen. A draft whose step no version knew (or a garbled one)
starts the sign-up again, with the referral it carried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from core.db.state import ConversationStore
from core.members.accounts import IdentityKey, Profile, Registration
from core.program import LoyaltyProgram
from core.rules.book import ProgramRules
from core.shared import cards
from core.shared.cards import display
from handlers import actions
from handlers.flows.base import FlowStore, Step
from handlers.messages import Button, Incoming, Reply
from handlers.render.parsing import BirthdayError, parse_birthday, parse_phone
from handlers.render.profile_quest import fields_text, profile_quest_offer, reward_text
from handlers.render.views import RULES_SHOWN_MAX_AGE, Views, button
from handlers.routing import Action, Router

FLOW = "signup"
REFERRAL_PREFIX = "ref_"
# At most this many other languages are buttons of the welcome screen itself; with more, one
# "Language" button opens the picker (VK fits at most 10 buttons under a message).
LANGUAGES_ON_SCREEN = 3


class SignUpStep(StrEnum):
    TERMS = "terms"
    MARKETING = "marketing"
    # Steps of earlier versions, for drafts saved before a deploy.
    LANGUAGE = "language"
    PHONE = "phone"
    PHONE_CARD = "phone_card"
    BIRTHDAY = "birthday"


@dataclass
class Draft:
    """The answers so far, kept in the flow's store between messages."""

    step: SignUpStep
    language: str
    referral: str | None = None
    name: str | None = None
    marketing: bool = False
    phone: str | None = None
    phone_verified: bool = False

    def dump(self) -> dict[str, Any]:
        return {"flow": FLOW, **self.__dict__}

    @classmethod
    def load(cls, data: dict[str, Any]) -> Draft | None:
        if data.get("flow") != FLOW:
            return None
        fields = {key: value for key, value in data.items() if key in cls.__dataclass_fields__}
        try:
            fields["step"] = SignUpStep(str(fields.get("step")))
            return cls(**fields)
        except (TypeError, ValueError):
            return None

    @staticmethod
    def saved_referral(data: dict[str, Any] | None) -> str | None:
        """The referral a state of this flow carries even when the rest is unreadable: starting
        again must not cost the friend the referral bonus."""
        if not data or data.get("flow") != FLOW:
            return None
        referral = data.get("referral")
        return referral if isinstance(referral, str) and referral else None


def referral_code(start_argument: str) -> str | None:
    code = start_argument.strip()
    if code.lower().startswith(REFERRAL_PREFIX):
        code = code[len(REFERRAL_PREFIX) :]
    return code[:32] or None


def typed_referral(text: str) -> str | None:
    """A referral code sent as the whole message (WhatsApp's wa.me/<number>?text=ref_CODE)."""
    word = text.strip()
    if " " in word or not word.lower().startswith(REFERRAL_PREFIX):
        return None
    code = referral_code(word)
    if not code:
        return None
    # A referral code, or the card code that invite links carried before.
    return code if cards.referral(code) is not None or cards.is_valid(code) else None


class SignUp:
    def __init__(self, program: LoyaltyProgram, store: ConversationStore, views: Views) -> None:
        self._program = program
        self._store = FlowStore(store, FLOW)
        self._views = views
        self._steps: dict[SignUpStep, Step[Draft]] = {
            SignUpStep.TERMS: self._on_terms,
            SignUpStep.MARKETING: self._on_marketing,
            SignUpStep.LANGUAGE: self._on_terms,
            SignUpStep.PHONE: self._on_old_phone,
            SignUpStep.PHONE_CARD: self._on_old_phone_card,
            SignUpStep.BIRTHDAY: self._on_old_birthday,
        }

    @staticmethod
    def register(router: Router) -> None:
        """The answers this flow understands; a member who taps an old one gets the menu."""
        router.accept(
            actions.TermsAccept,
            actions.TermsDecline,
            actions.ConsentYes,
            actions.ConsentNo,
            actions.SharePhone,
            actions.PhoneCardLink,
            actions.PhoneCardNew,
        )
        router.words(actions.Skip(), "signup-skip", "words-skip")
        router.words(actions.TermsAccept(), "signup-terms-accept")
        router.words(actions.TermsDecline(), "signup-terms-decline")
        router.words(actions.ConsentYes(), "signup-marketing-yes")
        router.words(actions.ConsentNo(), "signup-marketing-no")

    async def state(self, identity: IdentityKey) -> dict[str, Any] | None:
        return await self._store.load(identity)

    async def abandon(self, identity: IdentityKey) -> None:
        await self._store.clear(identity)

    async def begin(
        self, message: Incoming, identity: IdentityKey, *, referral: str | None
    ) -> list[Reply]:
        draft = Draft(
            step=SignUpStep.TERMS,
            language=self._views.texts.resolve(message.language_code),
            referral=referral,
            name=message.display_name,
        )
        phone = parse_phone(message.verified_phone) if message.verified_phone else None
        if phone is not None:
            # The channel vouches for this number: it is kept, and never asked for.
            draft.phone, draft.phone_verified = phone, True
        await self._save(identity, draft)
        return [await self._welcome(draft)]

    async def proceed(
        self,
        message: Incoming,
        identity: IdentityKey,
        state: dict[str, Any] | None,
        action: Action | None,
    ) -> list[Reply]:
        draft = Draft.load(state) if state else None
        if draft is None:
            return await self.begin(message, identity, referral=Draft.saved_referral(state))
        return await self._steps[draft.step](message, identity, draft, action)

    # ------------------------------------------------------------------ tap 1: the welcome
    async def _on_terms(
        self, message: Incoming, identity: IdentityKey, draft: Draft, action: Action | None
    ) -> list[Reply]:
        if isinstance(action, actions.ChooseLanguage):
            if action.code in self._views.texts.languages:
                draft.language = action.code
            draft.step = SignUpStep.TERMS
            await self._save(identity, draft)
            return [await self._welcome(draft)]
        if isinstance(action, actions.Language):
            text = self._views.t(draft.language, "language-choose")
            return [self._views.language_picker(draft.language, text)]
        if isinstance(action, actions.TermsAccept):
            draft.step = SignUpStep.MARKETING
            await self._save(identity, draft)
            return [self._marketing_prompt(draft.language)]
        if isinstance(action, actions.TermsDecline):
            return [await self._welcome(draft, "signup-terms-declined")]
        if isinstance(action, actions.PhoneCardLink):
            linked = await self._link_card_of_phone(identity, draft)
            if linked is not None:
                return linked
        if draft.step is not SignUpStep.TERMS:
            # A draft of the version that asked for the language first: this screen now.
            draft.step = SignUpStep.TERMS
            await self._save(identity, draft)
            return [await self._welcome(draft)]
        return [await self._welcome(draft, "signup-repeat")]

    async def _welcome(self, draft: Draft, notice: str | None = None) -> Reply:
        language = draft.language
        t = self._views.t
        rules = await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)
        lines = [t(language, notice)] if notice else []
        lines.append(
            t(
                language,
                "signup-welcome",
                program=rules.program_name,
                rules=self._views.rules(language, rules),
            )
        )
        rows: list[tuple[Button, ...]] = [
            (
                button(t(language, "signup-terms-accept"), actions.TermsAccept()),
                button(t(language, "signup-terms-decline"), actions.TermsDecline()),
            )
        ]
        holder = await self._card_of_phone(draft)
        if holder is not None:
            lines.append(t(language, "signup-phone-card", card=display(holder.card_code)))
            rows.append((button(t(language, "signup-phone-card-link"), actions.PhoneCardLink()),))
        others = [code for code in self._views.texts.languages if code != language]
        if others:
            lines.append(t(language, "signup-language", language=t(language, "language-name")))
            if len(others) <= LANGUAGES_ON_SCREEN:
                # Each in its own name: a member who cannot read this one finds theirs.
                rows.append(
                    tuple(
                        button(t(code, "language-name"), actions.ChooseLanguage(code))
                        for code in others
                    )
                )
            else:
                rows.append((button(t(language, "menu-language"), actions.Language()),))
        return Reply(text="\n\n".join(lines), buttons=tuple(rows))

    async def _card_of_phone(self, draft: Draft) -> Profile | None:
        """The card that the number the messenger vouches for already has, if any."""
        if not (draft.phone and draft.phone_verified):
            return None
        return await self._program.linking.holder_of_verified_phone(draft.phone)

    async def _link_card_of_phone(self, identity: IdentityKey, draft: Draft) -> list[Reply] | None:
        """ "It is my card": this messenger joins the card with the same verified number (no new
        card, no second welcome bonus). None when there is no such card (any more)."""
        if await self._card_of_phone(draft) is None:
            return None
        linked = await self._program.linking.attach_by_verified_phone(identity, draft.phone or "")
        await self._store.clear(identity)
        member = linked.member
        text = self._views.t(
            member.language,
            "link-done",
            card=display(member.card_code),
            points=self._views.texts.points(member.language, member.balance),
        )
        return [self._views.main_menu(member.language, member, text)]

    # ------------------------------------------------------------------ tap 2: offers
    async def _on_marketing(
        self, message: Incoming, identity: IdentityKey, draft: Draft, action: Action | None
    ) -> list[Reply]:
        if (
            isinstance(action, actions.ChooseLanguage)
            and action.code in self._views.texts.languages
        ):
            draft.language = action.code
            await self._save(identity, draft)
            return [self._marketing_prompt(draft.language)]
        # "Skip" (a word, or an old keyboard's button) is a no: consent is never assumed.
        if not isinstance(action, actions.ConsentYes | actions.ConsentNo | actions.Skip):
            return [self._marketing_prompt(draft.language, repeat=True)]
        draft.marketing = isinstance(action, actions.ConsentYes)
        return await self._finish(identity, draft)

    def _marketing_prompt(self, language: str, *, repeat: bool = False) -> Reply:
        t = self._views.t
        text = t(language, "signup-marketing")
        if repeat:
            text = t(language, "signup-repeat") + "\n" + text
        return Reply(
            text=text,
            buttons=(
                (
                    button(t(language, "signup-marketing-yes"), actions.ConsentYes()),
                    button(t(language, "signup-marketing-no"), actions.ConsentNo()),
                ),
            ),
        )

    # ------------------------------------------------------------------ tap 3: the card
    async def _finish(
        self, identity: IdentityKey, draft: Draft, birthday: date | None = None
    ) -> list[Reply]:
        enrolment = await self._program.members.enrol(
            Registration(
                identity=identity,
                language=draft.language,
                accepted_terms=True,
                marketing_opt_in=draft.marketing,
                name=draft.name,
                phone=draft.phone,
                phone_verified=draft.phone_verified,
                birthday=birthday,
                referral_code=draft.referral,
            )
        )
        await self._store.clear(identity)
        member = enrolment.member
        language = member.language
        t = self._views.t
        rules = await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)
        lines = [
            t(
                language,
                "signup-done",
                program=rules.program_name,
                bonus=enrolment.welcome_bonus,
                points=self._views.texts.points(language, enrolment.welcome_bonus),
                card=display(member.card_code),
            )
        ]
        if member.referrer_id is not None and enrolment.created:
            lines.append(t(language, "signup-referred"))
        hint = await self.profile_hint(language, member, rules)
        if hint:
            lines.append(hint)
        # The main menu's "👤 Profile" is the button the hint names.
        return [self._views.main_menu(language, member, "\n".join(lines))]

    async def profile_hint(self, language: str, member: Profile, rules: ProgramRules) -> str:
        """Where phone and birthday went. Only what is true today is promised: the profile
        quest's reward, when one applies to this member and is still to earn (what the
        messenger vouched for, WhatsApp's number, is not asked for again); else the birthday
        gift, when the program gives one; otherwise the profile is simply pointed to."""
        offer = await profile_quest_offer(self._program, member)
        if offer is not None and offer.missing:
            return self._views.t(
                language,
                "signup-profile-quest",
                fields=fields_text(self._views, language, offer.missing),
                reward=reward_text(self._views, language, offer.view.quest.definition.reward),
            )
        if member.phone is not None and member.birthday is not None:
            return ""
        gift = rules.birthday_points(None)  # the base tier's: what a new card gets
        if member.birthday is None and gift > 0:
            points = self._views.texts.points(language, gift)
            return self._views.t(language, "signup-profile-birthday-gift", points=points)
        return self._views.t(language, "signup-profile")

    # ------------------------------------------------------------------ drafts of old versions
    async def _on_old_phone(
        self, message: Incoming, identity: IdentityKey, draft: Draft, action: Action | None
    ) -> list[Reply]:
        """Asked for the phone by an earlier version: terms and offers are answered, so the
        card opens now; a number given with this very message is kept."""
        if message.contact is not None and message.contact.is_own:
            phone = parse_phone(message.contact.phone)
            if phone is not None:
                draft.phone, draft.phone_verified = phone, True
        elif action is None and not draft.phone:
            phone = parse_phone(message.text)
            if phone is not None:
                draft.phone, draft.phone_verified = phone, False
        return await self._finish(identity, draft)

    async def _on_old_phone_card(
        self, message: Incoming, identity: IdentityKey, draft: Draft, action: Action | None
    ) -> list[Reply]:
        if isinstance(action, actions.PhoneCardLink):
            linked = await self._link_card_of_phone(identity, draft)
            if linked is not None:
                return linked
        return await self._finish(identity, draft)

    async def _on_old_birthday(
        self, message: Incoming, identity: IdentityKey, draft: Draft, action: Action | None
    ) -> list[Reply]:
        birthday = None
        if action is None:
            try:
                birthday = parse_birthday(message.text, today=self._program.clock.now().date())
            except BirthdayError:
                birthday = None  # the profile asks again, with the reasons
        return await self._finish(identity, draft, birthday)

    async def _save(self, identity: IdentityKey, draft: Draft) -> None:
        await self._store.save(identity, draft.dump())
