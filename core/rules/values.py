"""The kinds of value a rule holds, as pydantic field types with a marketer's wording.

Each factory returns a `Checked` for an `Annotated[...]` field in `core.rules.sections`: the
field's validation and, where the stored JSON differs from the Python value, its JSON shape.
A value is accepted only in the types that cannot hide a mistake: a float bonus would break
integer points, an infinite rate every credit, "30" for a number of days is a typo, not a
number. `explain` turns pydantic's errors into one message that says which rule and why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import GetCoreSchemaHandler, ValidationError
from pydantic_core import CoreSchema, ErrorDetails, PydanticCustomError, core_schema

from core.shared.errors import InvalidRules

# Keys end up in columns of 32 characters (members.tier, member_events.kind) and in notices.
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
MAX_LABEL_LENGTH = 64
T = TypeVar("T")


@dataclass(frozen=True)
class Checked:
    """A field's whole validation (`check`: the value in its type, or `refuse(...)`), and its
    JSON shape where that is not the value itself (decimals as text, so 0.1 stays exact)."""

    check: Callable[[Any], Any]
    to_json: Callable[[Any], Any] | None = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        serialization = (
            None
            if self.to_json is None
            else core_schema.plain_serializer_function_ser_schema(self.to_json, when_used="json")
        )
        return core_schema.no_info_plain_validator_function(self.check, serialization=serialization)


def shown(value: object) -> str:
    """A refused value as it was typed: a decimal as the number, text in quotes."""
    return str(value) if isinstance(value, Decimal) else repr(value)


def refuse(reason: str) -> PydanticCustomError:
    # No context is given, so pydantic leaves the braces of "{language: text}" alone.
    return PydanticCustomError("invalid_rule", reason)


def text_in(texts: Mapping[str, str], language: str) -> str:
    """A marketer's text in `language`, else the one for every language (""), else English,
    else any; "" when there is none."""
    for candidate in (language, "", "en"):
        if texts.get(candidate):
            return texts[candidate]
    return next(iter(texts.values()), "")


@dataclass(frozen=True)
class LocalizedText:
    """A marketer's text per language ({"en": "Silver", "ru": "Серебро"}), or one text for
    every language (stored under the language "")."""

    texts: tuple[tuple[str, str], ...]

    def get(self, language: str) -> str:
        return text_in(dict(self.texts), language)

    def to_json(self) -> str | dict[str, str]:
        if len(self.texts) == 1 and self.texts[0][0] == "":
            return self.texts[0][1]
        return dict(self.texts)


def whole(low: int, high: int, *, zero: str = "") -> Checked:
    """An int from `low` to `high`; `zero` says what 0 means ("never", "no limit")."""
    floor = f"{low} ({zero})" if zero else str(low)

    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise refuse(f"must be a whole number, not {shown(value)}")
        if not low <= value <= high:
            raise refuse(f"must be between {floor} and {high}, not {value}")
        return value

    return Checked(check)


def decimal(
    low: Decimal,
    high: Decimal,
    *,
    above_low: bool = False,
    below_high: bool = False,
    places: int | None = None,
    floats: bool = False,
) -> Checked:
    """An exact decimal number in a range (each end included unless `above_low` /
    `below_high`), given as text, an int or a Decimal. `floats`: also a float, read as the
    decimal it is written as (in JSON structures 1.5 means 1.5, not its binary twin); a float
    given for a top-level rule is refused, as code passing one is likely wrong elsewhere too."""
    if above_low and below_high:
        bounds = f"above {low} and below {high}"
    elif above_low:
        bounds = f"above {low} and at most {high}" if low != 0 else f"positive and at most {high}"
    elif below_high:
        bounds = f"at least {low} and below {high}"
    else:
        bounds = f"between {low} and {high}"

    def check(value: object) -> Decimal:
        written = repr(value) if floats and isinstance(value, float) else value
        if isinstance(written, bool) or not isinstance(written, int | str | Decimal):
            raise refuse(f"must be a decimal number such as '0.1', not {shown(value)}")
        try:
            number = Decimal(str(written).strip())
        except InvalidOperation as error:
            raise refuse(f"must be a decimal number such as '0.1', not {shown(value)}") from error
        if not number.is_finite():
            raise refuse(f"must be a finite number, not {shown(value)}")
        too_low = number <= low if above_low else number < low
        too_high = number >= high if below_high else number > high
        if too_low or too_high:
            raise refuse(f"must be {bounds}, not {number}")
        if places is not None and number != number.quantize(Decimal(1).scaleb(-places)):
            raise refuse(f"has at most {places} decimals, not {number}")
        return number

    return Checked(check, to_json=str)


def flag() -> Checked:
    def check(value: object) -> bool:
        if not isinstance(value, bool):
            raise refuse(f"must be true or false, not {shown(value)}")
        return value

    return Checked(check)


def text(*, required: bool = False) -> Checked:
    """Text, stripped; `required`: not empty either."""

    def check(value: object) -> str:
        if not isinstance(value, str):
            raise refuse(f"must be text, not {shown(value)}")
        if required and not value.strip():
            raise refuse("must not be empty")
        return value.strip()

    return Checked(check)


def one_of(choices: Iterable[str]) -> Checked:
    allowed = tuple(choices)

    def check(value: object) -> str:
        if not isinstance(value, str) or value.strip() not in allowed:
            raise refuse(f"must be one of {', '.join(allowed)}, not {shown(value)}")
        return value.strip()

    return Checked(check)


def key() -> Checked:
    def check(value: object) -> str:
        if not isinstance(value, str) or not _KEY.match(value):
            raise refuse(
                f"must be 1 to 32 lowercase letters, digits, '-' or '_', not {shown(value)}"
            )
        return value

    return Checked(check)


def label() -> Checked:
    """A store or category name as the shop's systems send it."""

    def check(value: object) -> str:
        if not isinstance(value, str) or not 0 < len(value.strip()) <= MAX_LABEL_LENGTH:
            raise refuse(f"must be text of 1 to {MAX_LABEL_LENGTH} characters, not {shown(value)}")
        return value.strip()

    return Checked(check)


