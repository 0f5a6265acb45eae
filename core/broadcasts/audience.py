"""Who a broadcast reaches: an injected `Audience` turns a segment into a query of member ids.

`Segments` answers every segment the segments context knows (core/segments: tiers, tags,
activity, purchases ...). Whatever the segment, an audience only ever yields live members (not
erased, not merged into another card) who opted in to offers: a broadcast never reaches
anyone else.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Select

from core.segments.definition import parse_segment
from core.segments.query import members_in
from core.segments.service import Segments


class Audience(Protocol):
    def members_in(self, segment: Mapping[str, Any], *, now: datetime) -> Select[int]:
        """The ids of the consenting live members in `segment` (a query, not run here);
        refuses a segment it cannot answer."""
        ...

    async def check_names(self, segment: Mapping[str, Any], *, tier_keys: Collection[str]) -> None:
        """Refuses a segment naming what the program does not have (a tier, a quest ...)."""
        ...


class SegmentAudience:
    """A broadcast's segment as the segments context reads it; a segment that is not one, or
    that names a tier, quest, badge or campaign the program lacks, is refused with what is
    wrong (`invalid_segment`), before anything is stored."""

    def __init__(self, segments: Segments) -> None:
        self._segments = segments

    def members_in(self, segment: Mapping[str, Any], *, now: datetime) -> Select[int]:
        return members_in(parse_segment(dict(segment)), now=now)

    async def check_names(self, segment: Mapping[str, Any], *, tier_keys: Collection[str]) -> None:
        await self._segments.check_names(parse_segment(dict(segment)), tier_keys)
