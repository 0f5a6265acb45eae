"""What the feedback context refuses."""

from __future__ import annotations

from core.shared.errors import InvalidInput, NotFound


class InvalidScore(InvalidInput):
    """An answer to "would you recommend us?" that is not a whole number from 0 to 10."""

    code = "feedback_invalid_score"

    def __init__(self, score: object) -> None:
        super().__init__(f"a score is a whole number from 0 to 10, not {score}")


class FeedbackNotAsked(NotFound):
    """An answer from a member who was not asked (or whose question is too old)."""

    code = "feedback_not_asked"

    def __init__(self) -> None:
        super().__init__("no feedback question is waiting for an answer")


class InvalidPeriod(InvalidInput):
    """A report's period that cannot be read (--since after --until, an unreadable date)."""

    code = "feedback_invalid_period"
