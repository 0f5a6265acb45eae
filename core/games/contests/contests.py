"""Giveaways: entries earned by joining or by activity, frozen at the close, drawn verifiably,
prizes claimed in the chat, exactly once.

Life of a giveaway
    created (seed drawn, `sha256(seed)` and the beacon round committed) -> open between
    `starts_at` and `ends_at` (joining; tickets from PurchaseRecorded, ReferralQualified,
    QuestCompleted, each counted once per contest by its event id) -> closed (the entry list
    frozen as pseudonyms and tickets, its sha256 published; by the `settle_contests` job at
    `ends_at`, or `contest-close`) -> drawn (`contest-draw` with the beacon value: winners and
    reserves by core.games.contests.draw, the seed revealed, the transcript stored) -> winners
    told in the chat, each claims within `claim_hours`; a winner who is no longer eligible or
    lets the deadline pass is replaced by the next reserve (`settle_contests`, every minute).
    A winner called in their night (the rules' quiet hours, in their zone) is told when it
    ends, and their `claim_hours` count from then.

Leaderboard contests ("top N of a period win")
    Ranked by the leaderboards engine on a board of the contest's own window (key
    "contest:<id>", core.games.leaderboards): a member who joined (or everyone, with
    `tickets.requires_join: false`) scores there what the metric's events bring from the
    moment of joining until the close (a refund counts against it when its purchase did).
    Two cards merged before the close stand as one: their scores add up (reached when the
    later one was); merged after it, the frozen standings stay and the best line counts.
    Game payouts (prizes, quest rewards) are no purchase, so they never score. At the close
    (the same job) the final standings are frozen (pseudonym, score, when it was reached)
    and hashed, and winners and reserves are taken from their top at once, in the same
    transaction, with the giveaways' exclusions: no seed, no beacon (see draw.py for why).
    From there it is a giveaway's: claims, deadlines, reserves stepping up.

Invariants and locking
    - Tickets: one `contest_tickets` row per (contest, event key), inserted with ON CONFLICT DO
      NOTHING in the publisher's transaction; the entry's count grows only when the row is new,
      so a replayed event never counts twice.
    - Close and draw lock the contest's row (FOR UPDATE; SQLite's write lock), so two
      operators or jobs cannot freeze or draw twice; the frozen list never changes after.
    - A prize is granted under the winner row's lock, once: the ledger entry's idempotency key
      is `contest:<contest id>:place:<position>` and the coupon is issued only while the row
      has none. A second claim (a double tap, another process) finds the row claimed.
    - Pseudonyms are HMAC-SHA256(installation secret "contest_pseudonyms",
      "<contest id>:<member id>"), 16 hex digits: a member sees their own in the chat; nobody
      outside can tell who is behind one. They are fixed at the close for the surviving member.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.installation import installation_secret
from core.db.models import (
    Board,
    Contest,
    ContestEntry,
    ContestTicket,
    ContestWinner,
    Coupon,
    Member,
)
from core.earning.events import PurchaseRecorded
from core.games.contests import draw as drawing
from core.games.contests.errors import ContestNotFound, ContestRefused, InvalidContest
from core.games.contests.spec import ContestSpec, Text, localized, parse_spec
from core.games.events import QuestCompleted
from core.games.leaderboards.boards import BoardPeriod, Leaderboards, Standing
from core.games.leaderboards.boards import Place as BoardPlace
from core.ledger.entries import Ledger
from core.members.events import MembersMerged
from core.notices.outbox import NoticeKind, enqueue_in
from core.offers.coupons import Coupons
from core.referrals.events import ReferralQualified
from core.rules.book import RuleBook
from core.shared.bus import MessageBus
from core.shared.clock import Clock
from core.shared.owners import owner_of_card
from core.shared.parsing import row_id
from core.shared.quiet_hours import morning_for
from core.shared.writes import insert_ignoring

log = logging.getLogger(__name__)

PSEUDONYM_SECRET = "contest_pseudonyms"
PRIZE_REASON = "contest_prize"
COUPON_SOURCE = "contest"

# Winner rows' statuses.
STANDBY = "standby"
AWAITING = "awaiting"
CLAIMED = "claimed"
EXPIRED = "expired"
INELIGIBLE = "ineligible"

# Why an entry is passed over at the draw (published in the transcript).
ERASED = "erased"
MERGED = "merged"
NOT_IN_GOOD_STANDING = "not_in_good_standing"
BOT = "bot"
EXCLUDED = "excluded_by_shop"


def pseudonym_of(key: bytes, contest_id: int, member_id: int) -> str:
    digest = hmac.new(key, f"{contest_id}:{member_id}".encode(), hashlib.sha256).hexdigest()
    return "-".join(digest[i : i + 4] for i in range(0, 16, 4))


@dataclass(frozen=True)
class Place:
    position: int
    pseudonym: str
    role: str  # "winner" or "reserve"
    status: str


@dataclass(frozen=True)
class ContestView:
    id: int
    slug: str
    kind: str
    spec: ContestSpec
    starts_at: datetime
    ends_at: datetime
    draw_at: datetime
    winners: int
    reserves: int
    seed_sha256: str
    beacon_chain: str
    beacon_round: int
    closed_at: datetime | None
    entries_sha256: str | None
    entry_count: int
    ticket_count: int
    drawn_at: datetime | None
    places: tuple[Place, ...]
    state: str

    @property
    def beacon_url(self) -> str:
        return drawing.beacon_url(self.beacon_chain, self.beacon_round)

    def title(self, language: str) -> str:
        return localized(self.spec.title, language)

    def description(self, language: str) -> str:
        return localized(self.spec.description, language)

    @property
    def joinable(self) -> bool:
        return self.state == "open" and self.spec.tickets.join > 0 and not self.spec.everyone

    @property
    def metric(self) -> str | None:
        return self.spec.metric


@dataclass(frozen=True)
class MyEntry:
    pseudonym: str
    joined: bool
    tickets: int


@dataclass(frozen=True)
class Claimed:
    contest_id: int
    points: int
    coupon_code: str | None
    item: Text | None
    balance: int | None
    replayed: bool


@dataclass(frozen=True)
class Settled:
    closed: int
    expired: int
    ineligible: int
    called: int


def board_of(row: Contest) -> BoardPeriod:
    """The leaderboard of a leaderboard contest's own window."""
    return BoardPeriod(f"contest:{row.id}", row.starts_at, row.ends_at)


