"""What the games refuse."""

from __future__ import annotations

from core.shared.errors import Conflict, InvalidInput, NotFound


class InvalidBadge(InvalidInput):
    """A badge definition the program cannot use; the message says which field and why."""

    code = "badge_invalid"


class BadgeExists(Conflict):
    code = "badge_exists"

    def __init__(self, name: str) -> None:
        super().__init__(f"a badge named {name!r} exists already")


class BadgeNotFound(NotFound):
    code = "badge_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"no badge named {name!r}")


class InvalidNickname(InvalidInput):
    """A nickname that is empty, too long, or made of what a name is not."""

    code = "nickname_invalid"
    reasons = ("empty", "too_long", "characters", "link")

    def __init__(self, reason: str) -> None:
        super().__init__(f"the nickname is not acceptable: {self._refine(reason)}")
        self.reason = reason
