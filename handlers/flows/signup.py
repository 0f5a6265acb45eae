"""Joining the program: language, terms, marketing consent, phone and birthday (both optional).

The steps are looked up in a table by the draft's step; a draft whose step this version does
not know (or a garbled one) starts the sign-up again, with the referral it carried."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from core.db.state import ConversationStore
from core.members.accounts import IdentityKey, Registration
from core.program import LoyaltyProgram
from core.shared import cards
from core.shared.cards import display
from handlers import actions
from handlers.flows.base import FlowStore, Step
from handlers.messages import Button, Incoming, Layout, Reply
from handlers.render.parsing import BirthdayError, parse_birthday, parse_phone
from handlers.render.views import RULES_SHOWN_MAX_AGE, Views, button
from handlers.routing import Action, Router

FLOW = "signup"
REFERRAL_PREFIX = "ref_"


class SignUpStep(StrEnum):
    LANGUAGE = "language"
    TERMS = "terms"
    MARKETING = "marketing"
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
            SignUpStep.LANGUAGE: self._on_language,
            SignUpStep.TERMS: self._on_terms,
            SignUpStep.MARKETING: self._on_marketing,
            SignUpStep.PHONE: self._on_phone,
            SignUpStep.PHONE_CARD: self._on_phone_card,
            SignUpStep.BIRTHDAY: self._on_birthday,
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
        language = self._views.texts.resolve(message.language_code)
        draft = Draft(
            step=SignUpStep.LANGUAGE,
            language=language,
            referral=referral,
            name=message.display_name,
        )
        phone = parse_phone(message.verified_phone) if message.verified_phone else None
        if phone is not None:
            # The channel vouches for this number: asking for it again would only annoy.
            draft.phone, draft.phone_verified = phone, True
        await self._save(identity, draft)
        program = (await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)).program_name
        t = self._views.t
        text = "\n".join(
            (
                t(language, "signup-welcome", program=program),
                t(language, "signup-language-picked", language=t(language, "language-name")),
            )
        )
        return [self._views.language_picker(language, text)]

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

    async def _on_language(
        self, message: Incoming, identity: IdentityKey, draft: Draft, action: Action | None
    ) -> list[Reply]:
        languages = self._views.texts.languages
        if isinstance(action, actions.ChooseLanguage) and action.code in languages:
            draft.language = action.code
            draft.step = SignUpStep.TERMS
            await self._save(identity, draft)
            return [await self._terms_prompt(draft.language)]
        text = self._views.t(draft.language, "signup-repeat")
        return [self._views.language_picker(draft.language, text)]

    async def _on_terms(
        self, message: Incoming, identity: IdentityKey, draft: Draft, action: Action | None
    ) -> list[Reply]:
        if isinstance(action, actions.TermsAccept):
            draft.step = SignUpStep.MARKETING
            await self._save(identity, draft)
            return [self._marketing_prompt(draft.language)]
        if isinstance(action, actions.TermsDecline):
            return [self._with_terms_buttons(draft.language, "signup-terms-declined")]
        return [await self._terms_prompt(draft.language)]

    async def _on_marketing(
        self, message: Incoming, identity: IdentityKey, draft: Draft, action: Action | None
    ) -> list[Reply]:
        if not isinstance(action, actions.ConsentYes | actions.ConsentNo | actions.Skip):
            return [self._marketing_prompt(draft.language, repeat=True)]
        draft.marketing = isinstance(action, actions.ConsentYes)
        if draft.phone_verified:
            return await self._offer_card_of_phone(identity, draft)
        draft.step = SignUpStep.PHONE
        await self._save(identity, draft)
        return [self._phone_prompt(draft.language)]

    async def _on_phone(
        self, message: Incoming, identity: IdentityKey, draft: Draft, action: Action | None
    ) -> list[Reply]:
        if message.contact is not None:
            if not message.contact.is_own:
                return [self._phone_prompt(draft.language, "signup-phone-not-own")]
            phone = parse_phone(message.contact.phone)
            if phone is None:
                return [self._phone_prompt(draft.language, "signup-phone-invalid")]
            draft.phone, draft.phone_verified = phone, True
            return await self._offer_card_of_phone(identity, draft)
        elif isinstance(action, actions.SharePhone):
            # A channel without a contact button (VK) sends the button's action instead.
            return [self._phone_prompt(draft.language, "signup-phone-type")]
        elif not isinstance(action, actions.Skip):
            phone = parse_phone(message.text)
            if phone is None:
                return [self._phone_prompt(draft.language, "signup-phone-invalid")]
            draft.phone, draft.phone_verified = phone, False
        return await self._ask_birthday(identity, draft)

    async def _offer_card_of_phone(self, identity: IdentityKey, draft: Draft) -> list[Reply]:
        """The same verified number already has a card: offer it, never link without a yes."""
        holder = (
            await self._program.linking.holder_of_verified_phone(draft.phone)
            if draft.phone
            else None
        )
        if holder is None:
            return await self._ask_birthday(identity, draft)
        draft.step = SignUpStep.PHONE_CARD
        await self._save(identity, draft)
        return [self._phone_card_prompt(draft.language, holder.card_code)]

    async def _on_phone_card(
        self, message: Incoming, identity: IdentityKey, draft: Draft, action: Action | None
    ) -> list[Reply]:
        if isinstance(action, actions.PhoneCardNew):
            return await self._ask_birthday(identity, draft)
        holder = (
            await self._program.linking.holder_of_verified_phone(draft.phone)
            if draft.phone
            else None
        )
        if holder is None:
            return await self._ask_birthday(identity, draft)
        if not isinstance(action, actions.PhoneCardLink):
            return [self._phone_card_prompt(draft.language, holder.card_code)]
        linked = await self._program.linking.attach_by_verified_phone(identity, draft.phone or "")
        await self._store.clear(identity)
        member = linked.member
        t = self._views.t
        text = t(
            member.language,
            "link-done",
            card=display(member.card_code),
            points=self._views.texts.points(member.language, member.balance),
        )
        return [self._views.main_menu(member.language, member, text)]

    def _phone_card_prompt(self, language: str, card_code: str) -> Reply:
        t = self._views.t
        return Reply(
            text=t(language, "signup-phone-card", card=display(card_code)),
            buttons=(
                (button(t(language, "signup-phone-card-link"), actions.PhoneCardLink()),),
                (button(t(language, "signup-phone-card-new"), actions.PhoneCardNew()),),
            ),
        )

    async def _ask_birthday(self, identity: IdentityKey, draft: Draft) -> list[Reply]:
        draft.step = SignUpStep.BIRTHDAY
        await self._save(identity, draft)
        text = self._views.t(draft.language, "signup-birthday")
        return [self._skippable(draft.language, text)]

    async def _on_birthday(
        self, message: Incoming, identity: IdentityKey, draft: Draft, action: Action | None
    ) -> list[Reply]:
        birthday = None
        if not isinstance(action, actions.Skip):
            today = self._program.clock.now().date()
            try:
                birthday = parse_birthday(message.text, today=today)
            except BirthdayError as error:
                text = self._views.t(draft.language, f"signup-birthday-{error.reason}")
                return [self._skippable(draft.language, text)]
        return await self._finish(identity, draft, birthday)

    async def _finish(self, identity: IdentityKey, draft: Draft, birthday: Any) -> list[Reply]:
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
            )
        ]
        if member.referrer_id is not None and enrolment.created:
            lines.append(t(language, "signup-referred"))
        lines.append(t(language, "menu-prompt"))
        return [self._views.main_menu(language, member, "\n".join(lines))]

    async def _save(self, identity: IdentityKey, draft: Draft) -> None:
        await self._store.save(identity, draft.dump())

    async def _terms_prompt(self, language: str) -> Reply:
        rules = await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)
        text = self._views.t(
            language,
            "signup-terms",
            program=rules.program_name,
            rules=self._views.rules(language, rules),
        )
        return Reply(text=text, buttons=self._terms_buttons(language))

    def _with_terms_buttons(self, language: str, key: str) -> Reply:
        return Reply(text=self._views.t(language, key), buttons=self._terms_buttons(language))

    def _terms_buttons(self, language: str) -> tuple[tuple[Button, ...], ...]:
        t = self._views.t
        return (
            (
                button(t(language, "signup-terms-accept"), actions.TermsAccept()),
                button(t(language, "signup-terms-decline"), actions.TermsDecline()),
            ),
        )

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

    def _phone_prompt(self, language: str, key: str = "signup-phone") -> Reply:
        t = self._views.t
        return Reply(
            text=t(language, key),
            layout=Layout.MENU,
            buttons=(
                (
                    button(
                        t(language, "signup-phone-share"),
                        actions.SharePhone(),
                        request_contact=True,
                    ),
                ),
                (button(t(language, "signup-skip"), actions.Skip()),),
            ),
        )

    def _skippable(self, language: str, text: str) -> Reply:
        skip = button(self._views.t(language, "signup-skip"), actions.Skip())
        return Reply(text=text, layout=Layout.MENU, buttons=((skip,),))
