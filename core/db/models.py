"""The database schema of the loyalty core (changed only through Alembic migrations)."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    extract,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# A referral code is this many random bytes in hex (core.shared.cards.referral reads it; the
# models cannot import it: core.shared asks the models who owns what).
REFERRAL_CODE_BYTES = 10


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    card_code: Mapped[str] = mapped_column(String(16), unique=True)
    # What invite links carry: joins a friend to this member, spends nothing (cards.referral).
    # Drawn for every new row (the server default is only there for SQLite's ADD COLUMN).
    referral_code: Mapped[str] = mapped_column(
        String(32),
        unique=True,
        index=True,
        default=lambda: secrets.token_hex(REFERRAL_CODE_BYTES),
        server_default=text("''"),
    )
    name: Mapped[str | None] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(8))
    phone: Mapped[str | None] = mapped_column(String(32))
    phone_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    birthday: Mapped[date | None] = mapped_column(Date)
    marketing_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    terms_accepted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    referrer_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    # Points a refund took back that the balance could not cover; later earnings settle it.
    debt: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Set when this member was merged into another one: its identities and points moved there.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    # Set when the member asked to be forgotten: personal data gone, ledger kept anonymous.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The tier's key from the rules (None: the base level), since when, and until when a
    # member who no longer qualifies keeps it before the downgrade.
    tier: Mapped[str | None] = mapped_column(String(32))
    tier_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tier_grace_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An IANA zone ("Asia/Tehran"); None: the program's zone. Birthdays fall on local days.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    # When a messenger first said one of the member's accounts is a bot (Telegram's
    # `is_bot`): such a member never wins a contest, whatever account they joined from.
    bot_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the member last wrote to the bot or bought (at most a minute stale: the chat's
    # write is throttled, core.members.activity), and the channel of the identity they wrote
    # from last: segments filter and count on these columns, not on the identities.
    # Nullable in the schema (see migration 0013), set for every member.
    last_active_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=True)
    last_channel: Mapped[str | None] = mapped_column(String(16))


def birthday_month_day() -> tuple[ColumnElement[int], ColumnElement[int]]:
    """A member's birthday's month and day, as the birthday index holds them: a lookup by
    day must compare exactly these expressions for the database to use the index."""
    birthday = Member.__table__.c.birthday
    return extract("month", birthday), extract("day", birthday)


# The birthday greeter's lookup by (month, day), in pages by id: without it, every hourly
# run read every member. On expressions, so nothing that writes a birthday keeps a copy.
Index("ix_members_birthday_month_day", *birthday_month_day(), Member.__table__.c.id)
# "The cards merged into this one" is asked for every member a job or a purchase looks at
# (tier metric, birthday greeting), and read every member without an index. Only merged
# cards are in it: a planner without statistics (SQLite) must not take it for the
# "not merged" filter, which nearly every member passes.
_MERGED = text("merged_into_id IS NOT NULL")
Index(
    "ix_members_merged_into_id",
    Member.__table__.c.merged_into_id,
    postgresql_where=_MERGED,
    sqlite_where=_MERGED,
)
# Who a broadcast may reach at all (core.segments.query.members_in filters on exactly this):
# the segments' indexes hold only those members, ordered by what simple segments ask, with
# the last channel beside it so a count by channel reads the index alone.
REACHABLE = text("marketing_opt_in AND erased_at IS NULL AND merged_into_id IS NULL")
_SEGMENT_INDEXES = {
    "ix_members_reachable_channel_language": ("last_channel", "language"),
    "ix_members_reachable_tier": ("tier", "last_channel"),
    "ix_members_reachable_active": ("last_active_at", "last_channel"),
    "ix_members_reachable_created": ("created_at", "last_channel"),
}
for _name, _columns in _SEGMENT_INDEXES.items():
    Index(
        _name,
        *(Member.__table__.c[column] for column in _columns),
        postgresql_where=REACHABLE,
        sqlite_where=REACHABLE,
    )


class Identity(Base):
    """One messenger account of a member: (channel, external id) is unique everywhere."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="channel_external_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the member last wrote from this account (throttled to a minute): the newest one is
    # the member's last channel, and WhatsApp's 24-hour window runs from it.
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a messenger last refused a message to it for good (blocked bot, dead number, STOP):
    # broadcasts pass it over until the member writes from it again (last_seen_at after it).
    unreachable_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MemberTag(Base):
    """A label a marketer put on a member (`python main.py tag CARD TAG`), for segments."""

    __tablename__ = "member_tags"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# "Members with tag T" reads this; the primary key answers "the tags of member M".
