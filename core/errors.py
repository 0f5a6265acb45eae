"""What the core refuses, as exceptions a caller can turn into a clear answer."""

from __future__ import annotations


class LoyaltyError(Exception):
    """Base of every refusal the core makes on purpose."""


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
