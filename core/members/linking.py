"""One member across messengers: one-time link codes, and merging two members into one.

A member asks for a code in one messenger and sends it from another. If that other account
is new, it is attached to the member; if it already belongs to a member, the two become one:
the older member survives (its card code stays valid), the other's points move over as
transfer entries in the ledger, its identities follow, and a `merges` row records it all.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import Identity, LinkAttempt, LinkCode, Member, Merge
from core.ledger.entries import Ledger
from core.members.accounts import IdentityKey, Members, Profile
from core.members.activity import mark_seen_in
from core.members.events import MembersMerged
from core.shared.bus import MessageBus
from core.shared.cards import ALPHABET
from core.shared.clock import Clock
from core.shared.errors import Refused
from core.shared.writes import dialect_of, retry_on_conflict

CODE_LENGTH = 8
CODE_TTL = timedelta(minutes=10)
MAX_WRONG_CODES = 5
WRONG_CODE_WINDOW = timedelta(minutes=15)
# The first key of the advisory lock that serialises one account's guesses (PostgreSQL).
_GUESS_LOCK_CLASS = 0x4C4B  # "LK"
MERGE_IN_REASON = "merge_in"
MERGE_OUT_REASON = "merge_out"
_CODE_SHAPE = re.compile(rf"^[{ALPHABET}]{{4}}[-\s]?[{ALPHABET}]{{4}}$")
_TYPED_CODE = re.compile(r"^\s*[A-Za-z0-9]{4}[-\s][A-Za-z0-9]{4}\s*$")


class LinkRefused(Refused):
    code = "link"
    # Which explanation the member gets.
    reasons = ("invalid", "expired", "used", "too_many_attempts")

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = self._refine(reason)


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_at: datetime

    @property
    def display(self) -> str:
        return f"{self.code[:4]}-{self.code[4:]}"


@dataclass(frozen=True)
class Linked:
    member: Profile
    # "attached": a new account joined the member; "merged": two members became one;
    # "already": this account already belonged to the member.
    outcome: str
    points_moved: int = 0


def looks_like_code(text: str) -> bool:
    """Whether a message is meant as a link code (XXXX-XXXX), right or wrong."""
    return bool(_TYPED_CODE.match(text))


class Linking:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        members: Members,
        ledger: Ledger,
        bus: MessageBus,
    ) -> None:
        self._db = db
        self._clock = clock
        self._members = members
        self._ledger = ledger
        self._bus = bus

    async def issue(self, member_id: int) -> IssuedCode:
        """A new code for the member; any code it had before stops working."""
        now = self._clock.now()

        async def attempt() -> IssuedCode:
            # A code that collides with another one is drawn again.
            code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
            async with self._db.transaction() as session:
                await session.execute(
                    update(LinkCode)
                    .where(LinkCode.member_id == member_id, LinkCode.used_at.is_(None))
                    .values(used_at=now, used_by="superseded")
                )
                session.add(
                    LinkCode(
                        code=code,
                        member_id=member_id,
                        created_at=now,
                        expires_at=now + CODE_TTL,
                    )
                )
            return IssuedCode(code=code, expires_at=now + CODE_TTL)

        try:
            return await retry_on_conflict(attempt, attempts=5)
        except IntegrityError:
            raise RuntimeError("could not allocate a unique link code") from None

    async def redeem(self, identity: IdentityKey, typed: str) -> Linked:
        # Every try takes one of the account's few guesses first, atomically, and gives it
        # back unless the code was wrong: a burst of tries cannot all pass the check at once.
        # (A try that failed for another reason, an outage, keeps its guess until the window
        # ends: the safe side.)
        attempt_id = await self._claim_guess(identity)
        code = "".join(typed.split()).replace("-", "").upper()
        if not _CODE_SHAPE.match(code):
            raise LinkRefused("invalid")
        try:
            async with self._db.transaction() as session:
                linked = await self._redeem_in(session, identity, code)
                await session.execute(delete(LinkAttempt).where(LinkAttempt.id == attempt_id))
                return linked
        except LinkRefused as refusal:
            if refusal.reason != "invalid":
                await self._give_back_guess(attempt_id)
            raise

    async def _redeem_in(self, session: AsyncSession, identity: IdentityKey, code: str) -> Linked:
        now = self._clock.now()
        link = await session.scalar(select(LinkCode).where(LinkCode.code == code).with_for_update())
        if link is None:
            raise LinkRefused("invalid")
        if link.used_at is not None:
            raise LinkRefused("used")
        if link.expires_at <= now:
            raise LinkRefused("expired")
        link.used_at = now
        link.used_by = str(identity)
        owner_id = await session.scalar(
            select(Identity.member_id).where(
                Identity.channel == identity.channel,
                Identity.external_id == identity.external_id,
            )
        )
        if owner_id == link.member_id:
            member = await session.get(Member, link.member_id)
            assert member is not None
            return Linked(Profile.of(member), "already")
        if owner_id is None:
            session.add(
                Identity(
                    member_id=link.member_id,
                    channel=identity.channel,
                    external_id=identity.external_id,
                    created_at=now,
                )
            )
            await session.flush()
            # The code was typed from this account: it is the one the member wrote from last.
            await mark_seen_in(session, identity, link.member_id, now)
            member = await session.get(Member, link.member_id)
            assert member is not None
            return Linked(Profile.of(member), "attached")
        survivor, moved = await self._merge_in(session, owner_id, link.member_id, str(identity))
        await mark_seen_in(session, identity, survivor.id, now)
        return Linked(Profile.of(survivor), "merged", points_moved=moved)

    async def holder_of_verified_phone(self, phone: str) -> Profile | None:
        """The active member whose phone a messenger has vouched for, if any."""
        async with self._db.reading() as session:
            row = await session.scalar(
                select(Member)
                .where(
                    Member.phone == phone,
                    Member.phone_verified.is_(True),
                    Member.merged_into_id.is_(None),
                    Member.erased_at.is_(None),
                )
                .order_by(Member.created_at, Member.id)
                .limit(1)
            )
        return Profile.of(row) if row is not None else None

    async def attach_by_verified_phone(self, identity: IdentityKey, phone: str) -> Linked:
        """Attach a new account to the member with the same verified phone. Only on the
        member's own confirmation, and only when both sides' numbers were verified."""
        holder = await self.holder_of_verified_phone(phone)
        if holder is None:
            raise LinkRefused("invalid")
        try:
            async with self._db.transaction() as session:
                now = self._clock.now()
                session.add(
                    Identity(
                        member_id=holder.id,
                        channel=identity.channel,
                        external_id=identity.external_id,
                        created_at=now,
                    )
                )
                await session.flush()
                await mark_seen_in(session, identity, holder.id, now)
        except IntegrityError:
            # The account joined some member meanwhile (a double tap): nothing to attach.
            found = await self._members.find(identity)
            if found is None:
                raise
            return Linked(found, "already")
        return Linked(await self._members.get(holder.id), "attached")

    async def card_of_verified_phone(self, member_id: int, phone: str) -> Profile | None:
        """Another active member whose phone a messenger vouched for as this same number: the
        card a member may link to after a messenger vouched for their number too."""
        holder = await self.holder_of_verified_phone(phone)
        return holder if holder is not None and holder.id != member_id else None

    async def merge_by_verified_phone(self, identity: IdentityKey, phone: str) -> Linked:
        """Make the member of `identity` and the other holder of the same verified phone one
        member (the older survives, as with a link code). Only on the member's own yes, and
        only when a messenger vouched for the number on both sides: the caller passes the
        number the member's messenger just vouched for."""
        member = await self._members.find(identity)
        if member is None:
            return await self.attach_by_verified_phone(identity, phone)
        holder = await self.card_of_verified_phone(member.id, phone)
        if holder is None:
            raise LinkRefused("invalid")
        async with self._db.transaction() as session:
            survivor, moved = await self._merge_in(session, member.id, holder.id, str(identity))
            await mark_seen_in(session, identity, survivor.id, self._clock.now())
        return Linked(Profile.of(survivor), "merged", points_moved=moved)

    async def _merge_in(
        self, session: AsyncSession, first_id: int, second_id: int, actor: str
    ) -> tuple[Member, int]:
        # Lock both in id order, so two merges of the same pair cannot deadlock.
        locked = [
            await session.get(Member, member_id, with_for_update=True)
            for member_id in sorted((first_id, second_id))
        ]
        first, second = (member for member in locked if member is not None)
        survivor, absorbed = sorted((first, second), key=lambda m: (m.created_at, m.id))
        now = self._clock.now()
        moved = absorbed.balance
        if moved > 0:
            moved_out = await self._ledger.post_in(
                session,
                absorbed.id,
                -moved,
                reason=MERGE_OUT_REASON,
                actor=actor,
                idempotency_key=f"merge:{absorbed.id}:out",
                reference=survivor.card_code,
            )
            await self._ledger.post_in(
                session,
                survivor.id,
                moved,
                reason=MERGE_IN_REASON,
                actor=actor,
                idempotency_key=f"merge:{absorbed.id}:in",
                reference=absorbed.card_code,
                lots_like=moved_out.entry.id,
            )
        # An UPDATE's result is a cursor result: it has the row count.
        identities = cast(
            CursorResult[Any],
            await session.execute(
                update(Identity)
                .where(Identity.member_id == absorbed.id)
                .values(member_id=survivor.id)
            ),
        )
        # Anyone merged into the absorbed member earlier now points at the survivor too.
        await session.execute(
            update(Member)
            .where(Member.merged_into_id == absorbed.id)
            .values(merged_into_id=survivor.id)
        )
        absorbed.merged_into_id = survivor.id
        survivor.debt += absorbed.debt
        # A bot on either card is a bot on the merged one (contests never let it win).
        survivor.bot_seen_at = survivor.bot_seen_at or absorbed.bot_seen_at
        absorbed.debt = 0
        for field in ("phone", "birthday", "name"):
            if getattr(survivor, field) is None and getattr(absorbed, field) is not None:
                setattr(survivor, field, getattr(absorbed, field))
        if survivor.phone is not None and survivor.phone == absorbed.phone:
            survivor.phone_verified = survivor.phone_verified or absorbed.phone_verified
        survivor.updated_at = absorbed.updated_at = now
        session.add(
            Merge(
                survivor_id=survivor.id,
                absorbed_id=absorbed.id,
                points_moved=moved,
                identities_moved=identities.rowcount or 0,
                actor=actor,
                created_at=now,
            )
        )
        await session.flush()
        # Referrals forget rewards between the two and move the absorbed one's friends over.
        await self._bus.publish_in(
            session,
            MembersMerged(
                occurred_at=now, member_id=survivor.id, absorbed_id=absorbed.id, points_moved=moved
            ),
        )
        await session.refresh(survivor)
        return survivor, moved

    async def _claim_guess(self, identity: IdentityKey) -> int:
        """Record a try as a wrong code unless the account has used up its guesses (then
        refuse). The count and the insert are one step: PostgreSQL serialises them per
        account with a transaction-scoped advisory lock, SQLite with its write lock, which
        every transaction takes when it begins."""
        now = self._clock.now()
        async with self._db.transaction() as session:
            if dialect_of(session) == "postgresql":
                await session.execute(
                    select(
                        func.pg_advisory_xact_lock(_GUESS_LOCK_CLASS, func.hashtext(str(identity)))
                    )
                )
            wrong = await session.scalar(
                select(func.count()).where(
                    LinkAttempt.identity == str(identity),
                    LinkAttempt.created_at > now - WRONG_CODE_WINDOW,
                )
            )
            if int(wrong or 0) >= MAX_WRONG_CODES:
                raise LinkRefused("too_many_attempts")
            attempt = LinkAttempt(identity=str(identity), created_at=now)
            session.add(attempt)
            await session.flush()
            return attempt.id

    async def _give_back_guess(self, attempt_id: int) -> None:
        async with self._db.transaction() as session:
            await session.execute(delete(LinkAttempt).where(LinkAttempt.id == attempt_id))