Index("ix_member_tags_tag_member_id", MemberTag.__table__.c.tag, MemberTag.__table__.c.member_id)


class Consent(Base):
    """Every grant or withdrawal of a consent, with when and through which channel."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    granted: Mapped[bool] = mapped_column(Boolean)
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerEntry(Base):
    """Append-only: a row is never updated or deleted; the balance is the sum of `points`."""

    __tablename__ = "ledger_entries"
    __table_args__ = (CheckConstraint("points <> 0", name="points_not_zero"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    points: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    reference: Mapped[str | None] = mapped_column(String(128))
    balance_after: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Purchase(Base):
    __tablename__ = "purchases"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        # The purchases of a period (a broadcast's attribution window).
        Index("ix_purchases_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    purchase_id: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    points: Mapped[int] = mapped_column(BigInteger)
    ledger_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    # Where and what was bought, for store and category multipliers.
    store: Mapped[str | None] = mapped_column(String(64))
    # JSON {"category": "amount", ...}: the part of the amount per category, when given.
    categories: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProgramRule(Base):
    """A rule of the program as data (JSON text), so a marketer changes it without a deploy."""

    __tablename__ = "program_rules"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LinkCode(Base):
    """A one-time code that attaches another messenger account to a member."""

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by: Mapped[str | None] = mapped_column(String(96))


class LinkAttempt(Base):
    """A wrong link code (or a try still being checked), kept to slow down guessing (per
    messenger account)."""

    __tablename__ = "link_attempts"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    identity: Mapped[str] = mapped_column(String(96), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Merge(Base):
    """The audit record of two members becoming one."""

    __tablename__ = "merges"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    survivor_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    absorbed_id: Mapped[int] = mapped_column(ForeignKey("members.id"), unique=True)
    points_moved: Mapped[int] = mapped_column(BigInteger)
    identities_moved: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(96))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RetiredIdentity(Base):
    """A messenger account that left a member (unlinked, or its member deleted), kept only as
    a salted hash: enough to refuse a second welcome bonus, nothing to identify anyone by."""

    __tablename__ = "retired_identities"

    identity_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(16))
    retired_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InstallationSecret(Base):
    """Secrets this installation generates for itself once (e.g. the identity-hash salt)."""

    __tablename__ = "installation_secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


class Referral(Base):
    """A friend who joined through a member's code: at most one per friend, rewarded once."""

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    referrer_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    friend_id: Mapped[int] = mapped_column(ForeignKey("members.id"), unique=True)
    # "pending" until the qualifying action, then "rewarded"; or "rejected" with a reason.
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    friend_points: Mapped[int] = mapped_column(BigInteger, default=0)
    referrer_points: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rewarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Refund(Base):
    """A refund of (part of) a purchase, and what it did to the member's points."""

    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    refund_id: Mapped[str] = mapped_column(String(64), unique=True)
    purchase_row_id: Mapped[int] = mapped_column(ForeignKey("purchases.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    # Points the refund reverses: `taken` from the balance, the rest added to the debt.
    points: Mapped[int] = mapped_column(BigInteger)
    taken: Mapped[int] = mapped_column(BigInteger)
    debt_added: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RedemptionCancel(Base):
    """Points spent at the till given back (all that was left of the redemption, or a part):
    `entry_id` returned them to lots with the expiries of the lots they were spent from, and
    `expired` of them, from lots whose date had passed meanwhile, expired at once."""

    __tablename__ = "redemption_cancels"
    __table_args__ = (
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("expired >= 0 AND expired <= points", name="expired_in_range"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    # The return entry's idempotency key: the redemption's, and the shop's cancel id if any.
    cancel_key: Mapped[str] = mapped_column(String(128), unique=True)
    redemption_entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    points: Mapped[int] = mapped_column(BigInteger)
    expired: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(256))
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PointLot(Base):
    """Points earned by one ledger entry and not yet spent, expired or taken back.

    Spending consumes lots oldest-expiring first (`lot_allocations` records which), so a
    batch that expires takes only what is left of it, never points earned later."""

    __tablename__ = "point_lots"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= points", name="remaining_in_range"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    # The earning entry; a merge's entry opens several lots, one per lot it carried over.
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    points: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    earned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class LotAllocation(Base):
    """Which lots a spending entry (redemption, refund, expiry, ...) took its points from."""

    __tablename__ = "lot_allocations"
    __table_args__ = (CheckConstraint("points > 0", name="points_positive"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("point_lots.id"), index=True)
    points: Mapped[int] = mapped_column(BigInteger)


class TierChange(Base):
    """Every move between tiers, with why (purchase, refund, downgrade after grace, ...)."""

    __tablename__ = "tier_changes"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    from_tier: Mapped[str | None] = mapped_column(String(32))
    to_tier: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MemberEvent(Base):
    """A non-purchase event (review, survey, channel subscription, quest step) a shop or a
    quest emitted for a member; unique per (kind, event_id), so a replay pays nothing."""

    __tablename__ = "member_events"
    __table_args__ = (UniqueConstraint("kind", "event_id", name="kind_event_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(128))
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    ledger_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CouponCampaign(Base):
    """What a coupon is worth and the limits of all coupons of one campaign."""

    __tablename__ = "coupon_campaigns"
    __table_args__ = (
        CheckConstraint("kind IN ('percent', 'fixed', 'free_item')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    # Percent off (kind percent) or money off (kind fixed); None for a free item.
    value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    item: Mapped[str | None] = mapped_column(String(128))
    terms: Mapped[str | None] = mapped_column(Text)
    min_order: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Days a coupon stays valid after it is issued to a member (None: until ends_at).
    valid_days: Mapped[int | None] = mapped_column(Integer)
    total_limit: Mapped[int | None] = mapped_column(Integer)
    per_member_limit: Mapped[int | None] = mapped_column(Integer)
    budget: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    spent: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=0, server_default="0")
    redemptions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    uses_per_coupon: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    transferable: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Coupon(Base):
    """One code. `member_id` is whom it was issued to (None: not issued yet); only a
    holder-only campaign's coupons are refused in anyone else's hands. `uses` never exceeds
    the campaign's uses per coupon."""

    __tablename__ = "coupons"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("coupon_campaigns.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    # How it came to be: bulk, import, reward, referral, birthday, manual, broadcast;
    # returned: a broadcast issued it and took it back (never delivered), free again.
    source: Mapped[str] = mapped_column(String(16))
    uses: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why staff cancelled it, and who (coupon-void); None for a void without either.
    void_reason: Mapped[str | None] = mapped_column(String(128))
    voided_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CouponRedemption(Base):
    __tablename__ = "coupon_redemptions"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    redemption_id: Mapped[str] = mapped_column(String(64), unique=True)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    order_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    discount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The order was returned or the sale cancelled: the use no longer counts (limits, budget,
    # a broadcast's attribution). `use_restored` says whether the coupon got the use back
    # (False: it had expired or been voided by then, so it stays used).
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(64))
    cancel_reason: Mapped[str | None] = mapped_column(String(256))
    use_restored: Mapped[bool | None] = mapped_column(Boolean)


class Reward(Base):
    """A good or perk in the catalogue, bought with points; a claim yields a coupon of
    `campaign_id` to show at the till."""

    __tablename__ = "rewards"
    __table_args__ = (
        CheckConstraint("cost > 0", name="cost_positive"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text)
    # A file path or an https URL of the picture shown in the chat.
    picture: Mapped[str | None] = mapped_column(String(512))
    cost: Mapped[int] = mapped_column(BigInteger)
    # Units left (None: unlimited).
    stock: Mapped[int | None] = mapped_column(Integer)
    per_member_limit: Mapped[int | None] = mapped_column(Integer)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("coupon_campaigns.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RewardClaim(Base):
    __tablename__ = "reward_claims"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(String(64), unique=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id"))
    ledger_entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Notice(Base):
    """A message to a member the core decided on (points earned, coupon received, tier
    changed, points expiring, birthday), written in the same transaction as its cause and
    delivered later by a dispatcher (transactional outbox). `dedupe_key` makes it once."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    # JSON object with what the text needs (points, balance, tier, code, ...).
    payload: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    # Marketing notices go only to members who opted in; transactional ones to everyone.
    marketing: Mapped[bool] = mapped_column(Boolean, default=False)
    # pending -> sent | skipped (no reachable channel, no consent) | failed (after retries).
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    channel: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Not before this time: a pending notice's next try (backoff after a failure), or the end of
    # a dispatcher's lease on a "sending" one (a crashed dispatcher's notices are retried then).
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PendingEvent(Base):
    """A domain event whose after-commit subscribers (the games) have yet to hear it, written
    in the transaction that published it (a transactional outbox of events). The handling
    transaction deletes the row with what the subscribers write, so the event is handled
    once; a process that dies first leaves the row for the `deliver_events` job."""

    __tablename__ = "pending_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    # The event's class name (its type on the bus) and its fields as JSON.
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    # Whose event it is: the handling transaction locks this member first, as the publisher
    # did, so two events of one member are never handled at the same time.
    member_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The job takes the row from then on: a grace period after the commit for the process
    # that published it, then a backoff after each failed handling.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The last failure's exception class, for operators (never its message: it may quote data).
    error: Mapped[str | None] = mapped_column(String(128))


class JobRun(Base):
    """One run of a scheduled job per period key ("expiry:2026-11-24T10"): several processes
    may fire the same schedule, only the one that inserts the row does the work."""

    __tablename__ = "job_runs"

    run_key: Mapped[str] = mapped_column(String(96), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[str | None] = mapped_column(Text)


class Contest(Base):
    """A giveaway or a leaderboard contest: defined as data, with the commitment of a
    giveaway's verifiable draw (core.games.contests.draw). `seed` stays secret until the draw;
    a leaderboard contest draws nothing: its seed and commitment are "", its round 0, and its
    frozen list is the final standings (pseudonym, score, reached_at)."""

    __tablename__ = "contests"
    __table_args__ = (
        CheckConstraint("winners > 0", name="winners_positive"),
        CheckConstraint("reserves >= 0", name="reserves_not_negative"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(32), unique=True)
    # "giveaway" (drawn among entries) or "leaderboard" (the top of its window win).
    kind: Mapped[str] = mapped_column(String(16))
    # The contest as the marketer wrote it (validated JSON of core.games.contests.spec).
    spec: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    draw_at: Mapped[datetime] = mapped_column(UTCDateTime)
    winners: Mapped[int] = mapped_column(Integer)
    reserves: Mapped[int] = mapped_column(Integer)
    seed: Mapped[str] = mapped_column(String(64))
    seed_sha256: Mapped[str] = mapped_column(String(64))
    beacon_chain: Mapped[str] = mapped_column(String(16))
    beacon_round: Mapped[int] = mapped_column(BigInteger)
    # Set at the close: the frozen list (canonical JSON of pseudonyms and tickets) and its hash.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    entries_frozen: Mapped[str | None] = mapped_column(Text)
    entries_sha256: Mapped[str | None] = mapped_column(String(64))
    # Set at the draw: the beacon value and the whole transcript (JSON), seed revealed.
    drawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    beacon: Mapped[str | None] = mapped_column(String(128))
    # drand's BLS signature of the round (beacon = its sha256), and on a chained chain the
    # previous round's (part of the signed message); None for a beacon the operator typed in.
    beacon_signature: Mapped[str | None] = mapped_column(String(192))
    beacon_previous_signature: Mapped[str | None] = mapped_column(String(192))
    transcript: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ContestEntry(Base):
    """A member's entry: tickets for joining plus those earned by activity. `member_id` is the
    surviving member (entries move on a merge) and None once the member erased their data
    after the close (the frozen list keeps the pseudonym and tickets, not who it was)."""

    __tablename__ = "contest_entries"
    __table_args__ = (UniqueConstraint("contest_id", "member_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    contest_id: Mapped[int] = mapped_column(ForeignKey("contests.id"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    joined: Mapped[bool] = mapped_column(Boolean, default=False)
    tickets: Mapped[int] = mapped_column(Integer, default=0)
    # Set at the close: the keyed pseudonym and the tickets (tier weight applied) frozen.
    pseudonym: Mapped[str | None] = mapped_column(String(32))
    frozen_tickets: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ContestTicket(Base):
    """Tickets one event earned (a purchase, a qualified friend, a quest): once per event."""

    __tablename__ = "contest_tickets"
    __table_args__ = (UniqueConstraint("contest_id", "event_key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    contest_id: Mapped[int] = mapped_column(ForeignKey("contests.id"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("contest_entries.id"), index=True)
    event_key: Mapped[str] = mapped_column(String(128))
    tickets: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ContestWinner(Base):
    """A place in the draw's result: winners first, then reserves in order. A reserve steps up
    (status `awaiting`) when a winner is ineligible or lets the claim deadline pass."""

    __tablename__ = "contest_winners"
    __table_args__ = (UniqueConstraint("contest_id", "position"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    contest_id: Mapped[int] = mapped_column(ForeignKey("contests.id"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("contest_entries.id"))
    pseudonym: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    # standby (a reserve not called) -> awaiting (told, may claim) -> claimed | expired;
    # ineligible at any point before the claim.
    status: Mapped[str] = mapped_column(String(16), index=True)
    claim_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    ledger_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupons.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# ---------------------------------------------------------------------------- games


class Badge(Base):
    """A badge as data: its texts per language, an emoji or picture, and the condition on
    events that earns it (core.games.badges.definitions reads `condition`)."""

    __tablename__ = "badges"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    # JSON {"en": ..., "ru": ..., "fa": ...} (or one text for every language).
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    emoji: Mapped[str | None] = mapped_column(String(16))
    picture: Mapped[str | None] = mapped_column(String(512))
    # JSON {"kind": "visits", "count": 5} and the like.
    condition: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BadgeAward(Base):
    """A badge a member earned: at most once per (member, badge)."""

    __tablename__ = "badge_awards"
    __table_args__ = (UniqueConstraint("member_id", "badge_id", name="member_badge"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    badge_id: Mapped[int] = mapped_column(ForeignKey("badges.id"), index=True)
    # What earned it ("purchase:R-1", "quest:3:once", a caller's key): for the record.
    key: Mapped[str] = mapped_column(String(128))
    awarded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GameFact(Base):
    """Something the games counted once: a day's check-in, a quest done, an event a
    leaderboard scored. Unique per (kind, ref), so a replayed event counts nothing."""

    __tablename__ = "game_facts"
    __table_args__ = (UniqueConstraint("kind", "ref", name="kind_ref"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Streak(Base):
    """A member's run of consecutive periods (days or weeks, by the rule `key`) with the
    action; periods are ordinals in the member's time zone (core.games.streaks.periods)."""

    __tablename__ = "streaks"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    current: Mapped[int] = mapped_column(Integer, default=0)
    best: Mapped[int] = mapped_column(Integer, default=0)
    # The last period with the action, and the last missed one a freeze forgave.
    last_period: Mapped[int | None] = mapped_column(Integer)
    frozen_period: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# The reminder job looks for streaks whose last period was the one before now.
Index("ix_streaks_key_last_period", Streak.__table__.c.key, Streak.__table__.c.last_period)


class GameProfile(Base):
    """How a member appears on leaderboards: a nickname, or hidden (None)."""

    __tablename__ = "game_profiles"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    nickname: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Board(Base):
    """One leaderboard: a metric over one period ("points:week:2026-W49")."""

    __tablename__ = "boards"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    metric: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BoardScore(Base):
    """A member's score on a board. `rank_key` orders the board (smaller is ahead): the
    score, then who reached it first (core.games.leaderboards.ranking); then member_id."""

    __tablename__ = "board_scores"

    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    score: Mapped[int] = mapped_column(BigInteger)
    reached_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rank_key: Mapped[int] = mapped_column(BigInteger)


Index(
    "ix_board_scores_board_rank",
    BoardScore.__table__.c.board_id,
    BoardScore.__table__.c.rank_key,
    BoardScore.__table__.c.member_id,
)
Index("ix_board_scores_member_id", BoardScore.__table__.c.member_id)


class BoardNode(Base):
    """A counted tree over a board's rank keys: at `level` L, how many scores have
    rank_key >> (4 L) == bucket. A rank is a sum of at most 15 siblings per level."""

    __tablename__ = "board_nodes"

    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id"), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(BigInteger)


# ---------------------------------------------------------------------------- quests


class Quest(Base):
    """A quest as a marketer defined it (`definition`: the validated JSON, see
    core.games.quests.definition); the columns repeat what queries filter on. The definition
    never changes once created (progress is keyed on its steps' positions); a quest is ended,
    not edited."""

    __tablename__ = "quests"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(32), unique=True)
    definition: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Every member in the audience takes part without joining.
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set by quest-end: no progress, no join, no reward after it.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class QuestJoin(Base):
    """A member who joined a quest (once; a recurring quest's periods all count from it)."""

    __tablename__ = "quest_joins"
    __table_args__ = (UniqueConstraint("member_id", "quest_id", name="member_quest"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    quest_id: Mapped[int] = mapped_column(ForeignKey("quests.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)


class QuestProgress(Base):
    """One thing that counted towards a step in one period, keyed by the event's own id
    (`source`: "purchase:P1", "event:12", "checkin:2026-12-01" ...), so a duplicate or late
    event counts once. `amount` is what it counted for: 1, or a purchase's amount (a refund
    lowers it; at 0 it no longer counts)."""

    __tablename__ = "quest_progress"
    __table_args__ = (
        UniqueConstraint("quest_id", "member_id", "period", "step", "source", name="source_once"),
        Index("ix_quest_progress_member_source", "member_id", "source"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    quest_id: Mapped[int] = mapped_column(ForeignKey("quests.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    period: Mapped[str] = mapped_column(String(16))
    step: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(160))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class QuestCompletion(Base):
    """A quest done in one period, and its reward: at most one per (member, quest, period)."""

    __tablename__ = "quest_completions"
    __table_args__ = (UniqueConstraint("quest_id", "member_id", "period", name="once_per_period"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    quest_id: Mapped[int] = mapped_column(ForeignKey("quests.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    period: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    # Indexed: History finds the quest of a reward's entry.
    ledger_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupons.id"))
    # The badge the quest awards (the badges context awards it on QuestCompleted).
    badge: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class QuestProof(Base):
    """What a member sent as proof for a step (a text, or a photo's reference), waiting for
    staff: pending -> approved | rejected (with the reason the member is told). Personal
    data: exported and erased with the member."""

    __tablename__ = "quest_proofs"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    quest_id: Mapped[int] = mapped_column(ForeignKey("quests.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    period: Mapped[str] = mapped_column(String(16))
    step: Mapped[int] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text)
    photo: Mapped[str | None] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    reason: Mapped[str | None] = mapped_column(String(512))
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Broadcast(Base):
    """A marketer's message to a segment (core.broadcasts): its spec as JSON, and where its
    sending stands. `state` moves draft -> sending (or scheduled) -> done, with paused and
    cancelled on the operator's word; workers read it between batches."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    # The BroadcastSpec as JSON (segment, texts per variant, buttons, coupon, schedule ...).
    spec: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    # When sending may start (the spec's schedule, in UTC); None: as soon as it is sent.
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set once its recipients were materialized (planning is done once).
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Why it stopped, when state is "failed" (an image it names that is not stored with it).
    failure: Mapped[str | None] = mapped_column(String(256))


class BroadcastImage(Base):
    """An image a broadcast sends, kept with it at broadcast-create: every worker, on any
    machine, sends these bytes (the spec names them by digest, never by a path), and the web
    app serves them to WhatsApp at a link made of the broadcast and the digest."""

    __tablename__ = "broadcast_images"
    __table_args__ = (UniqueConstraint("broadcast_id", "digest", name="broadcast_image_digest"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"))
    # The content's SHA-256, hex.
    digest: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(32))
    # The file's name as the marketer gave it (the upload's name on VK and Telegram).
    filename: Mapped[str] = mapped_column(String(128))
    content: Mapped[bytes] = mapped_column(LargeBinary)


class BroadcastDelivery(Base):
    """One sending of a broadcast to a member: at most one per (broadcast, member, round), so
    a member gets a one-off broadcast at most once (round 0) and a standing rule at most once
    per firing (a row per round, core.broadcasts.triggers). queued -> sending (claimed until
    `claimed_until`) -> sent | skipped (with a reason: holdout, unreachable, blocked,
    whatsapp_window ...) | failed; a quiet-hours wait or a retry is queued with `not_before`."""

    __tablename__ = "broadcast_deliveries"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "member_id", "round", name="broadcast_member_round"),
        Index("ix_broadcast_deliveries_broadcast_status", "broadcast_id", "status"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    # "A", "B" ... or "holdout"; set when the recipient is first taken.
    variant: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    reason: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Which sending to this member it is: 0, then one more row each time a triggered
    # broadcast fires for them again. The engine keys its sends by it (VK's random_id).
    round: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When a standing rule's firing made it due: a holdout member's attribution window starts
    # there, as a sent member's starts at `sent_at` (None: a one-off, due at its start).
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The broadcast's coupon issued to this member (once: written with the issue).
    coupon_code: Mapped[str | None] = mapped_column(String(32))


class BroadcastTap(Base):
    """A broadcast's button tapped by one of its recipients: the first tap per (broadcast,
    member) is kept (later ones change nothing), with the variant the member was sent. Written
    by core.broadcasts.attribution, read by a broadcast's status."""

    __tablename__ = "broadcast_taps"
    __table_args__ = (UniqueConstraint("broadcast_id", "member_id", name="broadcast_tap_member"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    variant: Mapped[str] = mapped_column(String(16))
    tapped_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TriggerFiring(Base):
    """A triggered broadcast fired for a member in one of its periods (core.broadcasts.
    triggers): the unique (broadcast, member, period) makes a replayed event, a job run twice
    or two workers fire it at most once; the delivery row it (re)queues does the sending."""

    __tablename__ = "trigger_firings"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "member_id", "period", name="trigger_member_period"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    # The period's number since the broadcast started ("once" without period_days).
    period: Mapped[str] = mapped_column(String(16))
    # What fired it: a purchase's id, or the job ("win_back").
    cause: Mapped[str] = mapped_column(String(64))
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FeedbackRequest(Base):
    """One "would you recommend us?" question about a purchase (core.feedback): opened when
    its trigger fires, asked at `asked_at` (when its delivery row was sent; None until then,
    and for ever if it was never sent: a holdout, skipped or failed member cannot answer),
    answered once (score 0-10, then an optional comment); its reward, if any, is posted with
    the ledger key "feedback:<id>"."""

    __tablename__ = "feedback_requests"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "purchase_id", name="feedback_broadcast_purchase"),
        Index("ix_feedback_requests_store_answered", "store", "answered_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    purchase_id: Mapped[str] = mapped_column(String(64))
    store: Mapped[str | None] = mapped_column(String(64))
    reward_points: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The delivery row that carries the question (None: opened before questions waited for
    # their sending).
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("broadcast_deliveries.id"), index=True
    )
    asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    score: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str | None] = mapped_column(Text)
