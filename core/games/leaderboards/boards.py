"""Leaderboards: scores per (metric, period), updated in the transaction of what scored.

Metrics: "points" (points purchases earned, minus what their refunds took back: a refund
counts against the board of its purchase's period; points games pay never count, since only
`PurchaseRecorded`/`RefundRecorded` move it), "friends" (friends qualified,
`ReferralQualified`), "quests" (quests completed, `QuestCompleted`). Periods: the week
(Monday to Monday) and the month, in the program's time zone, so a board is the same for
everyone. Each event is scored once (a game fact keyed on its ids), on both periods' boards.

Other periods: a board is any (metric, start, end) with a key; a leaderboard contest ranks on
a board of its own window (key "contest:<id>", period "contest"). The boards a member's
score also goes to come from `add_boards` (the contests say which of theirs count the member
at that moment: joined, open, in the window), so the same scoring, ties and ranks serve them.

Merged cards: when two members become one, the absorbed card's scores on the boards still
running (their period not over) are added to the survivor's, reached when the later of the two
was; the absorbed card leaves those boards. Ended boards keep each card's line as it was.

Ties go to whoever reached the score first, then to the smaller member id
(core.games.leaderboards.ranking). A score of 0 leaves the board. Locking: the member's row
is locked before their score is read (a purchase's posting holds it already), so two events
of one member are serialized; the tree's nodes are upserted in (level, bucket) order, the
same in every transaction, so concurrent members wait on a node rather than deadlock.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, func, insert, literal, literal_column, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.installation import installation_secret
from core.db.models import Board, BoardNode, BoardScore, GameProfile, Member
from core.earning.events import PurchaseRecorded, RefundRecorded
from core.games.errors import InvalidNickname
from core.games.events import QuestCompleted
from core.games.facts import BOARD, record_fact
from core.games.leaderboards.ranking import (
    FIRST_LEVEL,
    LEVELS,
    clamp_score,
    low_block,
    moves,
    rank_key,
    siblings_ahead,
)
from core.members.events import MembersMerged
from core.referrals.events import ReferralQualified
from core.rules.book import RuleBook
from core.shared.bus import MessageBus
from core.shared.clock import Clock
from core.shared.errors import MemberNotFound
from core.shared.quiet_hours import zone_of
from core.shared.writes import dialect_of, insert_ignoring

Metric = Literal["points", "friends", "quests"]
Period = Literal["week", "month"]
METRICS: tuple[str, ...] = get_args(Metric)
PERIODS: tuple[str, ...] = get_args(Period)
TOP = 10
NICKNAME_MIN = 2
NICKNAME_MAX = 20
# Letters, digits, combining marks, spaces and a few joiners; nothing that formats or links.
_NICKNAME_PUNCTUATION = set(" .-_'")
_LINKISH = re.compile(r"(https?:|www\.|\.(com|ru|ir|me|org|net)\b|t\.me|@)", re.IGNORECASE)
PSEUDONYM_SECRET = "board_pseudonyms"


def clean_nickname(raw: str) -> str:
    """The nickname as shown, or InvalidNickname: NFKC, spaces collapsed, 2-20 characters of
    letters, digits, spaces and . - _ ', no links or @handles."""
    text = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not text:
        raise InvalidNickname("empty")
    if len(text) > NICKNAME_MAX or len(text) < NICKNAME_MIN:
        raise InvalidNickname("too_long" if len(text) > NICKNAME_MAX else "empty")
    if _LINKISH.search(text):
        raise InvalidNickname("link")
    for char in text:
        category = unicodedata.category(char)
        if not (category[0] in "LN" or category in ("Mn", "Mc") or char in _NICKNAME_PUNCTUATION):
            raise InvalidNickname("characters")
    return text


@dataclass(frozen=True)
class Place:
    rank: int
    member_id: int
    score: int
    # The nickname the member chose, or None: shown as "Member #<pseudonym>".
    nickname: str | None
    pseudonym: int


