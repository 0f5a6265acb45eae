"""What the core refuses, as exceptions a caller can turn into a clear answer.

One error model for every door into the program: a refusal is a `LoyaltyError` of one of four
kinds, with a stable machine `code` (for the shop's API, logs and tests) and a message for
people. The CLI turns the kind into an exit code, the web into an HTTP status with
`application/problem+json`; both read the tables below, so a new error needs no new mapping.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class ErrorKind(StrEnum):
    INVALID = "invalid"  # the request itself is malformed: fix it and send it again
    NOT_FOUND = "not_found"  # it names something (a card, a purchase, a campaign) that is not there
    CONFLICT = "conflict"  # it contradicts what was recorded before under the same key
    REFUSED = "refused"  # well-formed, but the program's rules say no (points, limits, stock)


# 2 stays what argparse makes it: a command line that cannot be parsed (a malformed card code
# is caught there too); a request the program reads and turns down exits 1, whatever the kind.
EXIT_CODES: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 1,
    ErrorKind.NOT_FOUND: 1,
    ErrorKind.CONFLICT: 1,
    ErrorKind.REFUSED: 1,
}
HTTP_STATUSES: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 400,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.REFUSED: 422,
}


class LoyaltyError(Exception):
    """Base of every refusal the core makes on purpose. Subclasses set `kind` and `code`
    (an instance may refine `code`, e.g. a coupon refusal by its reason)."""

    kind: ClassVar[ErrorKind] = ErrorKind.REFUSED
    code: str = "refused"
    # A refusal that says why (a coupon used up, a link code expired) lists every reason
    # here; its instance's code is `{code}_{reason}`, so every code is known before any is
    # raised (tests/test_errors.py lists them all).
    reasons: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def codes(cls) -> tuple[str, ...]:
        """Every code an instance of exactly this class can carry."""
        if cls.reasons:
            return tuple(f"{cls.code}_{reason}" for reason in cls.reasons)
        return (cls.code,)

    def _refine(self, reason: str) -> str:
        if reason not in self.reasons:
            # A reason nobody listed would be a code no client knows of: a bug in the caller.
            raise ValueError(f"{type(self).__name__} has no reason {reason!r}")
        self.code = f"{type(self).code}_{reason}"
        return reason

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.kind]

    @property
    def http_status(self) -> int:
        return HTTP_STATUSES[self.kind]


class InvalidInput(LoyaltyError):
    kind = ErrorKind.INVALID
    code = "invalid"


class NotFound(LoyaltyError):
    kind = ErrorKind.NOT_FOUND
    code = "not_found"


class Conflict(LoyaltyError):
    kind = ErrorKind.CONFLICT
    code = "conflict"


class Refused(LoyaltyError):
    kind = ErrorKind.REFUSED
    code = "refused"


class MemberNotFound(NotFound):
    code = "member_not_found"


class InsufficientPoints(Refused):
    code = "insufficient_points"

    def __init__(self, balance: int, requested: int) -> None:
        super().__init__(f"balance {balance} is less than {requested}")
        self.balance = balance
        self.requested = requested


class IdempotencyConflict(Conflict):
    """The same idempotency key was used before for a different operation."""

    code = "idempotency_conflict"

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used for a different operation")
        self.key = key


class InvalidAmount(InvalidInput):
    """A money amount or a number of points that cannot be used as given."""

    code = "invalid_amount"


class InvalidReference(InvalidInput):
    """An id or a name the request gives (a purchase, refund, redemption, claim or event id,
    a store or category name, which member) that is missing, empty or too long."""

    code = "invalid_reference"


class InvalidActor(InvalidInput):
    """Who records a change (an operator, a till, a system), kept with it: empty or too long."""

    code = "invalid_actor"


class RedemptionTooLarge(Refused):
    """Points may pay only part of an order; `allowed` is the most they may pay of this one."""

    code = "redemption_too_large"

    def __init__(self, allowed: int) -> None:
        super().__init__(f"at most {allowed} points may be spent on this order")
        self.allowed = allowed


class PurchaseNotFound(NotFound):
    """No purchase was recorded under this receipt id (a refund names one)."""

    code = "purchase_not_found"

    def __init__(self, purchase_id: str) -> None:
        super().__init__(f"no purchase with id {purchase_id!r}")
        self.purchase_id = purchase_id


class RedemptionNotFound(NotFound):
    """No points were redeemed at the till under this redemption id."""

    code = "redemption_not_found"

    def __init__(self, redemption_id: str) -> None:
        super().__init__(f"no redemption of points with id {redemption_id!r}")
        self.redemption_id = redemption_id


class CouponRedemptionNotFound(NotFound):
    """A coupon that was never used, or not under the redemption id given."""

    code = "coupon_redemption_not_found"

    def __init__(self, code: str, redemption_id: str | None = None) -> None:
        if redemption_id is None:
            super().__init__(f"coupon {code} has not been used")
        else:
            super().__init__(f"coupon {code} was not used under redemption id {redemption_id!r}")
        self.coupon_code = code
        self.redemption_id = redemption_id


class InvalidCampaign(InvalidInput):
    """A coupon campaign (or a reward) that cannot be created as given; the message says why."""

    code = "invalid_campaign"


class CampaignNotFound(NotFound):
    code = "campaign_not_found"

    def __init__(self, slug: str) -> None:
        super().__init__(f"no coupon campaign {slug!r}")
        self.slug = slug


class CouponCodesRejected(InvalidInput):
    """An import of coupon codes refused as a whole; nothing was imported."""

    code = "coupon_codes_rejected"

    def __init__(self, *, invalid: list[str], repeated: list[str], existing: list[str]) -> None:
        parts = []
        if invalid:
            parts.append(f"{len(invalid)} not valid ({', '.join(invalid[:10])})")
        if repeated:
            parts.append(f"{len(repeated)} repeated in the list ({', '.join(repeated[:10])})")
        if existing:
            parts.append(f"{len(existing)} already exist ({', '.join(existing[:10])})")
        super().__init__("nothing imported: " + "; ".join(parts))
        self.invalid = invalid
        self.repeated = repeated
        self.existing = existing


class CouponRefused(Refused):
    """A coupon that cannot be issued or redeemed; `reason` is one of `reasons` (the same as
    core.offers.campaigns.COUPON_REASONS), and the code says it: coupon_used_up."""

    code = "coupon"
    reasons = (
        "unknown",
        "voided",
        "inactive",
        "not_started",
        "expired",
        "used_up",
        "foreign",
        "campaign_exhausted",
        "member_limit",
        "min_order",
        "budget_exhausted",
    )

    def __init__(self, reason: str, code: str | None = None, detail: str = "") -> None:
        what = f"coupon {code}" if code else "coupon"
        super().__init__(f"{what}: {reason}" + (f" ({detail})" if detail else ""))
        self.reason = self._refine(reason)
        # `code` is the error's code; the coupon's own code is kept apart from it.
        self.coupon_code = code
        self.detail = detail


class RewardNotFound(NotFound):
    code = "reward_not_found"

    def __init__(self, reward: str | int) -> None:
        super().__init__(f"no reward {reward!r}")
        self.reward = reward


class RewardRefused(Refused):
    """A claim refused: `reason` is inactive, out_of_stock, limit_reached or
    not_enough_points (then `missing` says how many points are lacking)."""

    code = "reward"
    reasons = ("inactive", "out_of_stock", "limit_reached", "not_enough_points")

    def __init__(self, reason: str, *, missing: int = 0) -> None:
        detail = f" ({missing} points missing)" if missing else ""
        super().__init__(f"reward refused: {reason}{detail}")
        self.reason = self._refine(reason)
        self.missing = missing


class UnknownEventKind(InvalidInput):
    """An event whose kind has no bonus in the rules (`event_bonuses`): nothing is recorded."""

    code = "unknown_event_kind"

    def __init__(self, kind: str) -> None:
        super().__init__(f"no event bonus is defined for the kind {kind!r}")
        # Not `kind`: that is the error's kind (invalid), which the exit code is read from.
        self.event_kind = kind


class InvalidRules(InvalidInput, ValueError):
    """A change of the program's rules that cannot be used; the message names the rule and
    what it must be. Also a ValueError: pydantic turns only a ValueError raised in a
    validator into its own error, and callers of the rules have always caught ValueError."""

    code = "invalid_rules"


class InvalidTimeZone(InvalidInput):
    code = "invalid_time_zone"
