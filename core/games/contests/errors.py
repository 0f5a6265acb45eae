"""What the contests context refuses (codes listed in tests/test_errors.py)."""

from __future__ import annotations

from core.shared.errors import InvalidInput, NotFound, Refused


class InvalidContest(InvalidInput):
    """A contest definition that cannot be used as written (the message names the field)."""

    code = "invalid_contest"


class ContestNotFound(NotFound):
    code = "contest_not_found"

    def __init__(self, contest: str | int) -> None:
        super().__init__(f"no contest {contest!r}")
        self.contest = contest


class ContestRefused(Refused):
    """A step the contest's state or times do not allow; `reason` says which."""

    code = "contest"
    reasons = (
        "not_open",  # joining before the start or after the end
        "no_joining",  # entries come from activity only, or everyone is ranked
        "ineligible",  # the member may not take part (erased, not in good standing, a bot)
        "already_closed",
        "not_ended",  # closing before the end time
        "too_late",  # closing once the beacon round is public: the draw could be chosen
        "not_closed",  # drawing before the close
        "already_drawn",
        "too_early",  # drawing before the beacon round exists
        "bad_beacon",  # a beacon value that is not hex
        "beacon_unavailable",  # no beacon given, and none could be fetched
        "beacon_invalid",  # a signed beacon that is not drand's round (bad or forged signature)
        "not_drawn",
        "not_a_winner",
        "claim_expired",
        "not_a_leaderboard",  # standings asked of a giveaway
    )

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"contest: {reason}" + (f" ({detail})" if detail else ""))
        self.reason = self._refine(reason)
        self.detail = detail