@dataclass(frozen=True)
class Standing:
    metric: str
    period: str
    starts_at: datetime
    ends_at: datetime
    top: tuple[Place, ...]
    # The member's own place, None while they have no score on this board.
    mine: Place | None
    participants: int


@dataclass(frozen=True)
class PruneReport:
    emptied_nodes: int
    ended_board_nodes: int


# A finished board's tree is dropped this long after its period ends.
BOARD_NODES_KEPT_AFTER = timedelta(days=7)


@dataclass(frozen=True)
class BoardRef:
    id: int
    starts_at: datetime
    ends_at: datetime


# Boards whose ids a process keeps (two a metric per period: a handful a month).
MAX_KNOWN_BOARDS = 256


@dataclass(frozen=True)
class BoardPeriod:
    key: str
    starts_at: datetime
    ends_at: datetime


def board_period(metric: str, period: str, at: datetime, zone: ZoneInfo) -> BoardPeriod:
    local = at.astimezone(zone)
    if period == "week":
        monday = local.date() - timedelta(days=local.weekday())
        start = datetime(monday.year, monday.month, monday.day, tzinfo=zone)
        end_day = monday + timedelta(days=7)
        end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=zone)
        year, week, _ = monday.isocalendar()
        name = f"{metric}:week:{year}-W{week:02d}"
    else:
        start = datetime(local.year, local.month, 1, tzinfo=zone)
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        end = datetime(year, month, 1, tzinfo=zone)
        name = f"{metric}:month:{local.year}-{local.month:02d}"
    return BoardPeriod(name, start.astimezone(UTC), end.astimezone(UTC))


# More boards a score goes to: (session, member id, metric, period_at) -> their periods.
ExtraBoards = Callable[[AsyncSession, int, str, datetime], Awaitable[list[BoardPeriod]]]
CUSTOM_PERIOD = "contest"


@dataclass(frozen=True)
class FinalScore:
    member_id: int
    score: int
    reached_at: datetime


