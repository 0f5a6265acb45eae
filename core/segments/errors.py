"""What the segments context refuses."""

from __future__ import annotations

from core.shared.errors import InvalidInput


class InvalidSegment(InvalidInput):
    """A segment that cannot be used; the message names the field and why."""

    code = "invalid_segment"


class InvalidTag(InvalidInput):
    """A tag name that is not short lowercase letters, digits, - and _."""

    code = "invalid_tag"
