"""Money amounts and the ids and labels shops send, parsed the same way by every context."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from core.shared.errors import InvalidAmount, InvalidReference

MAX_AMOUNT = Decimal("1000000000")
# Purchase, refund, redemption and claim ids: what a POS or a shop's system sends.
MAX_REFERENCE_LENGTH = 64
MAX_LABEL_LENGTH = 64


def parse_amount(raw: str | Decimal) -> Decimal:
    """A positive money amount with at most two decimals ("1234.50", "1234,5")."""
    try:
        amount = Decimal(str(raw).strip().replace(",", "."))
    except InvalidOperation as error:
        raise InvalidAmount(f"not a number: {raw!r}") from error
    if not amount.is_finite() or amount <= 0:
        raise InvalidAmount(f"the amount must be positive: {raw!r}")
    if amount >= MAX_AMOUNT:
        raise InvalidAmount(f"the amount is too large: {raw!r}")
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidAmount(f"at most two decimals: {raw!r}")
    return amount.quantize(Decimal("0.01"))


def parse_label(what: str, raw: str) -> str:
    label = raw.strip()
    if not label or len(label) > MAX_LABEL_LENGTH:
        raise InvalidReference(f"a {what} of 1 to {MAX_LABEL_LENGTH} characters is required")
    return label
