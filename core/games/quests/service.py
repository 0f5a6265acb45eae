"""Quests: a marketer's tasks of several steps; a member joins, the other contexts' events
move the steps, and the reward is paid once per (member, quest, period).

Progress from events, in the publisher's transaction
    Every subscriber (`subscribe`) runs inside the transaction of what happened (a purchase,
    a check-in, a qualified referral, a shop's event, a profile change) and writes one
    `quest_progress` row per (quest, member, period, step, source), where the source is the
    event's own id ("purchase:P1"): inserted with ON CONFLICT DO NOTHING, so a duplicate event
    counts nothing and a late one counts once, in the period it happened in (the event's
    `occurred_at`, in the member's time zone). No polling: nothing else reads the domain.

The reward, exactly once
    Completing inserts `quest_completions` (unique per member, quest, period) first; only the
    transaction whose insert went in pays, with the ledger key
    `quest:<quest>:<member>:<period>` (reason "quest", shown in History). Two purchases that
    finish the same quest concurrently are serialized by the member's row lock the purchase
    takes; two paths that do not lock the member (a staff approval and a quiz answer) meet at
    the unique completion row: PostgreSQL makes the second insert wait for the first's
    commit and then skip.

Refunds
    A refund lowers the amount its purchase counted for (a full refund to 0, which no longer
    counts), so a refunded purchase cannot complete a quest later. A quest already completed
    and rewarded stays completed: the reward is not taken back (the purchase's own points
    are, by the refund itself).

The profile quest
    An automatic quest whose steps are all profile steps (`quest-create --profile`): joining
    and the profile say what it earns. At most one is live or upcoming at a time
    (`ProfileQuestLive`), and a profile one of them rewarded is never rewarded again by the
    one a shop creates to replace it (a higher reward pays the members still to complete).

Merged cards
    When two members become one (`MembersMerged`), the absorbed card's quests become the
    survivor's, counted once: its joins (the earlier join kept), its progress rows (a source
    both cards counted, the same day's check-in, counts once), its pending proofs, and its
    completions of (quest, period)s the survivor has not completed (one the survivor
    completed too stays on the absorbed card as history: both were paid before the merge,
    and neither is paid again). A live quest that the two cards' steps together complete is
    completed for the survivor then, paid once under the survivor's ledger key.

Ordered quests
    A step counts only once every step before it is done; what happens for a later step
    before that is not kept (the member is told the order in the chat).

Audiences
    A tier's or a segment's quest is shown to and joined by members in its audience now; one
    who joined (or was counted once in an automatic quest) keeps it after leaving the
    audience and can finish it: progress is never taken away. What an audience names (tiers,
    and a segment's tier, quest, badge, campaign) must exist when the quest is created.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Integer,
    Numeric,
    and_,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.db.database import Database
from core.db.models import (
    Identity,
    Member,
    Quest,
    QuestCompletion,
    QuestJoin,
    QuestProgress,
    QuestProof,
)
from core.earning.events import EventBonusRecorded, PurchaseRecorded, RefundRecorded
from core.games.events import CheckedIn, QuestCompleted
from core.games.quests.definition import (
    ChannelStep,
    CheckInStep,
    EventStep,
    Everyone,
    ProfileStep,
    ProofStep,
    PurchaseStep,
    QuestDefinition,
    QuizStep,
    ReferralStep,
    SegmentAudience,
    Step,
    TierAudience,
)
from core.games.quests.errors import (
    InvalidQuest,
    ProfileQuestLive,
    ProofNotFound,
    QuestExists,
    QuestNotFound,
    QuestRefused,
)
from core.games.quests.membership import ChannelMembership, Membership
from core.games.quests.periods import period_of
from core.ledger.entries import Ledger
from core.members.events import MemberJoined, MembersMerged, ProfileChanged
from core.notices.outbox import NoticeKind, enqueue_in
from core.offers.coupons import Coupons
from core.referrals.events import ReferralQualified
from core.rules.book import RuleBook
from core.rules.values import LocalizedText
from core.segments.errors import InvalidSegment
from core.segments.query import member_is_in
from core.segments.service import Segments
from core.shared.bus import MessageBus
from core.shared.clock import Clock
from core.shared.errors import CampaignNotFound, CouponRefused
from core.shared.parsing import parse_actor, row_id
from core.shared.writes import insert_ignoring, retry_on_conflict

QUEST_REASON = "quest"
COUPON_SOURCE = "quest"
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
MAX_PROOF_TEXT = 2000
# What the column holds: a Telegram file id or a Twilio media URL fit easily.
MAX_PHOTO_REFERENCE = 512
MAX_REASON = 500
# The ledger reference is shown in History: the quest's title, cut to the column.
MAX_REFERENCE = 128

log = logging.getLogger(__name__)

# What one event is worth to a step: None when it does not count for it.
Matcher = Callable[[Step], Decimal | None]


@dataclass(frozen=True)
class QuestInfo:
    id: int
    slug: str
    definition: QuestDefinition
    starts_at: datetime
    ends_at: datetime | None
    ended_at: datetime | None
    created_at: datetime

    def live(self, now: datetime) -> bool:
        return (
            self.ended_at is None
            and self.starts_at <= now
            and (self.ends_at is None or now < self.ends_at)
        )


@dataclass(frozen=True)
class StepProgress:
    index: int
    step: Step
    done: Decimal
    target: Decimal
    # Earlier steps of an ordered quest are not done yet.
    locked: bool
    proof_pending: bool = False

    @property
    def complete(self) -> bool:
        return self.done >= self.target


@dataclass(frozen=True)
class QuestView:
    """A quest as one member sees it now: joined or not, this period's steps."""

    quest: QuestInfo
    joined: bool
    period: str
    completed: bool
    steps: tuple[StepProgress, ...]

    @property
    def steps_done(self) -> int:
        return sum(1 for step in self.steps if step.complete)