def currency_code() -> Checked:
    def check(value: object) -> str:
        code = value.strip() if isinstance(value, str) else ""
        if len(code) != 3 or not code.isalpha() or not code.isupper():
            raise refuse(f"must be an ISO 4217 code such as 'RUB', not {shown(value)}")
        return code

    return Checked(check)


def zone_name() -> Checked:
    def check(value: object) -> str:
        if not isinstance(value, str):
            raise refuse(f"must be an IANA zone name such as 'Europe/Moscow', not {shown(value)}")
        name = value.strip()
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError) as error:
            raise refuse(
                f"must be an IANA zone name such as 'Europe/Moscow', not {shown(value)}"
            ) from error
        return name

    return Checked(check)


def moment() -> Checked:
    """A date and time with its UTC offset, stored as ISO 8601 text."""

    def check(value: object) -> datetime:
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.strip())
            except ValueError as error:
                raise refuse(f"must be an ISO date and time, not {shown(value)}") from error
        else:
            raise refuse(f"must be an ISO date and time, not {shown(value)}")
        if parsed.tzinfo is None:
            # A promotion that starts "at midnight" must say whose midnight.
            raise refuse("needs a UTC offset, such as 2026-12-01T00:00:00+03:00")
        return parsed

    return Checked(check, to_json=_isoformat)


def _isoformat(value: datetime) -> str:
    return value.isoformat()


def localized(max_length: int) -> Checked:
    """A LocalizedText from text (every language) or {language: text}, stored the same way."""

    def check(value: object) -> LocalizedText:
        if isinstance(value, LocalizedText):
            value = value.to_json()
        if isinstance(value, str):
            texts: dict[Any, Any] = {"": value}
        elif isinstance(value, dict) and value:
            texts = value
        else:
            raise refuse(f"must be text or {{language: text}}, not {shown(value)}")
        checked = []
        for language, words in texts.items():
            if language and not (isinstance(language, str) and _LANGUAGE.match(language)):
                raise refuse(f"{language!r} is not a language code such as 'en'")
            if not isinstance(words, str) or not words.strip():
                raise refuse(f"must be non-empty text ({language or 'all languages'})")
            if len(words.strip()) > max_length:
                raise refuse(f"must be at most {max_length} characters")
            checked.append((language, words.strip()))
        return LocalizedText(tuple(checked))

    return Checked(check, to_json=_localized_json)


def _localized_json(value: LocalizedText) -> str | dict[str, str]:
    return value.to_json()


