"""Member card codes: short, unambiguous when read aloud or typed, with a check character;
and referral codes, which only bring friends in.

The alphabet leaves out 0/O, 1/I/L and U; the check character is Luhn mod N over that
alphabet, so any single mistyped character and most swaps of neighbours are caught.
"""

from __future__ import annotations

import secrets

from core.shared.errors import InvalidInput

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
BODY_LENGTH = 8
CODE_LENGTH = BODY_LENGTH + 1
# A referral code goes into invite links that members share with anyone: it must never be a
# till credential, so it has a shape no card code has (20 hex digits, 80 random bits).
REFERRAL_LENGTH = 20
_HEX = frozenset("0123456789abcdef")
_INDEX = {char: index for index, char in enumerate(ALPHABET)}


# Also a ValueError, as it has always been: argparse turns a ValueError raised by a `type=`
# function into a usage error (exit 2), which is what a malformed card on the command line is.
class InvalidCardCode(InvalidInput, ValueError):
    code = "invalid_card_code"


def check_character(body: str) -> str:
    base = len(ALPHABET)
    total = 0
    factor = 2
    for char in reversed(body):
        addend = factor * _INDEX[char]
        total += addend // base + addend % base
        factor = 1 if factor == 2 else 2
    return ALPHABET[(base - total % base) % base]


def generate() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    return body + check_character(body)


def normalize(raw: str) -> str:
    """Canonical form of a typed or scanned code; raises InvalidCardCode if it cannot be one."""
    code = "".join(raw.split()).replace("-", "").upper()
    if len(code) != CODE_LENGTH or any(char not in _INDEX for char in code):
        raise InvalidCardCode(raw)
    if check_character(code[:-1]) != code[-1]:
        raise InvalidCardCode(raw)
    return code


def is_valid(raw: str) -> bool:
    try:
        normalize(raw)
    except InvalidCardCode:
        return False
    return True


def display(code: str) -> str:
    """How a code is printed for people: three groups of three."""
    return "-".join(code[i : i + 3] for i in range(0, len(code), 3))


def generate_referral() -> str:
    # The same draw as the Member model's default (core.db.models.REFERRAL_CODE_BYTES).
    return secrets.token_hex(REFERRAL_LENGTH // 2)


def referral(raw: str) -> str | None:
    """The canonical form of a referral code, or None if `raw` cannot be one."""
    code = raw.strip().lower()
    if len(code) != REFERRAL_LENGTH or not set(code) <= _HEX:
        return None
    return code
