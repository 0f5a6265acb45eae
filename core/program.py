"""The loyalty core as one object: what handlers and the operator's tools are given.

`LoyaltyProgram.build` is the core's composition root: it builds the message bus, hands it to
the contexts that publish, and subscribes the contexts that react, in the order their effects
must be seen (see `core.shared.bus`).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.birthdays.birthdays import Birthdays
from core.broadcasts.privacy import BroadcastsSection
from core.broadcasts.triggers import Triggers
from core.db.database import Database
from core.earning.event_bonuses import Events
from core.earning.privacy import EventsSection, PurchasesSection
from core.earning.purchases import Purchases
from core.feedback.privacy import FeedbackSection
from core.feedback.service import Feedback
from core.games.badges.badges import Badges
from core.games.contests.contests import Contests
from core.games.contests.privacy import ContestsSection
from core.games.leaderboards.boards import Leaderboards
from core.games.privacy import GamesSection
from core.games.quests.privacy import QuestsSection
from core.games.quests.service import Quests
from core.games.streaks.streaks import Streaks
from core.ledger.adjustments import Adjustments
from core.ledger.entries import Ledger
from core.ledger.expiry import Expiry
from core.ledger.privacy import PointsSection
from core.members.accounts import Members
from core.members.linking import Linking
from core.members.privacy import (
    ConsentsSection,
    MessengersSection,
    Privacy,
    ProfileSection,
)
from core.notices import announcements
from core.notices.privacy import NoticesSection
from core.notices.reminders import CouponReminders, ExpiryReminders
from core.offers.coupons import Coupons
from core.offers.privacy import CouponsSection
from core.offers.rewards import Rewards
from core.referrals.referrals import Referrals
from core.rules.book import RuleBook
from core.segments.privacy import TagsSection
from core.segments.service import Segments
from core.shared.bus import MessageBus
from core.shared.clock import Clock, SystemClock
from core.tiers.privacy import TierSection
from core.tiers.tiers import Tiers


@dataclass(frozen=True)
class LoyaltyProgram:
    db: Database
    clock: Clock
    bus: MessageBus
    rules: RuleBook
    ledger: Ledger
    adjustments: Adjustments
    members: Members
    privacy: Privacy
    purchases: Purchases
    linking: Linking
    referrals: Referrals
    tiers: Tiers
    events: Events
    coupons: Coupons
    rewards: Rewards
    birthdays: Birthdays
    expiry: Expiry
    reminders: ExpiryReminders
    coupon_reminders: CouponReminders
    quests: Quests
    contests: Contests
    streaks: Streaks
    badges: Badges
    boards: Leaderboards
    segments: Segments
    feedback: Feedback
    triggers: Triggers

    @classmethod
    def build(cls, db: Database, clock: Clock | None = None) -> LoyaltyProgram:
        clock = clock or SystemClock()
        bus = MessageBus(db, clock)
        rules = RuleBook(db, clock)
        ledger = Ledger(db, clock)
        coupons = Coupons(db, clock, bus)
        referrals = Referrals(db, clock, ledger, coupons, rules, bus)
        tiers = Tiers(db, clock, rules, bus)
        members = Members(db, clock, ledger, rules, bus)
        segments = Segments(db, clock)
        quests = Quests(db, clock, ledger, coupons, rules, bus, segments)
        boards = Leaderboards(db, clock, rules)
        contests = Contests(db, clock, ledger, coupons, boards, rules)
        # Order matters within an event: a referral bonus and a tier move first, so the
        # notice that comes last reports the balance after them.
        referrals.subscribe(bus)
        tiers.subscribe(bus)
        # The games hear other contexts' events after the publisher's commit, in their own
        # transaction (see core.shared.bus), in this order among themselves; the events
        # they publish (a quest done, a streak grown) the others hear in that transaction.
        quests.subscribe(bus)
        contests.subscribe(bus)
        announcements.subscribe(bus, rules)
        # Streaks before badges: a streak that grows publishes StreakExtended, which badges
        # hear (depth first) within the same transaction.
        streaks = Streaks(db, clock, rules, bus)
        badges = Badges(db, clock, rules)
        streaks.subscribe(bus)
        badges.subscribe(bus)
        boards.subscribe(bus)
        # Triggered broadcasts hear purchases after the commit too, last: the tier and the
        # balance the purchase moved are what "points short" reads.
        feedback = Feedback(db, clock, ledger)
        triggers = Triggers(db, clock, rules, tiers, feedback)
        triggers.subscribe(bus)
        # What each context keeps about a member, in the order of the export's keys.
        privacy = Privacy(
            db,
            members,
            [
                ProfileSection(clock),
                MessengersSection(members),
                ConsentsSection(),
                PointsSection(),
                PurchasesSection(),
                TierSection(),
                CouponsSection(),
                EventsSection(),
                NoticesSection(),
                QuestsSection(),
                ContestsSection(contests),
                GamesSection(boards),
                TagsSection(),
                FeedbackSection(),
                BroadcastsSection(),
            ],
        )
        return cls(
            db=db,
            clock=clock,
            bus=bus,
            rules=rules,
            ledger=ledger,
            adjustments=Adjustments(db, clock, ledger, bus),
            members=members,
            privacy=privacy,
            purchases=Purchases(db, clock, ledger, rules, bus),
            linking=Linking(db, clock, members, ledger, bus),
            referrals=referrals,
            tiers=tiers,
            events=Events(db, clock, ledger, rules, bus),
            coupons=coupons,
            rewards=Rewards(db, clock, ledger, coupons, bus),
            birthdays=Birthdays(db, clock, ledger, rules, members, coupons),
            expiry=Expiry(db, clock, ledger, rules, bus),
            reminders=ExpiryReminders(db, clock, rules),
            coupon_reminders=CouponReminders(db, clock, rules),
            quests=quests,
            contests=contests,
            streaks=streaks,
            badges=badges,
            boards=boards,
            segments=segments,
            feedback=feedback,
            triggers=triggers,
        )
