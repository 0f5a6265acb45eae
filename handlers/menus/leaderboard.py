"""Leaderboards in the chat: the top 10 of a board and the member's own place, the
member's name there (a nickname, or hidden as "Member #…"), and how to change it."""

from __future__ import annotations

from core.games.errors import InvalidNickname
from core.games.leaderboards.boards import METRICS, PERIODS, Place
from core.program import LoyaltyProgram
from handlers import actions
from handlers.menus.badges import games_row
from handlers.messages import Button, Reply
from handlers.render.views import Views, button
from handlers.routing import Router, Turn

MEDALS = {1: "🥇", 2: "🥈", 3: "🥉"}


class LeaderboardMenu:
    def __init__(self, program: LoyaltyProgram, views: Views) -> None:
        self._program = program
        self._views = views

    def register(self, router: Router) -> None:
        router.route(actions.Leaderboard, self.default)
        router.route(actions.LeaderboardOf, self.board)
        router.route(actions.Nickname, self.nickname)
        router.route(actions.NicknameHide, self.hide)
        router.route(actions.NicknameSet, self.set_nickname)
        router.words(actions.Leaderboard(), "menu-leaderboard", "words-leaderboard")
        router.words(actions.Nickname(), "leaderboard-name-button")
        router.words(actions.NicknameHide(), "nickname-hide-button")
        router.command("top", actions.Leaderboard())
        router.command_with_argument(
            "nickname", actions.NicknameSet, actions.Nickname(), actions.NicknameSet
        )

    async def default(self, turn: Turn, _action: actions.Leaderboard) -> list[Reply]:
        return await self.show(turn, "points", "week")

    async def board(self, turn: Turn, action: actions.LeaderboardOf) -> list[Reply]:
        if action.metric not in METRICS or action.period not in PERIODS:
            return await self.show(turn, "points", "week")
        return await self.show(turn, action.metric, action.period)

    async def show(self, turn: Turn, metric: str, period: str) -> list[Reply]:
        member = turn.member
        language = member.language
        t = self._views.t
        standing = await self._program.boards.standing(member.id, metric, period)
        lines = [t(language, f"leaderboard-title-{metric}-{period}")]
        if not standing.top:
            lines.append(t(language, "leaderboard-empty"))
        for place in standing.top:
            lines.append(
                self.place_line(language, metric, place, mine=place.member_id == member.id)
            )
        if standing.mine is not None:
            lines.append(
                t(
                    language,
                    "leaderboard-mine",
                    rank=standing.mine.rank,
                    total=standing.participants,
                    score=self.score(language, metric, standing.mine.score),
                )
            )
        else:
            lines.append(t(language, f"leaderboard-not-yet-{metric}"))
        return [Reply(text="\n".join(lines), buttons=self.buttons(language, metric, period))]

    def buttons(self, language: str, metric: str, period: str) -> tuple[tuple[Button, ...], ...]:
        t = self._views.t
        metrics = tuple(
            button(t(language, f"leaderboard-metric-{other}"), actions.LeaderboardOf(other, period))
            for other in METRICS
            if other != metric
        )
        periods = tuple(
            button(t(language, f"leaderboard-period-{other}"), actions.LeaderboardOf(metric, other))
            for other in PERIODS
            if other != period
        )
        return (
            metrics + periods,
            (button(t(language, "leaderboard-name-button"), actions.Nickname()),),
            games_row(self._views, language, without=actions.Leaderboard),
        )

    def place_line(self, language: str, metric: str, place: Place, *, mine: bool) -> str:
        return self._views.t(
            language,
            "leaderboard-line-mine" if mine else "leaderboard-line",
            rank=MEDALS.get(place.rank, f"{place.rank}."),
            name=self.name(language, place),
            score=self.score(language, metric, place.score),
        )

    def name(self, language: str, place: Place) -> str:
        if place.nickname:
            return place.nickname
        return self._views.t(language, "leaderboard-hidden-name", number=str(place.pseudonym))

    def score(self, language: str, metric: str, score: int) -> str:
        if metric == "points":
            return self._views.texts.points(language, score)
        return self._views.t(language, f"leaderboard-count-{metric}", count=score)

    # ------------------------------------------------------------------ the member's name
    async def nickname(self, turn: Turn, _action: actions.Nickname) -> list[Reply]:
        member = turn.member
        language = member.language
        current = await self._program.boards.nickname(member.id)
        number = await self._program.boards.pseudonym(member.id)
        t = self._views.t
        shown = (
            t(language, "nickname-current", name=current)
            if current
            else t(
                language,
                "nickname-hidden",
                name=t(language, "leaderboard-hidden-name", number=str(number)),
            )
        )
        buttons = [button(t(language, "menu-leaderboard"), actions.Leaderboard())]
        if current:
            buttons.insert(0, button(t(language, "nickname-hide-button"), actions.NicknameHide()))
        return [
            Reply(text="\n".join([shown, t(language, "nickname-how")]), buttons=(tuple(buttons),))
        ]

    async def hide(self, turn: Turn, _action: actions.NicknameHide) -> list[Reply]:
        member = turn.member
        await self._program.boards.set_nickname(member.id, None)
        number = await self._program.boards.pseudonym(member.id)
        t = self._views.t
        text = t(
            member.language,
            "nickname-now-hidden",
            name=t(member.language, "leaderboard-hidden-name", number=str(number)),
        )
        return [Reply(text=text, buttons=(games_row(self._views, member.language),))]

    async def set_nickname(self, turn: Turn, action: actions.NicknameSet) -> list[Reply]:
        member = turn.member
        t = self._views.t
        try:
            name = await self._program.boards.set_nickname(member.id, action.name)
        except InvalidNickname as refused:
            return [
                Reply(
                    text="\n".join(
                        [
                            t(member.language, f"nickname-refused-{refused.reason}"),
                            t(member.language, "nickname-how"),
                        ]
                    )
                )
            ]
        return [
            Reply(
                text=t(member.language, "nickname-saved", name=name or ""),
                buttons=(games_row(self._views, member.language),),
            )
        ]
