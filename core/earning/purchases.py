"""Purchases credited by a shop (operator CLI today, HTTP API and cashier flow later).

Points for a purchase follow the rules in force at the clock's now, the member's tier at
that moment and the active promotions (see `ProgramRules.purchase_points` for the combination
policy); the purchase then counts towards the member's tier, and a refund takes that progress
back (see `core.tiers`). Earning and spending enqueue a notice in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import Member, Purchase, Refund
from core.ledger.entries import Ledger
from core.members.accounts import member_id_by_card
from core.notices.outbox import NoticeKind, enqueue_in
from core.referrals.referrals import Referrals
from core.rules.book import ProgramRules, RuleBook
from core.shared import cards
from core.shared.clock import Clock
from core.shared.errors import (
    IdempotencyConflict,
    InvalidAmount,
    InvalidReference,
    MemberNotFound,
    PurchaseNotFound,
    RedemptionTooLarge,
)
from core.tiers.tiers import Tiers

PURCHASE_REASON = "purchase"
REFUND_REASON = "refund"
REDEMPTION_REASON = "redemption"
MAX_AMOUNT = Decimal("1000000000")
MAX_REFERENCE_LENGTH = 64
MAX_LABEL_LENGTH = 64
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


def parse_amount(raw: str | Decimal) -> Decimal:
    """A positive money amount with at most two decimals ("1234.50", "1234,5")."""
    try:
        amount = Decimal(str(raw).strip().replace(",", "."))
    except InvalidOperation as error:
        raise InvalidAmount(f"not a number: {raw!r}") from error
    if not amount.is_finite() or amount <= 0:
        raise InvalidAmount(f"the amount must be positive: {raw!r}")
    if amount >= MAX_AMOUNT:
        raise InvalidAmount(f"the amount is too large: {raw!r}")
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidAmount(f"at most two decimals: {raw!r}")
    return amount.quantize(Decimal("0.01"))


def parse_label(what: str, raw: str) -> str:
    label = raw.strip()
    if not label or len(label) > MAX_LABEL_LENGTH:
        raise InvalidReference(f"a {what} of 1 to {MAX_LABEL_LENGTH} characters is required")
    return label


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
        referrals: Referrals,
        tiers: Tiers,
    ) -> None:
        self._db = db
        self._clock = clock
        self._ledger = ledger
        self._rules = rules
        self._referrals = referrals
        self._tiers = tiers

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
        purchase_id = purchase_id.strip()
        if not purchase_id or len(purchase_id) > MAX_REFERENCE_LENGTH:
            raise InvalidReference(
                f"a purchase id of 1 to {MAX_REFERENCE_LENGTH} characters is required"
            )
        store = parse_label("store name", store) if store is not None else None
        by_category = parse_categories(categories, amount)
        code = cards.normalize(card_code)
        rules = await self._rules.current()
        for attempt in range(2):
            try:
                async with self._db.transaction() as session:
                    member_id = await session.scalar(member_id_by_card(code))
                    if member_id is None:
                        raise MemberNotFound(code)
                    previous = await session.scalar(
                        select(Purchase).where(Purchase.purchase_id == purchase_id)
                    )
                    if previous is not None:
                        # Compare today's owners: the member may have been merged since.
                        owner = await session.scalar(
                            select(func.coalesce(Member.merged_into_id, Member.id)).where(
                                Member.id == previous.member_id
                            )
                        )
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
                        entry_id, balance = posting.entry.id, posting.balance
                    else:
                        balance = (
                            await session.scalar(
                                select(Member.balance).where(Member.id == member_id)
                            )
                            or 0
                        )
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
                    if await self._referrals.qualify_in(
                        session, member_id, "first_purchase", rules
                    ):
                        # The friend's own referral bonus landed in the same transaction.
                        balance = (
                            await session.scalar(
                                select(Member.balance).where(Member.id == member_id)
                            )
                            or balance
                        )
                    change = await self._tiers.evaluate_in(
                        session, member_id, PURCHASE_REASON, rules
                    )
                    if points > 0:
                        await enqueue_in(
                            session,
                            member_id=member_id,
                            kind=NoticeKind.POINTS_EARNED,
                            payload={
                                "points": points,
                                "balance": balance,
                                "reason": PURCHASE_REASON,
                                "reference": purchase_id,
                            },
                            dedupe_key=f"earned:purchase:{purchase_id}",
                            now=now,
                        )
                    return Credit(
                        member_id,
                        code,
                        purchase_id,
                        amount,
                        points,
                        balance,
                        replayed=False,
                        tier=member.tier,
                        tier_changed=change is not None,
                    )
            except IntegrityError:
                # The same purchase was credited concurrently: the retry sees it as a replay.
                if attempt:
                    raise
        raise AssertionError("unreachable")

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
        refund_id = refund_id.strip()
        if not refund_id or len(refund_id) > MAX_REFERENCE_LENGTH:
            raise InvalidReference(
                f"a refund id of 1 to {MAX_REFERENCE_LENGTH} characters is required"
            )
        rules = await self._rules.current()
        for attempt in range(2):
            try:
                async with self._db.transaction() as session:
                    return await self._refund_in(
                        session, purchase_id.strip(), refund_id, actor, amount, rules
                    )
            except IntegrityError:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _refund_in(
        self,
        session: AsyncSession,
        purchase_id: str,
        refund_id: str,
        actor: str,
        amount: str | Decimal | None,
        rules: ProgramRules,
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
                created_at=self._clock.now(),
            )
        )
        await session.flush()
        # The refunded amount no longer counts towards the tier; if the tier was reached with
        # this purchase, losing it is immediate (see core.tiers).
        await self._tiers.evaluate_in(
            session,
            member_id,
            REFUND_REASON,
            rules,
            reversed_purchase_at=purchase.created_at,
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
        if order_amount is not None:
            rules = await self._rules.current()
            allowed = rules.max_points_for(parse_amount(order_amount))
            if points > allowed:
                raise RedemptionTooLarge(allowed)
        redemption_id = redemption_id.strip()
        if not redemption_id or len(redemption_id) > MAX_REFERENCE_LENGTH:
            raise InvalidReference(
                f"a redemption id of 1 to {MAX_REFERENCE_LENGTH} characters is required"
            )
        code = cards.normalize(card_code)
        async with self._db.reading() as session:
            member_id = await session.scalar(member_id_by_card(code))
        if member_id is None:
            raise MemberNotFound(code)
        for attempt in range(2):
            try:
                async with self._db.transaction() as session:
                    posting = await self._ledger.post_in(
                        session,
                        member_id,
                        -points,
                        reason=REDEMPTION_REASON,
                        actor=actor,
                        idempotency_key=f"redemption:{redemption_id}",
                        reference=redemption_id,
                    )
                    # A replay finds the notice already there: dedupe_key keeps it single.
                    await enqueue_in(
                        session,
                        member_id=member_id,
                        kind=NoticeKind.POINTS_SPENT,
                        payload={
                            "points": points,
                            "balance": posting.balance,
                            "reason": REDEMPTION_REASON,
                            "reference": redemption_id,
                        },
                        dedupe_key=f"spent:redemption:{redemption_id}",
                        now=self._clock.now(),
                    )
                    return Redemption(member_id, points, posting.balance, posting.replayed)
            except IntegrityError:
                # The same redemption was posted concurrently: the retry reports it.
                if attempt:
                    raise
        raise AssertionError("unreachable")
