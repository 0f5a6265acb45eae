"""Money amounts and the ids, labels, names and actors that shops, operators and platforms
send, parsed the same way by every context; and a marketer's JSON definitions (a quest, a
segment, a broadcast, a badge) read into their pydantic models."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from core.shared.errors import InvalidActor, InvalidAmount, InvalidReference

MAX_AMOUNT = Decimal("1000000000")
# Purchase, refund, redemption and claim ids: what a POS or a shop's system sends.
MAX_REFERENCE_LENGTH = 64
MAX_LABEL_LENGTH = 64
# A member's name as a messenger gives it (Telegram: first + last name of up to 64 each).
MAX_NAME_LENGTH = 128
# Who recorded a change: an operator, a till, a system ("program", "expiry").
MAX_ACTOR_LENGTH = 64
# Why an operator did something (a cancelled sale's reason), kept with it.
MAX_NOTE_LENGTH = 256
# Control characters (NUL among them, which PostgreSQL cannot store in text), lone
# surrogates (which cannot be encoded) and private-use characters.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cs", "Co"})

Model = TypeVar("Model", bound=BaseModel)
# The largest row id (BIGINT): a number past it names no row, and a driver cannot even send it.
MAX_ROW_ID = 2**63 - 1


def load_json(text: str | bytes) -> Any:
    """A JSON text's value, or ValueError saying in plain words why it is none: besides what
    the parser says, a text nested deeper than the parser's recursion (RecursionError) and a
    number longer than Python converts (ValueError naming sys.set_int_max_str_digits) are
    named as such, so that no caller lets them through as a traceback."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except json.JSONDecodeError:
        raise
    except ValueError as error:
        if "int_max_str_digits" in str(error):
            raise ValueError("a number has too many digits") from None
        raise


_NUMBER = re.compile(r"\s*[+-]?\d+(\.\d*)?\s*")


def time_text(value: object) -> object:
    """For a pydantic "before" validator of a date or time a person types in a JSON file:
    a number (or a text of digits alone, "2027") is refused. pydantic would take it as
    seconds since 1970, so a year typed alone would become a moment in January 1970."""
    # (bool is an int: `true` is refused too.)
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError(f"must be a date (2027-03-01) or a time (2027-03-01T10:00), not {value!r}")
    return value


def row_id(raw: int | str) -> int | None:
    """The row id `raw` names (an int, or ASCII digits), if it can name one; None for a
    text that is no id (a slug) or a number past MAX_ROW_ID (no row has it)."""
    if isinstance(raw, str):
        if not (raw.isascii() and raw.isdigit()):
            return None
        if len(raw.lstrip("0")) > len(str(MAX_ROW_ID)):
            return None
        raw = int(raw)
    return raw if 0 <= raw <= MAX_ROW_ID else None


def parse_model(
    raw: object,
    model: type[Model],
    refusal: Callable[[str], Exception],
    *,
    not_object: str | Callable[[object], str],
    explained: Callable[[ValidationError], str],
    from_text: bool = True,
) -> Model:
    """`raw` (a JSON text, or with `from_text=False` only its parsed value) as `model`, or
    `refusal` saying why not: "not JSON: ...", `not_object` (a text, or made from the value)
    when it is no JSON object, or what pydantic found as `explained` words it."""
    if from_text and isinstance(raw, str | bytes):
        try:
            raw = load_json(raw)
        except ValueError as error:
            raise refusal(f"not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise refusal(not_object if isinstance(not_object, str) else not_object(raw))
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise refusal(explained(error)) from None


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


def clean_text(raw: str) -> str:
    """Text on one line as it may be stored and shown: control characters dropped, every run
    of whitespace (newlines, tabs) made one space, none at either end."""
    kept = "".join(
        " " if char.isspace() else char
        for char in raw
        if char.isspace() or unicodedata.category(char) not in _DROPPED_CATEGORIES
    )
    return " ".join(kept.split())


def bounded_name(raw: str | None) -> str | None:
    """A member's name as a platform sent it, cleaned and cut to what is stored (so that
    everyone can join, whatever their profile says); None if nothing is left of it."""
    if raw is None:
        return None
    name = clean_text(raw)[:MAX_NAME_LENGTH].rstrip()
    return name or None


def parse_actor(raw: str) -> str:
    """Who records a change, as it is kept with it (the ledger, purchases, rules ...)."""
    actor = clean_text(raw)
    if not actor or len(actor) > MAX_ACTOR_LENGTH:
        raise InvalidActor(f"an actor of 1 to {MAX_ACTOR_LENGTH} characters is required")
    return actor


def has_control_characters(raw: str) -> bool:
    """True if the text holds a character no stored text may: a control character (NUL
    among them), a lone surrogate or a private-use character."""
    return any(unicodedata.category(char) in _DROPPED_CATEGORIES for char in raw)


def parse_reference(what: str, raw: str, *, max_length: int = MAX_REFERENCE_LENGTH) -> str:
    """An id a shop, a till or an operator gives (a purchase, refund, redemption, claim or event
    id), as it is kept: spaces at either end dropped, 1 to `max_length` characters, and no
    control character. An id is compared as it is, so nothing in it is silently changed: a NUL
    (which PostgreSQL cannot store) or a newline is refused, not dropped."""
    reference = raw.strip()
    if not reference or len(reference) > max_length:
        raise InvalidReference(f"a {what} of 1 to {max_length} characters is required")
    if has_control_characters(reference):
        raise InvalidReference(f"a {what} may not contain control characters")
    return reference


def parse_note(what: str, raw: str | None) -> str | None:
    """A free-text note an operator adds (why a sale was cancelled), cleaned as it is kept;
    None if none or nothing is left of it."""
    if raw is None:
        return None
    note = clean_text(raw)
    if len(note) > MAX_NOTE_LENGTH:
        raise InvalidReference(f"a {what} of at most {MAX_NOTE_LENGTH} characters is required")
    return note or None


def parse_label(what: str, raw: str) -> str:
    label = clean_text(raw)
    if not label or len(label) > MAX_LABEL_LENGTH:
        raise InvalidReference(f"a {what} of 1 to {MAX_LABEL_LENGTH} characters is required")
    return label
