"""The loyalty core as one object: what handlers and the operator's tools are given."""

from __future__ import annotations

from dataclasses import dataclass

from core.clock import Clock, SystemClock
from core.db import Database
from core.ledger import Ledger
from core.linking import Linking
from core.members import Members
from core.purchases import Purchases
from core.referrals import Referrals
from core.rules import RuleBook


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

    @classmethod
    def build(cls, db: Database, clock: Clock | None = None) -> LoyaltyProgram:
        clock = clock or SystemClock()
        rules = RuleBook(db, clock)
        ledger = Ledger(db, clock)
        referrals = Referrals(db, clock, ledger)
        members = Members(db, clock, ledger, rules, referrals)
        return cls(
            db=db,
            clock=clock,
            rules=rules,
            ledger=ledger,
            members=members,
            purchases=Purchases(db, clock, ledger, rules, referrals),
            linking=Linking(db, clock, members, ledger, referrals),
            referrals=referrals,
        )
