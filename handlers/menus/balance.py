"""The member's balance (with tier and points about to expire) and the history of points."""

from __future__ import annotations

from core.games.contests.contests import PRIZE_REASON
from core.games.contests.spec import localized
from core.games.quests.service import QUEST_REASON
from core.ledger.entries import Entry
from core.program import LoyaltyProgram
from handlers import actions
from handlers.messages import Reply
from handlers.render.views import RULES_SHOWN_MAX_AGE, Views
from handlers.routing import Router, Turn

HISTORY_PAGE_SIZE = 5


class BalanceMenu:
    def __init__(self, program: LoyaltyProgram, views: Views) -> None:
        self._program = program
        self._views = views

    def register(self, router: Router) -> None:
        router.route(actions.Balance, self.balance)
        router.route(actions.History, self.history)
        router.route(actions.HistoryPage, self.history_page)
        router.words(actions.Balance(), "menu-balance", "words-balance")
        router.words(actions.History(), "menu-history", "words-history")
        router.command("balance", actions.Balance())
        router.command("history", actions.History())

    async def balance(self, turn: Turn, _action: actions.Balance) -> list[Reply]:
        member = turn.member
        rules = await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)
        tier = await self._program.tiers.status(member.id, rules) if rules.tiers else None
        # Only a program whose points expire pays for the extra query on every Balance.
        expiring = (
            await self._program.expiry.upcoming(member.id)
            if rules.points_ttl_days and member.balance
            else None
        )
        return [Reply(text=self._views.balance(member.language, member, rules, tier, expiring))]

    async def history(self, turn: Turn, _action: actions.History) -> list[Reply]:
        return [await self._page(turn, 1, replaces_origin=False)]

    async def history_page(self, turn: Turn, action: actions.HistoryPage) -> list[Reply]:
        return [await self._page(turn, action.page, replaces_origin=True)]

    async def _page(self, turn: Turn, page: int, *, replaces_origin: bool) -> Reply:
        language = turn.member.language
        history = await self._program.ledger.history(
            turn.member.id, page=page, page_size=HISTORY_PAGE_SIZE
        )
        return self._views.history(
            language,
            history,
            replaces_origin=replaces_origin,
            references=await self._game_titles(history.entries, language),
        )

    async def _game_titles(self, entries: tuple[Entry, ...], language: str) -> dict[int, str]:
        """A quest's reward and a contest's prize named by the marketer's title in the
        member's language (the entry's own reference is the English title, or a slug)."""
        quests = [entry.id for entry in entries if entry.reason == QUEST_REASON]
        prizes = [entry.id for entry in entries if entry.reason == PRIZE_REASON]
        titles = {
            entry_id: title.get(language)
            for entry_id, title in (await self._program.quests.reward_titles(quests)).items()
        }
        for entry_id, text in (await self._program.contests.prize_titles(prizes)).items():
            titles[entry_id] = localized(text, language)
        return titles