_STRUCTURE = {
    "dict_type": "must be an object, not {input}",
    "model_type": "must be an object, not {input}",
    "model_attributes_type": "must be an object, not {input}",
    "list_type": "must be a list, not {input}",
    "tuple_type": "must be a list, not {input}",
    # What pydantic says in its own words ("Input should be ..."), said as the rules say it.
    "int_type": "must be a whole number, not {input}",
    "int_parsing": "must be a whole number, not {input}",
    "int_from_float": "must be a whole number, not {input}",
    "float_type": "must be a number, not {input}",
    "float_parsing": "must be a number, not {input}",
    "decimal_type": "must be a number, not {input}",
    "decimal_parsing": "must be a number, not {input}",
    "bool_type": "must be true or false, not {input}",
    "bool_parsing": "must be true or false, not {input}",
    "string_type": "must be text, not {input}",
    "less_than_equal": "must be at most {le}, not {input}",
    "greater_than_equal": "must be at least {ge}, not {input}",
    "less_than": "must be less than {lt}, not {input}",
    "greater_than": "must be more than {gt}, not {input}",
    "string_too_short": "must be at least {min_length} character(s) long",
    "string_too_long": "must be at most {max_length} characters long",
    "too_short": "must have at least {min_length} item(s)",
    "too_long": "must have at most {max_length} items",
    "literal_error": "must be one of {expected}, not {input}",
    "enum": "must be one of {expected}, not {input}",
    "union_tag_invalid": "{discriminator} is {tag!r}: it must be one of {expected_tags}",
    "union_tag_not_found": "lacks {discriminator}",
    "datetime_type": "must be a time such as 2027-03-01T10:00, not {input}",
    "datetime_parsing": "must be a time such as 2027-03-01T10:00, not {input}",
    "datetime_from_date_parsing": "must be a time such as 2027-03-01T10:00, not {input}",
    "date_type": "must be a date such as 2027-03-01, not {input}",
    "date_parsing": "must be a date such as 2027-03-01, not {input}",
    "date_from_datetime_parsing": "must be a date such as 2027-03-01, not {input}",
    "timezone_aware": "needs a time zone offset, such as 2027-03-01T10:00:00+03:00",
    "url_parsing": "must be a URL, not {input}",
}


def explain(error: ValidationError, *, prefix: str = "") -> InvalidRules:
    """One InvalidRules for all that pydantic found, each part "where: why"."""
    missing: dict[str, list[str]] = {}
    unknown: dict[str, list[str]] = {}
    reasons: list[str] = []
    for detail in error.errors():
        parent, name = _where(detail["loc"][:-1]), str(detail["loc"][-1])
        if detail["type"] == "missing":
            missing.setdefault(parent, []).append(name)
        elif detail["type"] == "extra_forbidden":
            unknown.setdefault(parent, []).append(name)
        else:
            reasons.append(f"{_where(detail['loc'])}: {_why(detail)}")
    # A top-level field has no parent to name: "lacks slug", not ": lacks slug".
    for parent, names in missing.items():
        reasons.append(f"{parent}: lacks {', '.join(names)}".removeprefix(": "))
    for parent, names in unknown.items():
        reasons.append(f"{parent}: has unknown fields: {', '.join(names)}".removeprefix(": "))
    return InvalidRules(prefix + "; ".join(reasons))


def explained(error: ValidationError) -> str:
    """pydantic's findings as "where: why; ..." (the rules' wording, where it applies): how
    a marketer's definitions (a quest, a segment) word a refusal."""
    if all(detail["loc"] for detail in error.errors()):
        return str(explain(error)).replace("Value error, ", "")
    reasons = []
    for detail in error.errors():
        where = ".".join(str(part) for part in detail["loc"])
        why = detail["msg"].removeprefix("Value error, ")
        reasons.append(f"{where}: {why}" if where else why)
    return "; ".join(reasons)


def _why(detail: ErrorDetails) -> str:
    template = _STRUCTURE.get(detail["type"])
    if template is None:
        return detail["msg"]
    try:
        return template.format(input=shown(detail["input"]), **detail.get("ctx", {}))
    except (KeyError, IndexError, ValueError):
        # A pydantic version whose context lacks a name the template uses: its own words.
        return detail["msg"]


def _where(location: tuple[int | str, ...]) -> str:
    """("tiers", 0, "threshold") -> "tiers[0].threshold"; a dict key's own error is
    reported at the key ("event_bonuses.Review!: ...")."""
    where = ""
    for part in location:
        if part == "[key]":
            continue
        if isinstance(part, int):
            where += f"[{part}]"
        else:
            where += f".{part}" if where else part
    return where


def validated(check: Callable[[], T], *, prefix: str = "") -> T:
    """What `check` returns, with pydantic's refusal turned into InvalidRules."""
    try:
        return check()
    except ValidationError as error:
        raise explain(error, prefix=prefix) from None
