"""Purchases credited by a shop (operator CLI today, HTTP API and cashier flow later).

Points for a purchase follow the rules in force at the clock's now, the member's tier at
that moment and the active promotions (see `ProgramRules.purchase_points` for the combination
policy); the purchase then counts towards the member's tier, and a refund takes that progress
back (see `core.tiers`). What happened is published (`core.earning.events`): referrals,
tiers and notices react inside the same transaction.

Points spent at the till come back when the order is returned (`cancel_redemption`): into
lots with the expiries of the lots they were spent from, so they are no younger than they
were; points whose date passed meanwhile come back and expire at once (both entries show in
the member's history), as returning them spendable would be a gift.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import LedgerEntry, Member, PointLot, Purchase, RedemptionCancel, Refund
from core.earning.events import (
    PURCHASE_REASON,
    REDEMPTION_CANCEL_REASON,
    REDEMPTION_REASON,
    REFUND_REASON,
    PointsRedeemed,
    PointsReturned,
    PurchaseRecorded,
    RefundRecorded,
)
from core.ledger.entries import Ledger
from core.ledger.expiry import expire_lot_in
from core.rules.book import ProgramRules, RuleBook
from core.shared import cards
from core.shared.bus import MessageBus
from core.shared.clock import Clock
from core.shared.errors import (
    IdempotencyConflict,
    InvalidAmount,
    InvalidReference,
    MemberNotFound,
    PurchaseNotFound,
    RedemptionNotFound,
    RedemptionTooLarge,
)
from core.shared.owners import member_ids_of, owner_of, owner_of_card
from core.shared.parsing import (
    parse_actor,
    parse_amount,
    parse_label,
    parse_note,
    parse_reference,
)
from core.shared.writes import retry_on_conflict

MAX_CATEGORIES = 50


@dataclass(frozen=True)
class Credit:
    member_id: int
    card_code: str
    purchase_id: str
    amount: Decimal
    points: int
    balance: int
    replayed: bool
    # The member's tier after the purchase, and whether this purchase moved them to it.
    tier: str | None = None
    tier_changed: bool = False


@dataclass(frozen=True)
class RefundResult:
    member_id: int
    purchase_id: str
    amount: Decimal
    points: int
    taken: int
    debt_added: int
    balance: int
    replayed: bool


@dataclass(frozen=True)
class Redemption:
    member_id: int
    points: int
    balance: int
    replayed: bool


@dataclass(frozen=True)
class RedemptionCancelled:
    """Points of a redemption given back: `points` by this cancel (0 when nothing was left),
    `expired` of them at once; `left` can still be given back by later partial cancels."""

    member_id: int
    redemption_id: str
    points: int
    expired: int
    spent: int
    left: int
    balance: int
    replayed: bool


@dataclass(frozen=True)
class PurchaseRecord:
    purchase_id: str
    amount: Decimal
    points: int
    store: str | None
    created_at: datetime


def parse_categories(
    raw: Mapping[str, str | Decimal] | None, total: Decimal
) -> dict[str, Decimal] | None:
    """{category: amount}, each positive, together at most the purchase's total (the rest
    of the total is "uncategorized")."""
    if not raw:
        return None
    if len(raw) > MAX_CATEGORIES:
        raise InvalidAmount(f"at most {MAX_CATEGORIES} categories per purchase")
    parsed: dict[str, Decimal] = {}
    for name, amount in raw.items():
        label = parse_label("category name", name)
        if label in parsed:
            raise InvalidAmount(f"category {label!r} is given twice")
        parsed[label] = parse_amount(amount)
    if sum(parsed.values(), Decimal(0)) > total:
        raise InvalidAmount(f"the categories add up to more than the purchase ({total})")
    return parsed


def _categories_json(categories: Mapping[str, Decimal] | None) -> str | None:
    if not categories:
        return None
    return json.dumps({name: str(categories[name]) for name in sorted(categories)})


class Purchases:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        ledger: Ledger,
        rules: RuleBook,
        bus: MessageBus,
    ) -> None:
        self._db = db
        self._clock = clock
        self._ledger = ledger
        self._rules = rules
        self._bus = bus

    async def recent(self, member_id: int, *, limit: int = 10) -> list[PurchaseRecord]:
        """The member's latest purchases (with those of members merged into it), newest
        first."""
        async with self._db.reading() as session:
            rows = await session.scalars(
                select(Purchase)
                .where(Purchase.member_id.in_(member_ids_of(member_id)))
                .order_by(Purchase.created_at.desc(), Purchase.id.desc())
                .limit(limit)
            )
            return [
                PurchaseRecord(
                    purchase_id=row.purchase_id,
                    amount=row.amount,
                    points=row.points,
                    store=row.store,
                    created_at=row.created_at,
                )
                for row in rows
            ]

    async def credit(
        self,
        card_code: str,
        amount: str | Decimal,
        *,
        purchase_id: str,
        actor: str,
        store: str | None = None,
        categories: Mapping[str, str | Decimal] | None = None,
    ) -> Credit:
        """Record a purchase and earn points by the rules in force; idempotent on
        purchase_id (the same id with another amount, store or categories is refused).

        `categories` gives parts of the amount per category ({"coffee": "300"}) for
        category promotions; what they leave of the total is uncategorized."""
        amount = parse_amount(amount)
        actor = parse_actor(actor)
        purchase_id = parse_reference("purchase id", purchase_id)
        store = parse_label("store name", store) if store is not None else None
        by_category = parse_categories(categories, amount)
        code = cards.normalize(card_code)
        rules = await self._rules.current()

        async def attempt() -> Credit:
            async with self._db.transaction() as session:
                return await self._credit_in(
                    session, code, purchase_id, amount, store, by_category, actor, rules
                )

        # A purchase credited concurrently makes the retry see it as a replay.
        return await retry_on_conflict(attempt)

    async def _credit_in(
        self,
        session: AsyncSession,
        code: str,
        purchase_id: str,
        amount: Decimal,
        store: str | None,
        by_category: dict[str, Decimal] | None,
        actor: str,
        rules: ProgramRules,
    ) -> Credit:
        # Referrals and tiers, subscribers of what this publishes, decide under the same rules.
        self._rules.pin(session, rules)
        member_id = await session.scalar(owner_of_card(code))
        if member_id is None:
            raise MemberNotFound(code)
        previous = await session.scalar(select(Purchase).where(Purchase.purchase_id == purchase_id))
        if previous is not None:
            # The purchase's own record, not its ledger entry, is what a replay is checked
            # against: its amount, store and categories are not the ledger's to know, its
            # points were worked out under the rules of that day, and a purchase worth no
            # points has no entry. Same member as the ledger counts it: today's owners (the
            # card may have been merged since).
            owner = await session.scalar(owner_of(previous.member_id))
            if (
                owner != member_id
                or previous.amount != amount
                or previous.store != store
                or previous.categories != _categories_json(by_category)
            ):
                raise IdempotencyConflict(f"purchase:{purchase_id}")
            member = await session.get(Member, member_id)
            assert member is not None
            return Credit(
                member_id,
                code,
                purchase_id,
                amount,
                previous.points,
                member.balance,
                replayed=True,
                tier=member.tier,
            )
        # Locked before the tier is read, so it cannot move under this credit.
        member = await session.get(Member, member_id, with_for_update=True)
        if member is None:
            raise MemberNotFound(code)
        now = self._clock.now()
        # Buying is activity: written with the balance, in the member row's one update.
        member.last_active_at = max(member.last_active_at, now)
        points = rules.purchase_points(
            amount,
            at=now,
            tier=member.tier,
            store=store,
            categories=by_category,
        )
        entry_id = None
        if points > 0:
            posting = await self._ledger.post_in(
                session,
                member_id,
                points,
                reason=PURCHASE_REASON,
                actor=actor,
                idempotency_key=f"purchase:{purchase_id}",
                reference=purchase_id,
            )
            entry_id = posting.entry.id
        session.add(
            Purchase(
                purchase_id=purchase_id,
                member_id=member_id,
                amount=amount,
                points=points,
                ledger_entry_id=entry_id,
                store=store,
                categories=_categories_json(by_category),
                actor=actor,
                created_at=now,
            )
        )
        await session.flush()
        tier_before = member.tier
        # Referrals (the friend's own bonus), tiers and the notice, in this transaction.
        await self._bus.publish_in(
            session,
            PurchaseRecorded(
                occurred_at=now,
                member_id=member_id,
                purchase_id=purchase_id,
                amount=amount,
                points=points,
                store=store,
                categories=by_category,
            ),
        )
        # The till waits for the points, not for the games: they hear the purchase after the
        # commit, in this process's background worker (a member's rank moves moments later).
        self._bus.hand_off(session)
        # The same row object the ledger and the tiers changed: it holds the outcome.
        balance = member.balance
        return Credit(
            member_id,
            code,
            purchase_id,
            amount,
            points,
            balance,
            replayed=False,
            tier=member.tier,
            tier_changed=member.tier != tier_before,
        )

    async def refund(
        self,
        purchase_id: str,
        *,
        refund_id: str,
        actor: str,
        amount: str | Decimal | None = None,
    ) -> RefundResult:
        """Take back the points of a refunded purchase (all of it, or `amount` of it).

        Partial refunds add up to at most the purchase. Points the balance cannot cover
        become a debt that later earnings settle first, never a negative balance.
        Idempotent on refund_id."""
        actor = parse_actor(actor)
        refund_id = parse_reference("refund id", refund_id)

        async def attempt() -> RefundResult:
            async with self._db.transaction() as session:
                return await self._refund_in(session, purchase_id.strip(), refund_id, actor, amount)

        return await retry_on_conflict(attempt)

    async def _refund_in(
        self,
        session: AsyncSession,
        purchase_id: str,
        refund_id: str,
        actor: str,
        amount: str | Decimal | None,
    ) -> RefundResult:
        purchase = await session.scalar(
            select(Purchase).where(Purchase.purchase_id == purchase_id).with_for_update()
        )
        if purchase is None:
            raise PurchaseNotFound(purchase_id)
        previous = await session.scalar(select(Refund).where(Refund.refund_id == refund_id))
        if previous is not None:
            if previous.purchase_row_id != purchase.id or (
                amount is not None and previous.amount != parse_amount(amount)
            ):
                raise IdempotencyConflict(f"refund:{refund_id}")
            balance = await session.scalar(
                select(Member.balance).where(Member.id == previous.member_id)
            )
            return RefundResult(
                previous.member_id,
                purchase_id,
                previous.amount,
                previous.points,
                previous.taken,
                previous.debt_added,
                balance or 0,
                replayed=True,
            )
        refunded_amount, refunded_points = (
            await session.execute(
                select(
                    func.coalesce(func.sum(Refund.amount), 0),
                    func.coalesce(func.sum(Refund.points), 0),
                ).where(Refund.purchase_row_id == purchase.id)
            )
        ).one()
        remaining = purchase.amount - Decimal(refunded_amount)
        wanted = remaining if amount is None else parse_amount(amount)
        if remaining <= 0 or wanted > remaining:
            raise InvalidAmount(f"at most {remaining} of purchase {purchase_id} can be refunded")
        # Cumulative rounding: all refunds of a purchase together take back its points exactly.
        total_after = purchase.amount - remaining + wanted
        points = int(purchase.points * total_after / purchase.amount) - int(refunded_points)
        member_id = purchase.member_id
        member = await session.get(Member, member_id, with_for_update=True)
        if member is not None and member.merged_into_id is not None:
            member_id = member.merged_into_id
            member = await session.get(Member, member_id, with_for_update=True)
        if member is None:
            raise MemberNotFound(member_id)
        now = self._clock.now()
        taken = min(points, member.balance)
        if taken > 0:
            await self._ledger.post_in(
                session,
                member_id,
                -taken,
                reason=REFUND_REASON,
                actor=actor,
                idempotency_key=f"refund:{refund_id}",
                reference=purchase_id,
                # The refunded purchase's own points go first, older ones keep their expiry.
                take_first_from=purchase.ledger_entry_id,
            )
        member.debt += points - taken
        session.add(
            Refund(
                refund_id=refund_id,
                purchase_row_id=purchase.id,
                member_id=member_id,
                amount=wanted,
                points=points,
                taken=taken,
                debt_added=points - taken,
                actor=actor,
                created_at=now,
            )
        )
        await session.flush()
        # The refunded amount no longer counts towards the tier; if the tier was reached with
        # this purchase, losing it is immediate (see core.tiers).
        await self._bus.publish_in(
            session,
            RefundRecorded(
                occurred_at=now,
                member_id=member_id,
                refund_id=refund_id,
                purchase_id=purchase_id,
                purchase_made_at=purchase.created_at,
                amount=wanted,
                points=points,
                debt_added=points - taken,
            ),
        )
        return RefundResult(
            member_id,
            purchase_id,
            wanted,
            points,
            taken,
            points - taken,
            member.balance,
            replayed=False,
        )

    async def redeem(
        self,
        card_code: str,
        points: int,
        *,
        redemption_id: str,
        actor: str,
        order_amount: str | Decimal | None = None,
    ) -> Redemption:
        """Spend points at the till; idempotent on redemption_id; never below zero. Against
        an order, points may pay at most the program's share of it (`max_points_share`)."""
        if points <= 0:
            raise InvalidAmount("points to redeem must be positive")
        actor = parse_actor(actor)
        if order_amount is not None:
            rules = await self._rules.current()
            allowed = rules.max_points_for(parse_amount(order_amount))
            if points > allowed:
                raise RedemptionTooLarge(allowed)
        redemption_id = parse_reference("redemption id", redemption_id)
        code = cards.normalize(card_code)
        async with self._db.reading() as session:
            member_id = await session.scalar(owner_of_card(code))
        if member_id is None:
            raise MemberNotFound(code)
        owner: int = member_id

        async def attempt() -> Redemption:
            async with self._db.transaction() as session:
                posting = await self._ledger.post_in(
                    session,
                    owner,
                    -points,
                    reason=REDEMPTION_REASON,
                    actor=actor,
                    idempotency_key=f"redemption:{redemption_id}",
                    reference=redemption_id,
                )
                if not posting.replayed:
                    # A replay was published with its first posting, in its transaction.
                    await self._bus.publish_in(
                        session,
                        PointsRedeemed(
                            occurred_at=self._clock.now(),
                            member_id=owner,
                            redemption_id=redemption_id,
                            points=points,
                            balance=posting.balance,
                        ),
                    )
                return Redemption(owner, points, posting.balance, posting.replayed)

        # The same redemption posted concurrently: the retry reports it.
        return await retry_on_conflict(attempt)

    async def cancel_redemption(
        self,
        redemption_id: str,
        *,
        actor: str,
        points: int | None = None,
        cancel_id: str | None = None,
        reason: str | None = None,
    ) -> RedemptionCancelled:
        """Give back the points a redemption spent: all that is left of it, or `points` of it
        (a part of the order returned; then `cancel_id`, the shop's id of this part, is
        required, so that sending it again is not a second return). Together never more than
        was spent. Idempotent: a cancel sent again, or a whole cancel when nothing is left,
        changes nothing and says so."""
        actor = parse_actor(actor)
        redemption_id = parse_reference("redemption id", redemption_id)
        cancel = parse_reference("cancel id", cancel_id) if cancel_id is not None else None
        if points is not None:
            if points <= 0:
                raise InvalidAmount("points to give back must be positive")
            if cancel is None:
                raise InvalidReference("a partial cancel needs its own cancel id")
        note = parse_note("reason", reason)

        async def attempt() -> RedemptionCancelled:
            async with self._db.transaction() as session:
                return await self._cancel_redemption_in(
                    session, redemption_id, cancel, points, note, actor
                )

        # The same cancel sent concurrently: the retry sees it as a replay.
        return await retry_on_conflict(attempt)

    async def _cancel_redemption_in(
        self,
        session: AsyncSession,
        redemption_id: str,
        cancel_id: str | None,
        points: int | None,
        reason: str | None,
        actor: str,
    ) -> RedemptionCancelled:
        spent_entry = await session.scalar(
            select(LedgerEntry).where(
                LedgerEntry.idempotency_key == f"redemption:{redemption_id}",
                LedgerEntry.reason == REDEMPTION_REASON,
            )
        )
        if spent_entry is None:
            raise RedemptionNotFound(redemption_id)
        # The points go back to whoever holds the card today (after a merge, the survivor).
        owner = await session.scalar(owner_of(spent_entry.member_id))
        # Locked before anything of the redemption's returns is read: cancels of one
        # redemption are serialized, so together they never give back more than was spent.
        member = await session.get(Member, owner, with_for_update=True) if owner else None
        if member is not None and member.merged_into_id is not None:
            # Merged while this waited for the lock: the survivor holds the card now.
            member = await session.get(Member, member.merged_into_id, with_for_update=True)
        if member is None:
            raise MemberNotFound(spent_entry.member_id)
        key = f"redemption-cancel:{spent_entry.id}" + (f":{cancel_id}" if cancel_id else "")
        spent = -spent_entry.points
        returned_before = int(
            await session.scalar(
                select(func.coalesce(func.sum(RedemptionCancel.points), 0)).where(
                    RedemptionCancel.redemption_entry_id == spent_entry.id
                )
            )
            or 0
        )
        left = spent - returned_before
        previous = await session.scalar(
            select(RedemptionCancel).where(RedemptionCancel.cancel_key == key)
        )
        if previous is not None:
            if points is not None and previous.points != points:
                raise IdempotencyConflict(key)
            return RedemptionCancelled(
                member.id,
                redemption_id,
                previous.points,
                previous.expired,
                spent,
                left,
                member.balance,
                replayed=True,
            )
        if points is None and left == 0:
            # A whole cancel once the parts gave everything back: done already.
            return RedemptionCancelled(
                member.id, redemption_id, 0, 0, spent, 0, member.balance, replayed=True
            )
        wanted = left if points is None else points
        if wanted > left:
            raise InvalidAmount(
                f"at most {left} points of redemption {redemption_id} can still be given back"
            )
        now = self._clock.now()
        posting = await self._ledger.post_in(
            session,
            member.id,
            wanted,
            reason=REDEMPTION_CANCEL_REASON,
            actor=actor,
            idempotency_key=key,
            reference=redemption_id,
            lots_like=spent_entry.id,
            returned_before=returned_before,
        )
        expired = await self._expire_returned_in(session, member.id, posting.entry.id, now)
        session.add(
            RedemptionCancel(
                cancel_key=key,
                redemption_entry_id=spent_entry.id,
                entry_id=posting.entry.id,
                member_id=member.id,
                points=wanted,
                expired=expired,
                reason=reason,
                actor=actor,
                created_at=now,
            )
        )
        await session.flush()
        await self._bus.publish_in(
            session,
            PointsReturned(
                occurred_at=now,
                member_id=member.id,
                redemption_id=redemption_id,
                cancel_key=key,
                points=wanted,
                expired=expired,
                balance=member.balance,
            ),
        )
        return RedemptionCancelled(
            member.id,
            redemption_id,
            wanted,
            expired,
            spent,
            left - wanted,
            member.balance,
            replayed=False,
        )

    async def _expire_returned_in(
        self, session: AsyncSession, member_id: int, entry_id: int, now: datetime
    ) -> int:
        """Expire at once what came back into lots whose date has passed; how many points.

        Keyed by the lot like the expiry job's own entries, so the job never expires it again."""
        lots = (
            await session.scalars(
                select(PointLot)
                .where(
                    PointLot.entry_id == entry_id,
                    PointLot.remaining > 0,
                    PointLot.expires_at <= now,
                )
                .order_by(PointLot.id)
            )
        ).all()
        expired = 0
        for lot in lots:
            posting = await expire_lot_in(self._ledger, session, member_id, lot)
            expired -= posting.entry.points
        return expired
