"""A segment as SQL: the ids of the members in it, and their count by channel.

Who can be in a segment at all is fixed here, whatever the segment says: a live member (not
erased, not merged into another) who opted in to offers. `REACHABLE` is written exactly as the
segments' partial indexes are (core.db.models), so PostgreSQL answers a simple segment
(a tier, a channel and a language, inactivity) from an index alone.

What a member did before a merge counts for the member they are now: purchases, points,
friends, quests, badges, coupons and tags are attributed to their owner today
(COALESCE(merged_into_id, id), as core.shared.owners does).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    FromClause,
    Select,
    and_,
    extract,
    func,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute, aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from core.db.models import (
    Badge,
    BadgeAward,
    Coupon,
    CouponCampaign,
    CouponRedemption,
    LedgerEntry,
    Member,
    MemberTag,
    Purchase,
    Quest,
    QuestCompletion,
    QuestJoin,
    Referral,
    Refund,
)
from core.segments.definition import (
    BASE_TIER,
    Bought,
    CountInPeriod,
    MoneyInPeriod,
    Period,
    Range,
    Segment,
)
from core.shared.owners import member_ids_of

# A column as a condition takes it: a mapped attribute or an SQL expression.
Column = ColumnElement[Any] | QueryableAttribute[Any]

# Earned points: every credit but the one a merge moves from one card to another.
_NOT_EARNED = ("merge_in",)


def reachable() -> list[ColumnElement[bool]]:
    """Live members who opted in to offers (the segments' partial indexes hold exactly them)."""
    # The bare column (`WHERE marketing_opt_in`), as the index predicate says it.
    return [Member.marketing_opt_in.expression, *live()]


def live() -> list[ColumnElement[bool]]:
    """Members who are still someone: not erased, not merged into another card."""
    return [Member.erased_at.is_(None), Member.merged_into_id.is_(None)]


def members_in(segment: Segment, *, now: datetime) -> Select[int]:
    """The ids of the live, consenting members who meet every condition of `segment`."""
    return select(Member.id).where(*reachable(), *conditions(segment, now=now))


def member_is_in(
    segment: Segment, member_id: int, *, now: datetime, needs_consent: bool = True
) -> Select[int]:
    """The member's id if they meet every condition of `segment` now, else no row: one member
    asked with the same conditions as the whole segment (a quest's audience, a trigger).
    `needs_consent=False` leaves out only the consent to offers (a quest the member opens
    themselves is no offer sent to them); an erased or merged card is never in."""
    who = reachable() if needs_consent else live()
    return select(Member.id).where(
        Member.id == member_id, *who, *conditions(segment, now=now, only=member_id)
    )


def count_by_channel(segment: Segment, *, now: datetime) -> Select[str | None, int]:
    """How many members are in `segment`, per last channel (None: no account left)."""
    return (
        select(Member.last_channel, func.count())
        .where(*reachable(), *conditions(segment, now=now))
        .group_by(Member.last_channel)
    )


def conditions(
    segment: Segment, *, now: datetime, only: int | None = None
) -> list[ColumnElement[bool]]:
    """One SQL condition on `members` per condition the segment gives. `only`: the question
    is about this one member, so what is aggregated (purchases, points, tags ...) is read for
    their rows alone (and those of cards merged into them), by index, not for everyone's."""
    where: list[ColumnElement[bool]] = []
    if segment.channel is not None:
        where.append(Member.last_channel == segment.channel)
    if segment.language is not None:
        where.append(Member.language == segment.language)
    if segment.tier is not None:
        where.append(
            Member.tier.is_(None) if segment.tier == BASE_TIER else Member.tier == segment.tier
        )
    if segment.balance is not None:
        where.extend(_in_range(Member.balance, segment.balance))
    if segment.active_within_days is not None:
        where.append(Member.last_active_at >= now - timedelta(days=segment.active_within_days))
    if segment.inactive_days is not None:
        where.append(Member.last_active_at < now - timedelta(days=segment.inactive_days))
    if segment.joined is not None:
        where.extend(_in_period(Member.created_at, segment.joined, now))
    if segment.birthday_month is not None:
        where.append(extract("month", Member.birthday) == segment.birthday_month)
    if segment.purchases is not None:
        where.append(_purchases(segment.purchases, now, only))
    if segment.spent is not None:
        where.append(_spent(segment.spent, now, only))
    if segment.average_receipt is not None:
        where.append(_average_receipt(segment.average_receipt, now, only))
    if segment.bought is not None:
        where.append(_bought(segment.bought, now, only))
    if segment.points_earned is not None:
        where.append(
            _counted(
                LedgerEntry.__table__,
                LedgerEntry.member_id,
                func.sum(LedgerEntry.points),
                [
                    LedgerEntry.points > 0,
                    LedgerEntry.reason.not_in(_NOT_EARNED),
                    *_in_period(LedgerEntry.created_at, segment.points_earned, now),
                ],
                segment.points_earned,
                only=only,
            )
        )
    if segment.friends_referred is not None:
        where.append(
            _counted(
                Referral.__table__,
                Referral.referrer_id,
                func.count(Referral.id),
                [Referral.status != "rejected"],
                segment.friends_referred,
                only=only,
            )
        )
    if segment.quest is not None:
        if segment.quest.state == "completed":
            done = QuestCompletion.__table__.join(Quest, Quest.id == QuestCompletion.quest_id)
            where.append(
                Member.id.in_(
                    _owners(
                        done, QuestCompletion.member_id, Quest.slug == segment.quest.slug, only=only
                    )
                )
            )
        else:
            joined = QuestJoin.__table__.join(Quest, Quest.id == QuestJoin.quest_id)
            where.append(
                Member.id.in_(
                    _owners(
                        joined, QuestJoin.member_id, Quest.slug == segment.quest.slug, only=only
                    )
                )
            )
    if segment.badge is not None:
        awarded = BadgeAward.__table__.join(Badge, Badge.id == BadgeAward.badge_id)
        where.append(
            Member.id.in_(
                _owners(awarded, BadgeAward.member_id, Badge.name == segment.badge, only=only)
            )
        )
    if segment.coupon is not None:
        redeemed = CouponRedemption.__table__.join(
            Coupon, Coupon.id == CouponRedemption.coupon_id
        ).join(CouponCampaign, CouponCampaign.id == Coupon.campaign_id)
        # Who redeemed it: the card shown at the till, else the coupon's holder.
        redeemer = func.coalesce(CouponRedemption.member_id, Coupon.member_id)
        owners = _owners(
            redeemed,
            redeemer,
            CouponCampaign.slug == segment.coupon.campaign,
            # A use cancelled at the till (the order was returned) is no redemption.
            CouponRedemption.cancelled_at.is_(None),
            only=only,
        )
        where.append(Member.id.in_(owners) if segment.coupon.redeemed else Member.id.not_in(owners))
    if segment.tags is not None:
        tags = segment.tags
        if tags.any is not None:
            where.append(
                Member.id.in_(
                    _owners(
                        MemberTag.__table__,
                        MemberTag.member_id,
                        MemberTag.tag.in_(tags.any),
                        only=only,
                    )
                )
            )
        if tags.all is not None:
            where.append(
                _counted(
                    MemberTag.__table__,
                    MemberTag.member_id,
                    func.count(MemberTag.tag.distinct()),
                    [MemberTag.tag.in_(tags.all)],
                    Range(min=len(tags.all)),
                    only=only,
                )
            )
        if tags.none is not None:
            where.append(
                Member.id.not_in(
                    _owners(
                        MemberTag.__table__,
                        MemberTag.member_id,
                        MemberTag.tag.in_(tags.none),
                        only=only,
                    )
                )
            )
    return where


def _kept_purchases() -> tuple[FromClause, ColumnElement[Any]]:
    """Purchases with what is left of each after its refunds: (the rows, the kept amount)."""
    refunded = (
        select(Refund.purchase_row_id, func.sum(Refund.amount).label("amount"))
        .group_by(Refund.purchase_row_id)
        .subquery("refunded")
    )
    rows = Purchase.__table__.outerjoin(refunded, refunded.c.purchase_row_id == Purchase.id)
    return rows, Purchase.amount - func.coalesce(refunded.c.amount, 0)


def _purchases(purchases: CountInPeriod, now: datetime, only: int | None) -> ColumnElement[bool]:
    """Members with that many purchases in the period: one refunded in full is not counted
    (as `spent`, `average_receipt` and `bought` leave it out), one refunded in part is."""
    rows, kept = _kept_purchases()
    where = [kept > 0, *_in_period(Purchase.created_at, purchases, now)]
    return _counted(rows, Purchase.member_id, func.count(Purchase.id), where, purchases, only=only)


def _spent(spent: MoneyInPeriod, now: datetime, only: int | None) -> ColumnElement[bool]:
    rows, kept = _kept_purchases()
    where = [kept > 0, *_in_period(Purchase.created_at, spent, now)]
    return _counted(rows, Purchase.member_id, func.sum(kept), where, spent, only=only)


def _average_receipt(
    average: MoneyInPeriod, now: datetime, only: int | None
) -> ColumnElement[bool]:
    """Members whose purchases in the period (a fully refunded one not counted) average
    within bounds; a member with none has no average and is never in."""
    rows, kept = _kept_purchases()
    owner = aliased(Member)
    owner_id = func.coalesce(owner.merged_into_id, owner.id)
    measure = func.avg(kept)
    having = []
    if average.min is not None:
        having.append(measure >= average.min)
    if average.max is not None:
        having.append(measure <= average.max)
    grouped = (
        select(owner_id)
        .select_from(rows.join(owner, owner.id == Purchase.member_id))
        .where(
            kept > 0,
            *_in_period(Purchase.created_at, average, now),
            *_only(Purchase.member_id, only),
        )
        .group_by(owner_id)
        .having(and_(*having))
    )
    return Member.id.in_(grouped)


def _bought(bought: Bought, now: datetime, only: int | None) -> ColumnElement[bool]:
    """Members with that many purchases in the category and/or at the store in the period
    (a fully refunded one not counted)."""
    rows, kept = _kept_purchases()
    where = [kept > 0, *_in_period(Purchase.created_at, bought, now)]
    if bought.store is not None:
        where.append(Purchase.store == bought.store)
    if bought.category is not None:
        where.append(HasCategory(Purchase.categories, bought.category))
    return _counted(rows, Purchase.member_id, func.count(Purchase.id), where, bought, only=only)


class HasCategory(FunctionElement[bool]):
    """Whether a purchase's categories (JSON text: {"coffee": "300"}) name a category. The
    JSON is read per dialect (below), so a name with quotes or non-Latin letters matches
    exactly as it was given."""

    type = Boolean()
    name = "has_category"
    inherit_cache = True


@compiles(HasCategory)
def _has_category_sqlite(element: HasCategory, compiler: SQLCompiler, **kw: Any) -> str:
    categories, category = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"EXISTS (SELECT 1 FROM json_each({categories}) AS named WHERE named.key = {category})"


@compiles(HasCategory, "postgresql")
def _has_category_postgresql(element: HasCategory, compiler: SQLCompiler, **kw: Any) -> str:
    categories, category = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"jsonb_exists(CAST({categories} AS JSONB), {category})"


def _in_range(column: Column, bounds: Range) -> list[ColumnElement[bool]]:
    where = []
    if bounds.min is not None:
        where.append(column >= bounds.min)
    if bounds.max is not None:
        where.append(column <= bounds.max)
    return where


def _in_period(column: Column, period: Period, now: datetime) -> list[ColumnElement[bool]]:
    since, until = period.bounds(now)
    where = []
    if since is not None:
        where.append(column >= since)
    if until is not None:
        where.append(column < until)
    return where


def _only(member_id: Column, only: int | None) -> list[ColumnElement[bool]]:
    """Rows of one member (with the cards merged into them), when the question is about one."""
    return [] if only is None else [member_id.in_(member_ids_of(only))]


def _owners(
    rows: FromClause, member_id: Column, *where: ColumnElement[bool], only: int | None = None
) -> Select[int]:
    """The members who own today (after merges) the rows of `rows` that match `where`."""
    owner = aliased(Member)
    return (
        select(func.coalesce(owner.merged_into_id, owner.id))
        .select_from(rows.join(owner, owner.id == member_id))
        .where(*where, *_only(member_id, only))
    )


def _counted(
    rows: FromClause,
    member_id: Column,
    measure: ColumnElement[int],
    where: list[ColumnElement[bool]],
    bounds: Range | CountInPeriod | MoneyInPeriod,
    *,
    only: int | None = None,
) -> ColumnElement[bool]:
    """Members whose `measure` over their matching rows lies within `bounds`. A member with
    no such row measures 0: within bounds without a positive `min` (`{"max": 0}` is "none"),
    so those bounds are asked as "not above max" instead of "within"."""
    owner = aliased(Member)
    owner_id = func.coalesce(owner.merged_into_id, owner.id)
    grouped = (
        select(owner_id)
        .select_from(rows.join(owner, owner.id == member_id))
        .where(*where, *_only(member_id, only))
        .group_by(owner_id)
    )
    if bounds.min is not None and bounds.min > 0:
        having = [measure >= bounds.min]
        if bounds.max is not None:
            having.append(measure <= bounds.max)
        return Member.id.in_(grouped.having(and_(*having)))
    if bounds.max is not None:
        return Member.id.not_in(grouped.having(measure > bounds.max))
    # `{"min": 0}` alone: everyone.
    return true()
