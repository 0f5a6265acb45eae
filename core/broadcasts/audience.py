"""Who a broadcast reaches: an injected `Audience` turns a segment into a query of member ids.

The segments context (core/segments) answers every kind of segment; until it is wired in, the
`OptedInMembers` here answers `{}` (every member) and refuses anything else. Whatever the
segment, an audience only ever yields live members (not erased, not merged into another card)
who opted in to offers: a broadcast never reaches anyone else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Select, select

from core.broadcasts.errors import BroadcastRefused
from core.db.models import Member


class Audience(Protocol):
    def members_in(self, segment: Mapping[str, Any], *, now: datetime) -> Select[int]:
        """The ids of the consenting live members in `segment` (a query, not run here);
        refuses a segment it cannot answer."""
        ...


def consenting_members() -> Select[int]:
    return select(Member.id).where(
        Member.marketing_opt_in.is_(True),
        Member.erased_at.is_(None),
        Member.merged_into_id.is_(None),
    )


class OptedInMembers:
    """Every live member who opted in to offers, for the segment `{}`."""

    def members_in(self, segment: Mapping[str, Any], *, now: datetime) -> Select[int]:
        if segment:
            raise BroadcastRefused(
                "segments other than {} come with the segments context "
                f"(given: {', '.join(sorted(segment))})"
            )
        return consenting_members()