@dataclass(frozen=True)
class Outcome:
    """What a member's own action (an answer, a check) did to a quest."""

    step_done: bool
    quest_done: bool
    correct: bool = True


@dataclass(frozen=True)
class PendingProof:
    id: int
    quest_id: int
    quest_slug: str
    member_id: int
    card_code: str
    step: int
    text: str | None
    photo: str | None
    created_at: datetime


@dataclass
class _Tally:
    """A period's progress of one member in one quest, as read at the start of an event."""

    done: dict[int, Decimal] = field(default_factory=dict)


def normalize_answer(text: str) -> str:
    """What an answer is compared as: case and every kind of space ignored."""
    return "".join(text.split()).casefold()


class Quests:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        ledger: Ledger,
        coupons: Coupons,
        rules: RuleBook,
        bus: MessageBus,
        segments: Segments,
    ) -> None:
        self._db = db
        self._clock = clock
        self._ledger = ledger
        self._coupons = coupons
        self._rules = rules
        self._bus = bus
        self._segments = segments
        # A definition never changes once created: parsed once per process.
        self._definitions: dict[int, QuestDefinition] = {}
        # Messengers that can tell whether an account is in a channel (the bot layer adds
        # Telegram's when it builds the channel).
        self.memberships: dict[str, ChannelMembership] = {}

    # ------------------------------------------------------------------ wiring

    def subscribe(self, bus: MessageBus) -> None:
        bus.subscribe_after_commit(PurchaseRecorded, self.on_purchase)
        bus.subscribe_after_commit(RefundRecorded, self.on_refund)
        bus.subscribe_after_commit(ReferralQualified, self.on_referral)
        bus.subscribe_in_transaction(CheckedIn, self.on_checked_in)
        bus.subscribe_after_commit(EventBonusRecorded, self.on_event)
        bus.subscribe_after_commit(ProfileChanged, self.on_profile_changed)
        bus.subscribe_after_commit(MemberJoined, self.on_member_joined)
        bus.subscribe_after_commit(MembersMerged, self.on_members_merged)

    def add_membership(self, channel: str, checker: ChannelMembership) -> None:
        self.memberships[channel] = checker

    # ------------------------------------------------------------------ operators

    async def create(self, definition: QuestDefinition, *, actor: str) -> QuestInfo:
        """Store a quest. Its audience must name what the program has: a tier of the rules,
        and in a segment a tier, quest, badge or coupon campaign that exists (a typo would
        show the quest to nobody, or with a coupon "not redeemed" to everybody)."""
        actor = parse_actor(actor)
        await self._check_audience(definition)

        async def attempt() -> QuestInfo:
            async with self._db.transaction() as session:
                existing = await session.scalar(
                    select(Quest.id).where(Quest.slug == definition.slug)
                )
                if existing is not None:
                    raise QuestExists(definition.slug)
                if is_profile_quest(definition):
                    await self._no_live_profile_quest_in(session)
                row = Quest(
                    slug=definition.slug,
                    definition=definition.to_json(),
                    starts_at=definition.starts,
                    ends_at=definition.ends,
                    automatic=definition.automatic,
                    created_by=actor,
                    created_at=self._clock.now(),
                )
                session.add(row)
                await session.flush()
                return self._info(row)

        return await retry_on_conflict(attempt)

    async def _check_audience(self, definition: QuestDefinition) -> None:
        """Refuse an audience naming a tier, quest, badge or campaign the program lacks:
        InvalidSegment (as broadcasts refuse it) for a segment, InvalidQuest for tiers; the
        message names the audience's field."""
        audience = definition.audience
        if isinstance(audience, Everyone):
            return
        tier_keys = [tier.key for tier in (await self._rules.current()).tiers]
        if isinstance(audience, TierAudience):
            unknown = [key for key in audience.tiers if key not in tier_keys]
            if unknown:
                known = ", ".join(tier_keys) or "none"
                raise InvalidQuest(
                    f"audience.tiers: no tier {', '.join(map(repr, unknown))} in the rules "
                    f"(tiers: {known})"
                )
            return
        try:
            await self._segments.check_names(audience.segment, tier_keys)
        except InvalidSegment as refusal:
            raise InvalidSegment(f"audience.segment: {refusal}") from None

    async def _no_live_profile_quest_in(self, session: AsyncSession) -> None:
        """One profile quest at a time: two would pay for the same profile twice."""
        now = self._clock.now()
        rows = await session.scalars(
            select(Quest).where(
                Quest.automatic.is_(True),
                Quest.ended_at.is_(None),
                or_(Quest.ends_at.is_(None), Quest.ends_at > now),
            )
        )
        for row in rows.all():
            if is_profile_quest(self._info(row).definition):
                raise ProfileQuestLive(row.slug)

    async def _profile_rewarded_in(
        self, session: AsyncSession, member_id: int, quest_id: int
    ) -> bool:
        """Whether another profile quest (one a shop ended and replaced) rewarded this
        member's profile already: a new reward for the same profile would be paid twice."""
        rows = await session.execute(
            select(Quest.id, Quest.definition)
            .join(QuestCompletion, QuestCompletion.quest_id == Quest.id)
            .where(
                QuestCompletion.member_id == member_id,
                Quest.automatic.is_(True),
                Quest.id != quest_id,
            )
        )
        return any(is_profile_quest(self._definition(other, raw)) for other, raw in rows.all())

    async def free_slug(self, base: str) -> str:
        """`base`, or `base-2`, `base-3` ... the first no quest has (slugs are never reused)."""
        async with self._db.reading() as session:
            taken = set(
                (
                    await session.scalars(
                        select(Quest.slug).where(
                            or_(Quest.slug == base, Quest.slug.like(f"{base}-%"))
                        )
                    )
                ).all()
            )
        number = 1
        slug = base
        while slug in taken:
            number += 1
            slug = f"{base}-{number}"
        return slug

    async def all(self) -> list[QuestInfo]:
        async with self._db.reading() as session:
            rows = await session.scalars(select(Quest).order_by(Quest.id))
            return [self._info(row) for row in rows]

    async def get(self, quest: int | str) -> QuestInfo:
        async with self._db.reading() as session:
            row = await self._row_in(session, quest)
            return self._info(row)

    async def end(self, quest: int | str, *, actor: str) -> QuestInfo:
        parse_actor(actor)
        async with self._db.transaction() as session:
            row = await self._row_in(session, quest)
            if row.ended_at is None:
                row.ended_at = self._clock.now()
            return self._info(row)

    async def counts(self, quest_id: int) -> tuple[int, int]:
        """(members who joined, completions) of a quest, for quest-list."""
        async with self._db.reading() as session:
            joined = await session.scalar(
                select(func.count()).where(QuestJoin.quest_id == quest_id)
            )
            completed = await session.scalar(
                select(func.count()).where(QuestCompletion.quest_id == quest_id)
            )
        return int(joined or 0), int(completed or 0)

    # ------------------------------------------------------------------ members

    async def available(self, member_id: int) -> list[QuestView]:
        """The quests this member can see now: live, and for their audience."""
        now = self._clock.now()
        async with self._db.reading() as session:
            member = await self._member_in(session, member_id)
            rows = await session.scalars(
                select(Quest)
                .where(
                    Quest.ended_at.is_(None),
                    Quest.starts_at <= now,
                    or_(Quest.ends_at.is_(None), Quest.ends_at > now),
                )
                .order_by(Quest.starts_at, Quest.id)
            )
            views = []
            for row in rows.all():
                info = self._info(row)
                if await self._for_in(session, info, member, now):
                    views.append(await self._view_in(session, info, member, now))
            return views

    async def profile_quest(self, member_id: int) -> QuestView | None:
        """The profile quest this member can still complete now: a live, automatic quest of
        their audience whose every step is a profile step, not yet completed in its period
        (the oldest, if a shop runs several), unless an earlier profile quest rewarded this
        profile already. None otherwise: joining and the profile then promise nothing."""
        for view in await self.available(member_id):
            definition = view.quest.definition
            if is_profile_quest(definition) and not view.completed:
                async with self._db.reading() as session:
                    if await self._profile_rewarded_in(session, member_id, view.quest.id):
                        return None
                return view
        return None

    async def view(self, member_id: int, quest_id: int) -> QuestView:
        now = self._clock.now()
        async with self._db.reading() as session:
            member = await self._member_in(session, member_id)
            info = self._info(await self._row_in(session, quest_id))
            if not info.live(now) or not await self._for_in(session, info, member, now):
                raise QuestRefused("not_available")
            return await self._view_in(session, info, member, now)

    async def join(self, member_id: int, quest_id: int) -> QuestView:
        """Join (again: nothing changes). What the profile already holds counts at once."""
        now = self._clock.now()

        async def attempt() -> None:
            async with self._db.transaction() as session:
                member = await self._member_in(session, member_id, lock=True)
                info = self._info(await self._row_in(session, quest_id))
                if not info.live(now) or not await self._for_in(session, info, member, now):
                    raise QuestRefused("not_available")
                await session.execute(
                    insert_ignoring(
                        session,
                        QuestJoin,
                        {"quest_id": info.id, "member_id": member.id, "joined_at": now},
                        unique=["member_id", "quest_id"],
                    )
                )
                await self._advance_in(
                    session, member.id, now, "profile", _profile_matcher(member), only=info.id
                )

        await retry_on_conflict(attempt)
        return await self.view(member_id, quest_id)

    async def answer(self, member_id: int, quest_id: int, step: int, answer: str) -> Outcome:
        """A quiz answer: a choice's number for multiple choice, or the typed text."""
        now = self._clock.now()
        async with self._db.transaction() as session:
            member = await self._member_in(session, member_id, lock=True)
            info, quiz, _period = await self._own_step_in(session, member, quest_id, step, now)
            if not isinstance(quiz, QuizStep):
                raise QuestRefused("step_unknown")
            if not _correct(quiz, answer):
                return Outcome(step_done=False, quest_done=False, correct=False)
            return await self._advance_in(
                session,
                member.id,
                now,
                "quiz",
                lambda candidate: Decimal(1) if candidate is quiz else None,
                only=info.id,
                tell_steps=False,
            )

    async def submit_proof(
        self,
        member_id: int,
        quest_id: int,
        step: int,
        *,
        text: str | None = None,
        photo: str | None = None,
    ) -> int:
        """Keep what the member sent for staff to review; its id."""
        now = self._clock.now()
        text = (text or "").strip()[:MAX_PROOF_TEXT] or None
        photo = photo if photo and len(photo) <= MAX_PHOTO_REFERENCE else None
        async with self._db.transaction() as session:
            member = await self._member_in(session, member_id, lock=True)
            info, proof, period = await self._own_step_in(session, member, quest_id, step, now)
            if not isinstance(proof, ProofStep) or (text is None and photo is None):
                raise QuestRefused("step_unknown")
            waiting = await session.scalar(
                select(QuestProof.id).where(
                    QuestProof.quest_id == info.id,
                    QuestProof.member_id == member.id,
                    QuestProof.period == period,
                    QuestProof.step == step,
                    QuestProof.status == PENDING,
                )
            )
            if waiting is not None:
                raise QuestRefused("proof_pending")
            row = QuestProof(
                quest_id=info.id,
                member_id=member.id,
                period=period,
                step=step,
                text=text,
                photo=photo,
                status=PENDING,
                created_at=now,
            )
            session.add(row)
            await session.flush()
            return row.id

    async def pending_proofs(self) -> list[PendingProof]:
        async with self._db.reading() as session:
            rows = await session.execute(
                select(QuestProof, Quest.slug, Member.card_code)
                .join(Quest, Quest.id == QuestProof.quest_id)
                .join(Member, Member.id == QuestProof.member_id)
                .where(QuestProof.status == PENDING)
                .order_by(QuestProof.id)
            )
            return [
                PendingProof(
                    id=proof.id,
                    quest_id=proof.quest_id,
                    quest_slug=slug,
                    member_id=proof.member_id,
                    card_code=card,
                    step=proof.step,
                    text=proof.text,
                    photo=proof.photo,
                    created_at=proof.created_at,
                )
                for proof, slug, card in rows.all()
            ]

    async def review(
        self, proof_id: int, *, approve: bool, actor: str, reason: str | None = None
    ) -> Outcome:
        """Staff approve (the step counts, in the period it was sent in) or reject (the
        member is told `reason`)."""
        actor = parse_actor(actor)
        reason = (reason or "").strip()[:MAX_REASON] or None
        now = self._clock.now()
        async with self._db.transaction() as session:
            proof = await session.scalar(
                select(QuestProof).where(QuestProof.id == proof_id).with_for_update()
            )
            if proof is None or proof.status != PENDING:
                raise ProofNotFound(proof_id)
            member = await self._member_in(session, proof.member_id, lock=True)
            info = self._info(await self._row_in(session, proof.quest_id))
            proof.status = APPROVED if approve else REJECTED
            proof.reason = reason
            proof.reviewed_by = actor
            proof.reviewed_at = now
            await enqueue_in(
                session,
                member_id=member.id,
                kind=NoticeKind.QUEST_PROOF_REVIEWED,
                payload={
                    "quest": info.slug,
                    "title": info.definition.title.to_json(),
                    "approved": approve,
                    "reason": reason,
                },
                dedupe_key=f"quest-proof:{proof.id}",
                now=now,
            )
            if not approve:
                return Outcome(step_done=False, quest_done=False, correct=False)
            step = info.definition.steps[proof.step]
            return await self._advance_in(
                session,
                member.id,
                proof.created_at,
                f"proof:{proof.id}",
                lambda candidate: Decimal(1) if candidate is step else None,
                only=info.id,
                period=proof.period,
                tell_steps=False,
            )

    async def check_channel(self, member_id: int, quest_id: int, step: int) -> Membership:
        """Ask the messenger whether the member is in the step's channel; count it if so."""
        now = self._clock.now()
        async with self._db.reading() as session:
            member = await self._member_in(session, member_id)
            _info, channel, _period = await self._own_step_in(session, member, quest_id, step, now)
            if not isinstance(channel, ChannelStep):
                raise QuestRefused("step_unknown")
            account = await session.scalar(
                select(Identity.external_id)
                .where(Identity.member_id == member.id, Identity.channel == "telegram")
                .order_by(Identity.id)
                .limit(1)
            )
        if account is None:
            raise QuestRefused("no_telegram")
        checker = self.memberships.get("telegram")
        if checker is None:
            raise QuestRefused("check_unavailable")
        # Outside any transaction: a messenger's answer may take seconds.
        answer = await checker.membership(channel.chat, account)
        if answer is Membership.MEMBER:
            async with self._db.transaction() as session:
                await self._member_in(session, member_id, lock=True)
                await self._advance_in(
                    session,
                    member_id,
                    now,
                    f"channel:{channel.chat}",
                    lambda candidate: Decimal(1) if candidate == channel else None,
                    only=quest_id,
                    tell_steps=False,
                )
        return answer

    async def reward_titles(self, entry_ids: Iterable[int]) -> dict[int, LocalizedText]:
        """The titles, in every language, of the quests whose rewards the ledger entries
        `entry_ids` are (the others are left out): History names a reward in the member's
        language, where the entry's own reference holds the English title only."""
        wanted = sorted(set(entry_ids))
        if not wanted:
            return {}
        async with self._db.reading() as session:
            rows = (
                await session.execute(
                    select(QuestCompletion.ledger_entry_id, Quest.id, Quest.definition)
                    .join(Quest, Quest.id == QuestCompletion.quest_id)
                    .where(QuestCompletion.ledger_entry_id.in_(wanted))
                )
            ).all()
        return {
            int(entry_id): self._definition(quest_id, raw).title
            for entry_id, quest_id, raw in rows
            if entry_id is not None
        }

    # ------------------------------------------------------------------ events

    async def on_purchase(self, session: AsyncSession, event: PurchaseRecorded) -> None:
        categories = event.categories or {}

        def matcher(step: Step) -> Decimal | None:
            if not isinstance(step, PurchaseStep):
                return None
            if step.store is not None and step.store != event.store:
                return None
            if step.category is not None:
                share = categories.get(step.category)
                return share if share is not None and share > 0 else None
            return event.amount

        await self._advance_in(
            session, event.member_id, event.occurred_at, f"purchase:{event.purchase_id}", matcher
        )

    async def on_refund(self, session: AsyncSession, event: RefundRecorded) -> None:
        # Whatever the purchase counted for, in periods not yet completed, less the refund.
        source = f"purchase:{event.purchase_id}"
        rows = await session.scalars(
            select(QuestProgress).where(
                QuestProgress.source == source,
                QuestProgress.member_id.in_(
                    select(Member.id).where(
                        or_(Member.id == event.member_id, Member.merged_into_id == event.member_id)
                    )
                ),
            )
        )
        for row in rows.all():
            completed = await session.scalar(
                select(QuestCompletion.id).where(
                    QuestCompletion.quest_id == row.quest_id,
                    QuestCompletion.member_id == row.member_id,
                    QuestCompletion.period == row.period,
                )
            )
            if completed is None:
                row.amount = max(Decimal(0), row.amount - event.amount)

    async def on_referral(self, session: AsyncSession, event: ReferralQualified) -> None:
        await self._advance_in(
            session,
            event.referrer_id,
            event.occurred_at,
            f"referral:{event.referral_id}",
            lambda step: Decimal(1) if isinstance(step, ReferralStep) else None,
        )

    async def on_checked_in(self, session: AsyncSession, event: CheckedIn) -> None:
        await self._advance_in(
            session,
            event.member_id,
            event.occurred_at,
            f"checkin:{event.day.isoformat()}",
            lambda step: Decimal(1) if isinstance(step, CheckInStep) else None,
        )

    async def on_event(self, session: AsyncSession, event: EventBonusRecorded) -> None:
        await self._advance_in(
            session,
            event.member_id,
            event.occurred_at,
            f"event:{event.record_id}",
            lambda step: (
                Decimal(1) if isinstance(step, EventStep) and step.event == event.kind else None
            ),
        )

    async def on_profile_changed(self, session: AsyncSession, event: ProfileChanged) -> None:
        filled = {
            "phone": event.has_phone,
            "birthday": event.has_birthday,
            "marketing": event.marketing,
        }
        await self._advance_in(
            session, event.member_id, event.occurred_at, "profile", _fields_matcher(filled)
        )

    async def on_member_joined(self, session: AsyncSession, event: MemberJoined) -> None:
        # Consent (or a phone) given while joining counts for the automatic profile quest.
        member = await session.get(Member, event.member_id)
        if member is not None:
            await self._advance_in(
                session, member.id, event.occurred_at, "profile", _profile_matcher(member)
            )

    async def on_members_merged(self, session: AsyncSession, event: MembersMerged) -> None:
        """The absorbed card's quests count for the survivor, once (see "Merged cards")."""
        survivor_id, absorbed_id = event.member_id, event.absorbed_id
        for join in (
            await session.scalars(select(QuestJoin).where(QuestJoin.member_id == absorbed_id))
        ).all():
            kept = await session.scalar(
                select(QuestJoin).where(
                    QuestJoin.member_id == survivor_id, QuestJoin.quest_id == join.quest_id
                )
            )
            if kept is None:
                join.member_id = survivor_id
            else:
                kept.joined_at = min(kept.joined_at, join.joined_at)
                await session.delete(join)
        for done in (
            await session.scalars(
                select(QuestCompletion).where(QuestCompletion.member_id == absorbed_id)
            )
        ).all():
            paid = await session.scalar(
                select(QuestCompletion.id).where(
                    QuestCompletion.member_id == survivor_id,
                    QuestCompletion.quest_id == done.quest_id,
                    QuestCompletion.period == done.period,
                )
            )
            if paid is None:
                done.member_id = survivor_id
        await session.flush()
        touched = (
            await session.execute(
                select(QuestProgress.quest_id, QuestProgress.period)
                .where(QuestProgress.member_id == absorbed_id)
                .distinct()
            )
        ).all()
        twin = aliased(QuestProgress)
        counted_by_survivor = exists().where(
            twin.member_id == survivor_id,
            twin.quest_id == QuestProgress.quest_id,
            twin.period == QuestProgress.period,
            twin.step == QuestProgress.step,
            twin.source == QuestProgress.source,
        )
        # What both cards counted from one source stays on the absorbed card: counted once.
        await session.execute(
            update(QuestProgress)
            .where(QuestProgress.member_id == absorbed_id, ~counted_by_survivor)
            .values(member_id=survivor_id)
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            update(QuestProof)
            .where(QuestProof.member_id == absorbed_id, QuestProof.status == PENDING)
            .values(member_id=survivor_id)
            .execution_options(synchronize_session=False)
        )
        survivor = await session.get(Member, survivor_id)
        if survivor is None or survivor.erased_at is not None:
            return
        when = event.occurred_at
        for quest_id, period in sorted(touched):
            info = self._info(await self._row_in(session, quest_id))
            if not info.live(when):
                continue
            definition = info.definition
            if is_profile_quest(definition) and await self._profile_rewarded_in(
                session, survivor_id, quest_id
            ):
                continue
            tally, completed = await self._state_in(
                session, quest_id, survivor_id, period, definition
            )
            if completed or not all(
                _complete(step, tally.done.get(index, Decimal(0)))
                for index, step in enumerate(definition.steps)
            ):
                continue
            await session.execute(
                insert_ignoring(
                    session,
                    QuestJoin,
                    {"quest_id": quest_id, "member_id": survivor_id, "joined_at": when},
                    unique=["member_id", "quest_id"],
                )
            )
            await self._complete_in(session, quest_id, definition, survivor, period, when)

    # ------------------------------------------------------------------ the engine

    async def _advance_in(
        self,
        session: AsyncSession,
        member_id: int,
        when: datetime,
        source: str,
        matcher: Matcher,
        *,
        only: int | None = None,
        period: str | None = None,
        tell_steps: bool = True,
    ) -> Outcome:
        """Count one happening (`source`, at `when`) for every step it matches, in the quests
        the member takes part in that were live at `when`; complete those now done. The member
        is told of a step done by a notice, unless the chat answers it at once (`tell_steps`
        False: a quiz answer, a channel check, a proof's own verdict)."""
        # Live when it happened: a late event from before an end (or a quest-end) counts.
        live = and_(
            or_(Quest.ended_at.is_(None), Quest.ended_at > when),
            Quest.starts_at <= when,
            or_(Quest.ends_at.is_(None), Quest.ends_at > when),
        )
        joined = and_(QuestJoin.quest_id == Quest.id, QuestJoin.member_id == member_id)
        query = (
            select(Quest.id, Quest.definition, QuestJoin.joined_at)
            .outerjoin(QuestJoin, joined)
            .where(live, or_(QuestJoin.id.is_not(None), Quest.automatic.is_(True)))
            .order_by(Quest.id)
        )
        if only is not None:
            query = query.where(Quest.id == only)
        rows = (await session.execute(query)).all()
        step_done = quest_done = False
        if not rows:
            return Outcome(step_done=False, quest_done=False)
        member = await session.get(Member, member_id)
        if member is None or member.erased_at is not None:
            return Outcome(step_done=False, quest_done=False)
        zone: ZoneInfo | None = None
        for quest_id, raw, joined_at in rows:
            definition = self._definition(quest_id, raw)
            if joined_at is not None and when < joined_at and only is None:
                continue  # happened before the member joined
            matching = [
                (index, worth)
                for index, step in enumerate(definition.steps)
                if (worth := matcher(step)) is not None
            ]
            if not matching:
                continue
            # An automatic quest's audience, asked only for a happening that counts in it (a
            # segment is a query); a member who joined (or was counted once) stays in.
            if joined_at is None and not await self._audience_has_in(
                session, definition, member, self._clock.now()
            ):
                continue
            if is_profile_quest(definition) and await self._profile_rewarded_in(
                session, member_id, quest_id
            ):
                continue  # a profile is rewarded once, whichever profile quest paid it
            if zone is None:
                zone = ZoneInfo(member.time_zone or (await self._rules.in_force(session)).time_zone)
            in_period = period or period_of(definition.recurrence, when, zone)
            eligible = matching
            if definition.ordered:
                # A step counts only once the ones before it are done: read first.
                tally, completed = await self._state_in(
                    session, quest_id, member_id, in_period, definition
                )
                if completed:
                    continue
                eligible = [
                    (index, worth)
                    for index, worth in matching
                    if not _complete(definition.steps[index], tally.done.get(index, Decimal(0)))
                    and all(
                        _complete(definition.steps[before], tally.done.get(before, Decimal(0)))
                        for before in range(index)
                    )
                ]
                if not eligible:
                    continue
            # Unordered steps are counted at once and read back once: a row for a step that
            # is complete already changes nothing (nor does one in a completed period).
            inserted = set(
                (
                    await session.scalars(
                        insert_ignoring(
                            session,
                            QuestProgress,
                            [
                                {
                                    "quest_id": quest_id,
                                    "member_id": member_id,
                                    "period": in_period,
                                    "step": index,
                                    "source": source,
                                    "amount": worth,
                                    "created_at": self._clock.now(),
                                }
                                for index, worth in eligible
                            ],
                            unique=["quest_id", "member_id", "period", "step", "source"],
                        ).returning(QuestProgress.step)
                    )
                ).all()
            )
            if not inserted:
                continue  # this very event counted already
            if joined_at is None and not isinstance(definition.audience, Everyone):
                # Counted once, a member of a tier's or a segment's automatic quest stays in
                # it (as one who joined does), and the audience is not asked again for their
                # events.
                joined_at = when
                await self._join_in(session, quest_id, member_id, when)
            tally, completed = await self._state_in(
                session, quest_id, member_id, in_period, definition
            )
            if completed:
                continue
            done_now = [
                index
                for index, worth in eligible
                if index in inserted
                and _complete(definition.steps[index], tally.done.get(index, Decimal(0)))
                and not _complete(
                    definition.steps[index],
                    tally.done.get(index, Decimal(0)) - _counted(definition.steps[index], worth),
                )
            ]
            if not done_now:
                continue
            step_done = True
            if joined_at is None:
                await self._join_in(session, quest_id, member_id, when)
            if all(
                _complete(step, tally.done.get(index, Decimal(0)))
                for index, step in enumerate(definition.steps)
            ):
                quest_done = await self._complete_in(
                    session, quest_id, definition, member, in_period, when
                )
                if quest_done:
                    continue
            for index in done_now if tell_steps else ():
                await enqueue_in(
                    session,
                    member_id=member_id,
                    kind=NoticeKind.QUEST_STEP_DONE,
                    payload={
                        "quest": definition.slug,
                        "title": definition.title.to_json(),
                        "step": index + 1,
                        "steps": len(definition.steps),
                        "done": sum(
                            1
                            for number, step in enumerate(definition.steps)
                            if _complete(step, tally.done.get(number, Decimal(0)))
                        ),
                    },
                    dedupe_key=f"quest-step:{quest_id}:{member_id}:{in_period}:{index}",
                    now=self._clock.now(),
                )
        return Outcome(step_done=step_done, quest_done=quest_done)

    async def _join_in(
        self, session: AsyncSession, quest_id: int, member_id: int, when: datetime
    ) -> None:
        await session.execute(
            insert_ignoring(
                session,
                QuestJoin,
                {"quest_id": quest_id, "member_id": member_id, "joined_at": when},
                unique=["member_id", "quest_id"],
            )
        )

    async def _complete_in(
        self,
        session: AsyncSession,
        quest_id: int,
        definition: QuestDefinition,
        member: Member,
        period: str,
        when: datetime,
    ) -> bool:
        """Record the completion and pay the reward, unless this period's was recorded."""
        reward = definition.reward
        now = self._clock.now()
        completion_id = await session.scalar(
            insert_ignoring(
                session,
                QuestCompletion,
                {
                    "quest_id": quest_id,
                    "member_id": member.id,
                    "period": period,
                    "points": reward.points,
                    "badge": reward.badge,
                    "created_at": now,
                },
                unique=["quest_id", "member_id", "period"],
            ).returning(QuestCompletion.id)
        )
        if completion_id is None:
            return False
        entry_id = None
        if reward.points > 0:
            posting = await self._ledger.post_in(
                session,
                member.id,
                reward.points,
                reason=QUEST_REASON,
                actor="program",
                idempotency_key=f"quest:{quest_id}:{member.id}:{period}",
                reference=definition.title.get("en")[:MAX_REFERENCE],
            )
            entry_id = posting.entry.id
        coupon_id = await self._give_coupon_in(session, reward.coupon, member.id)
        await session.execute(
            update(QuestCompletion)
            .where(QuestCompletion.id == completion_id)
            .values(ledger_entry_id=entry_id, coupon_id=coupon_id)
        )
        await self._bus.publish_in(
            session,
            QuestCompleted(
                occurred_at=now,
                member_id=member.id,
                quest_id=quest_id,
                period=period,
                badge=reward.badge,
            ),
        )
        payload: dict[str, Any] = {
            "quest": definition.slug,
            "title": definition.title.to_json(),
            "points": reward.points,
            "balance": member.balance,
        }
        if reward.badge:
            payload["badge"] = reward.badge
        if is_profile_quest(definition):
            payload["profile"] = True  # told as "your profile is complete"
        if coupon_id is not None:
            payload["coupon"] = True
        await enqueue_in(
            session,
            member_id=member.id,
            kind=NoticeKind.QUEST_COMPLETED,
            payload=payload,
            dedupe_key=f"quest-done:{completion_id}",
            now=now,
        )
        return True

    async def _give_coupon_in(
        self, session: AsyncSession, slug: str | None, member_id: int
    ) -> int | None:
        """A coupon reward. A campaign that ended or ran out must not undo what completed the
        quest: the member gets no coupon, and the log says why."""
        if not slug:
            return None
        try:
            async with session.begin_nested():
                campaign = await self._coupons.campaigns.campaign_in(session, slug, lock=True)
                issued = await self._coupons.issuing.issue_in(
                    session, campaign, member_id, source=COUPON_SOURCE
                )
                return issued.id
        except (CampaignNotFound, CouponRefused) as refusal:
            log.warning("quest coupon %r not given to member %s: %s", slug, member_id, refusal)
            return None

    # ------------------------------------------------------------------ reading

    async def _view_in(
        self, session: AsyncSession, info: QuestInfo, member: Member, now: datetime
    ) -> QuestView:
        rules = await self._rules.in_force(session)
        period = period_of(
            info.definition.recurrence, now, ZoneInfo(member.time_zone or rules.time_zone)
        )
        joined = (
            await session.scalar(
                select(QuestJoin.id).where(
                    QuestJoin.quest_id == info.id, QuestJoin.member_id == member.id
                )
            )
            is not None
        )
        tally, completed = await self._state_in(
            session, info.id, member.id, period, info.definition
        )
        waiting = set(
            (
                await session.scalars(
                    select(QuestProof.step).where(
                        QuestProof.quest_id == info.id,
                        QuestProof.member_id == member.id,
                        QuestProof.period == period,
                        QuestProof.status == PENDING,
                    )
                )
            ).all()
        )
        steps = []
        all_before = True
        for index, step in enumerate(info.definition.steps):
            done = tally.done.get(index, Decimal(0))
            if completed:
                done = max(done, step.target)
            steps.append(
                StepProgress(
                    index=index,
                    step=step,
                    done=done,
                    target=step.target,
                    locked=info.definition.ordered and not all_before,
                    proof_pending=index in waiting,
                )
            )
            all_before = all_before and _complete(step, done)
        return QuestView(
            quest=info,
            joined=joined or (info.definition.automatic and bool(tally.done)),
            period=period,
            completed=completed,
            steps=tuple(steps),
        )

    async def _own_step_in(
        self, session: AsyncSession, member: Member, quest_id: int, step: int, now: datetime
    ) -> tuple[QuestInfo, Step, str]:
        """A step the member can act on now (joined, live, unlocked, not yet done)."""
        info = self._info(await self._row_in(session, quest_id))
        if not info.live(now) or not await self._for_in(session, info, member, now):
            raise QuestRefused("not_available")
        view = await self._view_in(session, info, member, now)
        if not view.joined and not info.definition.automatic:
            raise QuestRefused("not_joined")
        if not 0 <= step < len(view.steps):
            raise QuestRefused("step_unknown")
        progress = view.steps[step]
        if progress.complete or view.completed:
            raise QuestRefused("step_done")
        if progress.locked:
            raise QuestRefused("step_locked")
        return info, progress.step, view.period

    async def _state_in(
        self,
        session: AsyncSession,
        quest_id: int,
        member_id: int,
        period: str,
        definition: QuestDefinition,
    ) -> tuple[_Tally, bool]:
        """A period's progress per step and whether it was completed, in one round trip."""
        completion = (
            select(
                literal(-1, Integer).label("step"),
                func.count().label("n"),
                literal(0, Numeric(14, 2)).label("total"),
            )
            .select_from(QuestCompletion)
            .where(
                QuestCompletion.quest_id == quest_id,
                QuestCompletion.member_id == member_id,
                QuestCompletion.period == period,
            )
        )
        progress = (
            select(
                QuestProgress.step,
                func.count().label("n"),
                func.coalesce(func.sum(QuestProgress.amount), 0).label("total"),
            )
            .where(
                QuestProgress.quest_id == quest_id,
                QuestProgress.member_id == member_id,
                QuestProgress.period == period,
                QuestProgress.amount > 0,
            )
            .group_by(QuestProgress.step)
        )
        tally = _Tally()
        completed = False
        for index, count, total in (await session.execute(union_all(completion, progress))).all():
            if index == -1:
                completed = count > 0
            elif 0 <= index < len(definition.steps):
                step = definition.steps[index]
                spend = isinstance(step, PurchaseStep) and step.spend is not None
                tally.done[index] = Decimal(total or 0) if spend else Decimal(count)
        return tally, completed

    async def _row_in(self, session: AsyncSession, quest: int | str) -> Quest:
        number = row_id(quest)
        if number is not None:
            row = await session.get(Quest, number)
        elif isinstance(quest, int):
            row = None  # a negative id: no quest has it
        else:
            row = await session.scalar(select(Quest).where(Quest.slug == quest))
        if row is None:
            raise QuestNotFound(quest)
        return row

    async def _member_in(
        self, session: AsyncSession, member_id: int, *, lock: bool = False
    ) -> Member:
        from core.shared.errors import MemberNotFound

        member = await session.get(Member, member_id, with_for_update=lock)
        if member is None or member.erased_at is not None:
            raise MemberNotFound(member_id)
        return member

    async def _for_in(
        self, session: AsyncSession, info: QuestInfo, member: Member, now: datetime
    ) -> bool:
        """Whether the member may see and do the quest now: in its audience, or (a tier's or
        a segment's quest) joined already. A tier is lost and a segment moves under a
        member's feet; someone who took up a quest keeps it and can finish it (taking their
        progress away would be unfair), while nobody outside the audience can join."""
        if not isinstance(info.definition.audience, Everyone):
            joined = await session.scalar(
                select(QuestJoin.id).where(
                    QuestJoin.quest_id == info.id, QuestJoin.member_id == member.id
                )
            )
            if joined is not None:
                return True
        return await self._audience_has_in(session, info.definition, member, now)

    async def _audience_has_in(
        self, session: AsyncSession, definition: QuestDefinition, member: Member, now: datetime
    ) -> bool:
        """Whether the member is in the quest's audience now: the tier they hold, or the
        segment's conditions asked for this one member. A quest the member opens needs no
        consent to offers (nothing is sent to them), so the segment's consent is left out."""
        audience = definition.audience
        if isinstance(audience, TierAudience):
            return member.tier in audience.tiers
        if isinstance(audience, SegmentAudience):
            statement = member_is_in(audience.segment, member.id, now=now, needs_consent=False)
            return await session.scalar(statement) is not None
        return True

    def _definition(self, quest_id: int, raw: str) -> QuestDefinition:
        definition = self._definitions.get(quest_id)
        if definition is None:
            definition = QuestDefinition.model_validate(json.loads(raw))
            self._definitions[quest_id] = definition
        return definition

    def _info(self, row: Quest) -> QuestInfo:
        return QuestInfo(
            id=row.id,
            slug=row.slug,
            definition=self._definition(row.id, row.definition),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            ended_at=row.ended_at,
            created_at=row.created_at,
        )


