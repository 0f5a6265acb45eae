"""The daily check-in and the member's streaks (current and best, and the freeze)."""

from __future__ import annotations

from core.games.streaks.streaks import StreakView
from core.program import LoyaltyProgram
from handlers import actions
from handlers.menus.badges import games_row
from handlers.messages import Reply
from handlers.render.views import RULES_SHOWN_MAX_AGE, Views
from handlers.routing import Router, Turn


class StreaksMenu:
    def __init__(self, program: LoyaltyProgram, views: Views) -> None:
        self._program = program
        self._views = views

    def register(self, router: Router) -> None:
        router.route(actions.CheckIn, self.check_in)
        router.words(actions.CheckIn(), "menu-checkin", "words-checkin")
        router.command("checkin", actions.CheckIn())
        router.command("streaks", actions.CheckIn())

    async def check_in(self, turn: Turn, _action: actions.CheckIn) -> list[Reply]:
        member = turn.member
        language = member.language
        t = self._views.t
        done = await self._program.streaks.check_in(member.id)
        checkin = next((view for view in done.streaks if view.action == "checkin"), None)
        if done.new:
            lines = [
                t(language, "checkin-done", days=self.count(language, "day", checkin.current))
                if checkin is not None
                else t(language, "checkin-done-plain")
            ]
        else:
            lines = [t(language, "checkin-again")]
        lines.append(t(language, "streaks-title"))
        lines.extend(self.line(language, view) for view in done.streaks)
        rules = await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)
        if rules.streak_freeze_every > 0:
            lines.append(t(language, "streaks-freeze", every=rules.streak_freeze_every))
        return [
            Reply(
                text="\n".join(lines),
                buttons=(games_row(self._views, language, without=actions.CheckIn),),
            )
        ]

    def line(self, language: str, view: StreakView) -> str:
        return self._views.t(
            language,
            "streak-line",
            name=self._views.t(language, f"streak-name-{view.action}-{view.period}"),
            current=self.count(language, view.period, view.current),
            best=self.count(language, view.period, view.best),
        )

    def count(self, language: str, period: str, count: int) -> str:
        return self._views.t(language, f"streak-{period}s", count=count)
