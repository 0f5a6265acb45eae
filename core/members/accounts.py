"""Members, their messenger identities, profiles and consents (their export and erasure:
core.members.privacy)."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.installation import installation_secret
from core.db.models import (
    Consent,
    Identity,
    Member,
    RetiredIdentity,
)
from core.ledger.entries import Ledger
from core.members.activity import is_stale, mark_seen_in, refresh_last_channel_in
from core.members.events import MemberJoined, ProfileChanged
from core.rules.book import ProgramRules, RuleBook
from core.shared import cards
from core.shared.bus import MessageBus
from core.shared.clock import Clock
from core.shared.errors import (
    InvalidReference,
    InvalidTimeZone,
    MemberNotFound,
    NotFound,
    Refused,
)
from core.shared.owners import owner_of_card, owner_of_referral
from core.shared.parsing import bounded_name
from core.shared.writes import retry_on_conflict

# Built once: constructing a statement and its cache key costs more than running it.
# A phone as the members table keeps it (E.164-like), at most 32 characters.
_PHONE_SHAPE = re.compile(r"^\+\d{6,20}$")
_MEMBER_BY_IDENTITY = (
    select(*Member.__table__.columns, Identity.last_seen_at.label("identity_last_seen_at"))
    .join(Identity, Identity.member_id == Member.id)
    .where(
        Identity.channel == bindparam("channel"),
        Identity.external_id == bindparam("external_id"),
    )
)


IDENTITY_SALT = "identity_salt"


def _keyed_hash(salt: bytes, identity: IdentityKey) -> str:
    return hmac.new(salt, str(identity).encode(), hashlib.sha256).hexdigest()


TERMS = "terms"
MARKETING = "marketing"
WELCOME_REASON = "welcome"


@dataclass(frozen=True)
class IdentityKey:
    channel: str
    external_id: str

    def __str__(self) -> str:
        return f"{self.channel}:{self.external_id}"


@dataclass(frozen=True)
class Profile:
    id: int
    card_code: str
    referral_code: str
    name: str | None
    language: str
    phone: str | None
    phone_verified: bool
    birthday: date | None
    marketing_opt_in: bool
    referrer_id: int | None
    balance: int
    debt: int
    created_at: datetime
    time_zone: str | None = None

    @classmethod
    def of(cls, row: Member | Row[*tuple[Any, ...]]) -> Profile:
        return cls(
            id=row.id,
            card_code=row.card_code,
            referral_code=row.referral_code,
            name=row.name,
            language=row.language,
            phone=row.phone,
            phone_verified=row.phone_verified,
            birthday=row.birthday,
            marketing_opt_in=row.marketing_opt_in,
            referrer_id=row.referrer_id,
            balance=row.balance,
            debt=row.debt,
            created_at=row.created_at,
            time_zone=row.time_zone,
        )


@dataclass(frozen=True)
class Registration:
    identity: IdentityKey
    language: str
    accepted_terms: bool
    marketing_opt_in: bool
    name: str | None = None
    phone: str | None = None
    phone_verified: bool = False
    birthday: date | None = None
    referral_code: str | None = None

    def __post_init__(self) -> None:
        # Whatever a platform calls the person (a 64 + 64 character Telegram name, a long
        # WhatsApp profile name, a NUL) is cleaned and cut here, once for every channel, so
        # that everyone can join.
        object.__setattr__(self, "name", bounded_name(self.name))
        if self.phone is not None and not _PHONE_SHAPE.match(self.phone):
            raise InvalidReference("a phone number is + and 6 to 20 digits")


@dataclass(frozen=True)
class Enrolment:
    member: Profile
    created: bool
    welcome_bonus: int


class TermsNotAccepted(Refused):
    code = "terms_not_accepted"


class BirthdayAlreadyGiven(Refused):
    """A birthday is given once: changing it in the chat would let a member move the birthday
    bonus around the calendar (core.birthdays)."""

    code = "birthday_already_given"


class IdentityNotLinked(NotFound):
    code = "identity_not_linked"


class LastIdentity(Refused):
    """A member must keep at least one messenger account, or nobody could reach the card."""

    code = "last_identity"


class PhoneNotFound(NotFound):
    """No active member has this number vouched for by a messenger (a number a member only
    typed is never matched: anyone can type anyone's number)."""

    code = "phone_not_found"

    def __init__(self, phone: str) -> None:
        super().__init__(f"no member has the verified phone number {phone}")
        self.phone = phone


class PhoneShared(Refused):
    """Several members have this verified number (one declined to link their cards): the
    card must say which one; the program never picks one of them."""

    code = "phone_shared"

    def __init__(self, phone: str, holders: int) -> None:
        super().__init__(
            f"{holders} members have the verified phone number {phone}; ask for the card"
        )
        self.phone = phone
        self.holders = holders


class Members:
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
        self._salt: bytes | None = None

    async def find(self, identity: IdentityKey) -> Profile | None:
        """Who this messenger account belongs to. Runs on every message, so it reads plain
        rows, without the ORM's unit of work (a third of the lookup's cost)."""
        async with self._db.reading_rows() as connection:
            result = await connection.execute(
                _MEMBER_BY_IDENTITY,
                {"channel": identity.channel, "external_id": identity.external_id},
            )
            row = result.one_or_none()
        return Profile.of(row) if row else None

    async def visit(self, identity: IdentityKey) -> Profile | None:
        """Who writes from this messenger account (as `find`), recording that they wrote:
        the account's last_seen_at and the member's last activity and channel, at most once
        a minute (core.members.activity), so a chat does not write per message."""
        async with self._db.reading_rows() as connection:
            result = await connection.execute(
                _MEMBER_BY_IDENTITY,
                {"channel": identity.channel, "external_id": identity.external_id},
            )
            row = result.one_or_none()
        if row is None:
            return None
        now = self._clock.now()
        if is_stale(row.identity_last_seen_at, now):
            async with self._db.transaction() as session:
                await mark_seen_in(session, identity, row.id, now)
        return Profile.of(row)

    async def last_seen(self, identity: IdentityKey) -> datetime | None:
        """When the member last wrote from this account (up to a minute older than their last
        message: the write is throttled); None if never, or if no member has the account."""
        async with self._db.reading_rows() as connection:
            return await connection.scalar(
                select(Identity.last_seen_at).where(
                    Identity.channel == identity.channel,
                    Identity.external_id == identity.external_id,
                )
            )

    async def get(self, member_id: int) -> Profile:
        async with self._db.reading() as session:
            row = await session.get(Member, member_id)
        if row is None:
            raise MemberNotFound(member_id)
        return Profile.of(row)

    async def by_verified_phone(self, phone: str) -> Profile:
        """The one active member whose number (normalized: core.members.phones) a messenger
        vouched for: how a till finds a member without the card. PhoneNotFound if nobody's,
        PhoneShared if several members' (never one of them by a guess)."""
        async with self._db.reading() as session:
            rows = list(
                await session.scalars(
                    select(Member)
                    .where(
                        Member.phone == phone,
                        Member.phone_verified.is_(True),
                        Member.merged_into_id.is_(None),
                        Member.erased_at.is_(None),
                    )
                    .order_by(Member.id)
                )
            )
        if not rows:
            raise PhoneNotFound(phone)
        if len(rows) > 1:
            raise PhoneShared(phone, len(rows))
        return Profile.of(rows[0])

    async def enrol(self, registration: Registration) -> Enrolment:
        """Create the member with the welcome bonus, or return the one this identity has.

        Safe to call twice, or concurrently, for the same identity: the unique
        (channel, external_id) constraint lets exactly one member be created.
        """
        if not registration.accepted_terms:
            raise TermsNotAccepted(str(registration.identity))
        existing = await self.find(registration.identity)
        if existing is not None:
            return Enrolment(member=existing, created=False, welcome_bonus=0)
        rules = await self._rules.current()
        # Before the transaction: the salt may need a write of its own the first time.
        identity_hash = await self.identity_hash(registration.identity)

        async def attempt() -> Enrolment:
            async with self._db.transaction() as session:
                return await self._enrol_in(session, registration, rules, identity_hash)

        async def joined_meanwhile() -> Enrolment | None:
            # Otherwise the generated card code collided with another one: try a new one.
            existing = await self.find(registration.identity)
            if existing is None:
                return None
            return Enrolment(member=existing, created=False, welcome_bonus=0)

        try:
            return await retry_on_conflict(attempt, attempts=5, on_conflict=joined_meanwhile)
        except IntegrityError:
            raise RuntimeError("could not allocate a unique card code") from None

    async def _enrol_in(
        self,
        session: AsyncSession,
        registration: Registration,
        rules: ProgramRules,
        identity_hash: str,
    ) -> Enrolment:
        # Referrals, which hear of the new member, decide under the same rules.
        self._rules.pin(session, rules)
        welcome_bonus = rules.welcome_bonus
        now = self._clock.now()
        referrer_id = await self._referrer(session, registration.referral_code)
        retired = await session.get(RetiredIdentity, identity_hash)
        if retired is not None:
            # This account already had a card and left it: a new card, but no second gift.
            welcome_bonus = 0
        member = Member(
            card_code=cards.generate(),
            referral_code=cards.generate_referral(),
            name=registration.name,
            language=registration.language,
            phone=registration.phone,
            phone_verified=registration.phone_verified and registration.phone is not None,
            birthday=registration.birthday,
            marketing_opt_in=registration.marketing_opt_in,
            terms_accepted_at=now,
            referrer_id=referrer_id,
            balance=0,
            created_at=now,
            updated_at=now,
            # Joining is writing to the bot: from this account, now.
            last_active_at=now,
            last_channel=registration.identity.channel,
        )
        session.add(member)
        await session.flush()
        channel = registration.identity.channel
        session.add(
            Identity(
                member_id=member.id,
                channel=channel,
                external_id=registration.identity.external_id,
                created_at=now,
                last_seen_at=now,
            )
        )
        session.add(
            Consent(member_id=member.id, kind=TERMS, granted=True, channel=channel, created_at=now)
        )
        session.add(
            Consent(
                member_id=member.id,
                kind=MARKETING,
                granted=registration.marketing_opt_in,
                channel=channel,
                created_at=now,
            )
        )
        await session.flush()
        if welcome_bonus > 0:
            await self._ledger.post_in(
                session,
                member.id,
                welcome_bonus,
                reason=WELCOME_REASON,
                actor="program",
                idempotency_key=f"welcome:{member.id}",
            )
        # Referrals attribute (and may reward) in this transaction: read the balance after.
        await self._bus.publish_in(
            session,
            MemberJoined(
                occurred_at=now, member_id=member.id, channel=channel, referrer_id=referrer_id
            ),
        )
        await session.refresh(member)
        return Enrolment(member=Profile.of(member), created=True, welcome_bonus=welcome_bonus)

    async def _referrer(self, session: AsyncSession, raw_code: str | None) -> int | None:
        if not raw_code:
            return None
        referral = cards.referral(raw_code)
        if referral is not None:
            return await session.scalar(owner_of_referral(referral))
        # Invite links before referral codes carried the card code: they still bring a friend.
        try:
            code = cards.normalize(raw_code)
        except cards.InvalidCardCode:
            return None
        return await session.scalar(owner_of_card(code))

    async def mark_bot(self, member_id: int) -> None:
        """Remember that a messenger said one of the member's accounts is a bot (Telegram's
        `is_bot`); the first time counts, later ones change nothing."""
        async with self._db.transaction() as session:
            await session.execute(
                update(Member)
                .where(Member.id == member_id, Member.bot_seen_at.is_(None))
                .values(bot_seen_at=self._clock.now())
            )

    async def set_language(self, member_id: int, language: str) -> Profile:
        async with self._db.transaction() as session:
            member = await self._locked(session, member_id)
            member.language = language
            member.updated_at = self._clock.now()
        return Profile.of(member)

    async def set_time_zone(self, member_id: int, zone: str) -> Profile:
        """The member's own IANA zone (their birthday falls on their local day)."""
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise InvalidTimeZone(f"not a time zone: {zone!r}") from error
        async with self._db.transaction() as session:
            member = await self._locked(session, member_id)
            member.time_zone = zone
            member.updated_at = self._clock.now()
        return Profile.of(member)

    async def set_marketing(self, member_id: int, *, opt_in: bool, channel: str) -> Profile:
        """Record the choice with its time and channel, even if it repeats the current one."""
        async with self._db.transaction() as session:
            member = await self._locked(session, member_id)
            now = self._clock.now()
            member.marketing_opt_in = opt_in
            member.updated_at = now
            session.add(
                Consent(
                    member_id=member_id,
                    kind=MARKETING,
                    granted=opt_in,
                    channel=channel,
                    created_at=now,
                )
            )
            await self._profile_changed(session, member)
        return Profile.of(member)

    async def set_phone(self, member_id: int, phone: str, *, verified: bool) -> Profile:
        """The member's phone, from the profile. `verified`: a messenger vouched for it (one's
        own Telegram contact, the WhatsApp sender); a typed number is never verified, so it
        can neither link cards nor be matched by one."""
        if not _PHONE_SHAPE.match(phone):
            raise InvalidReference("a phone number is + and 6 to 20 digits")
        async with self._db.transaction() as session:
            member = await self._locked(session, member_id)
            if member.phone == phone and member.phone_verified and not verified:
                # Typing the number a messenger already vouched for keeps it vouched for.
                verified = True
            member.phone, member.phone_verified = phone, verified
            member.updated_at = self._clock.now()
            await self._profile_changed(session, member)
        return Profile.of(member)

    async def set_birthday(self, member_id: int, birthday: date) -> Profile:
        """The member's birthday, from the profile: given once (`BirthdayAlreadyGiven` after
        that, even for the same date, so the bonus cannot be moved around the calendar)."""
        async with self._db.transaction() as session:
            member = await self._locked(session, member_id)
            if member.birthday is not None:
                raise BirthdayAlreadyGiven(str(member_id))
            member.birthday = birthday
            member.updated_at = self._clock.now()
            await self._profile_changed(session, member)
        return Profile.of(member)

    async def _profile_changed(self, session: AsyncSession, member: Member) -> None:
        """Publish `ProfileChanged` in the writing transaction (the profile quest counts it
        there, so a crash cannot record the change without its progress or the reverse)."""
        await session.flush()
        await self._bus.publish_in(
            session,
            ProfileChanged(
                occurred_at=self._clock.now(),
                member_id=member.id,
                has_phone=member.phone is not None,
                has_birthday=member.birthday is not None,
                marketing=member.marketing_opt_in,
            ),
        )

    async def consents(self, member_id: int) -> list[Consent]:
        async with self._db.reading() as session:
            rows = await session.scalars(
                select(Consent).where(Consent.member_id == member_id).order_by(Consent.id)
            )
            return list(rows)

    async def identities(self, member_id: int) -> list[IdentityKey]:
        async with self._db.reading() as session:
            rows = await session.scalars(
                select(Identity).where(Identity.member_id == member_id).order_by(Identity.id)
            )
            return [IdentityKey(row.channel, row.external_id) for row in rows]

    async def unlink(self, member_id: int, identity: IdentityKey) -> list[IdentityKey]:
        """Detach one messenger account; the member keeps at least one. Returns those left."""
        identity_hash = await self.identity_hash(identity)
        async with self._db.transaction() as session:
            await self._locked(session, member_id)
            rows = list(
                await session.scalars(select(Identity).where(Identity.member_id == member_id))
            )
            target = next(
                (
                    row
                    for row in rows
                    if (row.channel, row.external_id) == (identity.channel, identity.external_id)
                ),
                None,
            )
            if target is None:
                raise IdentityNotLinked(str(identity))
            if len(rows) == 1:
                raise LastIdentity(str(identity))
            await session.delete(target)
            await session.flush()
            await refresh_last_channel_in(session, member_id)
            await self.retire_in(session, identity_hash, "unlinked")
            return [IdentityKey(row.channel, row.external_id) for row in rows if row is not target]

    async def retire_in(self, session: AsyncSession, identity_hash: str, reason: str) -> None:
        """Remember a messenger account that left a card (so it gets no second welcome)."""
        retired = await session.get(RetiredIdentity, identity_hash)
        if retired is None:
            session.add(
                RetiredIdentity(
                    identity_hash=identity_hash, reason=reason, retired_at=self._clock.now()
                )
            )
        else:
            retired.reason, retired.retired_at = reason, self._clock.now()

    async def identity_hash(self, identity: IdentityKey) -> str:
        """A keyed hash of a messenger account: comparable, but not reversible without the
        installation's own salt."""
        return _keyed_hash(await self.identity_salt(), identity)

    async def identity_salt(self) -> bytes:
        """The installation's salt for identity hashes, read (or created) once per process.
        Load it before a transaction that hashes: creating it takes a write of its own."""
        if self._salt is None:
            self._salt = await installation_secret(self._db, IDENTITY_SALT)
        return self._salt

    async def _locked(self, session: AsyncSession, member_id: int) -> Member:
        member = await session.get(Member, member_id, with_for_update=True)
        if member is None:
            raise MemberNotFound(member_id)
        return member
