"""Joining the program: language, terms, marketing consent, phone and birthday (both optional)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.db.state import ConversationStore
from core.members.accounts import IdentityKey, Registration
from core.program import LoyaltyProgram
from core.shared import cards
from core.shared.cards import display
from handlers import views
from handlers.messages import Button, Incoming, Layout, Reply
from handlers.parsing import BirthdayError, parse_birthday, parse_phone
from handlers.views import RULES_SHOWN_MAX_AGE, Views

FLOW = "signup"
REFERRAL_PREFIX = "ref_"


@dataclass
class Draft:
    """The answers so far, kept in the conversation store between messages."""

    step: str
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
            return cls(**fields)
        except TypeError:
            return None


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
    return code if code and cards.is_valid(code) else None


class SignUp:
    def __init__(self, program: LoyaltyProgram, store: ConversationStore, views: Views) -> None:
        self._program = program
        self._store = store
        self._views = views

    async def begin(
        self, message: Incoming, identity: IdentityKey, *, referral: str | None
    ) -> list[Reply]:
        language = self._views.texts.resolve(message.language_code)
        draft = Draft(
            step="language", language=language, referral=referral, name=message.display_name
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
        action: str | None,
    ) -> list[Reply]:
        draft = Draft.load(state) if state else None
        if draft is None:
            return await self.begin(message, identity, referral=None)
        step = getattr(self, f"_on_{draft.step}", None)
        if step is None:
            return await self.begin(message, identity, referral=draft.referral)
        return await step(message, identity, draft, action)

    async def _on_language(
        self, message: Incoming, identity: IdentityKey, draft: Draft, action: str | None
    ) -> list[Reply]:
        if action and action.startswith(views.CHOOSE_LANGUAGE):
            chosen = action.removeprefix(views.CHOOSE_LANGUAGE)
            if chosen in self._views.texts.languages:
                draft.language = chosen
                draft.step = "terms"
                await self._save(identity, draft)
                return [await self._terms_prompt(draft.language)]
        text = self._views.t(draft.language, "signup-repeat")
        return [self._views.language_picker(draft.language, text)]

    async def _on_terms(
        self, message: Incoming, identity: IdentityKey, draft: Draft, action: str | None
    ) -> list[Reply]:
        if action == views.TERMS_ACCEPT:
            draft.step = "marketing"
            await self._save(identity, draft)
            return [self._marketing_prompt(draft.language)]
        if action == views.TERMS_DECLINE:
            return [self._with_terms_buttons(draft.language, "signup-terms-declined")]
        return [await self._terms_prompt(draft.language)]

    async def _on_marketing(
        self, message: Incoming, identity: IdentityKey, draft: Draft, action: str | None
    ) -> list[Reply]:
        if action not in (views.CONSENT_YES, views.CONSENT_NO, views.SKIP):
            return [self._marketing_prompt(draft.language, repeat=True)]
        draft.marketing = action == views.CONSENT_YES
        if draft.phone_verified:
            return await self._offer_card_of_phone(identity, draft)
        draft.step = "phone"
        await self._save(identity, draft)
        return [self._phone_prompt(draft.language)]

    async def _on_phone(
        self, message: Incoming, identity: IdentityKey, draft: Draft, action: str | None
    ) -> list[Reply]:
        if message.contact is not None:
            if not message.contact.is_own:
                return [self._phone_prompt(draft.language, "signup-phone-not-own")]
            phone = parse_phone(message.contact.phone)
            if phone is None:
                return [self._phone_prompt(draft.language, "signup-phone-invalid")]
            draft.phone, draft.phone_verified = phone, True
            return await self._offer_card_of_phone(identity, draft)
        elif action == views.SHARE_PHONE:
            # A channel without a contact button (VK) sends the button's action instead.
            return [self._phone_prompt(draft.language, "signup-phone-type")]
        elif action != views.SKIP:
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
        draft.step = "phone_card"
        await self._save(identity, draft)
        return [self._phone_card_prompt(draft.language, holder.card_code)]

    async def _on_phone_card(
        self, message: Incoming, identity: IdentityKey, draft: Draft, action: str | None
    ) -> list[Reply]:
        if action == views.PHONE_CARD_NEW:
            return await self._ask_birthday(identity, draft)
        holder = (
            await self._program.linking.holder_of_verified_phone(draft.phone)
            if draft.phone
            else None
        )
        if holder is None:
            return await self._ask_birthday(identity, draft)
        if action != views.PHONE_CARD_LINK:
            return [self._phone_card_prompt(draft.language, holder.card_code)]
        linked = await self._program.linking.attach_by_verified_phone(identity, draft.phone or "")
        await self._store.clear(str(identity))
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
                (Button(t(language, "signup-phone-card-link"), views.PHONE_CARD_LINK),),
                (Button(t(language, "signup-phone-card-new"), views.PHONE_CARD_NEW),),
            ),
        )

    async def _ask_birthday(self, identity: IdentityKey, draft: Draft) -> list[Reply]:
        draft.step = "birthday"
        await self._save(identity, draft)
        text = self._views.t(draft.language, "signup-birthday")
        return [self._skippable(draft.language, text)]

    async def _on_birthday(
        self, message: Incoming, identity: IdentityKey, draft: Draft, action: str | None
    ) -> list[Reply]:
        birthday = None
        if action != views.SKIP:
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
        await self._store.clear(str(identity))
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
        await self._store.set(str(identity), draft.dump())

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
                Button(t(language, "signup-terms-accept"), views.TERMS_ACCEPT),
                Button(t(language, "signup-terms-decline"), views.TERMS_DECLINE),
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
                    Button(t(language, "signup-marketing-yes"), views.CONSENT_YES),
                    Button(t(language, "signup-marketing-no"), views.CONSENT_NO),
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
                    Button(
                        t(language, "signup-phone-share"), views.SHARE_PHONE, request_contact=True
                    ),
                ),
                (Button(t(language, "signup-skip"), views.SKIP),),
            ),
        )

    def _skippable(self, language: str, text: str) -> Reply:
        skip = Button(self._views.t(language, "signup-skip"), views.SKIP)
        return Reply(text=text, layout=Layout.MENU, buttons=((skip,),))
