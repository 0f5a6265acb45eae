"""Contests in the chat: the list, a giveaway's page (with its commitment, so a member can
check the draw later), a leaderboard contest's page (its live top 10 and the member's own
place; the frozen standings' hash once closed), joining in one tap, and claiming a prize.

Reachable with /contests, the word "contests" and a button under Help; the Games hub links
to `actions.Contests` as well.
"""

from __future__ import annotations

from datetime import datetime

from core.games.contests.contests import Claimed, ContestView, MyEntry
from core.games.contests.errors import ContestNotFound, ContestRefused
from core.games.contests.spec import localized
from core.members.accounts import Profile
from core.program import LoyaltyProgram
from core.shared.errors import CouponRefused
from handlers import actions
from handlers.menus.leaderboard import LeaderboardMenu
from handlers.messages import Button, Reply
from handlers.render.views import Views, button
from handlers.routing import Router, Turn

# One contest per row plus nothing else: VK's inline keyboards hold 6 rows.
CONTESTS_SHOWN = 5


class ContestsMenu:
    def __init__(self, program: LoyaltyProgram, views: Views) -> None:
        self._program = program
        self._views = views
        self._boards = LeaderboardMenu(program, views)

    def t(self, language: str, key: str, /, **args: object) -> str:
        return self._views.t(language, key, **args)

    def register(self, router: Router) -> None:
        router.route(actions.Contests, self.contests)
        router.route(actions.ContestPage, self.page)
        router.route(actions.ContestJoin, self.join)
        router.route(actions.ContestClaim, self.claim)
        router.words(actions.Contests(), "menu-contests", "words-contests")
        router.command("contests", actions.Contests())

    # ------------------------------------------------------------------ routes
    async def contests(self, turn: Turn, _action: actions.Contests) -> list[Reply]:
        language = turn.member.language
        shown = (await self._program.contests.listed(everything=False))[:CONTESTS_SHOWN]
        if not shown:
            return [Reply(text=self.t(language, "contests-empty"))]
        lines = [self.t(language, "contests-title")]
        rows: list[tuple[Button, ...]] = []
        for contest in shown:
            state = self._state(language, contest)
            lines.append(
                self.t(language, "contests-line", title=contest.title(language), state=state)
            )
            rows.append((button(contest.title(language)[:60], actions.ContestPage(contest.id)),))
        return [Reply(text="\n".join(lines), buttons=tuple(rows))]

    async def page(self, turn: Turn, action: actions.ContestPage) -> list[Reply]:
        return [await self._page(turn.member, action.id)]

    async def join(self, turn: Turn, action: actions.ContestJoin) -> list[Reply]:
        member = turn.member
        language = member.language
        if turn.message.is_bot:
            # Bots never take part, whatever account they write from.
            return [Reply(text=self.t(language, "contest-join-ineligible"))]
        try:
            entry = await self._program.contests.join(action.id, member.id)
        except ContestNotFound:
            return [Reply(text=self.t(language, "contest-gone"))]
        except ContestRefused as refusal:
            key = {
                "ineligible": "contest-join-ineligible",
                "no_joining": "contest-join-not-needed",
            }.get(refusal.reason, "contest-join-closed")
            return [Reply(text=self.t(language, key))]
        contest = await self._program.contests.get(action.id)
        if contest.kind == "leaderboard":
            joined = self.t(language, "contest-leaderboard-joined", pseudonym=entry.pseudonym)
        else:
            joined = self.t(
                language,
                "contest-joined",
                pseudonym=entry.pseudonym,
                count=entry.tickets,
            )
        return [Reply(text=joined), await self._page(member, action.id)]

    async def claim(self, turn: Turn, action: actions.ContestClaim) -> list[Reply]:
        member = turn.member
        language = member.language
        try:
            claimed = await self._program.contests.claim(action.id, member.id)
        except ContestNotFound:
            return [Reply(text=self.t(language, "contest-gone"))]
        except ContestRefused as refusal:
            key = {
                "claim_expired": "contest-claim-expired",
                "ineligible": "contest-claim-ineligible",
            }.get(refusal.reason, "contest-claim-not-winner")
            return [Reply(text=self.t(language, key))]
        except CouponRefused:
            return [Reply(text=self.t(language, "contest-claim-coupon-failed"))]
        return [Reply(text=self._claimed(language, claimed))]

    # ------------------------------------------------------------------ pieces
    async def _page(self, member: Profile, contest_id: int) -> Reply:
        language = member.language
        contests = self._program.contests
        try:
            contest = await contests.get(contest_id)
        except ContestNotFound:
            return Reply(text=self.t(language, "contest-gone"))
        entry = await contests.my_entry(contest.id, member.id)
        if contest.kind == "leaderboard":
            lines = await self._leaderboard_lines(member, contest, entry)
        else:
            lines = self._giveaway_lines(language, contest, entry)
        lines.append(self.t(language, "contest-verify-hint", id=str(contest.id)))
        rows: list[tuple[Button, ...]] = []
        if contest.joinable and (entry is None or not entry.joined):
            rows.append(
                (button(self.t(language, "contest-join-button"), actions.ContestJoin(contest.id)),)
            )
        if contest.id in await contests.awaiting_for(member.id):
            rows.append(
                (
                    button(
                        self.t(language, "contest-claim-button"), actions.ContestClaim(contest.id)
                    ),
                )
            )
        rows.append((button(self.t(language, "contest-back"), actions.Contests()),))
        return Reply(text="\n".join(lines), buttons=tuple(rows))

    def _head(self, language: str, contest: ContestView) -> list[str]:
        lines = [self.t(language, "contest-page-title", title=contest.title(language))]
        if contest.spec.description:
            lines.append(contest.description(language))
        lines.append(self._state(language, contest))
        lines.append(self.t(language, "contest-prize", prize=self._prize(language, contest)))
        lines.append(
            self.t(
                language,
                "contest-places",
                winners=contest.winners,
                reserves=contest.reserves,
            )
        )
        return lines

    async def _leaderboard_lines(
        self, member: Profile, contest: ContestView, entry: MyEntry | None
    ) -> list[str]:
        """The top 10 (names as the leaderboards show them) and the member's own place."""
        language = member.language
        metric = contest.metric or "points"
        lines = self._head(language, contest)
        lines.append(
            self.t(
                language,
                "contest-ranked-by",
                metric=self.t(language, f"contest-metric-{metric}"),
            )
        )
        if contest.spec.everyone:
            lines.append(self.t(language, "contest-everyone-ranked"))
        elif contest.state in ("upcoming", "open"):
            lines.append(self.t(language, "contest-leaderboard-how"))
        standing = await self._program.contests.standings(contest.id, member.id)
        lines.append("")
        if not standing.top:
            lines.append(self.t(language, "contest-standings-empty"))
        for place in standing.top:
            lines.append(
                self._boards.place_line(language, metric, place, mine=place.member_id == member.id)
            )
        if standing.mine is not None:
            lines.append(
                self.t(
                    language,
                    "leaderboard-mine",
                    rank=standing.mine.rank,
                    total=standing.participants,
                    score=self._boards.score(language, metric, standing.mine.score),
                )
            )
        elif contest.spec.everyone or (entry is not None and entry.joined):
            lines.append(self.t(language, f"leaderboard-not-yet-{metric}"))
        else:
            lines.append(self.t(language, "contest-not-entered"))
        if contest.entries_sha256:
            lines.append("")
            lines.append(
                self.t(
                    language,
                    "contest-standings-frozen",
                    count=contest.entry_count,
                    hash=contest.entries_sha256,
                )
            )
        if contest.state == "drawn":
            winners = [place.pseudonym for place in contest.places if place.role == "winner"]
            lines.append(self.t(language, "contest-winners", winners=", ".join(winners)))
            if entry is not None:
                lines.append(self.t(language, "contest-your-pseudonym", pseudonym=entry.pseudonym))
        return lines

    def _giveaway_lines(
        self, language: str, contest: ContestView, entry: MyEntry | None
    ) -> list[str]:
        lines = self._head(language, contest)
        lines.extend(self._how_to_enter(language, contest))
        lines.append(self._entry_line(language, contest, entry))
        lines.append("")
        lines.append(
            self.t(
                language,
                "contest-commitment",
                commitment=contest.seed_sha256,
                chain=contest.beacon_chain,
                round=str(contest.beacon_round),
            )
        )
        if contest.entries_sha256:
            lines.append(
                self.t(
                    language,
                    "contest-frozen",
                    count=contest.entry_count,
                    hash=contest.entries_sha256,
                )
            )
        if contest.state == "drawn":
            winners = [place.pseudonym for place in contest.places if place.role == "winner"]
            lines.append(self.t(language, "contest-winners", winners=", ".join(winners)))
        return lines

    def _entry_line(self, language: str, contest: ContestView, entry: MyEntry | None) -> str:
        if entry is None or entry.tickets == 0:
            return self.t(language, "contest-not-entered")
        return self.t(
            language, "contest-your-entry", pseudonym=entry.pseudonym, count=entry.tickets
        )

    def _how_to_enter(self, language: str, contest: ContestView) -> list[str]:
        tickets = contest.spec.tickets
        ways = []
        if tickets.join:
            ways.append(self.t(language, "contest-tickets-join", count=tickets.join))
        if tickets.per_purchase:
            ways.append(self.t(language, "contest-tickets-purchase", count=tickets.per_purchase))
        if tickets.per_friend:
            ways.append(self.t(language, "contest-tickets-friend", count=tickets.per_friend))
        if tickets.per_quest:
            ways.append(self.t(language, "contest-tickets-quest", count=tickets.per_quest))
        return ways

    def _when(self, language: str, moment: datetime) -> str:
        texts = self._views.texts
        return f"{texts.date(language, moment.date(), style='long')} {moment:%H:%M} UTC"

    def _state(self, language: str, contest: ContestView) -> str:
        if contest.state == "upcoming":
            return self.t(
                language, "contest-state-upcoming", date=self._when(language, contest.starts_at)
            )
        if contest.state == "open":
            return self.t(
                language, "contest-state-open", date=self._when(language, contest.ends_at)
            )
        if contest.kind == "leaderboard":
            final = contest.state == "drawn"
            return self.t(language, "contest-state-final" if final else "contest-state-counting")
        if contest.state in ("ended", "closed"):
            return self.t(
                language, "contest-state-closed", date=self._when(language, contest.draw_at)
            )
        return self.t(language, "contest-state-drawn")

    def _prize(self, language: str, contest: ContestView) -> str:
        prize = contest.spec.prize
        parts = []
        if prize.points:
            parts.append(self._views.texts.points(language, prize.points))
        if prize.coupon_campaign:
            parts.append(self.t(language, "contest-prize-coupon"))
        if prize.item:
            parts.append(localized(prize.item, language))
        return " + ".join(parts)

    def _claimed(self, language: str, claimed: Claimed) -> str:
        lines = [self.t(language, "contest-claimed")]
        if claimed.points:
            lines.append(
                self.t(
                    language,
                    "contest-claimed-points",
                    points=self._views.texts.points(language, claimed.points),
                )
            )
        if claimed.coupon_code:
            lines.append(self.t(language, "contest-claimed-coupon", code=claimed.coupon_code))
        if claimed.item:
            lines.append(
                self.t(language, "contest-claimed-item", item=localized(claimed.item, language))
            )
        return "\n".join(lines)
