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


class MemberNotFound(LoyaltyError):
    pass


class InsufficientPoints(LoyaltyError):
    def __init__(self, balance: int, requested: int) -> None:
        super().__init__(f"balance {balance} is less than {requested}")
        self.balance = balance
        self.requested = requested


class IdempotencyConflict(LoyaltyError):
    """The same idempotency key was used before for a different operation."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used for a different operation")
        self.key = key


class InvalidAmount(LoyaltyError):
    pass


class RedemptionTooLarge(LoyaltyError):
    """Points may pay only part of an order; `allowed` is the most they may pay of this one."""

    def __init__(self, allowed: int) -> None:
        super().__init__(f"at most {allowed} points may be spent on this order")
        self.allowed = allowed


class PurchaseNotFound(LoyaltyError):
    pass


class InvalidCampaign(LoyaltyError):
    """A coupon campaign (or a reward) that cannot be created as given; the message says why."""


class CampaignNotFound(LoyaltyError):
    def __init__(self, slug: str) -> None:
        super().__init__(f"no coupon campaign {slug!r}")
        self.slug = slug


class CouponCodesRejected(LoyaltyError):
    """An import of coupon codes refused as a whole; nothing was imported."""

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


class CouponRefused(LoyaltyError):
    """A coupon that cannot be issued or redeemed; `reason` is one of COUPON_REASONS."""

    def __init__(self, reason: str, code: str | None = None, detail: str = "") -> None:
        what = f"coupon {code}" if code else "coupon"
        super().__init__(f"{what}: {reason}" + (f" ({detail})" if detail else ""))
        self.reason = reason
        self.code = code
        self.detail = detail


class RewardNotFound(LoyaltyError):
    def __init__(self, reward: str | int) -> None:
        super().__init__(f"no reward {reward!r}")
        self.reward = reward


class RewardRefused(LoyaltyError):
    """A claim refused: `reason` is inactive, out_of_stock, limit_reached or
    not_enough_points (then `missing` says how many points are lacking)."""

    def __init__(self, reason: str, *, missing: int = 0) -> None:
        detail = f" ({missing} points missing)" if missing else ""
        super().__init__(f"reward refused: {reason}{detail}")
        self.reason = reason
        self.missing = missing


class UnknownEventKind(LoyaltyError):
    """An event whose kind has no bonus in the rules (`event_bonuses`): nothing is recorded."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"no event bonus is defined for the kind {kind!r}")
        self.kind = kind
