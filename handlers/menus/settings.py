"""The member's language, time zone and consent to offers."""

from __future__ import annotations

from core.program import LoyaltyProgram
from handlers import actions
from handlers.messages import Reply
from handlers.render.views import RULES_SHOWN_MAX_AGE, TIME_ZONES, Views
from handlers.routing import Router, Turn


class SettingsMenu:
    def __init__(self, program: LoyaltyProgram, views: Views) -> None:
        self._program = program
        self._views = views

    def register(self, router: Router) -> None:
        router.route(actions.Language, self.languages)
        router.route(actions.ChooseLanguage, self.choose_language)
        router.route(actions.TimeZone, self.time_zones)
        router.route(actions.ChooseTimeZone, self.choose_time_zone)
        router.route(actions.MarketingOn, self.marketing)
        router.route(actions.MarketingOff, self.marketing)
        router.words(actions.Language(), "menu-language", "words-language")
        router.words(actions.TimeZone(), "menu-timezone", "words-timezone")
        router.words(actions.MarketingOn(), "menu-marketing-on", "words-resume")
        router.words(actions.MarketingOff(), "menu-marketing-off", "words-stop")
        # A language's own name, typed, picks it (the picker's buttons, on a channel without them).
        for language in self._views.texts.languages:
            router.words(actions.ChooseLanguage(language), "language-name", only=language)
        router.command("language", actions.Language())
        router.command("timezone", actions.TimeZone())

    async def languages(self, turn: Turn, _action: actions.Language) -> list[Reply]:
        language = turn.member.language
        text = self._views.t(language, "language-choose")
        return [self._views.language_picker(language, text, with_time_zone=True)]

    async def choose_language(self, turn: Turn, action: actions.ChooseLanguage) -> list[Reply]:
        member = turn.member
        if action.code not in self._views.texts.languages:
            text = self._views.t(member.language, "language-choose")
            return [self._views.language_picker(member.language, text)]
        member = await self._program.members.set_language(member.id, action.code)
        text = self._views.t(action.code, "language-changed")
        return [self._views.main_menu(action.code, member, text)]

    async def time_zones(self, turn: Turn, _action: actions.TimeZone) -> list[Reply]:
        return [await self._time_zone_picker(turn)]

    async def choose_time_zone(self, turn: Turn, action: actions.ChooseTimeZone) -> list[Reply]:
        if action.zone not in TIME_ZONES:
            return [await self._time_zone_picker(turn)]
        member = await self._program.members.set_time_zone(turn.member.id, action.zone)
        now = self._program.clock.now()
        name = self._views.time_zone_name(member.language, action.zone, now)
        text = self._views.t(member.language, "time-zone-changed", zone=name)
        return [self._views.main_menu(member.language, member, text)]

    async def marketing(
        self, turn: Turn, action: actions.MarketingOn | actions.MarketingOff
    ) -> list[Reply]:
        opt_in = isinstance(action, actions.MarketingOn)
        member = await self._program.members.set_marketing(
            turn.member.id, opt_in=opt_in, channel=turn.message.channel
        )
        key = "marketing-on" if opt_in else "marketing-off"
        language = turn.member.language
        return [self._views.main_menu(language, member, self._views.t(language, key))]

    async def _time_zone_picker(self, turn: Turn) -> Reply:
        member = turn.member
        rules = await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)
        current = member.time_zone or rules.time_zone
        return self._views.time_zone_picker(member.language, current, self._program.clock.now())
