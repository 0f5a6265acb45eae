"""Reading what members type: dates, phone numbers, commands; in any script's digits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from core.shared.errors import InvalidInput

# Persian (U+06F0..) and Arabic-Indic (U+0660..) digits as members type them on their phones.
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_DATE_PATTERNS = (
    re.compile(r"^(?P<d>\d{1,2})[./\-\s](?P<m>\d{1,2})[./\-\s](?P<y>\d{4})$"),
    re.compile(r"^(?P<y>\d{4})[./\-](?P<m>\d{1,2})[./\-](?P<d>\d{1,2})$"),
)
# Arabic-keyboard letters that Persian speakers type for ی and ک.
_PERSIAN_LETTERS = str.maketrans({"ي": "ی", "ك": "ک", "\u200c": ""})
_PHONE = re.compile(r"^\+?\d{10,15}$")
OLDEST_AGE_YEARS = 120


def ascii_digits(text: str) -> str:
    return text.translate(_DIGITS)


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
    """E.164-like "+79991234567" from what a member typed, or None if it is not a number."""
    compact = re.sub(r"[\s()\-.]", "", ascii_digits(text))
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not _PHONE.match(compact):
        return None
    return compact if compact.startswith("+") else "+" + compact


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