class Leaderboards:
    def __init__(self, db: Database, clock: Clock, rules: RuleBook) -> None:
        self._db = db
        self._clock = clock
        self._rules = rules
        self._secret: bytes | None = None
        self._boards: dict[str, BoardRef] = {}
        self._extra: list[ExtraBoards] = []

    def add_boards(self, extra: ExtraBoards) -> None:
        """Score on the boards `extra` names too (a contest's own period)."""
        self._extra.append(extra)

    def subscribe(self, bus: MessageBus) -> None:
        bus.subscribe_after_commit(PurchaseRecorded, self.on_purchase_recorded)
        bus.subscribe_after_commit(RefundRecorded, self._refunded)
        bus.subscribe_after_commit(ReferralQualified, self._friend_qualified)
        bus.subscribe_in_transaction(QuestCompleted, self._quest_completed)
        bus.subscribe_after_commit(MembersMerged, self.on_members_merged)

    # ------------------------------------------------------------------ subscribers
    async def on_purchase_recorded(self, session: AsyncSession, event: PurchaseRecorded) -> None:
        if event.points > 0:
            await self.score_in(
                session, event.member_id, "points", event.points,
                ref=f"purchase:{event.purchase_id}", period_at=event.occurred_at,
                at=event.occurred_at, locked=True,
            )  # fmt: skip

    async def _refunded(self, session: AsyncSession, event: RefundRecorded) -> None:
        if event.points > 0:
            await self.score_in(
                session, event.member_id, "points", -event.points,
                ref=f"refund:{event.refund_id}", period_at=event.purchase_made_at,
                at=event.occurred_at, locked=True,
            )  # fmt: skip

    async def _friend_qualified(self, session: AsyncSession, event: ReferralQualified) -> None:
        await self.score_in(
            session, event.referrer_id, "friends", 1,
            ref=f"referral:{event.referral_id}", period_at=event.occurred_at,
            at=event.occurred_at,
        )  # fmt: skip

    async def _quest_completed(self, session: AsyncSession, event: QuestCompleted) -> None:
        await self.score_in(
            session, event.member_id, "quests", 1,
            ref=f"quest:{event.member_id}:{event.quest_id}:{event.period}",
            period_at=event.occurred_at, at=event.occurred_at,
        )  # fmt: skip

    async def on_members_merged(self, session: AsyncSession, event: MembersMerged) -> None:
        running = select(Board.id).where(Board.ends_at > event.occurred_at)
        await self.merge_scores_in(session, event.member_id, event.absorbed_id, running)

    async def merge_scores_in(
        self, session: AsyncSession, survivor_id: int, absorbed_id: int, boards: Any
    ) -> None:
        """Add the absorbed member's score on each of `boards` (a select of board ids) to
        the survivor's and take the absorbed one off them. The sum is reached when the later
        of the two scores was (by then both cards had theirs). Idempotent: a second call
        finds nothing left to move. The caller holds both members' row locks (a merge)."""
        rows = (
            await session.execute(
                select(BoardScore, Board.starts_at, Board.ends_at)
                .join(Board, Board.id == BoardScore.board_id)
                .where(BoardScore.member_id == absorbed_id, BoardScore.board_id.in_(boards))
                .order_by(BoardScore.board_id)
            )
        ).all()
        changes: dict[int, dict[tuple[int, int], int]] = {}
        for absorbed, starts_at, ends_at in rows:
            board_id = absorbed.board_id
            counted = dict(moves(absorbed.rank_key, None))
            kept = await session.get(BoardScore, (board_id, survivor_id))
            total = clamp_score(absorbed.score + (kept.score if kept is not None else 0))
            reached = absorbed.reached_at
            if kept is not None:
                reached = max(kept.reached_at, absorbed.reached_at)
            new_key = rank_key(total, reached, starts_at, ends_at) if total else None
            old_key = kept.rank_key if kept is not None else None
            for node, change in moves(old_key, new_key).items():
                counted[node] = counted.get(node, 0) + change
            await session.delete(absorbed)
            if kept is not None and new_key is None:
                await session.delete(kept)
            elif kept is not None and new_key is not None:
                kept.score, kept.reached_at, kept.rank_key = total, reached, new_key
            elif new_key is not None:
                session.add(
                    BoardScore(
                        board_id=board_id,
                        member_id=survivor_id,
                        score=total,
                        reached_at=reached,
                        rank_key=new_key,
                    )
                )
            changes[board_id] = {node: change for node, change in counted.items() if change}
        await session.flush()
        await self._count_boards(session, changes)

    # ------------------------------------------------------------------ scoring
    async def score_in(
        self,
        session: AsyncSession,
        member_id: int,
        metric: str,
        delta: int,
        *,
        ref: str,
        period_at: datetime,
        at: datetime,
        locked: bool = False,
    ) -> None:
        """Add `delta` to the member's score on the `metric` boards of the week and the
        month of `period_at`, once per `ref`, in the caller's transaction. `locked`: the
        caller holds the member's row lock already (a purchase's, a refund's)."""
        if not await record_fact(session, member_id=member_id, kind=BOARD, ref=ref, now=at):
            return
        member = await session.get(Member, member_id, with_for_update=None if locked else True)
        if member is None or member.erased_at is not None or member.merged_into_id is not None:
            return
        rules = await self._rules.in_force(session)
        zone = zone_of(rules.time_zone, ZoneInfo("UTC"))
        boards = [
            await self._board(
                session, board_period(metric, period, period_at, zone), metric, period
            )
            for period in PERIODS
        ]
        for extra in self._extra:
            for found in await extra(session, member_id, metric, period_at):
                boards.append(await self._board(session, found, metric, CUSTOM_PERIOD))
        # Both boards' scores in one read, their changes in one flush and one node upsert.
        scores = {
            row.board_id: row
            for row in await session.scalars(
                select(BoardScore).where(
                    BoardScore.board_id.in_([board.id for board in boards]),
                    BoardScore.member_id == member_id,
                )
            )
        }
        changes = {
            board.id: await self._move(session, board, scores.get(board.id), member_id, delta, at)
            for board in boards
        }
        await session.flush()
        await self._count_boards(session, changes)

    async def _board(
        self, session: AsyncSession, found: BoardPeriod, metric: str, period: str
    ) -> BoardRef:
        # A board never changes once made: its id is kept for the process.
        known = self._boards.get(found.key)
        if known is not None:
            return known
        board = await session.scalar(select(Board).where(Board.key == found.key))
        if board is None:
            await session.execute(
                insert_ignoring(
                    session,
                    Board,
                    {
                        "key": found.key,
                        "metric": metric,
                        "period": period,
                        "starts_at": found.starts_at,
                        "ends_at": found.ends_at,
                    },
                    unique=["key"],
                )
            )
            board = await session.scalar(select(Board).where(Board.key == found.key))
        assert board is not None
        ref = BoardRef(board.id, board.starts_at, board.ends_at)
        if len(self._boards) > MAX_KNOWN_BOARDS:
            self._boards.clear()
        self._boards[found.key] = ref
        return ref

    async def _move(
        self,
        session: AsyncSession,
        board: BoardRef,
        row: BoardScore | None,
        member_id: int,
        delta: int,
        at: datetime,
    ) -> dict[tuple[int, int], int]:
        """Move the member's score (`row`, None if they had none; written at the next
        flush); the tree's count changes it takes."""
        old_score = row.score if row is not None else 0
        new_score = clamp_score(old_score + delta)
        if new_score == old_score:
            return {}
        old_key = row.rank_key if row is not None else None
        new_key = rank_key(new_score, at, board.starts_at, board.ends_at) if new_score else None
        if new_key is None:
            await session.delete(row)  # marked; deleted at the next flush
        elif row is None:
            session.add(
                BoardScore(
                    board_id=board.id,
                    member_id=member_id,
                    score=new_score,
                    reached_at=at,
                    rank_key=new_key,
                )
            )
        else:
            row.score, row.reached_at, row.rank_key = new_score, at, new_key
        return moves(old_key, new_key)

    async def _count(
        self, session: AsyncSession, board_id: int, changes: dict[tuple[int, int], int]
    ) -> None:
        await self._count_boards(session, {board_id: changes})

    async def _count_boards(
        self, session: AsyncSession, changes: dict[int, dict[tuple[int, int], int]]
    ) -> None:
        """Apply count changes to the nodes of one or more boards in one statement, in
        (board, level, bucket) order: the same order in every transaction."""
        values = [
            {"board_id": board_id, "level": level, "bucket": bucket, "count": change}
            for board_id in sorted(changes)
            for (level, bucket), change in sorted(changes[board_id].items())
        ]
        if not values:
            return
        # One statement of one shape, run for every row (executemany): its SQL is the same
        # every time, so it is compiled and prepared once, not once per number of rows.
        await session.execute(_NODE_UPSERT[dialect_of(session)], values)

    # ------------------------------------------------------------------ reading
    async def standing(self, member_id: int, metric: str, period: str) -> Standing:
        """The top of the current board and the member's own place."""
        now = self._clock.now()
        async with self._db.reading() as session:
            rules = await self._rules.in_force(session)
            found = board_period(metric, period, now, zone_of(rules.time_zone, ZoneInfo("UTC")))
        return await self.standing_on(found, member_id, metric, period)

    async def standing_on(
        self, found: BoardPeriod, member_id: int | None, metric: str, period: str
    ) -> Standing:
        """The top of the board `found` and the member's own place (None: nobody's)."""
        secret = await self._pseudonym_secret()
        async with self._db.reading() as session:
            board = await session.scalar(select(Board).where(Board.key == found.key))
            if board is None:
                return Standing(metric, period, found.starts_at, found.ends_at, (), None, 0)
            rows = (
                await session.execute(
                    select(BoardScore.member_id, BoardScore.score, GameProfile.nickname)
                    .outerjoin(GameProfile, GameProfile.member_id == BoardScore.member_id)
                    .where(BoardScore.board_id == board.id)
                    .order_by(BoardScore.rank_key, BoardScore.member_id)
                    .limit(TOP)
                )
            ).all()
            top = tuple(
                Place(
                    rank, row.member_id, row.score, row.nickname, pseudonym(secret, row.member_id)
                )
                for rank, row in enumerate(rows, start=1)
            )
            mine = next((place for place in top if place.member_id == member_id), None)
            if mine is None and member_id is not None:
                mine = await self._place_in(session, board.id, member_id, secret)
            participants = await self.participants_in(session, board.id)
        return Standing(metric, period, board.starts_at, board.ends_at, top, mine, participants)

    async def rank_in(self, session: AsyncSession, board_id: int, member_id: int) -> int | None:
        """The member's rank on a board (1 is first), None without a score: one statement
        over at most 180 tree nodes and the few scores that share the top of the member's
        key (the same score, reached within the same ~65 s; and ties by member id)."""
        row = await session.get(BoardScore, (board_id, member_id))
        if row is None:
            return None
        ranges = [
            and_(BoardNode.level == level, BoardNode.bucket.between(first, last))
            for level, first, last in siblings_ahead(row.rank_key)
        ]
        ahead = (
            select(func.coalesce(func.sum(BoardNode.count), 0))
            .where(BoardNode.board_id == board_id, or_(*ranges))
            .scalar_subquery()
            if ranges
            else None
        )
        first, _last = low_block(row.rank_key)
        near = (
            select(func.count())
            .select_from(BoardScore)
            .where(
                BoardScore.board_id == board_id,
                or_(
                    and_(BoardScore.rank_key >= first, BoardScore.rank_key < row.rank_key),
                    and_(BoardScore.rank_key == row.rank_key, BoardScore.member_id < member_id),
                ),
            )
            .scalar_subquery()
        )
        if ahead is None:
            counted = await session.scalar(select(near))
            return 1 + int(counted or 0)
        found = (await session.execute(select(ahead, near))).one()
        return 1 + int(found[0] or 0) + int(found[1] or 0)

    async def final_scores_in(self, session: AsyncSession, key: str) -> list[FinalScore]:
        """Every score on the board `key`, in the board's order (a contest's close)."""
        board = await session.scalar(select(Board).where(Board.key == key))
        if board is None:
            return []
        rows = (
            await session.execute(
                select(BoardScore.member_id, BoardScore.score, BoardScore.reached_at)
                .where(BoardScore.board_id == board.id, BoardScore.score > 0)
                .order_by(BoardScore.rank_key, BoardScore.member_id)
            )
        ).all()
        return [FinalScore(row.member_id, row.score, row.reached_at) for row in rows]

    async def participants_in(self, session: AsyncSession, board_id: int) -> int:
        total = await session.scalar(
            select(func.coalesce(func.sum(BoardNode.count), 0)).where(
                BoardNode.board_id == board_id, BoardNode.level == LEVELS - 1
            )
        )
        return int(total or 0)

    async def _place_in(
        self, session: AsyncSession, board_id: int, member_id: int, secret: bytes
    ) -> Place | None:
        rank = await self.rank_in(session, board_id, member_id)
        if rank is None:
            return None
        row = await session.get(BoardScore, (board_id, member_id))
        profile = await session.get(GameProfile, member_id)
        assert row is not None
        return Place(
            rank,
            member_id,
            row.score,
            profile.nickname if profile is not None else None,
            pseudonym(secret, member_id),
        )

    async def _pseudonym_secret(self) -> bytes:
        if self._secret is None:
            self._secret = await installation_secret(self._db, PSEUDONYM_SECRET)
        return self._secret

    # ------------------------------------------------------------------ names
    async def nickname(self, member_id: int) -> str | None:
        async with self._db.reading() as session:
            profile = await session.get(GameProfile, member_id)
            return profile.nickname if profile is not None else None

    async def set_nickname(self, member_id: int, raw: str | None) -> str | None:
        """Show the member by `raw` (checked, cleaned), or hidden with None."""
        nickname = clean_nickname(raw) if raw is not None else None
        now = self._clock.now()
        async with self._db.transaction() as session:
            # The member's row lock: two first choices at once cannot both insert the profile.
            if await session.get(Member, member_id, with_for_update=True) is None:
                raise MemberNotFound(member_id)
            profile = await session.get(GameProfile, member_id)
            if profile is None:
                session.add(GameProfile(member_id=member_id, nickname=nickname, updated_at=now))
            else:
                profile.nickname, profile.updated_at = nickname, now
        return nickname

    async def pseudonym(self, member_id: int) -> int:
        return pseudonym(await self._pseudonym_secret(), member_id)

    # ------------------------------------------------------------------ erasure, repair
    async def leave_in(self, session: AsyncSession, member_id: int) -> None:
        """Take the member off every board (erasure), the tree counts with them."""
        rows = list(
            await session.scalars(select(BoardScore).where(BoardScore.member_id == member_id))
        )
        for row in rows:
            board_id, key = row.board_id, row.rank_key
            await session.delete(row)
            await session.flush()
            await self._count(session, board_id, moves(key, None))
        await session.execute(delete(GameProfile).where(GameProfile.member_id == member_id))

    async def prune(self) -> PruneReport:
        """Daily housekeeping: a score that moves leaves the nodes of its old key at 0, and
        a board whose period is over is no longer ranked live (its scores stay; `rebuild`
        counts it again if ever needed). Deletes both kinds of node. Reads never depend on
        it: a rank reads at most 15 siblings a level, counted or not."""
        now = self._clock.now()
        async with self._db.transaction() as session:
            ended = await session.execute(
                delete(BoardNode)
                .where(
                    BoardNode.board_id.in_(
                        select(Board.id).where(Board.ends_at < now - BOARD_NODES_KEPT_AFTER)
                    )
                )
                .returning(BoardNode.board_id)
            )
            finished = len(ended.all())
            zero = await session.execute(
                delete(BoardNode).where(BoardNode.count == 0).returning(BoardNode.board_id)
            )
            emptied = len(zero.all())
        return PruneReport(emptied_nodes=emptied, ended_board_nodes=finished)

    async def rebuild(self, board_key: str) -> int:
        """Count a board's tree again from its scores (a repair; the scores are the truth).
        The number of scores on it."""
        async with self._db.transaction() as session:
            board = await session.scalar(select(Board).where(Board.key == board_key))
            if board is None:
                return 0
            await session.execute(delete(BoardNode).where(BoardNode.board_id == board.id))
            for level in range(FIRST_LEVEL, LEVELS):
                # Inlined, so SELECT and GROUP BY name the same expression on PostgreSQL.
                bucket = BoardScore.rank_key.op(">>")(literal_column(str(4 * level)))
                await session.execute(
                    insert(BoardNode).from_select(
                        ["board_id", "level", "bucket", "count"],
                        select(BoardScore.board_id, literal(level), bucket, func.count())
                        .where(BoardScore.board_id == board.id)
                        .group_by(BoardScore.board_id, bucket),
                    )
                )
            return await self.participants_in(session, board.id)


def _node_upsert(dialect: Any) -> Any:
    statement = dialect.insert(BoardNode)
    return statement.on_conflict_do_update(
        index_elements=["board_id", "level", "bucket"],
        set_={"count": BoardNode.count + statement.excluded.count},
    )


_NODE_UPSERT = {"postgresql": _node_upsert(postgresql), "sqlite": _node_upsert(sqlite)}


def pseudonym(secret: bytes, member_id: int) -> int:
    """A stable six-digit number for a hidden member: says nothing of the id or the card."""
    digest = hmac.new(secret, str(member_id).encode(), hashlib.sha256).digest()
    return 100_000 + int.from_bytes(digest[:8], "big") % 900_000
