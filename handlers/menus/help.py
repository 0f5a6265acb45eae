"""Help: the program's rules and the promotions running now."""

from __future__ import annotations

from core.program import LoyaltyProgram
from handlers import actions
from handlers.messages import Reply
from handlers.render.views import RULES_SHOWN_MAX_AGE, Views, button
from handlers.routing import Router, Turn


class HelpMenu:
    def __init__(self, program: LoyaltyProgram, views: Views) -> None:
        self._program = program
        self._views = views

    def register(self, router: Router) -> None:
        router.route(actions.Help, self.help)
        router.words(actions.Help(), "menu-help", "words-help")
        router.command("help", actions.Help())

    async def help(self, turn: Turn, _action: actions.Help) -> list[Reply]:
        language = turn.member.language
        rules = await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)
        text = self._views.t(
            language,
            "help",
            program=rules.program_name,
            rules=self._views.rules(language, rules, now=self._program.clock.now()),
        )
        # Contests are reached from here until the Games hub links to them.
        contests = button(self._views.t(language, "menu-contests"), actions.Contests())
        return [Reply(text=text, buttons=((contests,),))]
