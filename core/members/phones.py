"""Phone numbers as the members table keeps them (E.164-like, "+79991234567"), read from
what a messenger vouched for, what a member typed or what a cashier types at the till: one
reading for every door, so a number matches however it was written."""

from __future__ import annotations

import re

from core.shared.errors import InvalidInput

# Persian (U+06F0..) and Arabic-Indic (U+0660..) digits as members type them on their phones.
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_SEPARATORS = re.compile(r"[\s()\-.]")
_PHONE = re.compile(r"^\+?\d{10,15}$")


class InvalidPhone(InvalidInput, ValueError):
    """Not a phone number (argparse turns the ValueError into a usage error, as a card's)."""

    code = "invalid_phone"


def ascii_digits(text: str) -> str:
    return text.translate(_DIGITS)


def normalize_phone(text: str) -> str | None:
    """E.164-like "+79991234567" from a written number ("+7 (999) 123-45-67", "0098 912 ...",
    Persian digits), or None if it is not a number."""
    compact = _SEPARATORS.sub("", ascii_digits(text))
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not _PHONE.match(compact):
        return None
    return compact if compact.startswith("+") else "+" + compact


def parse_phone_number(raw: str) -> str:
    """`normalize_phone`, or InvalidPhone saying what a number looks like."""
    phone = normalize_phone(raw)
    if phone is None:
        raise InvalidPhone(f"not a phone number: {raw!r} (10 to 15 digits, + and country code)")
    return phone
