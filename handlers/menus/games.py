"""The Games hub: one entry of the main menu ("🎮 Games") leading to every game, so the main
menu does not grow with each of them.

Adding a game to the hub is one line in `ENTRIES`: the label's text key and the action its
button carries (the game's own menu module routes that action).
"""

from __future__ import annotations

from handlers import actions
from handlers.messages import Reply
from handlers.render.views import Views, button
from handlers.routing import Action, Router, Turn

# (label key in locales/*/quests.ftl or the game's own .ftl, action), in the order shown.
ENTRIES: tuple[tuple[str, Action], ...] = (
    ("games-quests", actions.Quests()),
    ("menu-checkin", actions.CheckIn()),
    ("menu-badges", actions.Badges()),
    ("menu-leaderboard", actions.Leaderboard()),
    ("menu-contests", actions.Contests()),
)


class GamesMenu:
    def __init__(self, views: Views) -> None:
        self._views = views

    def register(self, router: Router) -> None:
        router.route(actions.Games, self.hub)
        router.command("games", actions.Games())
        router.words(actions.Games(), "menu-games", "words-games")

    async def hub(self, turn: Turn, _action: actions.Games) -> list[Reply]:
        language = turn.member.language
        t = self._views.t
        return [
            Reply(
                text=t(language, "games-title"),
                buttons=tuple((button(t(language, key), action),) for key, action in ENTRIES),
            )
        ]
