"""Reading what members type: dates, phone numbers, commands; in any script's digits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

# Read as the till reads what a cashier types (the bots and menus import it from here).
from core.members.phones import ascii_digits as ascii_digits
from core.members.phones import normalize_phone
from core.shared.errors import InvalidInput

_DATE_PATTERNS = (
    re.compile(r"^(?P<d>\d{1,2})[./\-\s](?P<m>\d{1,2})[./\-\s](?P<y>\d{4})$"),
    re.compile(r"^(?P<y>\d{4})[./\-](?P<m>\d{1,2})[./\-](?P<d>\d{1,2})$"),
)
# Arabic-keyboard letters that Persian speakers type for ی and ک.
_PERSIAN_LETTERS = str.maketrans({"ي": "ی", "ك": "ک", "\u200c": ""})
OLDEST_AGE_YEARS = 120


class BirthdayError(InvalidInput):
    code = "birthday"
    # Which explanation the member gets.
    reasons = ("invalid", "future", "implausible")

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = self._refine(reason)


def parse_birthday(text: str, *, today: date) -> date:
    cleaned = ascii_digits(text).strip().replace("/", ".")
    for pattern in _DATE_PATTERNS:
        match = pattern.match(cleaned)
        if match:
            break
    else:
        raise BirthdayError("invalid")
    try:
        birthday = date(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError as error:
        raise BirthdayError("invalid") from error
    if birthday > today:
        raise BirthdayError("future")
    if birthday.year < today.year - OLDEST_AGE_YEARS:
        raise BirthdayError("implausible")
    return birthday


def parse_phone(text: str) -> str | None:
    """E.164-like "+79991234567" from what a member typed, or None if it is not a number
    (read as the till reads a number a cashier types: core.members.phones)."""
    return normalize_phone(text)


@dataclass(frozen=True)
class Command:
    name: str
    argument: str


def parse_command(text: str) -> Command | None:
    """`/start ref_ABC` -> ("start", "ref_ABC"); `/start@shop_bot` -> ("start", "")."""
    if not text.startswith("/"):
        return None
    head, _, argument = text[1:].partition(" ")
    name = head.split("@", 1)[0].lower()
    if not name:
        return None
    return Command(name=name, argument=argument.strip())


def simplify(text: str) -> str:
    """What is left of a label or a typed word for matching: letters and digits, casefolded."""
    folded = text.translate(_PERSIAN_LETTERS).casefold()
    return " ".join("".join(c if c.isalnum() else " " for c in folded).split())
