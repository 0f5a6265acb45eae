"""The loyalty core as one object: what handlers and the operator's tools are given."""

from __future__ import annotations

from dataclasses import dataclass

from core.birthdays.birthdays import Birthdays
from core.db.database import Database
from core.earning.event_bonuses import Events
from core.earning.purchases import Purchases
from core.ledger.entries import Ledger
from core.ledger.expiry import Expiry
from core.members.accounts import Members
from core.members.linking import Linking
from core.offers.coupons import Coupons
from core.offers.rewards import Rewards
from core.referrals.referrals import Referrals
from core.rules.book import RuleBook
from core.shared.clock import Clock, SystemClock
from core.tiers.tiers import Tiers


@dataclass(frozen=True)
class LoyaltyProgram:
    db: Database
    clock: Clock
    rules: RuleBook
    ledger: Ledger
    members: Members
    purchases: Purchases
    linking: Linking
    referrals: Referrals
    tiers: Tiers
    events: Events
    coupons: Coupons
    rewards: Rewards
    birthdays: Birthdays
    expiry: Expiry

    @classmethod
    def build(cls, db: Database, clock: Clock | None = None) -> LoyaltyProgram:
        clock = clock or SystemClock()
        rules = RuleBook(db, clock)
        ledger = Ledger(db, clock)
        coupons = Coupons(db, clock)
        referrals = Referrals(db, clock, ledger, coupons)
        tiers = Tiers(db, clock, rules)
        members = Members(db, clock, ledger, rules, referrals)
        return cls(
            db=db,
            clock=clock,
            rules=rules,
            ledger=ledger,
            members=members,
            purchases=Purchases(db, clock, ledger, rules, referrals, tiers),
            linking=Linking(db, clock, members, ledger, referrals),
            referrals=referrals,
            tiers=tiers,
            events=Events(db, clock, ledger, rules),
            coupons=coupons,
            rewards=Rewards(db, clock, ledger, coupons),
            birthdays=Birthdays(db, clock, ledger, rules, members),
            expiry=Expiry(db, clock, ledger, rules),
        )
