"""What the quests context refuses."""

from __future__ import annotations

from typing import ClassVar

from core.shared.errors import Conflict, InvalidInput, NotFound, Refused


class InvalidQuest(InvalidInput):
    """A quest definition that cannot be used; the message names the field and why."""

    code = "invalid_quest"


class QuestExists(Conflict):
    code = "quest_exists"

    def __init__(self, slug: str) -> None:
        super().__init__(f"a quest {slug!r} exists already (end it and create a new one)")


class QuestNotFound(NotFound):
    code = "quest_not_found"

    def __init__(self, quest: object) -> None:
        super().__init__(f"no quest {quest}")


class ProofNotFound(NotFound):
    code = "proof_not_found"

    def __init__(self, proof_id: int) -> None:
        super().__init__(f"no proof {proof_id} waits for a review")


class QuestRefused(Refused):
    """The member cannot do that with this quest now; the reason says why."""

    code = "quest"
    reasons: ClassVar[tuple[str, ...]] = (
        "not_available",
        "not_joined",
        "step_unknown",
        "step_locked",
        "step_done",
        "proof_pending",
        "no_telegram",
        "check_unavailable",
    )

    def __init__(self, reason: str) -> None:
        super().__init__(f"quest refused: {reason}")
        self.reason = self._refine(reason)


class ProfileQuestLive(Conflict):
    """A second live profile quest would pay for the same profile twice."""

    code = "profile_quest_live"

    def __init__(self, slug: str) -> None:
        super().__init__(
            f"the profile quest {slug!r} is live: end it first (quest-end {slug}), "
            "then create the new one"
        )