def state_of(row: Contest, now: datetime) -> str:
    if row.drawn_at is not None:
        return "drawn"
    if row.closed_at is not None:
        return "closed"
    if now < row.starts_at:
        return "upcoming"
    if now < row.ends_at:
        return "open"
    return "ended"


class Contests:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        ledger: Ledger,
        coupons: Coupons,
        boards: Leaderboards,
        rules: RuleBook,
    ) -> None:
        self._db = db
        self._rules = rules
        self._clock = clock
        self._ledger = ledger
        self._coupons = coupons
        self._boards = boards
        # Contests whose close came too late, told once per process (not every minute).
        self._too_late: set[int] = set()

    def subscribe(self, bus: MessageBus) -> None:
        """Tickets from what members do; entries follow members who turn out to be one."""
        bus.subscribe_after_commit(PurchaseRecorded, self.on_purchase_recorded)
        bus.subscribe_after_commit(ReferralQualified, self.on_referral_qualified)
        bus.subscribe_in_transaction(QuestCompleted, self.on_quest_completed)
        bus.subscribe_after_commit(MembersMerged, self.on_members_merged)
        self._boards.add_boards(self.boards_for_in)

    async def pseudonym_key(self) -> bytes:
        return await installation_secret(self._db, PSEUDONYM_SECRET)

    # ------------------------------------------------------------------ defining
    async def create(self, data: Any, *, actor: str) -> ContestView:
        spec = data if isinstance(data, ContestSpec) else parse_spec(data)
        now = self._clock.now()
        if spec.kind == "giveaway" and spec.ranked_at <= now:
            raise InvalidContest("draw_at: must be in the future (the beacon round is committed)")
        if spec.kind == "leaderboard" and spec.ends_at <= now:
            raise InvalidContest("ends_at: must be in the future")
        ranked = spec.kind == "leaderboard"
        # A leaderboard contest draws nothing: no seed, no beacon round (draw.py says why).
        seed = "" if ranked else secrets.token_hex(drawing.SEED_BYTES)
        draw_at = spec.ranked_at
        async with self._db.transaction() as session:
            if await session.scalar(select(Contest.id).where(Contest.slug == spec.slug)):
                raise InvalidContest(f"slug: a contest {spec.slug!r} already exists")
            if spec.prize.coupon_campaign is not None:
                await self._coupons.campaigns.campaign_in(session, spec.prize.coupon_campaign)
            row = Contest(
                slug=spec.slug,
                kind=spec.kind,
                spec=spec.model_dump_json(),
                starts_at=spec.starts_at,
                ends_at=spec.ends_at,
                draw_at=draw_at,
                winners=spec.winners,
                reserves=spec.reserves,
                seed=seed,
                seed_sha256="" if ranked else drawing.commitment(seed),
                beacon_chain=spec.beacon_chain,
                beacon_round=0 if ranked else drawing.drand_round(spec.beacon_chain, draw_at),
                created_by=actor,
                created_at=now,
            )
            session.add(row)
            await session.flush()
            return await self._view_in(session, row)

    async def listed(self, *, everything: bool = True) -> list[ContestView]:
        """Newest first; without `everything`, what members see: not ended long ago."""
        now = self._clock.now()
        async with self._db.reading() as session:
            statement = select(Contest).order_by(Contest.starts_at.desc(), Contest.id.desc())
            if not everything:
                statement = statement.where(
                    or_(Contest.drawn_at.is_(None), Contest.drawn_at > now - timedelta(days=30))
                )
            rows = (await session.scalars(statement)).all()
            return [await self._view_in(session, row) for row in rows]

    async def get(self, contest: int | str) -> ContestView:
        async with self._db.reading() as session:
            return await self._view_in(session, await self._row_in(session, contest))

    async def _row_in(
        self, session: AsyncSession, contest: int | str, *, lock: bool = False
    ) -> Contest:
        number = row_id(contest)
        if number is not None:
            statement = select(Contest).where(Contest.id == number)
        elif isinstance(contest, int):
            raise ContestNotFound(contest)  # a negative id: no contest has it
        else:
            statement = select(Contest).where(Contest.slug == contest)
        row = await session.scalar(statement.with_for_update() if lock else statement)
        if row is None:
            raise ContestNotFound(contest)
        return row

    async def _view_in(self, session: AsyncSession, row: Contest) -> ContestView:
        if row.entries_frozen is not None:
            frozen = json.loads(row.entries_frozen)
            entries = len(frozen)
            tickets = sum(int(line.get("tickets", line.get("score", 0))) for line in frozen)
        else:
            counted = (
                await session.execute(
                    select(func.count(), func.coalesce(func.sum(ContestEntry.tickets), 0)).where(
                        ContestEntry.contest_id == row.id,
                        ContestEntry.member_id.is_not(None),
                        ContestEntry.tickets > 0,
                    )
                )
            ).one()
            entries, tickets = int(counted[0]), int(counted[1])
        places = (
            await session.scalars(
                select(ContestWinner)
                .where(ContestWinner.contest_id == row.id)
                .order_by(ContestWinner.position)
            )
        ).all()
        return ContestView(
            id=row.id,
            slug=row.slug,
            kind=row.kind,
            spec=ContestSpec.model_validate_json(row.spec),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            draw_at=row.draw_at,
            winners=row.winners,
            reserves=row.reserves,
            seed_sha256=row.seed_sha256,
            beacon_chain=row.beacon_chain,
            beacon_round=row.beacon_round,
            closed_at=row.closed_at,
            entries_sha256=row.entries_sha256,
            entry_count=entries,
            ticket_count=tickets,
            drawn_at=row.drawn_at,
            places=tuple(
                Place(
                    position=place.position,
                    pseudonym=place.pseudonym,
                    role="winner" if place.position <= row.winners else "reserve",
                    status=place.status,
                )
                for place in places
            ),
            state=state_of(row, self._clock.now()),
        )

    # ------------------------------------------------------------------ entries
    async def my_entry(self, contest_id: int, member_id: int) -> MyEntry | None:
        key = await self.pseudonym_key()
        async with self._db.reading() as session:
            entry = await session.scalar(
                select(ContestEntry).where(
                    ContestEntry.contest_id == contest_id, ContestEntry.member_id == member_id
                )
            )
            if entry is None:
                return None
            return MyEntry(
                pseudonym=entry.pseudonym or pseudonym_of(key, contest_id, member_id),
                joined=entry.joined,
                tickets=entry.frozen_tickets if entry.frozen_tickets is not None else entry.tickets,
            )

    async def join(self, contest_id: int, member_id: int) -> MyEntry:
        """Enter the member (idempotent: a second tap changes nothing)."""
        key = await self.pseudonym_key()
        async with self._db.transaction() as session:
            row = await self._row_in(session, contest_id)
            spec = ContestSpec.model_validate_json(row.spec)
            if state_of(row, self._clock.now()) != "open":
                raise ContestRefused("not_open", row.slug)
            if spec.tickets.join == 0 or spec.everyone:
                raise ContestRefused("no_joining", row.slug)
            member = await session.get(Member, member_id)
            if member is None or await self._ineligible_in(session, member, spec) is not None:
                raise ContestRefused("ineligible")
            entry = await self._entry_in(session, row.id, member_id)
            if not entry.joined:
                entry.joined = True
                entry.tickets += spec.tickets.join
            return MyEntry(
                pseudonym=pseudonym_of(key, row.id, member_id),
                joined=True,
                tickets=entry.tickets,
            )

    async def _entry_in(
        self, session: AsyncSession, contest_id: int, member_id: int
    ) -> ContestEntry:
        values = {
            "contest_id": contest_id,
            "member_id": member_id,
            "joined": False,
            "tickets": 0,
            "created_at": self._clock.now(),
        }
        await session.execute(
            insert_ignoring(session, ContestEntry, values, unique=["contest_id", "member_id"])
        )
        entry = await session.scalar(
            select(ContestEntry)
            .where(ContestEntry.contest_id == contest_id, ContestEntry.member_id == member_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert entry is not None
        return entry

    # ------------------------------------------------------------------ leaderboard contests
    async def boards_for_in(
        self, session: AsyncSession, member_id: int, metric: str, at: datetime
    ) -> list[BoardPeriod]:
        """The boards of the open leaderboard contests ranking `member_id` by `metric` for
        what happened `at` (in the window; joined by then, unless everyone is ranked)."""
        running = (
            await session.scalars(
                select(Contest).where(
                    Contest.kind == "leaderboard",
                    Contest.closed_at.is_(None),
                    Contest.starts_at <= at,
                    Contest.ends_at > at,
                )
            )
        ).all()
        found = []
        for row in running:
            spec = ContestSpec.model_validate_json(row.spec)
            if spec.metric != metric:
                continue
            if not spec.everyone:
                joined = await session.scalar(
                    select(ContestEntry.id).where(
                        ContestEntry.contest_id == row.id,
                        ContestEntry.member_id == member_id,
                        ContestEntry.joined.is_(True),
                        ContestEntry.created_at <= at,
                    )
                )
                if joined is None:
                    continue
            found.append(board_of(row))
        return found

    async def standings(self, contest: int | str, member_id: int | None) -> Standing:
        """A leaderboard contest's top 10 and the member's own place, live (frozen once
        closed: nothing scores on its board after the close)."""
        async with self._db.reading() as session:
            row = await self._row_in(session, contest)
        spec = ContestSpec.model_validate_json(row.spec)
        if spec.metric is None:
            raise ContestRefused("not_a_leaderboard", row.slug)
        live = await self._boards.standing_on(board_of(row), member_id, spec.metric, "contest")
        if row.entries_frozen is None:
            return live
        # Closed: the member's place and the count are the frozen standings' (the board's
        # counted tree is pruned a week after the end; the standings never change).
        frozen = drawing.standings_order(
            [
                drawing.Standing(str(line["pseudonym"]), int(line["score"]), line["reached_at"])
                for line in json.loads(row.entries_frozen)
            ]
        )
        mine = None
        if member_id is not None:
            name = pseudonym_of(await self.pseudonym_key(), row.id, member_id)
            found = next(
                (index for index, line in enumerate(frozen, start=1) if line.pseudonym == name),
                None,
            )
            if found is not None:
                line = frozen[found - 1]
                mine = BoardPlace(
                    found,
                    member_id,
                    line.score,
                    await self._boards.nickname(member_id),
                    await self._boards.pseudonym(member_id),
                )
        return replace(live, mine=mine, participants=len(frozen))

    async def frozen_standings(self, contest: int | str) -> list[drawing.Standing]:
        async with self._db.reading() as session:
            row = await self._row_in(session, contest)
        if row.kind != "leaderboard" or row.entries_frozen is None:
            return []
        return [
            drawing.Standing(str(line["pseudonym"]), int(line["score"]), str(line["reached_at"]))
            for line in json.loads(row.entries_frozen)
        ]

    # ------------------------------------------------------------------ tickets from events
    async def on_purchase_recorded(self, session: AsyncSession, event: PurchaseRecorded) -> None:
        await self._earn_in(
            session,
            event.member_id,
            event.occurred_at,
            "per_purchase",
            f"purchase:{event.purchase_id}",
        )

    async def on_referral_qualified(self, session: AsyncSession, event: ReferralQualified) -> None:
        await self._earn_in(
            session,
            event.referrer_id,
            event.occurred_at,
            "per_friend",
            f"referral:{event.referral_id}",
        )

    async def on_quest_completed(self, session: AsyncSession, event: QuestCompleted) -> None:
        await self._earn_in(
            session,
            event.member_id,
            event.occurred_at,
            "per_quest",
            f"quest:{event.quest_id}:{event.member_id}:{event.period}",
        )

    async def _earn_in(
        self, session: AsyncSession, member_id: int, at: datetime, kind: str, event_key: str
    ) -> None:
        running = (
            await session.scalars(
                select(Contest).where(
                    Contest.kind == "giveaway",
                    Contest.closed_at.is_(None),
                    Contest.starts_at <= at,
                    Contest.ends_at > at,
                )
            )
        ).all()
        for row in running:
            spec = ContestSpec.model_validate_json(row.spec)
            tickets = int(getattr(spec.tickets, kind))
            if tickets == 0:
                continue
            if spec.tickets.requires_join:
                entry = await session.scalar(
                    select(ContestEntry).where(
                        ContestEntry.contest_id == row.id,
                        ContestEntry.member_id == member_id,
                        ContestEntry.joined.is_(True),
                    )
                )
                if entry is None:
                    continue
            entry = await self._entry_in(session, row.id, member_id)
            inserted = await session.scalar(
                insert_ignoring(
                    session,
                    ContestTicket,
                    {
                        "contest_id": row.id,
                        "entry_id": entry.id,
                        "event_key": event_key[:128],
                        "tickets": tickets,
                        "created_at": self._clock.now(),
                    },
                    unique=["contest_id", "event_key"],
                ).returning(ContestTicket.id)
            )
            if inserted is not None:
                entry.tickets += tickets
        await session.flush()

    async def on_members_merged(self, session: AsyncSession, event: MembersMerged) -> None:
        """Before the close, the absorbed member's entries become the survivor's (one entry,
        tickets added up), and on a leaderboard contest's board the two cards' scores add up
        (the leaderboards do it for running boards; a board whose window ended but whose
        contest is not closed yet is done here); after it, the frozen list stays and the
        draw passes over the second card (reason `merged`)."""
        open_contests = select(Contest.id).where(Contest.closed_at.is_(None))
        ranked = (
            await session.scalars(
                select(Contest).where(Contest.kind == "leaderboard", Contest.closed_at.is_(None))
            )
        ).all()
        if ranked:
            keys = [board_of(row).key for row in ranked]
            await self._boards.merge_scores_in(
                session,
                event.member_id,
                event.absorbed_id,
                select(Board.id).where(Board.key.in_(keys)),
            )
        absorbed = (
            await session.scalars(
                select(ContestEntry).where(
                    ContestEntry.member_id == event.absorbed_id,
                    ContestEntry.contest_id.in_(open_contests),
                )
            )
        ).all()
        for entry in absorbed:
            survivor = await session.scalar(
                select(ContestEntry).where(
                    ContestEntry.contest_id == entry.contest_id,
                    ContestEntry.member_id == event.member_id,
                )
            )
            if survivor is None:
                entry.member_id = event.member_id
                continue
            survivor.tickets += entry.tickets
            survivor.joined = survivor.joined or entry.joined
            await session.execute(
                update(ContestTicket)
                .where(ContestTicket.entry_id == entry.id)
                .values(entry_id=survivor.id)
            )
            await session.delete(entry)
        await session.flush()

    # ------------------------------------------------------------------ eligibility
    async def _ineligible_in(
        self, session: AsyncSession, member: Member | None, spec: ContestSpec
    ) -> str | None:
        """Why a member may not win now, or None: erased, merged into another card (the
        survivor's entry counts), known to be a bot (a messenger said one of their accounts
        is, at any time: at joining, or later), owing points from a refund (not in good
        standing), or one of the shop's own accounts."""
        if member is None or member.erased_at is not None:
            return ERASED
        if member.merged_into_id is not None:
            return MERGED
        if member.bot_seen_at is not None:
            return BOT
        if member.debt > 0:
            return NOT_IN_GOOD_STANDING
        for card in spec.excluded_cards:
            owner = await session.scalar(owner_of_card(card.strip().upper()))
            if owner == member.id:
                return EXCLUDED
        return None

    # ------------------------------------------------------------------ close
    async def close(self, contest: int | str) -> ContestView:
        key = await self.pseudonym_key()
        async with self._db.transaction() as session:
            row = await self._row_in(session, contest, lock=True)
            await self._close_in(session, row, key)
            return await self._view_in(session, row)

    async def _close_in(self, session: AsyncSession, row: Contest, key: bytes) -> None:
        now = self._clock.now()
        if row.closed_at is not None:
            raise ContestRefused("already_closed", row.slug)
        if now < row.ends_at:
            raise ContestRefused("not_ended", f"{row.slug} ends at {row.ends_at.isoformat()}")
        if row.kind == "leaderboard":
            await self._close_standings_in(session, row, key, now)
            return
        if now.timestamp() >= drawing.drand_round_time(row.beacon_chain, row.beacon_round):
            raise ContestRefused(
                "too_late", f"beacon round {row.beacon_round} is public: the draw cannot be fair"
            )
        spec = ContestSpec.model_validate_json(row.spec)
        entries = (
            await session.execute(
                select(ContestEntry, Member.tier)
                .join(Member, Member.id == ContestEntry.member_id)
                .where(ContestEntry.contest_id == row.id, ContestEntry.tickets > 0)
            )
        ).all()
        frozen: list[drawing.Entry] = []
        for entry, tier in entries:
            assert entry.member_id is not None
            tickets = entry.tickets
            if spec.tickets.max_per_member is not None:
                tickets = min(tickets, spec.tickets.max_per_member)
            tickets *= spec.tier_weights.get(tier or "", 1)
            entry.pseudonym = pseudonym_of(key, row.id, entry.member_id)
            entry.frozen_tickets = tickets
            frozen.append(drawing.Entry(entry.pseudonym, tickets))
        if len({line.pseudonym for line in frozen}) != len(frozen):
            raise RuntimeError(f"contest {row.id}: two entries share a pseudonym")
        canonical = drawing.canonical_entries(frozen)
        row.entries_frozen = canonical.decode("ascii")
        row.entries_sha256 = hashlib.sha256(canonical).hexdigest()
        row.closed_at = now
        await session.flush()
        log.info("contest %s closed: %d entries", row.id, len(frozen))

    async def _close_standings_in(
        self, session: AsyncSession, row: Contest, key: bytes, now: datetime
    ) -> None:
        """Freeze a leaderboard contest's standings and take its winners and reserves from
        their top, at once (nothing is left to chance, so nothing waits for a beacon)."""
        spec = ContestSpec.model_validate_json(row.spec)
        standings: list[drawing.Standing] = []
        by_pseudonym: dict[str, ContestEntry] = {}
        for final in await self._boards.final_scores_in(session, board_of(row).key):
            entry = await self._entry_in(session, row.id, final.member_id)
            entry.pseudonym = pseudonym_of(key, row.id, final.member_id)
            entry.frozen_tickets = final.score
            by_pseudonym[entry.pseudonym] = entry
            standings.append(
                drawing.Standing(
                    entry.pseudonym,
                    final.score,
                    final.reached_at.astimezone(UTC).isoformat(timespec="milliseconds"),
                )
            )
        if len(by_pseudonym) != len(standings):
            raise RuntimeError(f"contest {row.id}: two entries share a pseudonym")
        canonical = drawing.canonical_standings(standings)
        row.entries_frozen = canonical.decode("ascii")
        row.entries_sha256 = hashlib.sha256(canonical).hexdigest()
        row.closed_at = now
        await session.flush()
        lines = [
            (line.pseudonym, (-line.score, line.reached_at, line.pseudonym)) for line in standings
        ]
        excluded = await self._exclusions_in(session, lines, by_pseudonym, spec)
        outcome = drawing.rank(
            standings, winners=row.winners, reserves=row.reserves, excluded=frozenset(excluded)
        )
        await self._place_in(session, row, spec, outcome, by_pseudonym, now)
        row.drawn_at = now
        transcript = self._standings_transcript(row, spec, excluded, outcome)
        row.transcript = json.dumps(transcript, ensure_ascii=False, sort_keys=True)
        log.info(
            "contest %s closed and ranked: %d standings, %d winners, %d reserves, %d excluded",
            row.id,
            len(standings),
            len(outcome.winners),
            len(outcome.reserves),
            len(excluded),
        )

    async def _place_in(
        self,
        session: AsyncSession,
        row: Contest,
        spec: ContestSpec,
        outcome: drawing.Outcome,
        by_pseudonym: dict[str, ContestEntry],
        now: datetime,
    ) -> None:
        """The winner rows in order; the winners are told."""
        for position, pseudonym in enumerate(outcome.winners + outcome.reserves, start=1):
            entry = by_pseudonym[pseudonym]
            place = ContestWinner(
                contest_id=row.id,
                entry_id=entry.id,
                pseudonym=pseudonym,
                position=position,
                status=STANDBY,
                updated_at=now,
            )
            session.add(place)
            await session.flush()
            if position <= row.winners:
                await self._call_in(session, row, spec, place, entry, now)

    def _standings_transcript(
        self,
        row: Contest,
        spec: ContestSpec,
        excluded: dict[str, str],
        outcome: drawing.Outcome,
    ) -> dict[str, Any]:
        assert row.closed_at is not None
        return {
            "format": drawing.STANDINGS_FORMAT,
            "contest": {
                "id": row.id,
                "slug": row.slug,
                "kind": row.kind,
                "metric": spec.metric,
                "title": spec.title,
                "starts_at": row.starts_at.isoformat(),
                "ends_at": row.ends_at.isoformat(),
                "winners": row.winners,
                "reserves": row.reserves,
            },
            "standings": {
                "frozen_at": row.closed_at.isoformat(),
                "sha256": row.entries_sha256,
                "count": len(json.loads(row.entries_frozen or "[]")),
                "order": "score desc, reached_at asc, pseudonym asc",
                "list": json.loads(row.entries_frozen or "[]"),
            },
            "excluded": [
                {"pseudonym": pseudonym, "reason": reason} for pseudonym, reason in excluded.items()
            ],
            "result": {"winners": list(outcome.winners), "reserves": list(outcome.reserves)},
        }

    # ------------------------------------------------------------------ draw
    async def draw(
        self,
        contest: int | str,
        beacon: str,
        *,
        source: str = "operator",
        signature: str | None = None,
        previous_signature: str | None = None,
    ) -> dict[str, Any]:
        """Draw with the beacon round's value; the transcript (seed revealed). With drand's
        `signature` of the round (and on a chained chain the `previous_signature`), the beacon
        is first checked to be that round's (refused as `beacon_invalid` if not) and the
        signatures are published; without, the beacon is the operator's word. Drawing again
        with the same beacon answers the same transcript; with another, a refusal. A
        leaderboard contest is ranked at its close: its transcript, whatever the beacon."""
        async with self._db.reading() as session:
            found = await self._row_in(session, contest)
            if found.kind == "leaderboard":
                if found.transcript is None:
                    raise ContestRefused("not_closed", found.slug)
                return dict(json.loads(found.transcript))
        beacon = beacon.strip().lower()
        try:
            if len(bytes.fromhex(beacon)) < 16:
                raise ValueError
        except ValueError:
            raise ContestRefused("bad_beacon", "the beacon is 32+ hex digits") from None
        chained = drawing.DRAND_CHAINS[found.beacon_chain]["scheme"] == drawing.CHAINED
        if signature is None or not chained:
            # The previous round's signature is only part of a chained chain's message.
            previous_signature = None
        if signature is not None:
            signature = signature.strip().lower()
            if previous_signature is not None:
                previous_signature = previous_signature.strip().lower()
            await self._check_signed_beacon(found, beacon, signature, previous_signature)
        async with self._db.transaction() as session:
            row = await self._row_in(session, contest, lock=True)
            now = self._clock.now()
            if row.drawn_at is not None:
                if row.beacon == beacon and row.transcript is not None:
                    return dict(json.loads(row.transcript))
                raise ContestRefused("already_drawn", row.slug)
            if row.closed_at is None or row.entries_frozen is None:
                raise ContestRefused("not_closed", row.slug)
            emitted = drawing.drand_round_time(row.beacon_chain, row.beacon_round)
            if now.timestamp() < emitted:
                raise ContestRefused(
                    "too_early", f"beacon round {row.beacon_round} is not out before {row.draw_at}"
                )
            spec = ContestSpec.model_validate_json(row.spec)
            frozen = [
                drawing.Entry(str(line["pseudonym"]), int(line["tickets"]))
                for line in json.loads(row.entries_frozen)
            ]
            by_pseudonym = await self._frozen_entries_in(session, row.id)
            excluded = await self._exclusions_in(
                session,
                [(line.pseudonym, (-line.tickets, line.pseudonym)) for line in frozen],
                by_pseudonym,
                spec,
            )
            outcome = drawing.draw(
                row.seed,
                beacon,
                frozen,
                winners=row.winners,
                reserves=row.reserves,
                excluded=frozenset(excluded),
            )
            await self._place_in(session, row, spec, outcome, by_pseudonym, now)
            row.beacon = beacon
            row.beacon_signature = signature
            row.beacon_previous_signature = previous_signature
            row.drawn_at = now
            transcript = self._transcript(row, frozen, excluded, outcome, source)
            row.transcript = json.dumps(transcript, ensure_ascii=False, sort_keys=True)
            log.info(
                "contest %s drawn: %d winners, %d reserves, %d excluded",
                row.id,
                len(outcome.winners),
                len(outcome.reserves),
                len(excluded),
            )
            return transcript

    async def _check_signed_beacon(
        self, row: Contest, beacon: str, signature: str, previous_signature: str | None
    ) -> None:
        """The beacon is drand's value of the contest's round: sha256 of a signature that the
        League of Entropy's key verifies for that round (draw.py)."""
        chain, round_number = row.beacon_chain, row.beacon_round
        mismatch = drawing.beacon_mismatch(chain, beacon, signature, previous_signature)
        if mismatch is not None:
            raise ContestRefused(
                "beacon_invalid", f"drand {chain} round {round_number}: {mismatch}"
            )
        # Pure-Python pairings take a good part of a second: off the event loop.
        valid = await asyncio.to_thread(
            drawing.signature_valid, chain, round_number, signature, previous_signature or ""
        )
        if not valid:
            raise ContestRefused(
                "beacon_invalid",
                f"the signature is not the League of Entropy's for drand {chain} round "
                f"{round_number}",
            )

    async def _frozen_entries_in(
        self, session: AsyncSession, contest_id: int
    ) -> dict[str, ContestEntry]:
        rows = (
            await session.scalars(
                select(ContestEntry).where(
                    ContestEntry.contest_id == contest_id, ContestEntry.pseudonym.is_not(None)
                )
            )
        ).all()
        return {row.pseudonym: row for row in rows if row.pseudonym is not None}

    async def _exclusions_in(
        self,
        session: AsyncSession,
        frozen: list[tuple[str, Any]],
        by_pseudonym: dict[str, ContestEntry],
        spec: ContestSpec,
    ) -> dict[str, str]:
        """(pseudonym, how good the line is: smaller is better) -> who is passed over."""
        excluded: dict[str, str] = {}
        # Cards merged after the close (before it their entries, and a leaderboard's scores,
        # were added up into one): one line per surviving member, the best one (the most
        # tickets, the highest place); the others are passed over.
        by_owner: dict[int, list[tuple[str, Any]]] = {}
        for line in frozen:
            pseudonym = line[0]
            entry = by_pseudonym.get(pseudonym)
            member = (
                await session.get(Member, entry.member_id) if entry and entry.member_id else None
            )
            if member is None or member.erased_at is not None:
                excluded[pseudonym] = ERASED
                continue
            owner_id = member.merged_into_id or member.id
            owner = member if owner_id == member.id else await session.get(Member, owner_id)
            reason = await self._ineligible_in(session, owner, spec)
            if reason is not None:
                excluded[pseudonym] = reason
                continue
            by_owner.setdefault(owner_id, []).append(line)
        for lines in by_owner.values():
            lines.sort(key=lambda line: line[1])
            for line in lines[1:]:
                excluded[line[0]] = MERGED
        return dict(sorted(excluded.items()))

    def _transcript(
        self,
        row: Contest,
        frozen: list[drawing.Entry],
        excluded: dict[str, str],
        outcome: drawing.Outcome,
        source: str,
    ) -> dict[str, Any]:
        spec = ContestSpec.model_validate_json(row.spec)
        assert row.closed_at is not None and row.drawn_at is not None
        return {
            "format": drawing.FORMAT,
            "contest": {
                "id": row.id,
                "slug": row.slug,
                "title": spec.title,
                "starts_at": row.starts_at.isoformat(),
                "ends_at": row.ends_at.isoformat(),
                "draw_at": row.draw_at.isoformat(),
                "winners": row.winners,
                "reserves": row.reserves,
            },
            "commitment": {
                "seed_sha256": row.seed_sha256,
                "committed_at": row.created_at.isoformat(),
                "beacon_chain": row.beacon_chain,
                "beacon_chain_hash": drawing.DRAND_CHAINS[row.beacon_chain]["hash"],
                "beacon_round": row.beacon_round,
                "beacon_url": drawing.beacon_url(row.beacon_chain, row.beacon_round),
            },
            "entries": {
                "frozen_at": row.closed_at.isoformat(),
                "sha256": row.entries_sha256,
                "count": len(frozen),
                "tickets": sum(line.tickets for line in frozen),
                "list": json.loads(row.entries_frozen or "[]"),
            },
            "reveal": self._reveal(row, source),
            "excluded": [
                {"pseudonym": pseudonym, "reason": reason} for pseudonym, reason in excluded.items()
            ],
            "result": {
                "picks": list(outcome.picks),
                "winners": list(outcome.winners),
                "reserves": list(outcome.reserves),
            },
        }

    @staticmethod
    def _reveal(row: Contest, source: str) -> dict[str, Any]:
        """The seed, the beacon and drand's signature of it (None: the operator's word)."""
        assert row.drawn_at is not None
        reveal: dict[str, Any] = {
            "seed": row.seed,
            "beacon": row.beacon,
            "beacon_source": source,
            "beacon_signature": row.beacon_signature,
            "drawn_at": row.drawn_at.isoformat(),
        }
        if drawing.DRAND_CHAINS[row.beacon_chain]["scheme"] == drawing.CHAINED:
            reveal["beacon_previous_signature"] = row.beacon_previous_signature
        return reveal

    async def transcript(self, contest: int | str) -> dict[str, Any]:
        async with self._db.reading() as session:
            row = await self._row_in(session, contest)
            if row.transcript is None:
                raise ContestRefused("not_drawn", row.slug)
            return dict(json.loads(row.transcript))

    async def frozen_list(self, contest: int | str) -> list[dict[str, Any]] | None:
        async with self._db.reading() as session:
            row = await self._row_in(session, contest)
            return None if row.entries_frozen is None else list(json.loads(row.entries_frozen))

    # ------------------------------------------------------------------ winners
    async def _call_in(
        self,
        session: AsyncSession,
        row: Contest,
        spec: ContestSpec,
        place: ContestWinner,
        entry: ContestEntry,
        now: datetime,
    ) -> None:
        """Tell a winner (or a reserve stepping up) and start their claim deadline.

        The job (or an operator) calls winners at any hour: one called in the member's night
        is told when it ends, and the claim time counts from then, so nobody loses hours of
        it asleep."""
        assert entry.member_id is not None
        member = await session.get(Member, entry.member_id)
        assert member is not None
        told = member
        if member.merged_into_id is not None:
            told = await session.get(Member, member.merged_into_id) or member
        morning = morning_for(now, told.time_zone, await self._rules.in_force(session))
        place.status = AWAITING
        place.claim_deadline = (morning or now) + timedelta(hours=spec.claim_hours)
        place.updated_at = now
        await enqueue_in(
            session,
            member_id=told.id,
            kind=NoticeKind.CONTEST_WON,
            payload={
                "contest_id": row.id,
                "title": spec.title,
                "reserve": place.position > row.winners,
                "deadline": place.claim_deadline.isoformat(),
                "points": spec.prize.points,
                "coupon": spec.prize.coupon_campaign is not None,
                "item": spec.prize.item,
            },
            dedupe_key=f"contest-won:{row.id}:{place.position}",
            now=now,
            due_at=morning,
        )

    async def _replace_in(
        self, session: AsyncSession, row: Contest, spec: ContestSpec, now: datetime
    ) -> int:
        """Call reserves, in order, into the places no winner holds any more."""
        held = await session.scalar(
            select(func.count()).where(
                ContestWinner.contest_id == row.id,
                ContestWinner.status.in_((AWAITING, CLAIMED)),
            )
        )
        wanted = row.winners - int(held or 0)
        called = 0
        while wanted > 0:
            place = await session.scalar(
                select(ContestWinner)
                .where(ContestWinner.contest_id == row.id, ContestWinner.status == STANDBY)
                .order_by(ContestWinner.position)
                .limit(1)
                .with_for_update()
            )
            if place is None:
                break
            entry = await session.get(ContestEntry, place.entry_id)
            member = await self._owner_in(session, entry)
            if await self._ineligible_in(session, member, spec) is not None:
                place.status, place.updated_at = INELIGIBLE, now
                await session.flush()
                continue
            assert entry is not None
            await self._call_in(session, row, spec, place, entry, now)
            await session.flush()
            wanted -= 1
            called += 1
        return called

    async def _owner_in(self, session: AsyncSession, entry: ContestEntry | None) -> Member | None:
        if entry is None or entry.member_id is None:
            return None
        member = await session.get(Member, entry.member_id)
        if member is not None and member.merged_into_id is not None:
            return await session.get(Member, member.merged_into_id)
        return member

    async def prize_titles(self, entry_ids: Iterable[int]) -> dict[int, Text]:
        """The titles (per language, or one text) of the contests whose prizes the ledger
        entries `entry_ids` are (the others are left out), for History: the entry's own
        reference is the contest's slug."""
        wanted = sorted(set(entry_ids))
        if not wanted:
            return {}
        async with self._db.reading() as session:
            rows = (
                await session.execute(
                    select(ContestWinner.ledger_entry_id, Contest.spec)
                    .join(Contest, Contest.id == ContestWinner.contest_id)
                    .where(ContestWinner.ledger_entry_id.in_(wanted))
                )
            ).all()
        return {
            int(entry_id): ContestSpec.model_validate_json(spec).title
            for entry_id, spec in rows
            if entry_id is not None
        }

    async def awaiting_for(self, member_id: int) -> list[int]:
        """Contests in which the member has a prize to claim now."""
        async with self._db.reading() as session:
            rows = await session.scalars(
                select(ContestWinner.contest_id)
                .join(ContestEntry, ContestEntry.id == ContestWinner.entry_id)
                .join(Member, Member.id == ContestEntry.member_id)
                .where(
                    ContestWinner.status == AWAITING,
                    func.coalesce(Member.merged_into_id, Member.id) == member_id,
                )
                .order_by(ContestWinner.contest_id)
            )
            return list(rows)

    async def claim(self, contest: int | str, member_id: int) -> Claimed:
        """Grant the member's prize, once. Refused: not a winner, the deadline passed (the next
        reserve is called), or no longer eligible (the same)."""
        refusal: ContestRefused | None = None
        async with self._db.transaction() as session:
            row = await self._row_in(session, contest)
            spec = ContestSpec.model_validate_json(row.spec)
            now = self._clock.now()
            places = (
                await session.scalars(
                    select(ContestWinner)
                    .join(ContestEntry, ContestEntry.id == ContestWinner.entry_id)
                    .join(Member, Member.id == ContestEntry.member_id)
                    .where(
                        ContestWinner.contest_id == row.id,
                        ContestWinner.status.in_((AWAITING, CLAIMED)),
                        func.coalesce(Member.merged_into_id, Member.id) == member_id,
                    )
                    .order_by(ContestWinner.position)
                    .with_for_update(of=ContestWinner)
                    .execution_options(populate_existing=True)
                )
            ).all()
            if not places:
                raise ContestRefused("not_a_winner", row.slug)
            place = places[0]
            if place.status == CLAIMED:
                return Claimed(
                    contest_id=row.id,
                    points=spec.prize.points,
                    coupon_code=await self._coupon_code_in(session, place.coupon_id),
                    item=spec.prize.item,
                    balance=None,
                    replayed=True,
                )
            member = await session.get(Member, member_id)
            if place.claim_deadline is not None and now >= place.claim_deadline:
                place.status, place.updated_at = EXPIRED, now
                await self._replace_in(session, row, spec, now)
                refusal = ContestRefused("claim_expired", row.slug)
            elif await self._ineligible_in(session, member, spec) is not None:
                place.status, place.updated_at = INELIGIBLE, now
                await self._replace_in(session, row, spec, now)
                refusal = ContestRefused("ineligible", row.slug)
            else:
                return await self._grant_in(session, row, spec, place, member_id, now)
        # Raised after the commit: the reserve's call is kept.
        assert refusal is not None
        raise refusal

    async def _grant_in(
        self,
        session: AsyncSession,
        row: Contest,
        spec: ContestSpec,
        place: ContestWinner,
        member_id: int,
        now: datetime,
    ) -> Claimed:
        balance = None
        if spec.prize.points:
            posting = await self._ledger.post_in(
                session,
                member_id,
                spec.prize.points,
                reason=PRIZE_REASON,
                actor="contest",
                idempotency_key=f"contest:{row.id}:place:{place.position}",
                reference=row.slug,
            )
            place.ledger_entry_id = posting.entry.id
            balance = posting.balance
        code = None
        if spec.prize.coupon_campaign is not None and place.coupon_id is None:
            campaign = await self._coupons.campaigns.campaign_in(
                session, spec.prize.coupon_campaign, lock=True
            )
            issued = await self._coupons.issuing.issue_in(
                session, campaign, member_id, source=COUPON_SOURCE, notify=False
            )
            place.coupon_id, code = issued.id, issued.code
        place.status = CLAIMED
        place.claimed_at = now
        place.claimed_by = member_id
        place.updated_at = now
        await session.flush()
        log.info("contest %s: place %d claimed", row.id, place.position)
        return Claimed(
            contest_id=row.id,
            points=spec.prize.points,
            coupon_code=code,
            item=spec.prize.item,
            balance=balance,
            replayed=False,
        )

    async def _coupon_code_in(self, session: AsyncSession, coupon_id: int | None) -> str | None:
        if coupon_id is None:
            return None
        return await session.scalar(select(Coupon.code).where(Coupon.id == coupon_id))

    # ------------------------------------------------------------------ the scheduled job
    async def settle_due(self) -> Settled:
        """Close the giveaways whose end has come; pass over winners who became ineligible
        or let the claim deadline pass, and call the next reserves."""
        key = await self.pseudonym_key()
        now = self._clock.now()
        closed = expired = ineligible = called = 0
        async with self._db.reading() as session:
            due = list(
                await session.scalars(
                    select(Contest.id).where(Contest.closed_at.is_(None), Contest.ends_at <= now)
                )
            )
            drawn = list(
                await session.scalars(
                    select(ContestWinner.contest_id)
                    .where(ContestWinner.status == AWAITING)
                    .distinct()
                )
            )
        for contest_id in due:
            try:
                async with self._db.transaction() as session:
                    row = await self._row_in(session, contest_id, lock=True)
                    if row.closed_at is None:
                        await self._close_in(session, row, key)
                        closed += 1
            except ContestRefused as refusal:
                if contest_id not in self._too_late:
                    self._too_late.add(contest_id)
                    log.warning(
                        "contest %s cannot be closed (%s): its beacon round is public; "
                        "run the giveaway again with a new contest",
                        contest_id,
                        refusal.reason,
                    )
        for contest_id in drawn:
            async with self._db.transaction() as session:
                row = await self._row_in(session, contest_id, lock=True)
                spec = ContestSpec.model_validate_json(row.spec)
                places = (
                    await session.scalars(
                        select(ContestWinner)
                        .where(ContestWinner.contest_id == row.id, ContestWinner.status == AWAITING)
                        .with_for_update()
                        .execution_options(populate_existing=True)
                    )
                ).all()
                for place in places:
                    if place.claim_deadline is not None and now >= place.claim_deadline:
                        place.status, place.updated_at = EXPIRED, now
                        expired += 1
                        continue
                    entry = await session.get(ContestEntry, place.entry_id)
                    member = await self._owner_in(session, entry)
                    if await self._ineligible_in(session, member, spec) is not None:
                        place.status, place.updated_at = INELIGIBLE, now
                        ineligible += 1
                await session.flush()
                called += await self._replace_in(session, row, spec, now)
        return Settled(closed=closed, expired=expired, ineligible=ineligible, called=called)

    # ------------------------------------------------------------------ privacy
    async def forget_in(self, session: AsyncSession, member_id: int) -> None:
        """Erasure: entries in contests not closed go; in closed ones the frozen line stays
        (pseudonym and tickets, so the published hash still verifies) but no longer points
        at the member, and the draw passes it over (`erased`)."""
        closed = select(Contest.id).where(Contest.closed_at.is_not(None))
        mine = select(ContestEntry.id).where(
            ContestEntry.member_id == member_id, ContestEntry.contest_id.not_in(closed)
        )
        await session.execute(delete(ContestTicket).where(ContestTicket.entry_id.in_(mine)))
        await session.execute(
            delete(ContestEntry).where(
                ContestEntry.member_id == member_id, ContestEntry.contest_id.not_in(closed)
            )
        )
        await session.execute(
            update(ContestEntry).where(ContestEntry.member_id == member_id).values(member_id=None)
        )
