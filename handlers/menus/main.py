"""The main menu itself: /start of a member who has joined, the menu, and what is not understood."""

from __future__ import annotations

from core.program import LoyaltyProgram
from handlers import actions
from handlers.messages import Reply
from handlers.render.views import RULES_SHOWN_MAX_AGE, Views
from handlers.routing import Router, Turn


class MainMenu:
    def __init__(self, program: LoyaltyProgram, views: Views) -> None:
        self._program = program
        self._views = views

    def register(self, router: Router) -> None:
        router.route(actions.Start, self.welcome_back)
        router.route(actions.Menu, self.menu)
        router.command("start", actions.Start())
        router.command("menu", actions.Menu())

    async def welcome_back(self, turn: Turn, _action: actions.Start) -> list[Reply]:
        member = turn.member
        rules = await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)
        text = self._views.t(
            member.language,
            "menu-welcome-back",
            program=rules.program_name,
            points=self._views.texts.points(member.language, member.balance),
        )
        return [self._views.main_menu(member.language, member, text)]

    async def menu(self, turn: Turn, _action: actions.Menu) -> list[Reply]:
        return [self.answer(turn, "menu-prompt")]

    def unknown(self, turn: Turn) -> list[Reply]:
        """A word or a button this version does not know (a foreign, garbled or retired one)."""
        return [self.answer(turn, "menu-unknown")]

    def stale(self, turn: Turn) -> list[Reply]:
        """A button of ours whose data no longer reads: an old keyboard, or a forged payload."""
        return [self.answer(turn, "button-invalid")]

    def answer(self, turn: Turn, key: str) -> Reply:
        language = turn.member.language
        return self._views.main_menu(language, turn.member, self._views.t(language, key))
