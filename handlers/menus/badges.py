"""The badge shelf: the badges a member earned, and the locked ones with their progress."""

from __future__ import annotations

from core.games.badges.badges import ShelfItem
from core.program import LoyaltyProgram
from core.rules.sections import ProgramRules
from handlers import actions
from handlers.messages import Button, Reply
from handlers.render.views import RULES_SHOWN_MAX_AGE, Views, button
from handlers.routing import Router, Turn

LOCKED = "🔒"
# A shelf is one message: Telegram takes 4096 characters, a badge's line about 100.
MAX_SHOWN = 30
DEFAULT_EMOJI = "🏅"


def games_row(views: Views, language: str, *, without: type | None = None) -> tuple[Button, ...]:
    """Badges, check-in and leaderboard side by side (one row), but the screen's own."""
    row = (
        (actions.Badges, "menu-badges"),
        (actions.CheckIn, "menu-checkin"),
        (actions.Leaderboard, "menu-leaderboard"),
    )
    return tuple(button(views.t(language, key), kind()) for kind, key in row if kind is not without)


class BadgesMenu:
    def __init__(self, program: LoyaltyProgram, views: Views) -> None:
        self._program = program
        self._views = views

    def register(self, router: Router) -> None:
        router.route(actions.Badges, self.shelf)
        router.words(actions.Badges(), "menu-badges", "words-badges")
        router.command("badges", actions.Badges())

    async def shelf(self, turn: Turn, _action: actions.Badges) -> list[Reply]:
        member = turn.member
        language = member.language
        t = self._views.t
        items = await self._program.badges.shelf(member.id)
        buttons = (games_row(self._views, language, without=actions.Badges),)
        if not items:
            return [Reply(text=t(language, "badges-none"), buttons=buttons)]
        rules = await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)
        earned = [item for item in items if item.earned_at is not None]
        lines = [t(language, "badges-title", earned=len(earned), total=len(items))]
        for item in items[:MAX_SHOWN]:
            lines.append(self._line(language, item, rules))
        if len(items) > MAX_SHOWN:
            lines.append(t(language, "badges-more", count=len(items) - MAX_SHOWN))
        return [Reply(text="\n".join(lines), buttons=buttons)]

    def _line(self, language: str, item: ShelfItem, rules: ProgramRules) -> str:
        badge = item.badge
        emoji = badge.emoji or DEFAULT_EMOJI
        title = badge.title.get(language)
        description = badge.description.get(language)
        if item.earned_at is not None:
            when = self._views.texts.date(language, item.earned_at.date())
            return self._views.t(
                language,
                "badges-earned",
                emoji=emoji,
                title=title,
                description=description,
                date=when,
            )
        return self._views.t(
            language,
            "badges-locked",
            lock=LOCKED,
            emoji=emoji,
            title=title,
            progress=self.progress(language, item, rules),
        )

    def progress(self, language: str, item: ShelfItem, rules: ProgramRules) -> str:
        condition = item.badge.condition
        have, need = min(item.progress.have, item.progress.need), item.progress.need
        t = self._views.t
        if condition.kind == "tier":
            tier = rules.tier(condition.tier or "")
            name = tier.name.get(language) if tier is not None else (condition.tier or "")
            return t(language, "badge-progress-tier", tier=name)
        if condition.kind == "quest" and condition.quest_id is not None:
            return t(language, "badge-progress-quest-one")
        if condition.kind == "streak":
            streak = rules.streak(condition.streak or "")
            period = streak.period if streak is not None else "day"
            return t(language, f"badge-progress-streak-{period}", have=have, need=need)
        if condition.kind in ("first_purchase", "visits", "friends", "quest"):
            return t(
                language, f"badge-progress-{condition.kind.replace('_', '-')}", have=have, need=need
            )
        return t(language, "badge-progress-award")
