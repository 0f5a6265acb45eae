"""The member's rights of access and erasure, composed from what each context keeps.

Every context that stores something about a member contributes a `PrivacySection`: its part of
the data export, under its own key, and (an `ErasingSection`) what it forgets on erasure. The
program wires the list (core.program), so this module imports no other context: the export's
keys come in the order of that list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.database import Database
from core.db.models import Consent, Identity, LinkCode, Member
from core.members.accounts import IdentityKey, Members
from core.shared import cards
from core.shared.clock import Clock
from core.shared.errors import MemberNotFound


@runtime_checkable
class PrivacySection(Protocol):
    """One context's part of a member's data: `name` is its key in the export."""

    @property
    def name(self) -> str: ...

    async def export_in(self, session: AsyncSession, member_id: int) -> Any:
        """The member's data this context keeps, as JSON-ready values."""
        ...


@runtime_checkable
class ErasingSection(PrivacySection, Protocol):
    async def erase_in(self, session: AsyncSession, member_id: int) -> None:
        """Forget the member's personal data, in the erasure's transaction (the member's row
        is locked by it)."""
        ...


class Privacy:
    def __init__(self, db: Database, members: Members, sections: Sequence[PrivacySection]) -> None:
        names = [section.name for section in sections]
        if len(set(names)) != len(names):
            raise ValueError(f"two privacy sections share a name: {names}")
        self._db = db
        self._members = members
        self._sections = tuple(sections)
        self._erasing = tuple(
            section for section in sections if isinstance(section, ErasingSection)
        )

    async def export(self, member_id: int) -> dict[str, Any]:
        """Everything stored about the member, for the member (the right of access)."""
        async with self._db.reading() as session:
            if await session.get(Member, member_id) is None:
                raise MemberNotFound(member_id)
            return {
                section.name: await section.export_in(session, member_id)
                for section in self._sections
            }

    async def erase(self, member_id: int) -> None:
        """Forget the member (the right to erasure): personal data goes on every channel, the
        ledger stays (anonymous), so the shop's books still add up. Each messenger account is
        kept only as a keyed hash, so it can join again, without a second welcome gift."""
        # Before the transaction: the salt may need a write of its own the first time, and
        # the messengers' section hashes with it inside the transaction.
        await self._members.identity_salt()
        async with self._db.transaction() as session:
            if await session.get(Member, member_id, with_for_update=True) is None:
                raise MemberNotFound(member_id)
            for section in self._erasing:
                await section.erase_in(session, member_id)


# ---------------------------------------------------------------------- the members' own
class ProfileSection:
    name = "profile"

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def export_in(self, session: AsyncSession, member_id: int) -> Any:
        member = await _member(session, member_id)
        return {
            "card_code": member.card_code,
            "name": member.name,
            "language": member.language,
            "phone": member.phone,
            "phone_verified": member.phone_verified,
            "birthday": member.birthday.isoformat() if member.birthday else None,
            "marketing_opt_in": member.marketing_opt_in,
            "terms_accepted_at": member.terms_accepted_at.isoformat(),
            "joined_at": member.created_at.isoformat(),
            "last_active_at": (
                member.last_active_at.isoformat() if member.last_active_at else None
            ),
            "balance": member.balance,
        }

    async def erase_in(self, session: AsyncSession, member_id: int) -> None:
        member = await _member(session, member_id)
        member.name = member.phone = member.birthday = None
        member.phone_verified = member.marketing_opt_in = False
        # A fresh code nobody knows: the old card stops working at the till.
        member.card_code = cards.generate()
        # And a fresh referral code: links shared before name nobody any more.
        member.referral_code = cards.generate_referral()
        member.erased_at = member.updated_at = self._clock.now()


class MessengersSection:
    """The member's messenger accounts; on erasure each is retired to a keyed hash, and the
    codes for linking another one go."""

    name = "messengers"

    def __init__(self, members: Members) -> None:
        self._members = members

    async def export_in(self, session: AsyncSession, member_id: int) -> Any:
        identities = await session.scalars(
            select(Identity).where(Identity.member_id == member_id).order_by(Identity.id)
        )
        return [
            {
                "channel": row.channel,
                "id": row.external_id,
                "linked_at": row.created_at.isoformat(),
                "last_message_at": row.last_seen_at.isoformat() if row.last_seen_at else None,
                # Messages to it were refused for good then (blocked, STOP, a dead number).
                "unreachable_since": (
                    row.unreachable_at.isoformat() if row.unreachable_at else None
                ),
            }
            for row in identities
        ]

    async def erase_in(self, session: AsyncSession, member_id: int) -> None:
        identities = list(
            await session.scalars(select(Identity).where(Identity.member_id == member_id))
        )
        for identity in identities:
            key = IdentityKey(identity.channel, identity.external_id)
            identity_hash = await self._members.identity_hash(key)
            await self._members.retire_in(session, identity_hash, "deleted")
            await session.delete(identity)
        await session.execute(delete(LinkCode).where(LinkCode.member_id == member_id))


class ConsentsSection:
    """Kept on erasure, as the ledger is."""

    name = "consents"

    async def export_in(self, session: AsyncSession, member_id: int) -> Any:
        consents = await session.scalars(
            select(Consent).where(Consent.member_id == member_id).order_by(Consent.id)
        )
        return [
            {
                "kind": row.kind,
                "granted": row.granted,
                "channel": row.channel,
                "at": row.created_at.isoformat(),
            }
            for row in consents
        ]


async def _member(session: AsyncSession, member_id: int) -> Member:
    member = await session.get(Member, member_id)
    if member is None:
        raise MemberNotFound(member_id)
    return member