def is_profile_quest(definition: QuestDefinition) -> bool:
    """Completed by the profile alone: automatic, and every step a profile step."""
    return definition.automatic and all(isinstance(step, ProfileStep) for step in definition.steps)


def profile_fields(definition: QuestDefinition) -> list[str]:
    """The profile fields a quest's profile steps ask for, in the order first named."""
    fields: list[str] = []
    for step in definition.steps:
        if isinstance(step, ProfileStep):
            fields.extend(name for name in step.fields if name not in fields)
    return fields


def _complete(step: Step, done: Decimal) -> bool:
    return done >= step.target


def _counted(step: Step, worth: Decimal) -> Decimal:
    """How much one happening adds to a step: its amount for a spend, else one."""
    if isinstance(step, PurchaseStep) and step.spend is not None:
        return worth
    return Decimal(1)


def _correct(quiz: QuizStep, answer: str) -> bool:
    if quiz.choices is not None:
        given = answer.strip()
        if given.isascii() and given.isdigit():
            return int(given) == quiz.correct
        wanted = quiz.choices[(quiz.correct or 1) - 1]
        return any(normalize_answer(text) == normalize_answer(given) for _, text in wanted.texts)
    return any(
        normalize_answer(accepted) == normalize_answer(answer) for accepted in quiz.answers or ()
    )


def _fields_matcher(filled: dict[str, bool]) -> Matcher:
    def matcher(step: Step) -> Decimal | None:
        if isinstance(step, ProfileStep) and all(filled[name] for name in step.fields):
            return Decimal(1)
        return None

    return matcher


def _profile_matcher(member: Member) -> Matcher:
    return _fields_matcher(
        {
            "phone": member.phone is not None,
            "birthday": member.birthday is not None,
            "marketing": bool(member.marketing_opt_in),
        }
    )


def describe_steps(steps: Iterable[StepProgress]) -> str:
    """ "2/3, 0/1" for operators' listings."""
    return ", ".join(f"{step.done.normalize()}/{step.target.normalize()}" for step in steps)
