"""Who a broadcast reaches: an injected `Audience` turns a segment into a query of member ids.

`Segments` answers every segment the segments context knows (core/segments: tiers, tags,
activity, purchases ...). Whatever the segment, an audience only ever yields live members (not
erased, not merged into another card) who opted in to offers: a broadcast never reaches
anyone else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Select

from core.segments.definition import parse_segment
from core.segments.query import members_in


class Audience(Protocol):
    def members_in(self, segment: Mapping[str, Any], *, now: datetime) -> Select[int]:
        """The ids of the consenting live members in `segment` (a query, not run here);
        refuses a segment it cannot answer."""
        ...


class SegmentAudience:
    """A broadcast's segment as the segments context reads it; a segment that is not one is
    refused with what is wrong (`invalid_segment`), before anything is stored."""

    def members_in(self, segment: Mapping[str, Any], *, now: datetime) -> Select[int]:
        return members_in(parse_segment(dict(segment)), now=now)
